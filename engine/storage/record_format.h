// Framing of WAL records: [u32 length][u32 crc32c][u8 type][payload], little-endian, where
// length counts type + payload and the CRC covers type + payload. A record is valid only if
// its whole frame is present and its CRC matches.
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
};

inline constexpr size_t kRecordHeaderBytes = 8;
// Upper bound of one record's length field; larger values are corruption, not allocations.
inline constexpr uint32_t kMaxRecordBytes = 64u << 20;

// Appends a framed record to `out`.
void AppendRecord(RecordType type, absl::string_view payload, std::string* out);

enum class ParseStatus {
  kOk,
  kTruncated,  // the frame runs past the end of the buffer
  kBadLength,  // zero or absurd length
  kBadCrc,
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
