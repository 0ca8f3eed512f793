#include "sim/invariants.h"

#include <algorithm>

#include "absl/container/btree_set.h"
#include "absl/container/inlined_vector.h"
#include "absl/functional/function_ref.h"
#include "absl/strings/str_cat.h"
#include "engine/assert.h"

namespace keel {
namespace {

// Logs longer than this are checked only over their most recent part, to keep per-step checks
// affordable in long simulations.
constexpr Index kMaxScan = 4096;

absl::Status Violation(const Raft& raft, absl::string_view what) {
  return absl::InternalError(absl::StrCat("invariant violated on node ", raft.id(), ": ", what,
                                          " [", raft.Status().ToString(), "]"));
}

// The entry at `index` of `raft`'s log, read into `scratch`; nullptr with `*status` set if
// it cannot be read.
const Entry* FindEntry(const Raft& raft, Index index, std::vector<Entry>* scratch,
                               absl::Status* status) {
  scratch->clear();
  if (index < raft.log().FirstIndex() || index > raft.log().LastIndex()) {
    *status = absl::OutOfRangeError("outside the log");
    return nullptr;
  }
  *status = raft.log().Slice(index, index + 1, UINT64_MAX, scratch);
  if (status->ok() && scratch->empty()) *status = absl::InternalError("empty read");
  return status->ok() ? &scratch->front() : nullptr;
}

// The terms of `raft`'s log from `from` to its last index exist and never decrease (from the
// term before `from`, 0 if there is none), read through `term_at`.
absl::Status CheckTermOrder(const Raft& raft, Index from, absl::FunctionRef<std::optional<Term>(Index)> term_at) {
  Term previous = term_at(from - 1).value_or(0);
  for (Index i = from; i <= raft.log().LastIndex(); ++i) {
    const std::optional<Term> term = term_at(i);
    if (!term) return Violation(raft, absl::StrCat("no term for index ", i, " inside the log"));
    if (*term < previous) return Violation(raft, absl::StrCat("log term decreases at index ", i));
    previous = *term;
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckNodeInvariants(const Raft& raft, Index window) {
  const RaftLog& log = raft.log();
  return CheckNodeInvariants(raft, window, [&log](Index i) { return log.TermAt(i); });
}

absl::Status CheckNodeInvariants(const Raft& raft, Index window, absl::FunctionRef<std::optional<Term>(Index)> term_at) {
  const RaftLog& log = raft.log();
  if (log.FirstIndex() > log.LastIndex() + 1) return Violation(raft, "first index > last index + 1");
  if (log.committed() > log.LastIndex()) return Violation(raft, "commit index past last index");
  if (log.applied() > log.committed()) return Violation(raft, "applied past commit");
  if (!log.unstable_snapshot() && log.applied() + 1 < log.FirstIndex()) {
    return Violation(raft, "applied below the snapshot");
  }
  const Index scan_from = std::max(log.FirstIndex(), log.LastIndex() > window ? log.LastIndex() - window : 1);
  if (absl::Status status = CheckTermOrder(raft, scan_from, term_at); !status.ok()) return status;
  // The last entry's term, or the snapshot's for an empty log (as RaftLog::LastTerm).
  const std::optional<Term> last_term = term_at(log.LastIndex());
  if (!last_term) return Violation(raft, "no term for the last index");
  if (*last_term > raft.term()) return Violation(raft, "last log term above current term");
  if (raft.randomized_election_timeout() < raft.config().election_tick ||
      raft.randomized_election_timeout() >= 2 * raft.config().election_tick) {
    return Violation(raft, "randomized election timeout out of range");
  }
  switch (raft.role()) {
    case Role::kLeader: {
      if (raft.leader() != raft.id()) return Violation(raft, "leader does not lead itself");
      if (raft.vote() != raft.id()) return Violation(raft, "leader did not vote for itself");
      {
        // One Progress per member (voters of both halves, learners) and for the leader itself.
        absl::InlinedVector<NodeId, 16> members(raft.voters().begin(), raft.voters().end());
        members.insert(members.end(), raft.conf_state().learners().begin(), raft.conf_state().learners().end());
        members.push_back(raft.id());
        std::sort(members.begin(), members.end());
        members.erase(std::unique(members.begin(), members.end()), members.end());
        if (raft.progress().size() != members.size()) return Violation(raft, "progress/members mismatch");
        for (NodeId member : members) {
          if (!raft.progress().contains(member)) return Violation(raft, absl::StrCat("no progress for member ", member));
        }
      }
      // Dissertation §4.2.2: a leader that is no voter of a committed configuration steps down.
      if (!raft.quorum().IsVoter(raft.id()) && raft.pending_conf_index() <= log.committed()) {
        return Violation(raft, "a leader removed by a committed configuration still leads");
      }
      if (log.committed() > raft.commit_at_election() && term_at(log.committed()) != raft.term()) {
        return Violation(raft, "leader advanced its commit index to an entry of an older term");
      }
      for (const auto& [id, progress] : raft.progress()) {
        if (progress.match() >= progress.next()) return Violation(raft, absl::StrCat("match >= next for ", id));
        if (progress.next() > log.LastIndex() + 1) return Violation(raft, absl::StrCat("next past last+1 for ", id));
        if (progress.inflights().count() > raft.config().max_inflight_msgs) {
          return Violation(raft, absl::StrCat("inflight window overflow for ", id));
        }
      }
      break;
    }
    case Role::kCandidate:
      if (raft.vote() != raft.id()) return Violation(raft, "candidate did not vote for itself");
      [[fallthrough]];
    case Role::kPreCandidate:
      if (raft.leader() != kNoNode) return Violation(raft, "candidate believes in a leader");
      if (!raft.progress().empty()) return Violation(raft, "non-leader tracks progress");
      break;
    case Role::kFollower:
      if (raft.leader() == raft.id()) return Violation(raft, "follower leads itself");
      if (!raft.progress().empty()) return Violation(raft, "non-leader tracks progress");
      break;
  }
  return absl::OkStatus();
}

absl::Status ClusterSafetyChecker::TermMirror::Refresh(const Raft& raft) {
  const RaftLog& log = raft.log();
  const Index last = log.LastIndex();
  raft_ = &raft;
  low_ = std::max(log.FirstIndex(), last >= kSpan ? last - kSpan + 1 : 1);
  high_ = last;
  // The whole window, not just what looks new: a term that changed below an unchanged one
  // (storage returning a wrong term mid-batch once entries leave memory) must be seen. Read in
  // one pass (RaftLog::Terms).
  if (low_ <= high_ && !log.Terms(low_, high_ + 1, terms_.data())) {
    Index missing = low_;
    while (missing <= high_ && log.TermAt(missing).has_value()) ++missing;
    high_ = 0;  // unusable until the next refresh
    return absl::InternalError(absl::StrCat("no term for index ", missing, " inside the log"));
  }
  return absl::OkStatus();
}

absl::Status ClusterSafetyChecker::CheckLogMatching(const TermMirror& terms_a, const TermMirror& terms_b,
                                                   Index window, bool compare_data) {
  const Raft& a = terms_a.raft();
  const Raft& b = terms_b.raft();
  const Index low = std::max(a.log().FirstIndex(), b.log().FirstIndex());
  const Index high = std::min(a.log().LastIndex(), b.log().LastIndex());
  if (low > high) return absl::OkStatus();
  const Index scan_low = high - low > window ? high - window : low;
  // Find the highest index where the terms agree; everything below must be identical.
  Index agree = 0;
  for (Index i = high; i >= scan_low && i > 0; --i) {
    if (terms_a.At(i) == terms_b.At(i)) {
      agree = i;
      break;
    }
  }
  if (agree == 0) return absl::OkStatus();
  // Where both mirrors hold the terms (every step's window) they are compared as two arrays;
  // what lies outside them (a thorough look's longer window), or a range that differs (to
  // report its first difference), index by index.
  const Index both_low = std::max({scan_low, terms_a.low(), terms_b.low()});
  const bool mirrored = both_low <= agree && agree <= std::min(terms_a.high(), terms_b.high());
  const bool equal_above =
      mirrored && std::equal(terms_a.Span(both_low, agree), terms_a.Span(both_low, agree) + (agree - both_low + 1),
                             terms_b.Span(both_low, agree));
  const Index walk_high = equal_above ? both_low - 1 : agree;
  for (Index i = scan_low; i <= walk_high; ++i) {
    if (terms_a.At(i) != terms_b.At(i)) {
      return absl::InternalError(absl::StrCat(
          "Log Matching violated: nodes ", a.id(), " and ", b.id(), " agree on the term at index ",
          agree, " but differ at index ", i, " (terms ", a.log().TermAt(i).value_or(0), " vs ",
          b.log().TermAt(i).value_or(0), ")"));
    }
  }
  if (!compare_data) return absl::OkStatus();
  std::vector<Entry> entries_a;
  std::vector<Entry> entries_b;
  if (unreadable_.contains(a.id()) || unreadable_.contains(b.id())) return absl::OkStatus();
  const absl::Status read_a = a.log().Slice(scan_low, agree + 1, UINT64_MAX, &entries_a);
  const absl::Status read_b = b.log().Slice(scan_low, agree + 1, UINT64_MAX, &entries_b);
  if (absl::IsDataLoss(read_a)) unreadable_.insert(a.id());
  if (absl::IsDataLoss(read_b)) unreadable_.insert(b.id());
  if (absl::IsDataLoss(read_a) || absl::IsDataLoss(read_b)) return absl::OkStatus();
  if (!read_a.ok() || !read_b.ok() || entries_a.size() != entries_b.size()) {
    return absl::InternalError(absl::StrCat("log matching: could not read the logs of nodes ", a.id(), " and ",
                                            b.id(), ": ", read_a.ToString(), "; ", read_b.ToString()));
  }
  for (size_t i = 0; i < entries_a.size(); ++i) {
    const Entry& x = entries_a[i];
    const Entry& y = entries_b[i];
    if (x.term() != y.term() || x.data() != y.data() || x.type() != y.type()) {
      return absl::InternalError(absl::StrCat(
          "Log Matching violated: nodes ", a.id(), " and ", b.id(), " agree on the term at index ",
          agree, " but differ at index ", x.index(), " (terms ", x.term(), " vs ", y.term(), ")"));
    }
  }
  return absl::OkStatus();
}

ClusterSafetyChecker::LogShape ClusterSafetyChecker::ShapeOf(const Raft& raft, const NodeRecord& record) const {
  return LogShape{&raft,
                  record.generation,
                  raft.log().version(),
                  raft.log().FirstIndex(),
                  raft.log().LastIndex(),
                  raft.log().unstable_entries().size()};
}

ClusterSafetyChecker::NodeFacts ClusterSafetyChecker::FactsOf(const Raft& raft, const LogShape& shape) {
  return NodeFacts{shape,
                   raft.log().committed(),
                   raft.log().applied(),
                   raft.log().unstable_snapshot().has_value(),
                   raft.term(),
                   raft.vote(),
                   raft.leader(),
                   raft.role(),
                   raft.randomized_election_timeout(),
                   raft.progress().size()};
}

absl::Status ClusterSafetyChecker::Observe(const std::vector<const Raft*>& nodes, bool thorough) {
  std::vector<Entry> scratch;
  std::vector<LogShape> shapes;
  shapes.reserve(nodes.size());
  mirrored_.assign(nodes.size(), nullptr);
  for (size_t k = 0; k < nodes.size(); ++k) {
    const Raft* node = nodes[k];
    NodeRecord& record = records_[node->id()];
    shapes.push_back(ShapeOf(*node, record));
    // Terms are read again only when the log changed since the last look; everything else is
    // checked every time.
    const LogShape& shape = shapes[k];
    const bool changed = !record.scanned || !(*record.scanned == shape);
    record.scanned = shape;
    TermMirror& mirror = record.mirror;
    if (changed || thorough) {
      if (absl::Status status = mirror.Refresh(*node); !status.ok()) return Violation(*node, status.message());
      if (absl::Status status = CheckTermOrder(*node, mirror.low(), [&mirror](Index i) { return mirror.At(i); });
          !status.ok()) {
        return status;
      }
    }
    mirrored_[k] = &mirror;
    // Terms from the mirror (fresh: the log's shape is what it was when it was read), so that
    // the per-step checks of unchanged nodes read no storage; window 0, as the term order of
    // a changed log was checked on its mirror just above. A node other than a leader whose
    // facts are those the check last passed on passes again (a leader's progress is not among
    // the facts: it is checked every time).
    const NodeFacts facts = FactsOf(*node, shape);
    if (thorough || node->role() == Role::kLeader || !record.passed || !(*record.passed == facts)) {
      record.passed.reset();
      if (absl::Status status =
              CheckNodeInvariants(*node, thorough ? kMaxScan : 0, [&mirror](Index i) { return mirror.At(i); });
          !status.ok()) {
        return status;
      }
      if (node->role() != Role::kLeader) record.passed = facts;
    }
    // Election Safety.
    if (node->role() == Role::kLeader) {
      auto [it, inserted] = leaders_.try_emplace(node->term(), node->id());
      if (!inserted && it->second != node->id()) {
        return absl::InternalError(absl::StrCat("Election Safety violated: nodes ", it->second,
                                                " and ", node->id(), " both led term ",
                                                node->term()));
      }
    }
    // Record newly committed entries and check that committed entries never change.
    Index& scanned = record.scanned_commit;
    const Index from = std::max(scanned + 1, node->log().FirstIndex());
    if (unreadable_.contains(node->id())) continue;
    for (Index i = from; i <= node->log().committed(); ++i) {
      absl::Status read;
      const Entry* entry = FindEntry(*node, i, &scratch, &read);
      if (absl::IsDataLoss(read)) {
        unreadable_.insert(node->id());
        break;
      }
      if (entry == nullptr) {
        return Violation(*node, absl::StrCat("committed entry ", i, " unreadable: ", read.ToString()));
      }
      auto [it, inserted] = committed_.try_emplace(
          i, CommittedEntry{entry->term(), entry->data(), entry->type(), node->term()});
      if (!inserted && (it->second.term != entry->term() || it->second.data != entry->data())) {
        return absl::InternalError(absl::StrCat("State Machine Safety violated: node ", node->id(),
                                                " committed a different entry at index ", i,
                                                " (term ", entry->term(), " vs ", it->second.term, ")"));
      }
      it->second.observed_in_term = std::min(it->second.observed_in_term, node->term());
    }
    scanned = std::max(scanned, node->log().committed());
  }
  // Leader Completeness.
  for (const Raft* node : nodes) {
    if (node->role() != Role::kLeader) continue;
    // Every committed entry the leader holds is settled for its whole term (a leader's log
    // below what it holds never changes). One it does not hold is a violation if it was
    // committed before the leader's term; if only known committed in the leader's term or
    // later (a deposed leader's), it is looked at again next time, since that term is an
    // upper bound that other observers may lower. (Skipping those without moving `checked`
    // made every step walk all entries committed in the leader's own term: work that grew
    // with the leader's tenure.)
    Index& checked = completeness_checked_[{node->id(), node->term()}];
    bool settled = true;  // every entry up to `it` is held
    for (auto it = committed_.lower_bound(std::max(node->log().FirstIndex(), checked + 1)); it != committed_.end(); ++it) {
      if (node->log().TermAt(it->first) != it->second.term) {
        if (it->second.observed_in_term < node->term()) {
          return absl::InternalError(absl::StrCat("Leader Completeness violated: leader ", node->id(),
                                                  " of term ", node->term(), " lacks entry ",
                                                  it->first, " committed by term ",
                                                  it->second.observed_in_term));
        }
        settled = false;
      }
      if (settled) checked = it->first;
    }
  }
  // Log Matching, for every pair whose logs changed since the pair was last compared.
  for (size_t i = 0; i < nodes.size(); ++i) {
    for (size_t j = i + 1; j < nodes.size(); ++j) {
      const std::pair<LogShape, LogShape> pair_shapes{shapes[i], shapes[j]};
      auto [matched, first_seen] = matched_shapes_.try_emplace({nodes[i]->id(), nodes[j]->id()}, pair_shapes);
      if (!thorough && !first_seen && matched->second == pair_shapes) continue;
      if (absl::Status status = CheckLogMatching(*mirrored_[i], *mirrored_[j], thorough ? kMaxScan : TermMirror::kSpan, thorough);
          !status.ok()) {
        return status;
      }
      matched->second = pair_shapes;
    }
  }
  return absl::OkStatus();
}

absl::Status ClusterSafetyChecker::OnRestart(NodeId node, Index applied) {
  NodeRecord& record = records_[node];
  record.last_applied = applied;
  unreadable_.erase(node);  // a new process verified its disk when it opened it
  ++record.generation;
  // A restarted node's committed entries come from its disk, not from the memory we already
  // scanned: compare them again.
  record.scanned_commit = std::min(record.scanned_commit, applied);
  return absl::OkStatus();
}

absl::Status ClusterSafetyChecker::OnApplied(NodeId node, const Entry& entry, Term node_term) {
  return OnApplied(node, entry.index(), entry.term(), entry.type(), entry.data(), node_term);
}

absl::Status ClusterSafetyChecker::OnApplied(NodeId node, Index index, Term term, raftpb::EntryType type,
                                             absl::string_view data, Term node_term) {
  KEEL_ASSERT(node_term >= term);
  Index& last = records_[node].last_applied;
  if (index <= last) {
    return absl::InternalError(absl::StrCat("node ", node, " applied index ", index,
                                            " after ", last, ": applied twice or out of order"));
  }
  last = index;
  // Found first: every replica applies every entry, and only the first needs a copy.
  auto it = committed_.find(index);
  if (it == committed_.end()) {
    it = committed_.try_emplace(index, CommittedEntry{term, std::string(data), type, node_term}).first;
  } else if (it->second.term != term || it->second.data != data) {
    return absl::InternalError(absl::StrCat("State Machine Safety violated: node ", node,
                                            " applied a different entry at index ", index));
  }
  // Several observers: the smallest upper bound is the tightest one still true.
  it->second.observed_in_term = std::min(it->second.observed_in_term, node_term);
  return absl::OkStatus();
}

}  // namespace keel
