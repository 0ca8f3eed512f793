#include "sim/checker/search.h"

#include <algorithm>

#include "engine/assert.h"
#include "sim/checker/history.h"

namespace keel::checker {

bool StepBudget::Spend() {
  if (exhausted_) return false;
  if (options_.max_steps != 0 && steps_ == options_.max_steps) {
    exhausted_ = true;
    return false;
  }
  if ((steps_ + 1) % kPollInterval == 0 && options_.should_stop && options_.should_stop()) {
    exhausted_ = true;
    return false;
  }
  ++steps_;
  return true;
}

namespace {

// Remembers the partial linearization that got furthest through the history. Copying the
// whole path at every new furthest point would cost O(depth) each time, O(n^2) on a long
// history; instead only the part of the path that changed since the last copy is copied.
class FurthestPoint {
 public:
  // The path shrank to `depth` operations.
  void Popped(size_t depth) { unchanged_ = std::min(unchanged_, depth); }

  // The configuration reached by `path` failed, and no way on from it places some operation
  // before its return at `time`.
  void Failed(int64_t time, const std::vector<int>& path) {
    if (time <= time_) return;
    time_ = time;
    order_.resize(unchanged_);
    order_.insert(order_.end(), path.begin() + static_cast<std::ptrdiff_t>(unchanged_), path.end());
    unchanged_ = path.size();
  }

  std::vector<int>& order() { return order_; }

 private:
  int64_t time_ = -1;
  std::vector<int> order_;
  size_t unchanged_ = 0;  // order_[0, unchanged_) still equals the bottom of the search path
};

// One configuration on the depth-first path: its candidates (a slice of a shared pool, in the
// order they are tried) and how far through them the search is.
struct Frame {
  size_t begin = 0, end = 0, next = 0;  // candidates are pool[begin, end); next to try: pool[next]
  int urgent_rank = 0;  // index into by_return of this configuration's urgent operation
  int call_rank = 0;    // index into determinate_by_call of the first unlinearized one
  int placed = -1;      // the operation whose placement led here (-1 at the root)
  int stuck = -1;       // a candidate that can never be placed, if one was found
};

class PartitionSearch {
 public:
  // How many operations invoked after the urgent one returns StuckOperation looks at. On 50
  // processes appending to 10 keys (2,000 operations, linearizable), the search takes 22,021
  // steps with none, 3,059 with 4, 2,675 with 8, and still 2,675 with 16.
  static constexpr int kLookahead = 8;
  PartitionSearch(const std::vector<SearchOp>& ops, SearchSpace& space, StepBudget& budget)
      : ops_(ops), space_(space), budget_(budget) {
    const int count = static_cast<int>(ops.size());
    while (determinate_ < count && ops[static_cast<size_t>(determinate_)].ret != kNeverReturns) {
      ++determinate_;
    }
    for (int op = 0; op < count; ++op) {
      const SearchOp& search_op = ops[static_cast<size_t>(op)];
      KEEL_ASSERT_MSG((search_op.ret == kNeverReturns) == (op >= determinate_),
                      "determinate operations must come before indeterminate ones");
      KEEL_ASSERT(search_op.call < search_op.ret);
      (op < determinate_ ? determinate_by_call_ : indeterminate_by_call_).push_back(op);
    }
    auto by_call = [&](int a, int b) { return Call(a) < Call(b); };
    std::sort(determinate_by_call_.begin(), determinate_by_call_.end(), by_call);
    std::sort(indeterminate_by_call_.begin(), indeterminate_by_call_.end(), by_call);
    by_return_ = determinate_by_call_;
    std::sort(by_return_.begin(), by_return_.end(), [&](int a, int b) { return Ret(a) < Ret(b); });
  }

  SearchResult Run() {
    SearchResult result;
    int unplaced = determinate_;
    if (unplaced == 0) return result;  // the empty linearization will do
    LinearizedSet linearized(static_cast<int>(ops_.size()), determinate_);
    Open(linearized, 0, 0, -1);
    while (true) {
      if (!budget_.Spend()) {
        result.verdict = Verdict::kUnknown;
        return result;
      }
      Frame& frame = frames_.back();
      if (frame.next == frame.end) {
        // Every way on from this configuration failed. None got past the urgent operation's
        // return, or, if a candidate was stuck, past that one's (an upper bound: the subtree
        // was not explored).
        const int blocked =
            frame.stuck >= 0 ? frame.stuck : by_return_[static_cast<size_t>(frame.urgent_rank)];
        furthest_.Failed(Ret(blocked), path_);
        const int placed = frame.placed;
        pool_.resize(frame.begin);
        frames_.pop_back();
        if (frames_.empty()) {
          result.verdict = Verdict::kNotLinearizable;
          result.order = std::move(furthest_.order());
          return result;
        }
        path_.pop_back();
        furthest_.Popped(path_.size());
        space_.Retreat();
        linearized.Erase(placed);
        if (placed < determinate_) ++unplaced;
        continue;
      }
      const int op = pool_[frame.next++];
      linearized.Insert(op);
      if (space_.Advance(op, linearized) != SearchSpace::Outcome::kAdvanced) {
        linearized.Erase(op);
        continue;
      }
      path_.push_back(op);
      if (op < determinate_ && --unplaced == 0) {
        result.order = std::move(path_);
        return result;
      }
      Open(linearized, frame.urgent_rank, frame.call_rank, op);
    }
  }

 private:
  int64_t Call(int op) const { return ops_[static_cast<size_t>(op)].call; }
  int64_t Ret(int op) const { return ops_[static_cast<size_t>(op)].ret; }

  // Appends to `out` the unlinearized operations invoked before `time`, determinate ones
  // (from `call_rank` on, in invocation order) then indeterminate ones (in invocation order).
  // Indeterminate ones left out stay unlinearized for good, so they have a list of their own
  // rather than holding back the determinate frontier.
  void InvokedBefore(int64_t time, const LinearizedSet& linearized, int call_rank,
                     std::vector<int>& out) const {
    for (size_t i = static_cast<size_t>(call_rank);
         i < determinate_by_call_.size() && Call(determinate_by_call_[i]) < time; ++i) {
      if (!linearized.Contains(determinate_by_call_[i])) out.push_back(determinate_by_call_[i]);
    }
    for (size_t i = 0; i < indeterminate_by_call_.size() && Call(indeterminate_by_call_[i]) < time;
         ++i) {
      if (!linearized.Contains(indeterminate_by_call_[i])) out.push_back(indeterminate_by_call_[i]);
    }
  }

  // A determinate operation that can never become legal, or -1: no state reachable through
  // the operations that may run before it must be placed (the unlinearized ones invoked
  // before it returns) accepts it. Then this configuration is a dead end. Looks at the
  // candidates in pool_[begin, end), and at the next kLookahead operations invoked after the
  // urgent one returns (at `urgent_return`): those are not candidates yet, but a wrong order
  // of the writes placed now shows first in the reads that follow them.
  int StuckOperation(const LinearizedSet& linearized, int call_rank, size_t begin,
                     int64_t urgent_return) {
    checked_.clear();
    for (size_t i = begin; i < pool_.size() && pool_[i] < determinate_; ++i) {
      if (!space_.Accepts(pool_[i])) checked_.push_back(pool_[i]);
    }
    auto later = std::partition_point(determinate_by_call_.begin() + call_rank,
                                      determinate_by_call_.end(),
                                      [&](int op) { return Call(op) < urgent_return; });
    // Only where reachability is cheap: stepping a model (the pool/lb/kv state of keel-sim's
    // histories) up to thousands of times per look made the CI sweep 3x slower.
    const int lookahead = space_.CheapReachability() ? kLookahead : 0;
    for (int n = 0; n < lookahead && later != determinate_by_call_.end(); ++n, ++later) {
      if (!space_.Accepts(*later)) checked_.push_back(*later);
    }
    std::sort(checked_.begin(), checked_.end(), [&](int a, int b) { return Ret(a) < Ret(b); });
    // What may run before an operation grows with its return time, so one list, extended as
    // the returns go up, serves them all. It holds the operation itself, which changes
    // nothing (SearchSpace::MayBecomeLegal).
    others_.clear();
    size_t next_determinate = static_cast<size_t>(call_rank), next_indeterminate = 0;
    for (const int op : checked_) {
      for (; next_determinate < determinate_by_call_.size() &&
             Call(determinate_by_call_[next_determinate]) < Ret(op);
           ++next_determinate) {
        const int other = determinate_by_call_[next_determinate];
        if (!linearized.Contains(other)) others_.push_back(other);
      }
      for (; next_indeterminate < indeterminate_by_call_.size() &&
             Call(indeterminate_by_call_[next_indeterminate]) < Ret(op);
           ++next_indeterminate) {
        const int other = indeterminate_by_call_[next_indeterminate];
        if (!linearized.Contains(other)) others_.push_back(other);
      }
      if (!space_.MayBecomeLegal(op, others_)) return op;
    }
    return -1;
  }

  // Pushes the configuration `linearized` reached by placing `placed`; the ranks are the
  // parent's, from which this one's only move forward. Precondition: some determinate
  // operation is unlinearized.
  void Open(const LinearizedSet& linearized, int urgent_rank, int call_rank, int placed) {
    while (linearized.Contains(by_return_[static_cast<size_t>(urgent_rank)])) ++urgent_rank;
    while (linearized.Contains(determinate_by_call_[static_cast<size_t>(call_rank)])) ++call_rank;
    const int urgent = by_return_[static_cast<size_t>(urgent_rank)];
    Frame frame;
    frame.begin = pool_.size();
    InvokedBefore(Ret(urgent), linearized, call_rank, pool_);
    const auto candidates = pool_.begin() + static_cast<std::ptrdiff_t>(frame.begin);
    // Earliest return first; indeterminate ones (ret = kNeverReturns) last, by invocation.
    const auto indeterminate =
        std::find_if(candidates, pool_.end(), [&](int op) { return op >= determinate_; });
    std::sort(candidates, indeterminate, [&](int a, int b) { return Ret(a) < Ret(b); });
    const auto unchanged =
        std::find_if(candidates, pool_.end(), [&](int op) { return space_.AcceptsReadOnly(op); });
    if (unchanged != pool_.end()) {
      // The only move worth trying (see search.h).
      const int op = *unchanged;
      pool_.resize(frame.begin);
      pool_.push_back(op);
    } else {
      if (!space_.Accepts(urgent)) {
        std::stable_partition(candidates, indeterminate,
                              [&](int op) { return space_.AcceptsBoth(op, urgent); });
      }
      frame.stuck = StuckOperation(linearized, call_rank, frame.begin, Ret(urgent));
      if (frame.stuck >= 0) pool_.resize(frame.begin);
    }
    frame.end = pool_.size();
    frame.next = frame.begin;
    frame.urgent_rank = urgent_rank;
    frame.call_rank = call_rank;
    frame.placed = placed;
    frames_.push_back(frame);
  }

  const std::vector<SearchOp>& ops_;
  SearchSpace& space_;
  StepBudget& budget_;
  int determinate_ = 0;
  std::vector<int> determinate_by_call_;    // by invocation
  std::vector<int> indeterminate_by_call_;  // by invocation
  std::vector<int> by_return_;              // determinate operations, by return
  std::vector<int> pool_;                   // the candidates of every frame on the path
  std::vector<Frame> frames_;
  std::vector<int> path_;    // the operations placed, in order
  std::vector<int> checked_;  // scratch
  std::vector<int> others_;   // scratch
  FurthestPoint furthest_;
};

}  // namespace

SearchResult Search(const std::vector<SearchOp>& ops, SearchSpace& space, StepBudget& budget) {
  return PartitionSearch(ops, space, budget).Run();
}

}  // namespace keel::checker
