#include "sim/checker/linearized_set.h"

#include <algorithm>

#include "engine/assert.h"
#include "sim/checker/model.h"

namespace keel::checker {
namespace {

// Each operation's random-looking Zobrist key, derived from its index so that nothing needs
// storing and runs repeat exactly.
uint64_t ZobristKey(int op) {
  return HashMix(0x5EEDF00DULL, static_cast<uint64_t>(op));
}

}  // namespace

LinearizedSet::LinearizedSet(int size, int determinate)
    : size_(size), determinate_(determinate), determinate_words_((determinate + 63) / 64) {
  KEEL_ASSERT(0 <= determinate && determinate <= size);
  const int indeterminate_words = (size - determinate + 63) / 64;
  words_.assign(static_cast<size_t>(determinate_words_ + indeterminate_words), 0);
  indeterminate_high_ = determinate_words_;
}

int LinearizedSet::WordOf(int op) const {
  return op < determinate_ ? op / 64 : determinate_words_ + (op - determinate_) / 64;
}

uint64_t LinearizedSet::BitOf(int op) const {
  return uint64_t{1} << (op < determinate_ ? op % 64 : (op - determinate_) % 64);
}

uint64_t LinearizedSet::FullMask(int word) const {
  const int bits_in_last = determinate_ % 64;
  if (word == determinate_words_ - 1 && bits_in_last != 0) return (uint64_t{1} << bits_in_last) - 1;
  return ~uint64_t{0};
}

bool LinearizedSet::Contains(int op) const {
  KEEL_ASSERT(0 <= op && op < size_);
  return (words_[static_cast<size_t>(WordOf(op))] & BitOf(op)) != 0;
}

void LinearizedSet::Insert(int op) {
  KEEL_ASSERT(!Contains(op));
  const int word = WordOf(op);
  words_[static_cast<size_t>(word)] |= BitOf(op);
  if (op < determinate_) {
    determinate_hash_ ^= ZobristKey(op);
    determinate_high_ = std::max(determinate_high_, word + 1);
    while (full_words_ < determinate_words_ &&
           words_[static_cast<size_t>(full_words_)] == FullMask(full_words_)) {
      ++full_words_;
    }
  } else {
    indeterminate_high_ = std::max(indeterminate_high_, word + 1);
  }
}

void LinearizedSet::Erase(int op) {
  KEEL_ASSERT(Contains(op));
  const int word = WordOf(op);
  words_[static_cast<size_t>(word)] &= ~BitOf(op);
  if (op < determinate_) {
    determinate_hash_ ^= ZobristKey(op);
    full_words_ = std::min(full_words_, word);
    while (determinate_high_ > 0 && words_[static_cast<size_t>(determinate_high_ - 1)] == 0) {
      --determinate_high_;
    }
  } else {
    while (indeterminate_high_ > determinate_words_ &&
           words_[static_cast<size_t>(indeterminate_high_ - 1)] == 0) {
      --indeterminate_high_;
    }
  }
}

LinearizedSet::Determinate LinearizedSet::DeterminatePart() const {
  Determinate part;
  part.full_words = static_cast<uint32_t>(full_words_);
  const int tail_end = std::max(full_words_, determinate_high_);
  part.tail.assign(words_.begin() + full_words_, words_.begin() + tail_end);
  return part;
}

LinearizedSet::Indeterminate LinearizedSet::IndeterminatePart() const {
  return Indeterminate(words_.begin() + determinate_words_, words_.begin() + indeterminate_high_);
}

bool LinearizedSet::IsSubset(const Indeterminate& a, const Indeterminate& b) {
  if (a.size() > b.size()) return false;  // a's last word is not zero
  for (size_t i = 0; i < a.size(); ++i) {
    if ((a[i] & ~b[i]) != 0) return false;
  }
  return true;
}

}  // namespace keel::checker
