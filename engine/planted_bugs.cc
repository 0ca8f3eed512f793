#include "engine/planted_bugs.h"

namespace keel {

const std::vector<PlantedBugInfo>& AllPlantedBugs() {
  static const std::vector<PlantedBugInfo> bugs = {
      {"double-vote", kBugDoubleVote, "grant two votes in one term"},
      {"ack-before-fsync", kBugAckBeforeFsync, "acknowledge appended entries before they are durable"},
      {"commit-old-term", kBugCommitOldTerm, "commit a previous-term entry by counting replicas"},
      {"skip-log-matching", kBugSkipLogMatching, "accept AppendEntries without the prev-entry check"},
      {"apply-twice", kBugApplyTwice, "kvstate: no session dedupe, so a retried command is applied again",
       BugLayer::kKvstate},
      {"proxy-retry-twice", kBugProxyRetryTwice,
       "node: a follower resends a late proxied request under a new sequence number, so it applies twice",
       BugLayer::kNode},
      {"joint-single-quorum", kBugJointSingleQuorum,
       "commit in a joint configuration with only the new configuration's majority", BugLayer::kMembership},
      {"removed-leader-stays", kBugRemovedLeaderStays, "a leader removed from the configuration keeps leading",
       BugLayer::kMembership},
      {"stale-read", kBugStaleRead,
       "node: a node that knows a leader and applied all it knows committed serves linearizable reads "
       "from its own state (no ReadIndex, no proxying)",
       BugLayer::kRead},
      {"lease-ignores-drift", kBugLeaseIgnoresDrift,
       "lease reads: the lease lasts a whole election timeout, with no margin for clock drift or tick granularity",
       BugLayer::kRead},
  };
  return bugs;
}

std::vector<PlantedBugInfo> PlantedBugsIn(BugLayer layer) {
  std::vector<PlantedBugInfo> bugs;
  for (const PlantedBugInfo& info : AllPlantedBugs()) {
    if (info.layer == layer) bugs.push_back(info);
  }
  return bugs;
}

std::optional<PlantedBug> PlantedBugByName(absl::string_view name) {
  for (const PlantedBugInfo& info : AllPlantedBugs()) {
    if (info.name == name) return info.bug;
  }
  return std::nullopt;
}

}  // namespace keel
