// The operator of a simulation run: it adds spare nodes as learners (started on an empty disk
// from the cluster's initial voters, as `keel --initial-voters` does), promotes them once they
// caught up, removes voters and learners (the leader too), replaces a voter in one joint
// change, and moves leadership. Every action is a client request (member_change or
// transfer_leader) handed to the shared node driver, exactly as keelctl sends it: the
// simulator decides when to ask, never how the cluster carries it out.
//
// Budget: a change starts only while the unavailable voters (down, paused, damaged) plus the
// nodes being changed (learners still joining, the one being added or removed) stay within f
// of the current voters, so that faults and churn together never take a quorum away for good.
// Partitions are not counted (the fault nemesis does not count them either: a partition heals).
#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/assert.h"
#include "sim/simulation_internal.h"

namespace keel::sim::internal {
namespace {

// Failures `voters` voters tolerate.
int Tolerated(size_t voters) {
  return voters == 0 ? 0 : static_cast<int>(voters - 1) / 2;
}

bool Contains(const google::protobuf::RepeatedField<uint64_t>& ids, NodeId id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

nodepb::MemberChange::Change* AddChange(nodepb::MemberChange& change, nodepb::MemberChangeType type,
                                        NodeId node) {
  nodepb::MemberChange::Change* item = change.add_changes();
  item->set_type(type);
  item->set_node(node);
  // The simulated network routes by id; the address only shows that it travels along.
  if (type == nodepb::MEMBER_ADD_LEARNER)
    item->mutable_info()->set_raft_address(absl::StrCat("sim-node-", node));
  return item;
}

}  // namespace

void Simulation::DrawMembershipSettings() {
  // Everything is drawn whatever is switched off, so that switching it off changes nothing else.
  const bool on = membership_prng_.Uniform(2) == 0;
  const size_t total = 3 + membership_prng_.Uniform(5);  // cluster sizes 3..7 with the spares
  membership_mean_interval_ = (100 + static_cast<int64_t>(membership_prng_.Uniform(900))) * kMillis;
  if (options_.production_timing) membership_mean_interval_ *= 10;
  membership_ = on && options_.faults && (options_.disabled_faults & kFaultMembership) == 0;
  members_ = voters_;
  if (!membership_) return;
  for (size_t id = voters_.size() + 1; id <= total; ++id) {
    spares_.push_back(static_cast<NodeId>(id));
    // Their own stream: the initial nodes' disks and clocks stay what they were.
    const uint64_t disk_seed = membership_prng_.Next();
    SetUpNode(static_cast<NodeId>(id), disk_seed, DrawClock(membership_prng_));
  }
  absl::StrAppend(&result_.settings, "membership=1\nspare_nodes=", absl::StrJoin(spares_, ","),
                  "\nmembership_mean_interval_ms=", membership_mean_interval_ / kMillis, "\n");
}

bool Simulation::AskMemberChange(const nodepb::MemberChange& change, const std::string& what) {
  // Through any member: followers proxy it to the leader.
  const NodeId via = members_[membership_prng_.Uniform(members_.size())];
  nodepb::Request request;
  *request.mutable_member_change() = change;
  Trace(absl::StrCat("operator asks node ", via, ": ", what));
  // Until the answer, the change may take effect at any moment (on append): the f budget
  // assumes every member it removes is gone already (seed 52038: a bit flip on node 3, allowed
  // by the three voters before "remove 2" reached the leader, left {1, 3} with 3 damaged).
  int removes = 0;
  for (const nodepb::MemberChange::Change& c : change.changes()) removes += c.type() == nodepb::MEMBER_REMOVE;
  ++changing_;
  removing_ += removes;
  const std::optional<nodepb::Response> response =
      CallNode(via, std::move(request), scheduler_.now() + 2 * client_timeout_);
  --changing_;
  if (!response) {
    // The outcome is unknown: the change may still take effect (its entry may sit in a log that
    // a later leader commits), so the f budget keeps counting its removals for the rest of the
    // run (seed 820569: "remove 1" went unanswered, the budget went back to three voters, a bit
    // flip damaged node 2 for good, and the removal was in force: {2, 3} with 2 damaged).
    Trace(absl::StrCat("operator: ", what, ": no answer"));
    return false;
  }
  removing_ -= removes;
  Trace(absl::StrCat("operator: ", what, ": ", nodepb::Code_Name(response->code()), " ",
                     response->error()));
  if (response->code() == nodepb::CODE_OK) {
    ++result_.membership_changes;
    // The configuration the change committed: the f budget follows it at once, also when no
    // node that knows it is running (seed 992: both voters left were down when a bit flip,
    // allowed by the count from before the removal, damaged one of them).
    if (response->status().voters_size() > 0) known_voters_ = static_cast<size_t>(response->status().voters_size());
  }
  if (response->code() == nodepb::CODE_FAILED_PRECONDITION) ++result_.membership_refused;
  return response->code() == nodepb::CODE_OK;
}

bool Simulation::AskTransfer(NodeId target) {
  const NodeId via = members_[membership_prng_.Uniform(members_.size())];
  nodepb::Request request;
  request.mutable_transfer_leader()->set_target(target);
  const std::optional<nodepb::Response> response =
      CallNode(via, std::move(request), scheduler_.now() + 2 * client_timeout_);
  Trace(absl::StrCat("operator asks node ", via, " to transfer leadership to ", target, ": ",
                     response ? nodepb::Code_Name(response->code()) : "no answer"));
  const bool ok = response && response->code() == nodepb::CODE_OK;
  if (ok) ++result_.transfers;
  return ok;
}

void Simulation::StartJoiners(const nodepb::NodeStatus& status) {
  for (NodeId spare : spares_) {
    if (removed_.contains(spare) || std::binary_search(members_.begin(), members_.end(), spare))
      continue;
    if (!Contains(status.voters(), spare) && !Contains(status.learners(), spare)) continue;
    members_.insert(std::upper_bound(members_.begin(), members_.end(), spare), spare);
    Trace(absl::StrCat("operator starts joining node ", spare, " from the initial voters"));
    StartNode(spare);
  }
}

void Simulation::StopRemoved(NodeId id) {
  if (removed_.contains(id)) return;
  removed_.insert(id);
  members_.erase(std::remove(members_.begin(), members_.end(), id), members_.end());
  KEEL_ASSERT(!members_.empty());
  Trace(absl::StrCat("operator stops removed node ", id));
  CrashNode(id);
}

int Simulation::Unavailable(const nodepb::NodeStatus& status, NodeId except) const {
  int unavailable = 0;
  for (NodeId id : status.voters()) {
    if (id == except) continue;
    const Node& node = nodes_.at(id);
    if (!node.up || node.paused_until > scheduler_.now() || damaged_.contains(id)) ++unavailable;
  }
  // A learner still joining (down, or behind the commit index) is not counted on yet.
  for (NodeId id : status.learners()) {
    if (id == except) continue;
    auto peer = std::find_if(status.peers().begin(), status.peers().end(),
                             [id](const nodepb::PeerProgress& p) { return p.id() == id; });
    if (!nodes_.at(id).up || peer == status.peers().end() || peer->match() < status.commit())
      ++unavailable;
  }
  return unavailable;
}

size_t Simulation::KnownVoterCount() const {
  // The smallest voter set that may be in force: the operator's last view, and every running
  // node's latest configuration (the smaller half of a joint one). A removal the operator has
  // not seen commit yet already shrinks f: a bit flip allowed by the old count on a cluster
  // about to shrink to two voters damaged one of them for good (seed 1518).
  size_t count = known_voters_ == 0 ? voters_.size() : known_voters_;
  for (const auto& [id, node] : nodes_) {
    if (!node.up || removed_.contains(id)) continue;
    const raftpb::ConfState& conf = node.replica().raft().conf_state();
    if (conf.voters_size() > 0) count = std::min(count, static_cast<size_t>(conf.voters_size()));
    if (conf.voters_outgoing_size() > 0) count = std::min(count, static_cast<size_t>(conf.voters_outgoing_size()));
  }
  // A removal in flight (AskMemberChange) counts as done.
  return count > static_cast<size_t>(removing_) ? count - static_cast<size_t>(removing_) : 1;
}

std::vector<NodeId> Simulation::ConfiguredMembers() const {
  const NodeId leader = KnownLeader();
  if (leader == kNoNode) return members_;
  const raftpb::ConfState& conf = nodes_.at(leader).replica().raft().conf_state();
  std::set<NodeId> ids(conf.voters().begin(), conf.voters().end());
  ids.insert(conf.voters_outgoing().begin(), conf.voters_outgoing().end());
  ids.insert(conf.learners().begin(), conf.learners().end());
  // A voter of C_old the operator stopped once its replacement committed: gone for good.
  for (NodeId id : removed_) ids.erase(id);
  return std::vector<NodeId>(ids.begin(), ids.end());
}

void Simulation::MembershipMain() {
  while (!safety_over_ && !failed_) {
    const double u = membership_prng_.NextDouble();
    scheduler_.Sleep(
        static_cast<int64_t>(-static_cast<double>(membership_mean_interval_) * std::log(1.0 - u)) +
        1);
    if (safety_over_ || failed_) return;
    const uint64_t action = membership_prng_.Uniform(100);
    const NodeId leader = KnownLeader();
    if (leader == kNoNode) continue;
    // What `keelctl status` on the leader shows.
    const nodepb::NodeStatus status = nodes_.at(leader).driver->Status();
    known_voters_ = status.voters_size();
    StartJoiners(status);
    const bool settled = status.voters_outgoing().empty() && status.pending_conf_index() == 0;
    // A removal whose answer was lost but which committed: the operator stops that node now.
    for (NodeId id : status.removed()) {
      if (settled && std::binary_search(members_.begin(), members_.end(), id)) StopRemoved(id);
    }
    // A voter to change: the leader a third of the time (it must hand over), else any.
    const auto voters = static_cast<uint64_t>(status.voters_size());
    const NodeId voter = membership_prng_.Uniform(3) == 0
                             ? leader
                             : status.voters(static_cast<int>(membership_prng_.Uniform(voters)));
    const NodeId learner = status.learners().empty()
                               ? kNoNode
                               : status.learners(static_cast<int>(membership_prng_.Uniform(
                                     static_cast<uint64_t>(status.learners_size()))));
    if (action < 25) {
      if (settled) OperatorAddsLearner(status);
    } else if (action < 45) {
      // Refused while the learner lags: the operator retries on a later round.
      if (learner == kNoNode || !nodes_.at(learner).up) continue;
      nodepb::MemberChange change;
      AddChange(change, nodepb::MEMBER_ADD_VOTER, learner);
      AskMemberChange(change, absl::StrCat("promote ", learner));
    } else if (action < 60) {
      OperatorRemoves(status, settled, voter, learner);
    } else if (action < 80) {
      if (settled) OperatorReplaces(status, voter, learner);
    } else {
      // Now and then a learner: the leader must refuse it.
      const bool to_learner = learner != kNoNode && membership_prng_.Uniform(5) == 0;
      AskTransfer(to_learner ? learner : status.voters(static_cast<int>(membership_prng_.Uniform(voters))));
    }
  }
}

void Simulation::OperatorAddsLearner(const nodepb::NodeStatus& status) {
  NodeId spare = kNoNode;
  for (NodeId id : spares_) {
    if (spare == kNoNode && !removed_.contains(id) && !std::binary_search(members_.begin(), members_.end(), id))
      spare = id;
  }
  // A cluster too small to tolerate a failure may still grow, one node at a time.
  const size_t voters = static_cast<size_t>(status.voters_size());
  const int unavailable = Unavailable(status, kNoNode);
  const bool budget = unavailable + 1 <= Tolerated(voters) || (voters < 3 && unavailable == 0);
  if (spare == kNoNode || !budget) return;
  nodepb::MemberChange change;
  AddChange(change, nodepb::MEMBER_ADD_LEARNER, spare);
  if (AskMemberChange(change, absl::StrCat("add learner ", spare))) {
    if (const NodeId now = KnownLeader(); now != kNoNode) StartJoiners(nodes_.at(now).driver->Status());
  }
}

void Simulation::OperatorRemoves(const nodepb::NodeStatus& status, bool settled, NodeId voter, NodeId learner) {
  // Remove a voter (budget for the smaller cluster too) or a learner. Drawn before looking at
  // `settled`, as it always was: the seeds' runs stay what they were.
  const bool of_learner = learner != kNoNode && membership_prng_.Uniform(3) == 0;
  const NodeId target = of_learner ? learner : voter;
  if (!settled) return;
  const size_t voters = static_cast<size_t>(status.voters_size());
  if (!of_learner && (voters < 2 || Unavailable(status, target) + 1 > Tolerated(voters) ||
                      Unavailable(status, target) > Tolerated(voters - 1)))
    return;
  nodepb::MemberChange change;
  AddChange(change, nodepb::MEMBER_REMOVE, target);
  if (AskMemberChange(change, absl::StrCat("remove ", target))) StopRemoved(target);
}

void Simulation::OperatorReplaces(const nodepb::NodeStatus& status, NodeId voter, NodeId learner) {
  // Replace a voter by a caught-up learner in one change: the joint configuration.
  const size_t voters = static_cast<size_t>(status.voters_size());
  if (learner == kNoNode || !nodes_.at(learner).up || voters < 2) return;
  if (Unavailable(status, voter) + 1 > Tolerated(voters)) return;  // a lagging learner counts already
  nodepb::MemberChange change;
  AddChange(change, nodepb::MEMBER_ADD_VOTER, learner);
  AddChange(change, nodepb::MEMBER_REMOVE, voter);
  if (AskMemberChange(change, absl::StrCat("replace ", voter, " by ", learner))) StopRemoved(voter);
}

}  // namespace keel::sim::internal
