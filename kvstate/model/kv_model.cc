// The key-value store's sequential model: a std::map from key to (value, version).
#include "kvstate/model/models.h"

namespace keel::kvstate::model {

kvpb::Result KvModel::Apply(const kvpb::Command& command, uint64_t index) {
  constexpr size_t kMaxValue = 64 * 1024;
  switch (command.op_case()) {
    case kvpb::Command::kKvGet: {
      const std::string& key = command.kv_get().key();
      if (!IsKey(key)) return Code(kvpb::CODE_INVALID_ARGUMENT);
      if (!items.contains(key)) return Code(kvpb::CODE_NOT_FOUND);
      kvpb::Result result = Code(kvpb::CODE_OK);
      result.set_value(items[key].value);
      result.set_version(items[key].version);
      return result;
    }
    case kvpb::Command::kKvPut: {
      const kvpb::KvPut& put = command.kv_put();
      if (!IsKey(put.key()) || put.value().size() > kMaxValue) return Code(kvpb::CODE_INVALID_ARGUMENT);
      items[put.key()] = Item{put.value(), index};
      kvpb::Result result = Code(kvpb::CODE_OK);
      result.set_version(index);
      return result;
    }
    case kvpb::Command::kKvDelete: {
      const std::string& key = command.kv_delete().key();
      if (!IsKey(key)) return Code(kvpb::CODE_INVALID_ARGUMENT);
      if (!items.contains(key)) return Code(kvpb::CODE_NOT_FOUND);
      kvpb::Result result = Code(kvpb::CODE_OK);
      result.set_version(items[key].version);
      items.erase(key);
      return result;
    }
    case kvpb::Command::kKvCas: {
      const kvpb::KvCas& cas = command.kv_cas();
      if (!IsKey(cas.key()) || cas.value().size() > kMaxValue) return Code(kvpb::CODE_INVALID_ARGUMENT);
      const uint64_t current = items.contains(cas.key()) ? items[cas.key()].version : 0;
      if (current != cas.expected_version()) {
        kvpb::Result result = Code(kvpb::CODE_VERSION_MISMATCH);
        result.set_version(current);
        return result;
      }
      items[cas.key()] = Item{cas.value(), index};
      kvpb::Result result = Code(kvpb::CODE_OK);
      result.set_version(index);
      return result;
    }
    case kvpb::Command::kKvList: {
      const kvpb::KvList& list = command.kv_list();
      if (list.prefix().size() > 512) return Code(kvpb::CODE_INVALID_ARGUMENT);
      uint32_t limit = list.limit() == 0 ? 100 : list.limit();
      if (limit > 1000) limit = 1000;
      kvpb::Result result = Code(kvpb::CODE_OK);
      for (const auto& [key, item] : items) {
        if (key.compare(0, list.prefix().size(), list.prefix()) != 0) continue;
        if (static_cast<uint32_t>(result.entries_size()) == limit) {
          result.set_truncated(true);
          break;
        }
        kvpb::KeyValue* entry = result.add_entries();
        entry->set_key(key);
        entry->set_value(item.value);
        entry->set_version(item.version);
      }
      return result;
    }
    default:
      return Code(kvpb::CODE_INVALID_ARGUMENT);
  }
}

}  // namespace keel::kvstate::model
