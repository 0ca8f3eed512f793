// The node driver's follower side: proxying whole client requests to the leader, relaying the
// answers, resending late ones that are safe to repeat, and answering at deadlines.
#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/assert.h"
#include "engine/node.h"
#include "engine/node_call.h"
#include "engine/planted_bugs.h"

namespace keel {
namespace {

// The planted bug proxy-retry-twice: a resend under a new sequence number defeats the
// session's deduplication, so a command whose first attempt was applied is applied again.
constexpr uint64_t kPlantedSequenceOffset = uint64_t{1} << 40;

}  // namespace

void Node::Proxy(const std::shared_ptr<Call>& call, NodeId leader) {
  KEEL_ASSERT(leader != kNoNode && leader != replica_->raft().id());
  KEEL_ASSERT(call->proxied_from == kNoNode);
  const int64_t now = clock_.NowNanos();
  const uint64_t proxy_id = ++next_proxy_id_;
  nodepb::Envelope envelope;
  envelope.set_cluster_id(options_.cluster_id);
  envelope.set_from(replica_->raft().id());
  envelope.set_to(leader);
  nodepb::ProxyRequest* proxied = envelope.mutable_proxy_request();
  proxied->set_proxy_id(proxy_id);
  *proxied->mutable_request() = call->request;
  // The leader gets what is left of the client's time, so its answer can arrive in time.
  proxied->mutable_request()->set_timeout_nanos(std::max<int64_t>(1, call->deadline - now));
  const bool resend = !call->outstanding_proxy_ids.empty();
  if (kPlantedBugsCompiledIn && (options_.replica.raft.planted_bugs & kBugProxyRetryTwice) != 0 && resend &&
      call->info.session != 0) {
    proxied->mutable_request()->set_command(
        application_.WithSequence(call->request.command(), call->info.sequence + kPlantedSequenceOffset));
  }
  proxy_attempts_[proxy_id] = ProxyAttempt{call->serial, leader};
  call->outstanding_proxy_ids.insert(proxy_id);
  call->sent_to_leader = true;
  const int64_t retry = options_.proxy_retry_nanos > 0 ? options_.proxy_retry_nanos : ElectionTimeoutNanos();
  call->retry_at = now + retry;
  ++counters_.proxied_out;
  peers_.Send(Envelope(std::move(envelope)));
}

void Node::OnProxyResponse(NodeId from, const nodepb::ProxyResponse& proxied) {
  auto attempt = proxy_attempts_.find(proxied.proxy_id());
  if (attempt == proxy_attempts_.end()) return;  // a duplicate, or for an answered call
  const nodepb::Code code = proxied.response().code();
  if (attempt->second.to != from || !nodepb::Code_IsValid(code) || code == nodepb::CODE_UNSPECIFIED) {
    // Not an answer this node can interpret: the attempt's fate stays unknown.
    ++counters_.bad_proxy_responses;
    return;
  }
  const uint64_t serial = attempt->second.serial;
  proxy_attempts_.erase(attempt);
  auto found = calls_.find(serial);
  if (found == calls_.end()) return;
  std::shared_ptr<Call> call = found->second;
  call->outstanding_proxy_ids.erase(proxied.proxy_id());
  if (code == nodepb::CODE_UNAVAILABLE) {
    // That copy was not applied (the node it reached does not lead, or lost the entry's
    // slot). Try again soon; the deadline still bounds it.
    call->retry_at = clock_.NowNanos() + options_.replica.tick_nanos;
    return;
  }
  nodepb::Response response = proxied.response();
  if (response.served_by() == 0) response.set_served_by(from);
  Answer(call, std::move(response));
}

void Node::ExpireAndRetry() {
  const int64_t now = clock_.NowNanos();
  // A ReadIndex whose confirming heartbeat round was lost would wait for its deadline (the
  // core sends its context once): after an election timeout unconfirmed, ask again.
  const int64_t reissue_after = ElectionTimeoutNanos();
  for (auto it = read_batches_.begin(); it != read_batches_.end();) {
    if (it->second.read_index == 0 && now - it->second.issued_at >= reissue_after) {
      for (uint64_t serial : it->second.calls) unbatched_reads_.push_back(serial);
      it = read_batches_.erase(it);
    } else {
      ++it;
    }
  }
  std::vector<std::shared_ptr<Call>> due;
  for (auto& [serial, call] : calls_) {
    if (now >= call->deadline || (call->retry_at != 0 && now >= call->retry_at)) due.push_back(call);
  }
  for (const std::shared_ptr<Call>& call : due) {
    if (call->answered) continue;
    if (now >= call->deadline) {
      // A write proposed here or ever sent to a leader may yet be applied; only the client's
      // retry with the same session and sequence can tell.
      const bool maybe_applied = !call->read_only() && (call->proposed || call->sent_to_leader);
      const bool transfer = call->request.has_transfer_leader();
      if (maybe_applied || transfer) {
        AnswerCode(call, nodepb::CODE_DEADLINE_EXCEEDED, "deadline exceeded; the outcome is unknown");
      } else {
        AnswerCode(call, nodepb::CODE_UNAVAILABLE,
                   call->waiting_for_leader ? "no leader known before the deadline" : "deadline exceeded");
      }
      continue;
    }
    if (call->proposed || call->waiting_for_leader) continue;
    // A late answer: resend only what is safe to repeat; otherwise keep waiting for it.
    call->retry_at = 0;
    if (!call->outstanding_proxy_ids.empty() && !call->info.retry_safe) continue;
    Route(call);
  }
}

}  // namespace keel
