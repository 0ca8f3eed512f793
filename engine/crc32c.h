// CRC-32C (Castagnoli), used to checksum snapshot data on the wire and records on disk.
#pragma once

#include <cstddef>
#include <cstdint>
#include "absl/strings/string_view.h"

namespace keel {

// Extends `crc` (the CRC of the bytes before) over `data`. Crc32c(0, "123456789") == 0xE3069283.
uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t size);

// The portable table-driven implementation, exposed so tests can check the hardware path
// against it.
uint32_t Crc32cSoftwareForTest(uint32_t crc, const void* data, size_t size);

inline uint32_t Crc32c(absl::string_view data) { return Crc32cExtend(0, data.data(), data.size()); }

}  // namespace keel
