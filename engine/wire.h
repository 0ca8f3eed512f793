// Protobuf wire-format primitives, for the few places that write protobuf encodings by hand so
// as not to build a protobuf message first (that would copy every entry's payload): the WAL's
// entry records (engine/entry.cc) and peer envelopes carrying appends (engine/message.cc).
// proto3 rules: a field at its default value is not written.
#pragma once

#include <cstdint>
#include <string>

namespace keel::wire {

constexpr uint8_t kVarint = 0;
constexpr uint8_t kLengthDelimited = 2;

inline uint64_t VarintSize(uint64_t value) {
  uint64_t size = 1;
  while (value >= 0x80) {
    value >>= 7;
    ++size;
  }
  return size;
}

inline void AppendVarint(uint64_t value, std::string* out) {
  while (value >= 0x80) {
    out->push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out->push_back(static_cast<char>(value));
}

// One-byte tags only: fields 1..15.
inline uint8_t Tag(int field, uint8_t wire_type) {
  return static_cast<uint8_t>((field << 3) | wire_type);
}

// A varint field (uint64, or an enum as int32 sign-extended to 64 bits), omitted at 0: the
// bytes it takes (0 when omitted), and the writer.
inline uint64_t VarintFieldSize(uint64_t value) { return value == 0 ? 0 : 1 + VarintSize(value); }
inline void AppendVarintField(int field, uint64_t value, std::string* out) {
  if (value == 0) return;
  out->push_back(static_cast<char>(Tag(field, kVarint)));
  AppendVarint(value, out);
}

// A length-delimited field (bytes, string, submessage) whose content is `size` bytes: the bytes
// it takes, and the tag and length to write before the content. (proto3 omits empty bytes
// fields; submessages and repeated elements are written even when empty: callers decide.)
inline uint64_t LengthDelimitedFieldSize(uint64_t size) { return 1 + VarintSize(size) + size; }
inline void AppendLengthDelimitedHeader(int field, uint64_t size, std::string* out) {
  out->push_back(static_cast<char>(Tag(field, kLengthDelimited)));
  AppendVarint(size, out);
}

}  // namespace keel::wire
