// The namespaced key-value store (kvstate/README.md "KV"): keys "group/block/key", each with
// a value and a version, the log index of its last change.
#pragma once

#include <cstdint>
#include <string>

#include "absl/container/btree_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/types.h"
#include "kvstate/kv.pb.h"

namespace keel::kvstate {

inline constexpr uint32_t kDefaultListLimit = 100;
inline constexpr uint32_t kMaxListLimit = 1000;

class KvStore {
 public:
  // Each operation validates its request first (INVALID_ARGUMENT, nothing changes) and then
  // answers as README "KV" says. `index` is the applying entry's index: the new version.
  kvpb::Result Get(const kvpb::KvGet& request) const;
  kvpb::Result Put(const kvpb::KvPut& request, Index index);
  kvpb::Result Delete(const kvpb::KvDelete& request);
  kvpb::Result Cas(const kvpb::KvCas& request, Index index);
  // Keys starting with the prefix in byte order, at most the limit, `truncated` if more match.
  kvpb::Result List(const kvpb::KvList& request) const;

  // Appends every key, in byte order.
  void AppendTo(kvpb::StateSnapshot* snapshot) const;
  // The store of `snapshot`, or InvalidArgument: keys ascending, unique and valid; values at
  // most 64 KiB; versions in [1, applied_index].
  static absl::StatusOr<KvStore> FromSnapshot(const kvpb::StateSnapshot& snapshot);

  size_t size() const { return items_.size(); }

 private:
  struct Item {
    std::string value;
    uint64_t version = 0;
  };
  absl::btree_map<std::string, Item> items_;
};

}  // namespace keel::kvstate
