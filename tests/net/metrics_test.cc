// Metrics rendering and health verdicts (net/metrics.h): the text is well-formed Prometheus
// exposition, histograms are cumulative and end at +Inf == count, label values are escaped,
// and /healthz and /readyz give the right verdict with every reason.
#include "net/metrics.h"

#include <map>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace keel::net {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

MetricsSnapshot Serving() {
  MetricsSnapshot s;
  s.id = 2;
  s.cluster_id = 7;
  s.role = "follower";
  s.term = 3;
  s.leader = 1;
  s.commit = 100;
  s.applied = 100;
  s.election_timeout_seconds = 1;
  s.leader_contact_seconds = 0.05;
  s.peers[1].last_contact_seconds = 0.05;
  s.peers[3].last_contact_seconds = -1;
  return s;
}

// name{labels} -> value, for every sample line; fails the test on a malformed line.
std::map<std::string, std::string> Samples(const std::string& text) {
  std::map<std::string, std::string> samples;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    EXPECT_NE(space, std::string::npos) << line;
    EXPECT_TRUE(samples.emplace(line.substr(0, space), line.substr(space + 1)).second) << "duplicate: " << line;
  }
  return samples;
}

TEST(Metrics, RendersGatewaydNamesAndCounters) {
  MetricsSnapshot s = Serving();
  s.node.answers_by_kind[{"kv_put", nodepb::CODE_OK}] = 5;
  s.node.answers_by_kind[{"we\"ird\\kind\n", nodepb::CODE_UNAVAILABLE}] = 1;
  s.auth.client_refused = 4;
  s.channel.dropped_impersonation = 2;
  const std::map<std::string, std::string> samples = Samples(RenderPrometheus(s, HealthOptions{}));
  EXPECT_EQ(samples.at("raft_leader_status"), "0");
  EXPECT_EQ(samples.at("raft_health_status"), "1");
  EXPECT_EQ(samples.at("raft_last_contact_seconds"), "0.05");
  EXPECT_EQ(samples.at("keel_raft_term"), "3");
  EXPECT_EQ(samples.at("keel_raft_role{role=\"follower\"}"), "1");
  EXPECT_EQ(samples.at("keel_raft_role{role=\"leader\"}"), "0");
  EXPECT_EQ(samples.at("keel_client_requests_total{kind=\"kv_put\",code=\"CODE_OK\"}"), "5");
  EXPECT_EQ(samples.at("keel_client_requests_total{kind=\"we\\\"ird\\\\kind\\n\",code=\"CODE_UNAVAILABLE\"}"), "1");
  EXPECT_EQ(samples.at("keel_auth_refused_total{port=\"client\",reason=\"key_not_allowed\"}"), "4");
  EXPECT_EQ(samples.at("keel_messages_dropped_total{cause=\"impersonation\"}"), "2");
  EXPECT_EQ(samples.at("keel_peer_last_contact_seconds{peer=\"3\"}"), "-1");
  EXPECT_FALSE(samples.contains("keel_peer_match_lag_entries{peer=\"1\"}")) << "followers know no match";
}

TEST(Metrics, HistogramsAreCumulativeAndEndAtCount) {
  MetricsSnapshot s = Serving();
  for (int64_t nanos : {int64_t{10'000}, int64_t{300'000}, int64_t{300'000}, int64_t{2'000'000'000}, int64_t{60'000'000'000}}) s.fsync.Observe(nanos);
  const std::map<std::string, std::string> samples = Samples(RenderPrometheus(s, HealthOptions{}));
  EXPECT_EQ(samples.at("keel_fsync_duration_seconds_bucket{le=\"5e-05\"}"), "1");
  EXPECT_EQ(samples.at("keel_fsync_duration_seconds_bucket{le=\"0.0005\"}"), "3");
  EXPECT_EQ(samples.at("keel_fsync_duration_seconds_bucket{le=\"2.5\"}"), "4");
  EXPECT_EQ(samples.at("keel_fsync_duration_seconds_bucket{le=\"10\"}"), "4");
  EXPECT_EQ(samples.at("keel_fsync_duration_seconds_bucket{le=\"+Inf\"}"), "5");
  EXPECT_EQ(samples.at("keel_fsync_duration_seconds_count"), "5");
  EXPECT_EQ(samples.at("keel_fsync_duration_seconds_sum"), "62.00061");
}

TEST(Health, VerdictsGiveEveryReason) {
  const HealthOptions options;
  MetricsSnapshot s = Serving();
  EXPECT_TRUE(Healthy(s, 0.1, options).ok);
  EXPECT_TRUE(Ready(s, 0.1, options).ok);
  EXPECT_EQ(Ready(s, 0.1, options).why, "ok");

  MetricsSnapshot stale = Serving();
  EXPECT_FALSE(Healthy(stale, 6, options).ok) << "a loop that stopped publishing is not healthy";
  EXPECT_THAT(Healthy(stale, 6, options).why, HasSubstr("published nothing"));

  MetricsSnapshot failed = Serving();
  failed.storage_failure = "fdatasync: EIO";
  EXPECT_FALSE(Healthy(failed, 0, options).ok);
  EXPECT_THAT(Ready(failed, 0, options).why, HasSubstr("storage failed: fdatasync: EIO"));

  MetricsSnapshot full = Serving();
  full.storage_stalled = "disk full: node 1 refuses requests";
  full.storage_stalls = 1;
  EXPECT_FALSE(Healthy(full, 0, options).ok) << "a node that refuses every write is not healthy";
  EXPECT_THAT(Healthy(full, 0, options).why, HasSubstr("storage stalled: disk full"));
  EXPECT_THAT(RenderPrometheus(full, options), HasSubstr("keel_storage_stalled 1"));
  EXPECT_THAT(RenderPrometheus(full, options), HasSubstr("keel_storage_stalls_total 1"));
  EXPECT_THAT(RenderPrometheus(Serving(), options), HasSubstr("keel_storage_stalled 0"));

  MetricsSnapshot cut_off = Serving();
  cut_off.leader_contact_seconds = 1.5;
  cut_off.commit = 5000;
  const Verdict verdict = Ready(cut_off, 0, options);
  EXPECT_FALSE(verdict.ok);
  EXPECT_THAT(verdict.why, HasSubstr("leader 1 not heard from for 1.5 s"));
  EXPECT_THAT(verdict.why, HasSubstr("trails commit 5000"));
  EXPECT_TRUE(Healthy(cut_off, 0, options).ok) << "lagging is not unhealthy";

  MetricsSnapshot leaderless = Serving();
  leaderless.leader = kNoNode;
  EXPECT_THAT(Ready(leaderless, 0, options).why, HasSubstr("no leader known"));
  MetricsSnapshot leader = Serving();
  leader.role = "leader";
  leader.leader = 2;
  leader.leader_contact_seconds = 0;
  EXPECT_TRUE(Ready(leader, 0, options).ok);
  EXPECT_THAT(RenderPrometheus(leaderless, options), HasSubstr("raft_health_status 0"));
  EXPECT_THAT(RenderPrometheus(leader, options), Not(HasSubstr("raft_health_status 0")));
}

}  // namespace
}  // namespace keel::net
