// The set of operations a partial linearization has placed: with the model state, the memo
// key of the search (search.h).
//
// A plain bitset would make every memo entry O(operations) bytes, which is what limits
// Porcupine-style checkers on long single-object histories. Here determinate operations come
// first, in invocation order, so a partial linearization is "every operation before some
// frontier, plus a few after it", and the canonical form stores only the count of full words
// before the frontier and the words after it. Indeterminate operations (which may stay out
// forever and would otherwise pin the frontier) are a separate bitset, kept apart because the
// memo compares them by inclusion rather than equality.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/container/inlined_vector.h"

namespace keel::checker {

class LinearizedSet {
 public:
  // The determinate operations in canonical form: equal sets, equal values.
  struct Determinate {
    uint32_t full_words = 0;  // words before the frontier, all bits set
    // The words after them, without trailing zero words. Inline: behind the frontier there
    // are rarely more than a few operations in flight, and one of these is built per step.
    absl::InlinedVector<uint64_t, 2> tail;
    friend bool operator==(const Determinate&, const Determinate&) = default;
  };
  // The indeterminate operations as a bitset without trailing zero words.
  using Indeterminate = std::vector<uint64_t>;

  // Operations 0..determinate-1 are determinate, determinate..size-1 indeterminate.
  // Precondition: 0 <= determinate <= size.
  LinearizedSet(int size, int determinate);

  // Preconditions: 0 <= op < size; Insert: op absent; Erase: op present.
  void Insert(int op);
  void Erase(int op);
  bool Contains(int op) const;

  // A Zobrist hash of the determinate operations, kept up to date in O(1) per change.
  uint64_t determinate_hash() const { return determinate_hash_; }

  // O(words after the frontier).
  Determinate DeterminatePart() const;
  // O(indeterminate words).
  Indeterminate IndeterminatePart() const;

  // Whether every operation in `a` is in `b`.
  static bool IsSubset(const Indeterminate& a, const Indeterminate& b);

 private:
  int WordOf(int op) const;
  uint64_t BitOf(int op) const;
  uint64_t FullMask(int word) const;  // the bits of determinate word `word` that hold operations

  int size_;
  int determinate_;
  int determinate_words_;  // words [0, determinate_words_) hold determinate operations
  std::vector<uint64_t> words_;
  uint64_t determinate_hash_ = 0;
  int full_words_ = 0;          // words [0, full_words_) are full
  int determinate_high_ = 0;    // words [determinate_high_, determinate_words_) are zero
  int indeterminate_high_ = 0;  // words [indeterminate_high_, words_.size()) are zero;
                                // >= determinate_words_
};

}  // namespace keel::checker
