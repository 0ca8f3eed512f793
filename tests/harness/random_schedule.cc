#include "tests/harness/random_schedule.h"

#include "engine/membership.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"

namespace keel::testing {
namespace {

enum class Kind {
  kTick, kProcessReady, kDeliver, kDrop, kDuplicate, kPropose, kPartition, kHeal, kCrash,
  kCrashBeforePersist, kRestart, kCompact, kCampaign, kConfChange
};

// Weights per mille. Crashes are rare and restarts common so that, most of the time, a
// quorum is up and the schedule exercises replication rather than idling.
Kind KindOf(uint32_t kind) {
  kind %= 1000;
  if (kind < 150) return Kind::kTick;
  if (kind < 400) return Kind::kProcessReady;
  if (kind < 750) return Kind::kDeliver;
  if (kind < 770) return Kind::kDrop;
  if (kind < 785) return Kind::kDuplicate;
  if (kind < 905) return Kind::kPropose;
  if (kind < 915) return Kind::kPartition;
  if (kind < 935) return Kind::kHeal;
  if (kind < 940) return Kind::kCrash;
  if (kind < 945) return Kind::kCrashBeforePersist;
  if (kind < 975) return Kind::kRestart;
  if (kind < 990) return Kind::kCompact;
  return Kind::kCampaign;
}

// With membership changes on, 1.5% of actions propose a change instead of compacting or
// campaigning (schedules without them are unchanged, so their seeds keep finding what they
// found).
Kind KindOf(const Cluster& cluster, uint32_t kind) {
  const Kind base = KindOf(kind);
  if (cluster.options().membership_changes && (base == Kind::kCampaign || base == Kind::kCompact) && kind % 1000 >= 985) {
    return Kind::kConfChange;
  }
  return base;
}

// A change chosen by `arg` among those that make sense for `conf`: add a learner, add or
// promote a voter, remove a member, or replace a voter (a joint change). It may still be
// refused (one change at a time, a lagging learner): that is part of what is tested.
raftpb::ConfChange RandomConfChange(const Cluster& cluster, const raftpb::ConfState& conf, uint32_t arg) {
  auto has = [](const auto& ids, NodeId id) { return std::find(ids.begin(), ids.end(), id) != ids.end(); };
  std::vector<NodeId> outsiders;
  std::vector<NodeId> members;
  for (NodeId id : cluster.ids()) {
    if (has(conf.removed(), id)) continue;
    (has(conf.voters(), id) || has(conf.learners(), id) ? members : outsiders).push_back(id);
  }
  raftpb::ConfChange change;
  auto add = [&change](raftpb::ConfChangeType type, NodeId node) {
    raftpb::ConfChangeSingle* single = change.add_changes();
    single->set_type(type);
    single->set_node(node);
  };
  const uint32_t pick = arg >> 4;
  switch (arg % 6) {
    case 0:
      if (!outsiders.empty()) add(raftpb::CONF_ADD_LEARNER, outsiders[pick % outsiders.size()]);
      break;
    case 1: {
      std::vector<NodeId> candidates(conf.learners().begin(), conf.learners().end());
      candidates.insert(candidates.end(), outsiders.begin(), outsiders.end());
      if (!candidates.empty()) add(raftpb::CONF_ADD_VOTER, candidates[pick % candidates.size()]);
      break;
    }
    case 2:
      if (!members.empty()) add(raftpb::CONF_REMOVE, members[pick % members.size()]);
      break;
    default:
      if (!outsiders.empty() && conf.voters_size() > 0) {
        add(raftpb::CONF_ADD_VOTER, outsiders[pick % outsiders.size()]);
        add(raftpb::CONF_REMOVE, conf.voters(static_cast<int>(pick % conf.voters_size())));
      }
      break;
  }
  return change;
}

NodeId NodeOf(const Cluster& cluster, uint32_t node) {
  return 1 + node % static_cast<uint32_t>(cluster.options().nodes);
}

}  // namespace

std::string DescribeAction(const Action& action, const Cluster& cluster) {
  const NodeId node = NodeOf(cluster, action.node);
  switch (KindOf(cluster, action.kind)) {
    case Kind::kConfChange: return absl::StrCat("conf-change arg=", action.arg);
    case Kind::kTick: return absl::StrCat("tick ", node);
    case Kind::kProcessReady: return absl::StrCat("process-ready ", node);
    case Kind::kDeliver: return absl::StrCat("deliver #", action.arg);
    case Kind::kDrop: return absl::StrCat("drop #", action.arg);
    case Kind::kDuplicate: return absl::StrCat("duplicate #", action.arg);
    case Kind::kPropose: return absl::StrCat("propose ", node);
    case Kind::kPartition: return absl::StrCat("partition mask=", action.arg);
    case Kind::kHeal: return "heal";
    case Kind::kCrash: return absl::StrCat("crash ", node);
    case Kind::kCrashBeforePersist: return absl::StrCat("crash-before-persist ", node);
    case Kind::kRestart: return absl::StrCat("restart ", node);
    case Kind::kCompact: return absl::StrCat("compact ", node);
    case Kind::kCampaign: return absl::StrCat("campaign ", node);
  }
  return "?";
}

void ApplyAction(Cluster& cluster, const Action& action, uint64_t* proposal_counter) {
  const NodeId node = NodeOf(cluster, action.node);
  const size_t queued = cluster.queue().size();
  switch (KindOf(cluster, action.kind)) {
    case Kind::kConfChange:
      if (NodeId leader = cluster.Leader(); leader != kNoNode) {
        const raftpb::ConfChange change = RandomConfChange(cluster, cluster.raft(leader).conf_state(), action.arg);
        if (!change.changes().empty()) (void)cluster.ProposeConfChange(leader, change);
      }
      break;
    case Kind::kTick:
      cluster.Tick(node);
      break;
    case Kind::kProcessReady:
      cluster.ProcessReady(node);
      break;
    case Kind::kDeliver:
      if (queued > 0) cluster.DeliverAt(action.arg % queued);
      break;
    case Kind::kDrop:
      if (queued > 0) cluster.DropAt(action.arg % queued);
      break;
    case Kind::kDuplicate:
      if (queued > 0) cluster.DuplicateAt(action.arg % queued);
      break;
    case Kind::kPropose:
      // Propose on the leader most of the time, so that entries flow.
      if (NodeId leader = cluster.Leader(); leader != kNoNode && action.arg % 4 != 0) {
        (void)cluster.Propose(leader, absl::StrCat("v", ++*proposal_counter));
      } else {
        (void)cluster.Propose(node, absl::StrCat("v", ++*proposal_counter));
      }
      break;
    case Kind::kPartition: {
      std::set<NodeId> side_a;
      std::set<NodeId> side_b;
      for (NodeId id : cluster.ids()) ((action.arg >> id) & 1 ? side_a : side_b).insert(id);
      cluster.Partition({side_a, side_b});
      break;
    }
    case Kind::kHeal:
      cluster.Heal();
      break;
    case Kind::kCrash:
      if (cluster.IsUp(node)) cluster.Crash(node);
      break;
    case Kind::kCrashBeforePersist:
      if (cluster.IsUp(node)) cluster.ProcessReadyThenCrashBeforePersist(node);
      break;
    case Kind::kRestart:
      // Restart the first down node at or after `node`.
      for (int i = 0; i < cluster.options().nodes; ++i) {
        const NodeId candidate = 1 + (node - 1 + i) % cluster.options().nodes;
        if (!cluster.IsUp(candidate)) {
          cluster.Restart(candidate);
          break;
        }
      }
      break;
    case Kind::kCompact:
      if (cluster.IsUp(node) && !cluster.raft(node).ready_outstanding()) {
        const Index applied = cluster.raft(node).log().applied();
        if (applied > 0) cluster.Compact(node, applied - action.arg % (applied > 3 ? 3 : applied));
      }
      break;
    case Kind::kCampaign:
      if (cluster.IsUp(node)) cluster.raft(node).Campaign();
      break;
  }
}

absl::Status CheckLiveness(Cluster& cluster, int max_rounds) {
  cluster.Heal();
  for (NodeId id : cluster.ids()) {
    if (!cluster.IsUp(id)) cluster.Restart(id);
  }
  if (!cluster.options().pre_vote && !cluster.options().check_quorum) {
    // Without PreVote and CheckQuorum nothing stops a removed server that never learned of its
    // removal from campaigning forever, and each campaign deposes the leader on the members
    // that do not know of the removal either (dissertation §4.2.3): a snapshot that takes
    // longer than one election timeout to reach such a member never completes. Operators stop
    // removed servers, so the check does too (found by MembershipChangesPlainRaftThreeOfFive,
    // with 16-byte snapshot chunks). With either protection on, removed servers keep running.
    // Removed by the most advanced committed configuration (of the up node with the highest
    // commit index), and not a voter of its outgoing half: a joint configuration needs C_old's
    // votes until C_new commits. Stale views (a removed node's, a joiner's) do not count.
    NodeId most_advanced = kNoNode;
    for (NodeId id : cluster.ids()) {
      if (!cluster.IsUp(id)) continue;
      if (most_advanced == kNoNode ||
          cluster.raft(id).log().committed() > cluster.raft(most_advanced).log().committed()) {
        most_advanced = id;
      }
    }
    std::set<NodeId> removed;
    if (most_advanced != kNoNode) {
      const Raft& raft = cluster.raft(most_advanced);
      const raftpb::ConfState committed = raft.ConfStateAt(raft.log().committed());
      for (NodeId id : committed.removed()) {
        if (!IsMember(committed, id)) removed.insert(id);
      }
    }
    for (NodeId id : removed) {
      if (cluster.IsUp(id)) cluster.Crash(id);
    }
  }
  cluster.Stabilize();
  bool proposed = false;
  LogPosition position;
  const std::string marker = "liveness-probe";
  for (int round = 0; round < max_rounds; ++round) {
    if (!cluster.violation().ok()) return cluster.violation();
    const NodeId leader = cluster.Leader();
    if (leader != kNoNode && !proposed) {
      absl::StatusOr<LogPosition> result = cluster.Propose(leader, marker);
      if (result.ok()) {
        proposed = true;
        position = *result;
      }
    }
    cluster.Stabilize();
    if (proposed) {
      bool everywhere = true;
      // Every member of the leader's configuration (removed nodes and outsiders get nothing).
      const raftpb::ConfState conf = leader != kNoNode ? cluster.raft(leader).conf_state() : raftpb::ConfState();
      for (NodeId id : cluster.ids()) {
        const bool member = std::find(conf.voters().begin(), conf.voters().end(), id) != conf.voters().end() ||
                            std::find(conf.learners().begin(), conf.learners().end(), id) != conf.learners().end();
        if (leader != kNoNode && !member) continue;
        const std::vector<std::string>& applied = cluster.applied(id);
        if (applied.empty() || applied.back() != marker) everywhere = false;
      }
      if (everywhere) return cluster.violation();
      // A leader change may have dropped the probe: propose again on the next leader.
      const NodeId now = cluster.Leader();
      if (now == kNoNode || cluster.raft(now).term() != position.term) proposed = false;
    }
    cluster.TickAllAndStabilize();
  }
  return absl::DeadlineExceededError(absl::StrCat(
      "liveness: no leader committed a fresh entry on every node within ", max_rounds,
      " rounds after healing\n", cluster.DescribeNodes()));
}

absl::Status RunSchedule(Cluster& cluster, const std::vector<Action>& actions) {
  uint64_t proposals = 0;
  for (const Action& action : actions) {
    ApplyAction(cluster, action, &proposals);
    if (!cluster.violation().ok()) return cluster.violation();
  }
  return CheckLiveness(cluster, 50 * cluster.options().election_tick);
}

std::vector<Action> RandomActions(Prng& prng, size_t count) {
  std::vector<Action> actions(count);
  for (Action& action : actions) {
    action.kind = static_cast<uint32_t>(prng.Uniform(1000));
    action.node = static_cast<uint32_t>(prng.Uniform(64));
    action.arg = static_cast<uint32_t>(prng.Uniform(1 << 16));
  }
  return actions;
}

}  // namespace keel::testing
