// The node driver's test rig: nodes over an in-memory peer channel, a hand-moved clock and
// simulated disks, with a toy application (tests/node/*_test.cc).
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "engine/node.h"
#include "gtest/gtest.h"
#include "sim/manual_clock.h"
#include "sim/sim_filesystem.h"

namespace keel::nodetest {

constexpr int64_t kTick = 10'000'000;
constexpr uint64_t kCluster = 9;

// Commands "w:<value>" append a value; "r:" reads the list; "x:<value>" is a write that is
// not safe to repeat. Anything else is invalid.
class ToyApplication final : public Application {
 public:
  std::string Apply(Index, absl::string_view command) override {
    if (absl::StartsWith(command, "w:") || absl::StartsWith(command, "x:")) {
      values.emplace_back(command.substr(2));
      return absl::StrCat("n=", values.size());
    }
    return "?";
  }
  std::string Snapshot() const override { return absl::StrJoin(values, ","); }
  absl::Status Restore(absl::string_view data) override {
    values = data.empty() ? std::vector<std::string>{} : absl::StrSplit(data, ',');
    return absl::OkStatus();
  }
  CommandInfo Inspect(absl::string_view command) const override {
    CommandInfo info;
    info.valid = absl::StartsWith(command, "w:") || absl::StartsWith(command, "r:") || absl::StartsWith(command, "x:");
    if (!info.valid) info.error = "toy: unknown command";
    info.read_only = absl::StartsWith(command, "r:");
    info.retry_safe = !absl::StartsWith(command, "x:");
    return info;
  }
  std::string StampLeaderTime(absl::string_view command, int64_t) const override { return std::string(command); }
  std::string Query(absl::string_view) const override { return absl::StrJoin(values, ","); }
  std::string WithSequence(absl::string_view command, uint64_t) const override { return std::string(command); }
  std::vector<std::string> values;
};

class Channel final : public PeerChannel {
 public:
  explicit Channel(std::deque<nodepb::Envelope>* queue) : queue_(queue) {}
  // Kept as protobuf: tests inspect, copy and forge envelopes in flight.
  void Send(Envelope&& envelope) override { queue_->push_back(ToProto(envelope)); }
  void SetMembers(const std::map<NodeId, nodepb::MemberInfo>& members) override { member_updates.push_back(members); }
  // Every SetMembers call of every node, in order.
  std::vector<std::map<NodeId, nodepb::MemberInfo>> member_updates;

 private:
  std::deque<nodepb::Envelope>* queue_;
};

struct Answer {
  std::optional<nodepb::Response> response;
  int64_t at = 0;
  int count = 0;
};

class NodeCluster {
 public:
  NodeCluster() : channel_(&queue_) {
    for (NodeId id = 1; id <= 3; ++id) Start(id, {1, 2, 3});
  }

  // Starts node `id` on an empty disk that starts from `initial_voters` (a node joining a
  // running cluster passes the cluster's, itself not among them).
  void Start(NodeId id, const std::vector<NodeId>& initial_voters) {
    Member& m = members_[id];
    m.fs = std::make_unique<SimFileSystem>(id);
    m.fs->set_sync_hook([this, id] { ++members_[id].syncs; });
    auto storage = DurableStorage::Open(*m.fs, "/d", initial_voters, StorageOptions{});
    ASSERT_TRUE(storage.ok()) << storage.status();
    m.storage = std::move(*storage);
    NodeOptions options;
    options.cluster_id = kCluster;
    options.replica.raft.id = id;
    options.replica.raft.election_tick = 10;
    options.replica.raft.seed = id;
    options.replica.tick_nanos = kTick;
    auto node = Node::Open(options, clock_, channel_, *m.storage, m.app);
    ASSERT_TRUE(node.ok()) << node.status();
    m.node = std::move(*node);
  }
  Channel& channel() { return channel_; }

  Node& node(NodeId id) { return *members_.at(id).node; }
  ToyApplication& app(NodeId id) { return members_.at(id).app; }
  SimFileSystem& fs(NodeId id) { return *members_.at(id).fs; }
  int syncs(NodeId id) const { return members_.at(id).syncs; }
  int64_t now() const { return clock_.NowNanos(); }
  void Isolate(NodeId id) { isolated_.insert(id); }
  // Envelopes sent and not delivered yet (the next Tick delivers them).
  std::deque<nodepb::Envelope>& in_flight() { return queue_; }
  void Heal() { isolated_.clear(); }

  // One tick: deliver what is queued (not across the isolation), then poll every node.
  void Tick() {
    clock_.Advance(kTick);
    std::deque<nodepb::Envelope> queue = std::move(queue_);
    queue_.clear();
    for (nodepb::Envelope& envelope : queue) {
      if (isolated_.contains(envelope.from()) || isolated_.contains(envelope.to())) continue;
      if (!members_.contains(envelope.to())) continue;  // a node not started (yet): lost
      node(envelope.to()).OnEnvelope(FromProto(std::move(envelope)));
    }
    for (auto& [id, m] : members_) m.node->Poll();
  }
  void Run(int ticks) {
    for (int i = 0; i < ticks; ++i) Tick();
  }
  NodeId Leader() {
    for (auto& [id, m] : members_) {
      if (m.node->replica().raft().role() == Role::kLeader && !isolated_.contains(id)) return id;
    }
    return kNoNode;
  }
  NodeId RunUntilLeader() {
    for (int i = 0; i < 300 && Leader() == kNoNode; ++i) Tick();
    return Leader();
  }
  // A leader, a few heartbeats after its election (its no-op committed); kNoNode if none.
  NodeId SettledLeader() {
    const NodeId leader = RunUntilLeader();
    Run(3);
    return leader;
  }

  std::shared_ptr<Answer> Send(NodeId to, nodepb::Request request) {
    auto answer = std::make_shared<Answer>();
    const ManualClock* clock = &clock_;
    node(to).OnRequest(std::move(request), [answer, clock](nodepb::Response response) {
      answer->response = std::move(response);
      answer->at = clock->NowNanos();
      ++answer->count;
    });
    return answer;
  }
  std::shared_ptr<Answer> Command(NodeId to, const std::string& command, int64_t timeout = 2'000'000'000) {
    nodepb::Request request;
    request.set_command(command);
    request.set_timeout_nanos(timeout);
    return Send(to, std::move(request));
  }
  // Ticks until `answer` arrives (at most `ticks`).
  void RunUntil(const std::shared_ptr<Answer>& answer, int ticks = 1000) {
    for (int i = 0; i < ticks && !answer->response; ++i) Tick();
  }

 private:
  struct Member {
    std::unique_ptr<SimFileSystem> fs;
    std::unique_ptr<DurableStorage> storage;
    ToyApplication app;
    std::unique_ptr<Node> node;
    int syncs = 0;
  };
  ManualClock clock_;
  std::deque<nodepb::Envelope> queue_;
  Channel channel_;
  std::map<NodeId, Member> members_;
  std::set<NodeId> isolated_;
};

inline NodeId OtherThan(NodeId a, NodeId b = kNoNode) {
  for (NodeId id = 1; id <= 3; ++id) {
    if (id != a && id != b) return id;
  }
  return kNoNode;
}

}  // namespace keel::nodetest
