// The node driver's membership part: member-change requests become ConfChange entries on the
// leader, and every change of the configuration in force reaches the peer channel, so that a
// member added at run time is reachable (and admitted) on every node.
#include <map>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/assert.h"
#include "engine/membership.h"
#include "engine/node.h"
#include "engine/node_call.h"

namespace keel {
namespace {

// The ConfChange a request asks for, or why it is malformed.
absl::StatusOr<raftpb::ConfChange> ToConfChange(const nodepb::MemberChange& request) {
  if (request.changes().empty()) return absl::InvalidArgumentError("member change: no changes");
  raftpb::ConfChange change;
  for (const nodepb::MemberChange::Change& item : request.changes()) {
    raftpb::ConfChangeSingle* single = change.add_changes();
    single->set_node(item.node());
    if (item.node() == kNoNode) return absl::InvalidArgumentError("member change: node id 0");
    switch (item.type()) {
      case nodepb::MEMBER_ADD_VOTER:
        single->set_type(raftpb::CONF_ADD_VOTER);
        break;
      case nodepb::MEMBER_ADD_LEARNER:
        single->set_type(raftpb::CONF_ADD_LEARNER);
        break;
      case nodepb::MEMBER_REMOVE:
        single->set_type(raftpb::CONF_REMOVE);
        if (item.has_info()) return absl::InvalidArgumentError("member change: a removal carries no member info");
        break;
      default:
        return absl::InvalidArgumentError(absl::StrCat("member change: unknown type ", item.type()));
    }
    // An empty info keeps what the configuration already holds for the node (a promotion).
    if (item.has_info() && item.info().ByteSizeLong() > 0) single->set_context(item.info().SerializeAsString());
  }
  return change;
}

}  // namespace

void Node::ProposeMemberChange(const std::shared_ptr<Call>& call) {
  KEEL_ASSERT(replica_->raft().role() == Role::kLeader);
  absl::StatusOr<raftpb::ConfChange> change = ToConfChange(call->request.member_change());
  if (!change.ok()) return AnswerCode(call, nodepb::CODE_INVALID_ARGUMENT, std::string(change.status().message()));
  std::weak_ptr<Call> weak = call;
  absl::StatusOr<LogPosition> position =
      replica_->ProposeConfChange(*change, [this, weak](absl::StatusOr<std::string> result) {
        std::shared_ptr<Call> proposed = weak.lock();
        if (proposed == nullptr || proposed->answered) return;  // answered at its deadline
        if (result.ok()) {
          nodepb::Response response;
          response.set_code(nodepb::CODE_OK);
          *response.mutable_status() = Status();
          return Answer(proposed, std::move(response));
        }
        // As for commands: another entry took its index (never applied), or unknown.
        const nodepb::Code code =
            absl::IsAborted(result.status()) ? nodepb::CODE_UNAVAILABLE : nodepb::CODE_OUTCOME_UNKNOWN;
        AnswerCode(proposed, code, std::string(result.status().message()));
      });
  if (!position.ok()) {
    // Refused as asked (in flight, lagging learner, removed id, ...): nothing was proposed.
    return AnswerCode(call, nodepb::CODE_FAILED_PRECONDITION, std::string(position.status().message()));
  }
  ++counters_.proposals;
  ++counters_.membership_proposals;
  call->proposed = true;
  call->retry_at = 0;
}

void Node::PublishMembers() {
  // Every Poll calls this: the generation makes the common case (no change) one comparison
  // instead of serializing the configuration.
  if (replica_->raft().conf_generation() == published_generation_) return;
  published_generation_ = replica_->raft().conf_generation();
  const raftpb::ConfState& conf = replica_->raft().conf_state();
  std::map<NodeId, nodepb::MemberInfo> members;
  const std::map<NodeId, std::string> contexts = MemberContexts(conf);
  for (const auto* list : {&conf.voters(), &conf.voters_outgoing(), &conf.learners()}) {
    for (NodeId id : *list) {
      nodepb::MemberInfo& info = members[id];
      auto context = contexts.find(id);
      // Contexts are written by ToConfChange above, so they parse; one that does not (a newer
      // format) is treated as absent rather than trusted half-parsed.
      if (context != contexts.end() && !info.ParseFromString(context->second)) info.Clear();
    }
  }
  peers_.SetMembers(members);
}

}  // namespace keel
