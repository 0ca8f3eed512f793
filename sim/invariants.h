// Invariant checkers (LogCabin style): called after every state change in tests and in the
// simulator, they turn a silent safety bug into an immediate, located failure.
#pragma once

#include <array>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "engine/assert.h"
#include "engine/raft.h"

namespace keel {

// Checks one core's internal consistency: log bounds (first <= last + 1, applied <= commit <=
// last), terms non-decreasing along the log and not above the current term, role-specific
// state (a leader leads itself and voted for itself, tracks every voter with match < next <=
// last + 1, and advances its commit index only onto entries of its own term; a candidate voted
// for itself). Returns the first violation found.
// `window`: how many of the most recent entries the term scan covers.
absl::Status CheckNodeInvariants(const Raft& raft, Index window = 4096);
// The same, reading every term through `term_at` (which must answer as raft.log().TermAt does
// for the log as it is now): the cluster checker passes the terms it keeps between steps.
absl::Status CheckNodeInvariants(const Raft& raft, Index window, absl::FunctionRef<std::optional<Term>(Index)> term_at);

// Checks Raft's safety properties (Figure 3) across a cluster, accumulating what it has seen
// over the whole run:
// - Election Safety: at most one leader per term, ever.
// - Log Matching: if two logs have an entry with the same index and term, the logs are
//   identical up to that index.
// - Leader Completeness: an entry known committed in term T is in the log of every leader of a
//   term > T.
// - State Machine Safety: no two nodes apply different entries at the same index, and a
//   committed entry never changes.
class ClusterSafetyChecker {
 public:
  // Observes the current state of every node (any order). Returns the first violation.
  // `thorough` compares the last 4,096 entries of every pair of logs, data included; the
  // default compares the terms of the last 64 (cheap enough for every simulation step). Both
  // check everything else in full; committed entries' data is compared as they commit.
  absl::Status Observe(const std::vector<const Raft*>& nodes, bool thorough = false);
  // Records that `node`, whose current term is `node_term`, applied `entry` (from
  // Ready::committed_entries). The entry was committed by a leader of a term between
  // entry.term() and `node_term`: only the upper bound is safe for Leader Completeness (a
  // stale leader of a term below `node_term` need not hold it).
  absl::Status OnApplied(NodeId node, const Entry& entry, Term node_term);
  // The same, for an entry given by its fields (no Entry to build per apply).
  absl::Status OnApplied(NodeId node, Index index, Term term, raftpb::EntryType type, absl::string_view data,
                         Term node_term);

  // `node` (re)started from, or installed, a snapshot at `applied`: it applies from there on,
  // and its committed entries above `applied` are compared again on the next Observe.
  absl::Status OnRestart(NodeId node, Index applied);

  size_t committed_entries_seen() const { return committed_.size(); }
  // Nodes whose log could not be read back (DataLoss: their disk was damaged) since they last
  // (re)started. They are left out of the data comparisons meanwhile (the node itself stops
  // when it reads the damage); the caller decides whether that damage was expected.
  const absl::btree_set<NodeId>& unreadable_nodes() const { return unreadable_; }

 private:
  struct CommittedEntry {
    Term term = 0;
    std::string data;
    raftpb::EntryType type = raftpb::ENTRY_NORMAL;
    Term observed_in_term = 0;  // the observer's term when it was first seen committed
  };
  // The terms of a node's most recent entries, kept from one Observe to the next and read
  // again only when the node's log changed (LogShape): term reads through the log and its
  // storage were most of the per-step checks' cost, and the same indices were read for every
  // pair of nodes, every step, changed or not.
  class TermMirror {
   public:
    static constexpr Index kSpan = 64;  // the per-step window

    // Reads the terms of the last kSpan entries of `raft`'s log. Fails if a term inside the
    // log cannot be read.
    absl::Status Refresh(const Raft& raft);
    const Raft& raft() const { return *raft_; }
    Index low() const { return low_; }
    Index high() const { return high_; }
    // The term at `index`: the mirror's inside [low, high], the log's outside.
    std::optional<Term> At(Index index) const {
      if (index >= low_ && index <= high_) return terms_[index - low_];
      return raft_->log().TermAt(index);
    }
    // The mirrored terms of [lo, hi], which must lie inside [low, high].
    const Term* Span(Index lo, Index hi) const {
      KEEL_ASSERT(lo >= low_ && hi <= high_ && lo <= hi);
      return &terms_[lo - low_];
    }

   private:
    const Raft* raft_ = nullptr;
    Index low_ = 1;   // mirrored: [low_, high_], empty if low_ > high_
    Index high_ = 0;
    std::array<Term, kSpan> terms_{};  // the term at index i is terms_[i - low_]
  };
  absl::Status CheckLogMatching(const TermMirror& a, const TermMirror& b, Index window, bool compare_data);

  // What the terms in a node's log window can depend on. While it stays the same, the term
  // scans of that log need not be repeated (they are most of the checker's cost).
  struct LogShape {
    const Raft* raft = nullptr;
    uint64_t generation = 0;  // restarts seen by OnRestart
    uint64_t version = 0;     // RaftLog::version(): bumped by appends and snapshot restores
    Index first = 0;
    Index last = 0;
    size_t unstable = 0;      // entries moving to storage are read from there afterwards
    bool operator==(const LogShape&) const = default;
  };
  // Everything CheckNodeInvariants reads of a node that is not a leader (a leader's progress
  // changes without any of these): while they stay the same, so does its verdict.
  struct NodeFacts {
    LogShape shape;
    Index committed = 0;
    Index applied = 0;
    bool unstable_snapshot = false;
    Term term = 0;
    NodeId vote = kNoNode;
    NodeId leader = kNoNode;
    Role role = Role::kFollower;
    int64_t randomized_election_timeout = 0;
    size_t progress = 0;
    bool operator==(const NodeFacts&) const = default;
  };
  // All the checker keeps per node, found with one lookup per node and step (six maps keyed
  // by node were ~4% of a simulation sweep).
  struct NodeRecord {
    uint64_t generation = 0;          // restarts seen by OnRestart
    std::optional<LogShape> scanned;  // the shape at its last term scan
    TermMirror mirror;
    Index scanned_commit = 0;         // committed entries recorded up to
    Index last_applied = 0;
    std::optional<NodeFacts> passed;  // the facts CheckNodeInvariants last passed on (no leader)
  };
  LogShape ShapeOf(const Raft& raft, const NodeRecord& record) const;
  static NodeFacts FactsOf(const Raft& raft, const LogShape& shape);

  std::map<NodeId, NodeRecord> records_;     // std::map: mirrored_ points into it
  std::vector<const TermMirror*> mirrored_;  // Observe's, per position in its `nodes`

  absl::btree_set<NodeId> unreadable_;
  absl::btree_map<std::pair<NodeId, NodeId>, std::pair<LogShape, LogShape>> matched_shapes_;
  absl::btree_map<Term, NodeId> leaders_;        // term -> leader seen
  absl::btree_map<Index, CommittedEntry> committed_;
  // Leader Completeness verified up to this index, per (leader, term): a leader's log below
  // what it already contained never changes during its term.
  absl::btree_map<std::pair<NodeId, Term>, Index> completeness_checked_;
};

}  // namespace keel
