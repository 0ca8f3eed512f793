#include "engine/node.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/assert.h"
#include "engine/membership.h"
#include "engine/node_call.h"
#include "engine/planted_bugs.h"

namespace keel {
namespace {

// How many proxied requests the leader remembers to drop duplicates (about a minute of them
// at a high rate; a duplicate older than that could only come from a network holding frames
// far longer than any request's deadline).
constexpr size_t kProxiedSeenLimit = 1 << 16;

// The planted stale-read bug: a node that knows a leader and has applied everything it knows
// to be committed takes its own state for current, and serves a linearizable read from it (no
// ReadIndex on the leader, no proxying on a follower). A follower's commit index lags the
// leader's, and a leader may be deposed without knowing it.
bool PlantedStaleRead(const NodeOptions& options, const Raft& raft) {
  return kPlantedBugsCompiledIn && (options.replica.raft.planted_bugs & kBugStaleRead) != 0 &&
         raft.leader() != kNoNode && raft.log().applied() >= raft.log().committed();
}

}  // namespace

// Wraps the replica's Raft messages into envelopes for the peer channel.
class Node::EnvelopeTransport final : public Transport {
 public:
  EnvelopeTransport(PeerChannel& peers, uint64_t cluster_id) : peers_(peers), cluster_id_(cluster_id) {}
  void Send(Message&& message) override {
    nodepb::Envelope header;
    header.set_cluster_id(cluster_id_);
    header.set_from(message.header.from());
    header.set_to(message.header.to());
    peers_.Send(Envelope(std::move(header), std::move(message)));
  }

 private:
  PeerChannel& peers_;
  const uint64_t cluster_id_;
};

Node::Node(const NodeOptions& options, const Clock& clock, PeerChannel& peers, Application& application)
    : options_(options), clock_(clock), peers_(peers), application_(application),
      transport_(std::make_unique<EnvelopeTransport>(peers, options.cluster_id)) {}

Node::~Node() {
  // A process that goes away answers nobody over the network: proxied calls die silently
  // (their proxies time out), as they would in a crash.
  for (auto& [serial, call] : calls_) {
    if (call->proxied_from != kNoNode) call->answered = true;
  }
  for (auto& call : incoming_) {
    if (call->proxied_from != kNoNode) call->answered = true;
  }
  AnswerAll("node shut down");
}

absl::StatusOr<std::unique_ptr<Node>> Node::Open(const NodeOptions& options, const Clock& clock, PeerChannel& peers,
                                                 DurableStorage& storage, Application& application) {
  if (options.default_timeout_nanos <= 0 || options.max_timeout_nanos < options.default_timeout_nanos) {
    return absl::InvalidArgumentError("node: need 0 < default_timeout_nanos <= max_timeout_nanos");
  }
  std::unique_ptr<Node> node(new Node(options, clock, peers, application));
  absl::StatusOr<std::unique_ptr<Replica>> replica =
      Replica::Open(options.replica, clock, *node->transport_, storage, application);
  if (!replica.ok()) return replica.status();
  node->replica_ = std::move(*replica);
  node->replica_->set_read_state_handler([raw = node.get()](const ReadState& read) { raw->OnReadState(read); });
  // Proxy ids of different runs of this node must not collide: a late answer to an earlier
  // run's request would otherwise complete a different call. The seed differs per run.
  node->next_proxy_id_ = (options.replica.raft.seed * 0x9E3779B97F4A7C15ULL) & 0xFFFFFFFF00000000ULL;
  node->last_term_ = node->replica_->raft().term();
  node->last_role_ = node->replica_->raft().role();
  node->PublishMembers();
  return node;
}

void Node::OnEnvelope(Envelope&& in) {
  const nodepb::Envelope& envelope = in.header;
  if (envelope.cluster_id() != options_.cluster_id) {
    ++counters_.dropped_wrong_cluster;
    return;
  }
  // Every sender of this cluster except this node and the ids a committed configuration
  // removed (etcd's rule: a removed member is told it is gone; production peers are
  // authenticated by CURVE keys before this). Not "members only": a node must hear a leader
  // its log does not know of yet (one joining from the initial voters, or a member that lagged
  // while the leader was added), and a node whose uncommitted entry removes the leader must
  // still hear that leader overwrite the entry (the simulator's membership operator found a
  // node stuck forever that way, seed 60). Raft's terms decide the rest.
  const Raft& raft = replica_->raft();
  auto removed_for_good = [&raft](NodeId id) {
    if (IsMember(raft.conf_state(), id)) return false;  // the common case: no copy
    const raftpb::ConfState committed = raft.ConfStateAt(raft.log().committed());
    return std::find(committed.removed().begin(), committed.removed().end(), id) != committed.removed().end();
  };
  if (envelope.from() == raft.id() || removed_for_good(envelope.from())) {
    ++counters_.dropped_unknown_peer;
    return;
  }
  // The raft body travels beside the header, which then has no body (Envelope's invariant).
  const bool body_consistent = in.raft ? envelope.body_case() == nodepb::Envelope::BODY_NOT_SET &&
                                             in.raft->header.from() == envelope.from() &&
                                             in.raft->header.to() == envelope.to()
                                       : envelope.body_case() != nodepb::Envelope::BODY_NOT_SET &&
                                             !envelope.has_raft();
  if (envelope.to() != replica_->raft().id() || !body_consistent) {
    ++counters_.dropped_invalid;
    return;
  }
  last_heard_nanos_[envelope.from()] = clock_.NowNanos();
  inbox_.push_back(std::move(in));
}

void Node::OnRequest(nodepb::Request request, Reply reply) {
  KEEL_ASSERT(reply != nullptr);
  ++counters_.requests;
  auto call = std::make_shared<Call>();
  call->request = std::move(request);
  call->reply = std::move(reply);
  incoming_.push_back(std::move(call));
}

void Node::Poll() {
  if (!failed().ok()) {
    inbox_.clear();
    AnswerAll(absl::StrCat("node stopped: ", failed().message()));
    return;
  }
  // Everything that arrived since the last Poll goes into the core before the Ready, so a
  // burst of messages and requests costs one Ready and one fsync.
  while (!inbox_.empty() && failed().ok()) {
    Envelope envelope = std::move(inbox_.front());
    inbox_.pop_front();
    StepEnvelope(envelope);
  }
  const int64_t now = clock_.NowNanos();
  while (!incoming_.empty()) {
    std::shared_ptr<Call> call = std::move(incoming_.front());
    incoming_.pop_front();
    call->serial = next_serial_++;
    int64_t timeout = call->request.timeout_nanos();
    if (timeout <= 0) timeout = options_.default_timeout_nanos;
    call->deadline = now + std::min(timeout, options_.max_timeout_nanos);
    calls_.emplace(call->serial, call);
    if (calls_.size() > options_.max_open_calls) {
      ++counters_.overloaded;
      AnswerCode(call, nodepb::CODE_UNAVAILABLE, "node overloaded: too many open requests");
      continue;
    }
    Route(call);
  }
  IssueReadIndex();
  replica_->Poll();  // ticks on time, then one Ready for everything above
  if (!failed().ok()) {
    AnswerAll(absl::StrCat("node stopped: ", failed().message()));
    return;
  }
  AfterReady();
  ServeReads();
  ExpireAndRetry();
}

void Node::StepEnvelope(Envelope& in) {
  if (in.raft) {
    replica_->OnMessage(std::move(*in.raft));
    return;
  }
  nodepb::Envelope& envelope = in.header;
  switch (envelope.body_case()) {
    case nodepb::Envelope::kProxyRequest: {
      const std::pair<NodeId, uint64_t> key{envelope.from(), envelope.proxy_request().proxy_id()};
      if (!proxied_seen_.insert(key).second) {
        ++counters_.proxied_in_duplicates;
        return;
      }
      proxied_seen_order_.push_back(key);
      if (proxied_seen_order_.size() > kProxiedSeenLimit) {
        proxied_seen_.erase(proxied_seen_order_.front());
        proxied_seen_order_.pop_front();
      }
      ++counters_.proxied_in;
      auto call = std::make_shared<Call>();
      call->request = std::move(*envelope.mutable_proxy_request()->mutable_request());
      call->proxied_from = envelope.from();
      const NodeId from = envelope.from();
      const uint64_t proxy_id = envelope.proxy_request().proxy_id();
      call->reply = [this, from, proxy_id](nodepb::Response response) {
        nodepb::Envelope answer;
        answer.set_cluster_id(options_.cluster_id);
        answer.set_from(replica_->raft().id());
        answer.set_to(from);
        answer.mutable_proxy_response()->set_proxy_id(proxy_id);
        *answer.mutable_proxy_response()->mutable_response() = std::move(response);
        peers_.Send(Envelope(std::move(answer)));
      };
      incoming_.push_back(std::move(call));
      return;
    }
    case nodepb::Envelope::kProxyResponse:
      OnProxyResponse(envelope.from(), envelope.proxy_response());
      return;
    case nodepb::Envelope::kRaft:  // only on the wire: in memory the body is `in.raft`
    case nodepb::Envelope::BODY_NOT_SET:
      break;
  }
  KEEL_ASSERT_MSG(false, "OnEnvelope admits only envelopes with one body");
}

void Node::Route(const std::shared_ptr<Call>& call) {
  if (call->answered) return;
  const nodepb::Request& request = call->request;
  if (request.cluster_id() != 0 && request.cluster_id() != options_.cluster_id) {
    return AnswerCode(call, nodepb::CODE_WRONG_CLUSTER,
                      absl::StrCat("request for cluster ", request.cluster_id(), " reached cluster ", options_.cluster_id));
  }
  switch (request.body_case()) {
    case nodepb::Request::kStatus: {
      nodepb::Response response;
      response.set_code(nodepb::CODE_OK);
      *response.mutable_status() = Status();
      return Answer(call, std::move(response));
    }
    case nodepb::Request::kCommand:
      return RouteCommand(call);
    case nodepb::Request::kTransferLeader:
      if (!storage_stalled().ok()) return RefuseStalled(call);
      if (replica_->raft().role() == Role::kLeader) return StartTransfer(call);
      break;
    case nodepb::Request::kMemberChange:
      if (!storage_stalled().ok()) return RefuseStalled(call);
      if (replica_->raft().role() == Role::kLeader) {
        if (replica_->raft().lead_transferee() == kNoNode) return ProposeMemberChange(call);
        if (call->proxied_from != kNoNode) return AnswerCode(call, nodepb::CODE_UNAVAILABLE, "leadership transfer in progress");
        call->waiting_for_leader = true;  // routed again once the transfer ends
        return;
      }
      break;
    case nodepb::Request::BODY_NOT_SET:
      return AnswerCode(call, nodepb::CODE_INVALID_ARGUMENT, "request has no body");
  }
  ForwardToLeader(call);  // not for this node to decide: the leader's
}

void Node::ForwardToLeader(const std::shared_ptr<Call>& call) {
  if (call->proxied_from != kNoNode) {
    // Proxied here but this node does not lead (any more): say so instead of proxying again,
    // so that requests never circle between nodes.
    return AnswerCode(call, nodepb::CODE_UNAVAILABLE, "not the leader");
  }
  const NodeId leader = replica_->raft().leader();
  if (leader != kNoNode && leader != replica_->raft().id()) return Proxy(call, leader);
  call->waiting_for_leader = true;  // re-routed once a leader is known, or answered at deadline
}

void Node::RouteCommand(const std::shared_ptr<Call>& call) {
  if (!call->inspected) {
    call->info = application_.Inspect(call->request.command());
    call->inspected = true;
  }
  if (!call->info.valid) return AnswerCode(call, nodepb::CODE_INVALID_ARGUMENT, call->info.error);
  if (call->info.read_only &&
      (call->request.read_mode() == nodepb::READ_STALE || PlantedStaleRead(options_, replica_->raft()))) {
    nodepb::Response response;
    response.set_code(nodepb::CODE_OK);
    response.set_result(application_.Query(call->request.command()));
    return Answer(call, std::move(response));
  }
  // A full disk: refused, not proxied, so that clients move to a healthy node.
  if (!storage_stalled().ok()) return RefuseStalled(call);
  const Raft& raft = replica_->raft();
  if (raft.role() == Role::kLeader && raft.lead_transferee() == kNoNode) {
    if (call->info.read_only) {
      unbatched_reads_.push_back(call->serial);
    } else {
      ProposeWrite(call);
    }
    return;
  }
  if (raft.role() == Role::kLeader) {
    // Proposals are refused while leadership moves. A proxied request goes back (its proxy
    // re-routes); an own client's waits and is routed again once the transfer ends.
    if (call->proxied_from != kNoNode) return AnswerCode(call, nodepb::CODE_UNAVAILABLE, "leadership transfer in progress");
    call->waiting_for_leader = true;
    return;
  }
  ForwardToLeader(call);
}

void Node::ProposeWrite(const std::shared_ptr<Call>& call) {
  const Clock& leader_clock = options_.leader_time_clock != nullptr ? *options_.leader_time_clock : clock_;
  std::string command = application_.StampLeaderTime(call->request.command(), leader_clock.NowNanos());
  std::weak_ptr<Call> weak = call;
  absl::StatusOr<LogPosition> position =
      replica_->Propose(std::move(command), [this, weak](absl::StatusOr<std::string> result) {
        std::shared_ptr<Call> proposed = weak.lock();
        if (proposed == nullptr || proposed->answered) return;  // answered at its deadline
        if (result.ok()) {
          nodepb::Response response;
          response.set_code(nodepb::CODE_OK);
          response.set_result(std::move(*result));
          return Answer(proposed, std::move(response));
        }
        // Another entry took its index: never applied. Anything else (a snapshot replaced
        // the log, the replica stopped): it may have been.
        if (absl::IsAborted(result.status())) {
          return AnswerCode(proposed, nodepb::CODE_UNAVAILABLE, std::string(result.status().message()));
        }
        AnswerCode(proposed, nodepb::CODE_OUTCOME_UNKNOWN, std::string(result.status().message()));
      });
  if (!position.ok()) {
    return AnswerCode(call, nodepb::CODE_UNAVAILABLE, std::string(position.status().message()));
  }
  ++counters_.proposals;
  call->proposed = true;
  call->retry_at = 0;  // the replica's callback answers it now
}

void Node::StartTransfer(const std::shared_ptr<Call>& call) {
  const NodeId target = call->request.transfer_leader().target();
  if (target == replica_->raft().id()) {
    nodepb::Response response;
    response.set_code(nodepb::CODE_OK);
    return Answer(call, std::move(response));
  }
  if (absl::Status status = replica_->raft().TransferLeadership(target); !status.ok()) {
    return AnswerCode(call, nodepb::CODE_FAILED_PRECONDITION, std::string(status.message()));
  }
  transfers_.insert(call->serial);
}

void Node::RefuseStalled(const std::shared_ptr<Call>& call) {
  ++counters_.refused_storage_stalled;
  AnswerCode(call, nodepb::CODE_UNAVAILABLE, std::string(storage_stalled().message()));
}

void Node::IssueReadIndex() {
  if (unbatched_reads_.empty()) return;
  if (!storage_stalled().ok()) {  // the core is frozen (Replica::storage_stalled)
    for (uint64_t serial : unbatched_reads_) {
      auto it = calls_.find(serial);
      if (it != calls_.end()) RefuseStalled(it->second);
    }
    unbatched_reads_.clear();
    return;
  }
  const uint64_t batch = next_read_batch_++;
  // The context names the batch; it comes back in the ReadState.
  std::string context(sizeof(batch), '\0');
  for (size_t i = 0; i < sizeof(batch); ++i) context[i] = static_cast<char>(batch >> (8 * i));
  if (absl::Status status = replica_->ReadIndex(std::move(context)); !status.ok()) {
    for (uint64_t serial : unbatched_reads_) {
      auto it = calls_.find(serial);
      if (it != calls_.end()) AnswerCode(it->second, nodepb::CODE_UNAVAILABLE, std::string(status.message()));
    }
    unbatched_reads_.clear();
    return;
  }
  ++counters_.read_index_batches;
  ReadBatch& issued = read_batches_[batch];
  issued.calls = std::move(unbatched_reads_);
  issued.issued_at = clock_.NowNanos();
  unbatched_reads_.clear();
}

void Node::OnReadState(const ReadState& read_state) {
  if (read_state.context.size() != sizeof(uint64_t)) return;  // not one of ours
  uint64_t batch = 0;
  for (size_t i = 0; i < sizeof(batch); ++i) {
    batch |= static_cast<uint64_t>(static_cast<unsigned char>(read_state.context[i])) << (8 * i);
  }
  auto it = read_batches_.find(batch);
  if (it == read_batches_.end()) return;  // already failed by a leader change
  if (read_state.index == 0) return;       // not a real confirmation (a peer's bad response)
  it->second.read_index = read_state.index;
  if (read_state.lease) counters_.lease_reads += it->second.calls.size();
}

void Node::ServeReads() {
  const Index applied = replica_->raft().log().applied();
  for (auto it = read_batches_.begin(); it != read_batches_.end();) {
    if (it->second.read_index == 0 || it->second.read_index > applied) {
      ++it;
      continue;
    }
    for (uint64_t serial : it->second.calls) {
      auto call = calls_.find(serial);
      if (call == calls_.end()) continue;  // answered at its deadline
      nodepb::Response response;
      response.set_code(nodepb::CODE_OK);
      response.set_result(application_.Query(call->second->request.command()));
      Answer(call->second, std::move(response));
    }
    it = read_batches_.erase(it);
  }
}

void Node::AfterReady() {
  PublishMembers();
  const Raft& raft = replica_->raft();
  const bool lost_leadership = last_role_ == Role::kLeader && (raft.role() != Role::kLeader || raft.term() != last_term_);
  last_role_ = raft.role();
  last_term_ = raft.term();
  if (lost_leadership) {
    // The core dropped its pending ReadIndex requests with its leadership: say so now rather
    // than at the deadline (etcd#9566). A read never changes anything, so it was not applied.
    for (auto& [batch, reads] : read_batches_) {
      for (uint64_t serial : reads.calls) {
        auto call = calls_.find(serial);
        if (call != calls_.end()) AnswerCode(call->second, nodepb::CODE_UNAVAILABLE, "read dropped by a leader change");
      }
    }
    read_batches_.clear();
  }
  // Settle leadership transfers.
  for (auto it = transfers_.begin(); it != transfers_.end();) {
    auto call = calls_.find(*it);
    if (call == calls_.end()) {
      it = transfers_.erase(it);
      continue;
    }
    const NodeId target = call->second->request.transfer_leader().target();
    if (raft.leader() == target) {
      nodepb::Response response;
      response.set_code(nodepb::CODE_OK);
      Answer(call->second, std::move(response));
    } else if (raft.role() == Role::kLeader && raft.lead_transferee() == kNoNode) {
      AnswerCode(call->second, nodepb::CODE_FAILED_PRECONDITION, "leadership transfer abandoned");
    } else {
      ++it;
      continue;
    }
    it = transfers_.erase(it);
  }
  // Calls that waited for a leader (or for a transfer to finish) get routed again.
  if (raft.leader() == kNoNode) return;
  std::vector<std::shared_ptr<Call>> waiting;
  for (auto& [serial, call] : calls_) {
    if (call->waiting_for_leader) waiting.push_back(call);
  }
  for (const std::shared_ptr<Call>& call : waiting) {
    call->waiting_for_leader = false;
    Route(call);
  }
}

// The kind a call is counted under: its command's kind once inspected, else its body's.
std::string Node::RequestKind(const Call& call) {
  switch (call.request.body_case()) {
    case nodepb::Request::kStatus:
      return "status";
    case nodepb::Request::kTransferLeader:
      return "transfer_leader";
    case nodepb::Request::kMemberChange:
      return "member_change";
    case nodepb::Request::kCommand:
      return call.inspected && call.info.valid ? call.info.kind : "invalid";
    case nodepb::Request::BODY_NOT_SET:
      break;
  }
  return "invalid";
}

void Node::Answer(const std::shared_ptr<Call>& call_ref, nodepb::Response response) {
  // A copy: `call_ref` may be the very pointer in calls_ that the erase below destroys.
  const std::shared_ptr<Call> call = call_ref;
  KEEL_ASSERT(!call->answered);
  KEEL_ASSERT(response.code() != nodepb::CODE_UNSPECIFIED);
  if (response.code() == nodepb::CODE_UNAVAILABLE && call->sent_to_leader && !call->read_only()) {
    // This path knows only that its own attempt did not apply; one sent to a leader earlier
    // may have (duplicated, delayed, or committed by a later leader).
    response.set_code(nodepb::CODE_OUTCOME_UNKNOWN);
    response.set_error(absl::StrCat(response.error(), "; an earlier attempt sent to the leader may have been applied"));
  }
  call->answered = true;
  calls_.erase(call->serial);
  for (uint64_t proxy_id : call->outstanding_proxy_ids) proxy_attempts_.erase(proxy_id);
  call->outstanding_proxy_ids.clear();
  response.set_id(call->request.id());
  if (response.leader_hint() == 0) response.set_leader_hint(LeaderHint());
  if (response.served_by() == 0) response.set_served_by(replica_->raft().id());
  if (call->proxied_from == kNoNode) {
    ++counters_.answers[response.code()];
    ++counters_.answers_by_kind[{RequestKind(*call), response.code()}];
  }
  Reply reply = std::move(call->reply);
  reply(std::move(response));
}

void Node::AnswerCode(const std::shared_ptr<Call>& call, nodepb::Code code, std::string error) {
  nodepb::Response response;
  response.set_code(code);
  response.set_error(std::move(error));
  Answer(call, std::move(response));
}

void Node::AnswerAll(const std::string& why) {
  std::vector<std::shared_ptr<Call>> open;
  for (auto& [serial, call] : calls_) open.push_back(call);
  for (auto& call : incoming_) open.push_back(call);
  incoming_.clear();
  for (const std::shared_ptr<Call>& call : open) {
    if (call->answered) {
      calls_.erase(call->serial);
      continue;
    }
    // Proposed here, or sent to the leader without an answer: it may still be applied.
    const bool maybe_applied = call->proposed || !call->outstanding_proxy_ids.empty();
    if (call->serial == 0) call->serial = next_serial_++;
    AnswerCode(call, maybe_applied ? nodepb::CODE_OUTCOME_UNKNOWN : nodepb::CODE_UNAVAILABLE, why);
  }
  read_batches_.clear();
  unbatched_reads_.clear();
  transfers_.clear();
  proxy_attempts_.clear();
}

NodeId Node::LeaderHint() const { return replica_ ? replica_->raft().leader() : kNoNode; }

int64_t Node::ElectionTimeoutNanos() const {
  return options_.replica.tick_nanos * options_.replica.raft.election_tick;
}

nodepb::NodeStatus Node::Status() const {
  const RaftStatus raft = replica_->raft().Status();
  nodepb::NodeStatus status;
  status.set_id(raft.id);
  status.set_role(std::string(ToString(raft.role)));
  status.set_term(raft.term);
  status.set_leader(raft.leader);
  status.set_commit(raft.commit);
  status.set_applied(raft.applied);
  status.set_first_index(raft.first_index);
  status.set_last_index(raft.last_index);
  status.set_cluster_id(options_.cluster_id);
  const raftpb::ConfState& conf = replica_->raft().conf_state();
  for (NodeId voter : conf.voters()) status.add_voters(voter);
  for (NodeId learner : conf.learners()) status.add_learners(learner);
  for (NodeId voter : conf.voters_outgoing()) status.add_voters_outgoing(voter);
  for (NodeId removed : conf.removed()) status.add_removed(removed);
  for (const auto& [id, context] : MemberContexts(conf)) {
    nodepb::MemberInfo info;
    if (info.ParseFromString(context)) (*status.mutable_members())[id] = std::move(info);
  }
  const raftpb::ConfState initial = replica_->raft().ConfStateAt(raft.first_index - 1);
  for (NodeId voter : initial.voters()) status.add_initial_voters(voter);
  if (replica_->raft().role() == Role::kLeader && replica_->raft().ConfChangeInFlight()) {
    status.set_pending_conf_index(replica_->raft().pending_conf_index());
  }
  for (const PeerStatus& peer : raft.peers) {
    nodepb::PeerProgress* progress = status.add_peers();
    progress->set_id(peer.id);
    progress->set_match(peer.match);
    progress->set_next(peer.next);
    progress->set_state(std::string(ToString(peer.state)));
    progress->set_recent_active(peer.recent_active);
  }
  if (!failed().ok()) status.set_failure(std::string(failed().message()));
  if (!storage_stalled().ok()) status.set_storage_stalled(std::string(storage_stalled().message()));
  return status;
}

}  // namespace keel
