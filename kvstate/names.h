// The name and value rules of kv.proto. Every command field that names something is checked
// with these before the command touches state; a name that fails is INVALID_ARGUMENT.
#pragma once

#include <cstddef>

#include "absl/strings/string_view.h"

namespace keel::kvstate {

inline constexpr size_t kMaxKeyBytes = 512;
inline constexpr size_t kMaxPoolNameBytes = 256;
inline constexpr size_t kMaxGroupBytes = 128;
inline constexpr size_t kMaxMemberBytes = 128;
inline constexpr size_t kMaxValueBytes = 64 * 1024;
inline constexpr size_t kMaxListPrefixBytes = 512;

// "group/block/key": three non-empty parts without '/', at most 512 bytes in all.
bool IsKey(absl::string_view key);
// "group/block": two non-empty parts without '/', at most 256 bytes.
bool IsPoolName(absl::string_view name);
// A load balancer group: one non-empty part without '/', at most 128 bytes.
bool IsGroupName(absl::string_view name);
// A backend or pool owner: 1..128 bytes, any bytes.
bool IsMemberName(absl::string_view name);
// A KV value: at most 64 KiB.
bool IsValue(absl::string_view value);

}  // namespace keel::kvstate
