// Framing of WAL records, little-endian:
//   [u32 length][u32 body crc][u32 header crc][u8 type][payload]
// `length` counts type + payload; the body CRC covers type + payload; the header CRC covers
// the eight bytes before it. A record is valid only if its whole frame is present and both
// CRCs match.
//
// Two checksums let recovery tell a torn write from corruption when writes tear as a prefix:
// a torn append leaves a record whose frame runs past the end of the file (the header itself
// cut short, or a valid header whose body is cut short), while a record that is all there but
// fails either CRC was damaged after it was written. With a single CRC over the body, a flipped
// bit in the length field of the last record could make it look cut short, and a flip in the
// last record's body could not be told from a tear: an acknowledged record would be dropped.
#pragma once

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace keel::wal {

enum class RecordType : uint8_t {
  kSegmentHeader = 1,  // walpb::SegmentHeader
  kEntry = 2,          // raftpb::Entry
  kHardState = 3,      // raftpb::HardState
  kLogReset = 4,       // walpb::LogReset
  kBatchEnd = 5,       // ends every batch (format version 3): one non-zero byte, see wal.h
};

inline constexpr size_t kRecordHeaderBytes = 12;
// Upper bound of one record's length field; larger values are corruption, not allocations.
inline constexpr uint32_t kMaxRecordBytes = 64u << 20;

// Appends a framed record to `out`.
void AppendRecord(RecordType type, absl::string_view payload, std::string* out);
// Appends a record header with the given length and body CRC field and a correct header CRC
// (what AppendRecord writes; exposed so tests can build headers no writer produces).
void AppendRecordHeader(uint32_t length, uint32_t body_crc, std::string* out);

enum class ParseStatus {
  kOk,
  kTruncated,  // the frame runs past the end of the buffer (the header or the body)
  kBadHeader,  // a whole header whose CRC does not match
  kBadLength,  // a valid header with a zero or absurd length
  kBadCrc,     // a whole record whose body CRC does not match
  kBadType,
};

struct ParsedRecord {
  RecordType type = RecordType::kEntry;
  absl::string_view payload;
  size_t frame_bytes = 0;  // header + type + payload
};

// Parses the record at the start of `buffer`.
ParseStatus ParseRecord(absl::string_view buffer, ParsedRecord* record);
const char* ToString(ParseStatus status);

}  // namespace keel::wal
