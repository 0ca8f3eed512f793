#include "engine/storage/record_format.h"

#include "engine/crc32c.h"

namespace keel::wal {
namespace {

void PutU32(uint32_t value, std::string* out) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
}

uint32_t GetU32(const char* p) {
  uint32_t value = 0;
  for (int i = 0; i < 4; ++i) value |= uint32_t{static_cast<unsigned char>(p[i])} << (8 * i);
  return value;
}

// The CRCs are masked so that a record that contains its own CRC (or runs of zeros) does not
// verify by accident; the two masks differ so that a body CRC never passes as a header CRC.
uint32_t MaskBody(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xA282EAD8U; }
uint32_t MaskHeader(uint32_t crc) { return ((crc >> 13) | (crc << 19)) + 0x6B9C1E4DU; }

uint32_t HeaderCrc(const char* first8) { return MaskHeader(Crc32cExtend(0, first8, 8)); }

}  // namespace

void AppendRecordHeader(uint32_t length, uint32_t body_crc, std::string* out) {
  const size_t start = out->size();
  PutU32(length, out);
  PutU32(body_crc, out);
  PutU32(HeaderCrc(out->data() + start), out);
}

void AppendRecord(RecordType type, absl::string_view payload, std::string* out) {
  const char type_byte = static_cast<char>(type);
  uint32_t crc = Crc32cExtend(0, &type_byte, 1);
  crc = Crc32cExtend(crc, payload.data(), payload.size());
  AppendRecordHeader(static_cast<uint32_t>(payload.size() + 1), MaskBody(crc), out);
  out->push_back(type_byte);
  out->append(payload.data(), payload.size());
}

ParseStatus ParseRecord(absl::string_view buffer, ParsedRecord* record) {
  if (buffer.size() < kRecordHeaderBytes) return ParseStatus::kTruncated;
  if (HeaderCrc(buffer.data()) != GetU32(buffer.data() + 8)) return ParseStatus::kBadHeader;
  const uint32_t length = GetU32(buffer.data());
  const uint32_t stored_crc = GetU32(buffer.data() + 4);
  if (length == 0 || length > kMaxRecordBytes) return ParseStatus::kBadLength;
  if (buffer.size() - kRecordHeaderBytes < length) return ParseStatus::kTruncated;
  const char* body = buffer.data() + kRecordHeaderBytes;
  if (MaskBody(Crc32cExtend(0, body, length)) != stored_crc) return ParseStatus::kBadCrc;
  const auto type = static_cast<uint8_t>(body[0]);
  if (type < static_cast<uint8_t>(RecordType::kSegmentHeader) ||
      type > static_cast<uint8_t>(RecordType::kBatchEnd)) {
    return ParseStatus::kBadType;
  }
  record->type = static_cast<RecordType>(type);
  record->payload = absl::string_view(body + 1, length - 1);
  record->frame_bytes = kRecordHeaderBytes + length;
  return ParseStatus::kOk;
}

const char* ToString(ParseStatus status) {
  switch (status) {
    case ParseStatus::kOk: return "ok";
    case ParseStatus::kTruncated: return "record truncated";
    case ParseStatus::kBadHeader: return "record header CRC mismatch";
    case ParseStatus::kBadLength: return "bad record length";
    case ParseStatus::kBadCrc: return "CRC mismatch";
    case ParseStatus::kBadType: return "unknown record type";
  }
  return "?";
}

}  // namespace keel::wal
