#include "kvstate/kv_store.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/assert.h"
#include "kvstate/names.h"
#include "kvstate/results.h"

namespace keel::kvstate {
namespace {

constexpr absl::string_view kBadKey = "key must be \"group/block/key\": three non-empty parts, at most 512 bytes";
constexpr absl::string_view kBadValue = "value larger than 64 KiB";

}  // namespace

kvpb::Result KvStore::Get(const kvpb::KvGet& request) const {
  if (!IsKey(request.key())) return InvalidArgument(kBadKey);
  const auto it = items_.find(request.key());
  if (it == items_.end()) return ErrorResult(kvpb::CODE_NOT_FOUND, "no such key");
  kvpb::Result result = OkResult();
  result.set_value(it->second.value);
  result.set_version(it->second.version);
  return result;
}

kvpb::Result KvStore::Put(const kvpb::KvPut& request, Index index) {
  if (!IsKey(request.key())) return InvalidArgument(kBadKey);
  if (!IsValue(request.value())) return InvalidArgument(kBadValue);
  KEEL_ASSERT(index > 0);
  items_[request.key()] = Item{request.value(), index};
  kvpb::Result result = OkResult();
  result.set_version(index);
  return result;
}

kvpb::Result KvStore::Delete(const kvpb::KvDelete& request) {
  if (!IsKey(request.key())) return InvalidArgument(kBadKey);
  const auto it = items_.find(request.key());
  if (it == items_.end()) return ErrorResult(kvpb::CODE_NOT_FOUND, "no such key");
  kvpb::Result result = OkResult();
  result.set_version(it->second.version);
  items_.erase(it);
  return result;
}

kvpb::Result KvStore::Cas(const kvpb::KvCas& request, Index index) {
  if (!IsKey(request.key())) return InvalidArgument(kBadKey);
  if (!IsValue(request.value())) return InvalidArgument(kBadValue);
  KEEL_ASSERT(index > 0);
  const auto it = items_.find(request.key());
  const uint64_t current = it == items_.end() ? 0 : it->second.version;
  if (current != request.expected_version()) {
    kvpb::Result result = ErrorResult(kvpb::CODE_VERSION_MISMATCH,
                                      absl::StrCat("expected version ", request.expected_version(), ", found ", current));
    result.set_version(current);
    return result;
  }
  items_[request.key()] = Item{request.value(), index};
  kvpb::Result result = OkResult();
  result.set_version(index);
  return result;
}

kvpb::Result KvStore::List(const kvpb::KvList& request) const {
  if (request.prefix().size() > kMaxListPrefixBytes) return InvalidArgument("prefix longer than 512 bytes");
  uint32_t limit = request.limit() == 0 ? kDefaultListLimit : request.limit();
  if (limit > kMaxListLimit) limit = kMaxListLimit;
  kvpb::Result result = OkResult();
  // Keys with the prefix are contiguous in byte order, starting at the first key >= prefix.
  for (auto it = items_.lower_bound(request.prefix());
       it != items_.end() && absl::StartsWith(it->first, request.prefix()); ++it) {
    if (static_cast<uint32_t>(result.entries_size()) == limit) {
      result.set_truncated(true);
      break;
    }
    kvpb::KeyValue* entry = result.add_entries();
    entry->set_key(it->first);
    entry->set_value(it->second.value);
    entry->set_version(it->second.version);
  }
  KEEL_ASSERT(static_cast<uint32_t>(result.entries_size()) <= limit);
  return result;
}

void KvStore::AppendTo(kvpb::StateSnapshot* snapshot) const {
  for (const auto& [key, item] : items_) {
    kvpb::KeyValue* entry = snapshot->add_kv();
    entry->set_key(key);
    entry->set_value(item.value);
    entry->set_version(item.version);
  }
}

absl::StatusOr<KvStore> KvStore::FromSnapshot(const kvpb::StateSnapshot& snapshot) {
  KvStore store;
  const std::string* previous = nullptr;
  for (const kvpb::KeyValue& entry : snapshot.kv()) {
    if (!IsKey(entry.key())) return absl::InvalidArgumentError(absl::StrCat("kv: bad key \"", entry.key(), "\""));
    if (previous != nullptr && entry.key() <= *previous) {
      return absl::InvalidArgumentError(absl::StrCat("kv: key \"", entry.key(), "\" not ascending or duplicated"));
    }
    previous = &entry.key();
    if (!IsValue(entry.value())) return absl::InvalidArgumentError(absl::StrCat("kv: value of \"", entry.key(), "\" too large"));
    if (entry.version() == 0 || entry.version() > snapshot.applied_index()) {
      return absl::InvalidArgumentError(absl::StrCat("kv: version of \"", entry.key(), "\" outside [1, applied index]"));
    }
    store.items_.emplace_hint(store.items_.end(), entry.key(), Item{entry.value(), entry.version()});
  }
  return store;
}

}  // namespace keel::kvstate
