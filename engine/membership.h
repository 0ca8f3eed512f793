// Configuration changes as pure functions over raftpb::ConfState (dissertation §4): validate a
// ConfState, apply a ConfChange to one, and describe one for people. The core (raft.cc) keeps
// the configuration of the last config entry in its log; these rules decide what that is.
#pragma once

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "engine/quorum.h"
#include "engine/raft.pb.h"
#include "engine/types.h"

namespace keel {

// OK if every list is sorted, unique and free of 0, contexts are sorted by node and name only
// members, learners are disjoint from voters (either
// half) and removed ids are neither voters of C_new nor learners (while joint they may still
// be voters of C_old), and there is at least one voter. InvalidArgument
// naming the problem otherwise.
absl::Status ValidateConfState(const raftpb::ConfState& conf);

// The configuration after `change`, or why it cannot be made (InvalidArgument, nothing
// changes): a change while joint (other than leave_joint), leave_joint while not joint, a node
// named twice, adding a removed id or a voter as a learner (demotion is remove then add),
// removing a non-member, or leaving no voter. Changing at most one voter gives a simple
// config; more gives the joint config C_old,new (voters_outgoing = the old voters).
absl::StatusOr<raftpb::ConfState> ApplyConfChange(const raftpb::ConfState& conf, const raftpb::ConfChange& change);

// e.g. "voters=1,2,3 learners=4" or "voters=3,4,5 outgoing=1,2,3 removed=1,2".
std::string DescribeConfState(const raftpb::ConfState& conf);
std::string DescribeConfChange(const raftpb::ConfChange& change);

// `id` is a voter (of either half) or a learner of `conf`: a node whose messages count.
bool IsMember(const raftpb::ConfState& conf, NodeId id);

// The context (ConfState.contexts) of every member that has one, by node.
std::map<NodeId, std::string> MemberContexts(const raftpb::ConfState& conf);

inline bool IsJoint(const raftpb::ConfState& conf) { return conf.voters_outgoing_size() > 0; }

// The quorum rules of `conf`. Precondition: ValidateConfState(conf) is OK.
JointConfig QuorumOf(const raftpb::ConfState& conf);

}  // namespace keel
