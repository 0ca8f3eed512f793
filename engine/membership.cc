#include "engine/membership.h"

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "absl/container/btree_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace keel {
namespace {

using IdList = google::protobuf::RepeatedField<uint64_t>;

bool SortedUniqueNonZero(const IdList& ids) {
  for (int i = 0; i < ids.size(); ++i) {
    if (ids[i] == kNoNode || (i > 0 && ids[i] <= ids[i - 1])) return false;
  }
  return true;
}

bool Has(const IdList& ids, NodeId id) { return std::binary_search(ids.begin(), ids.end(), id); }

void Assign(IdList* out, const absl::btree_set<NodeId>& ids) {
  out->Clear();
  for (NodeId id : ids) out->Add(id);
}

absl::Status Invalid(absl::string_view why) { return absl::InvalidArgumentError(absl::StrCat("conf change: ", why)); }

// Keeps the contexts of `next`'s members only, with `updates` (non-empty ones) applied.
void RebuildContexts(const raftpb::ConfState& conf, const std::map<NodeId, std::string>& updates,
                     raftpb::ConfState* next) {
  std::map<NodeId, std::string> contexts;
  for (const raftpb::MemberContext& member : conf.contexts()) contexts[member.node()] = member.context();
  for (const auto& [node, context] : updates) contexts[node] = context;
  next->clear_contexts();
  for (const auto& [node, context] : contexts) {
    if (!IsMember(*next, node)) continue;
    raftpb::MemberContext* member = next->add_contexts();
    member->set_node(node);
    member->set_context(context);
  }
}

}  // namespace

absl::Status ValidateConfState(const raftpb::ConfState& conf) {
  for (const IdList* list : {&conf.voters(), &conf.voters_outgoing(), &conf.learners(), &conf.removed()}) {
    if (!SortedUniqueNonZero(*list)) return absl::InvalidArgumentError("membership lists must be sorted, unique, non-zero");
  }
  if (conf.voters().empty()) return absl::InvalidArgumentError("membership has no voter");
  for (NodeId learner : conf.learners()) {
    if (Has(conf.voters(), learner) || Has(conf.voters_outgoing(), learner)) {
      return absl::InvalidArgumentError(absl::StrCat("node ", learner, " is both learner and voter"));
    }
  }
  for (NodeId removed : conf.removed()) {
    // While joint, a node being removed is still a voter of C_old (and must be heard).
    if (Has(conf.voters(), removed) || Has(conf.learners(), removed)) {
      return absl::InvalidArgumentError(absl::StrCat("removed node ", removed, " is still a member"));
    }
  }
  for (int i = 0; i < conf.contexts_size(); ++i) {
    const NodeId node = conf.contexts(i).node();
    if (i > 0 && node <= conf.contexts(i - 1).node()) {
      return absl::InvalidArgumentError("member contexts must be sorted by node, unique");
    }
    if (!IsMember(conf, node)) return absl::InvalidArgumentError(absl::StrCat("context for non-member ", node));
  }
  return absl::OkStatus();
}

bool IsMember(const raftpb::ConfState& conf, NodeId id) {
  return Has(conf.voters(), id) || Has(conf.voters_outgoing(), id) || Has(conf.learners(), id);
}

absl::StatusOr<raftpb::ConfState> ApplyConfChange(const raftpb::ConfState& conf, const raftpb::ConfChange& change) {
  raftpb::ConfState next = conf;
  if (change.leave_joint()) {
    if (!change.changes().empty()) return Invalid("leave_joint carries no changes");
    if (!IsJoint(conf)) return Invalid("not in a joint configuration");
    next.clear_voters_outgoing();
    RebuildContexts(conf, {}, &next);
    return next;
  }
  if (IsJoint(conf)) return Invalid("a joint configuration is still being left; one change at a time");
  if (change.changes().empty()) return Invalid("no changes");
  absl::btree_set<NodeId> voters(conf.voters().begin(), conf.voters().end());
  absl::btree_set<NodeId> learners(conf.learners().begin(), conf.learners().end());
  absl::btree_set<NodeId> removed(conf.removed().begin(), conf.removed().end());
  absl::btree_set<NodeId> named;
  std::map<NodeId, std::string> contexts;
  for (const raftpb::ConfChangeSingle& single : change.changes()) {
    const NodeId node = single.node();
    if (node == kNoNode) return Invalid("node 0");
    if (!named.insert(node).second) return Invalid(absl::StrCat("node ", node, " named twice"));
    if (!raftpb::ConfChangeType_IsValid(single.type())) return Invalid("unknown change type");
    const bool member = voters.contains(node) || learners.contains(node);
    if (!single.context().empty()) {
      if (single.type() == raftpb::CONF_REMOVE) return Invalid("a removal carries no context");
      contexts[node] = single.context();
    }
    switch (single.type()) {
      case raftpb::CONF_ADD_VOTER:
      case raftpb::CONF_ADD_LEARNER:
        if (removed.contains(node)) {
          return Invalid(absl::StrCat("node ", node, " was removed; ids are never reused, pick a new one"));
        }
        if (single.type() == raftpb::CONF_ADD_VOTER) {
          if (voters.contains(node)) return Invalid(absl::StrCat("node ", node, " is already a voter"));
          learners.erase(node);
          voters.insert(node);
        } else {
          if (voters.contains(node)) return Invalid(absl::StrCat("node ", node, " is a voter (remove it first)"));
          if (learners.contains(node)) return Invalid(absl::StrCat("node ", node, " is already a learner"));
          learners.insert(node);
        }
        break;
      case raftpb::CONF_REMOVE:
        if (!member) return Invalid(absl::StrCat("node ", node, " is not a member"));
        voters.erase(node);
        learners.erase(node);
        removed.insert(node);
        break;
      default:
        return Invalid("unknown change type");
    }
  }
  if (voters.empty()) return Invalid("no voter would remain");
  // Voters added or removed: one is safe directly (any two majorities of the old and new
  // configs overlap); more need both majorities for a while (joint consensus).
  size_t changed_voters = 0;
  for (NodeId id : voters) changed_voters += Has(conf.voters(), id) ? 0 : 1;
  for (NodeId id : conf.voters()) changed_voters += voters.contains(id) ? 0 : 1;
  if (changed_voters > 1) *next.mutable_voters_outgoing() = conf.voters();
  Assign(next.mutable_voters(), voters);
  Assign(next.mutable_learners(), learners);
  Assign(next.mutable_removed(), removed);
  RebuildContexts(conf, contexts, &next);
  return next;
}

std::map<NodeId, std::string> MemberContexts(const raftpb::ConfState& conf) {
  std::map<NodeId, std::string> out;
  for (const raftpb::MemberContext& member : conf.contexts()) out[member.node()] = member.context();
  return out;
}

JointConfig QuorumOf(const raftpb::ConfState& conf) {
  return JointConfig(MajorityConfig({conf.voters().begin(), conf.voters().end()}),
                     MajorityConfig({conf.voters_outgoing().begin(), conf.voters_outgoing().end()}));
}

std::string DescribeConfState(const raftpb::ConfState& conf) {
  std::string out = absl::StrCat("voters=", absl::StrJoin(conf.voters(), ","));
  if (IsJoint(conf)) absl::StrAppend(&out, " outgoing=", absl::StrJoin(conf.voters_outgoing(), ","));
  if (!conf.learners().empty()) absl::StrAppend(&out, " learners=", absl::StrJoin(conf.learners(), ","));
  if (!conf.removed().empty()) absl::StrAppend(&out, " removed=", absl::StrJoin(conf.removed(), ","));
  return out;
}

std::string DescribeConfChange(const raftpb::ConfChange& change) {
  if (change.leave_joint()) return "leave-joint";
  std::vector<std::string> parts;
  for (const raftpb::ConfChangeSingle& single : change.changes()) {
    const char* what = single.type() == raftpb::CONF_ADD_VOTER     ? "add-voter"
                       : single.type() == raftpb::CONF_ADD_LEARNER ? "add-learner"
                                                                   : "remove";
    parts.push_back(absl::StrCat(what, " ", single.node()));
  }
  return absl::StrJoin(parts, ", ");
}

}  // namespace keel
