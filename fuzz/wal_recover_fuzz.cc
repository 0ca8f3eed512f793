// Fuzz target: recovery from arbitrary disk bytes. The input is split into up to three WAL
// segment files and a snapshot file on a simulated disk; DurableStorage::Open must either
// fail with a clear error or recover a log whose every entry it can read back, each of them
// exactly as framed (CRC-verified) somewhere in the input. It must never crash.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>

#include "engine/storage/durable_storage.h"
#include "engine/storage/record_format.h"
#include "sim/sim_filesystem.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Three control bytes choose the file boundaries and the kind of the last file; the rest
  // is file contents.
  if (size < 3) return 0;
  const std::string input(reinterpret_cast<const char*>(data) + 3, size - 3);
  keel::SimFileSystem fs(1);
  (void)fs.MakeDirs("/n/wal");
  (void)fs.MakeDirs("/n/snap");
  const size_t a = std::min<size_t>(data[0] == 255 ? input.size() : data[0], input.size());
  const size_t b = std::min<size_t>(data[1] == 255 ? input.size() : data[1], input.size());
  const size_t first = std::min(a, b);
  const size_t second = std::max(a, b);
  fs.SetContents("/n/wal/0000000000000001.wal", input.substr(0, first));
  if (second > first) fs.SetContents("/n/wal/0000000000000002.wal", input.substr(first, second - first));
  if (second < input.size()) {
    if (data[2] & 1) {
      fs.SetContents("/n/snap/0000000000000003-0000000000000001.snap", input.substr(second));
    } else if (second > first) {
      fs.SetContents("/n/wal/0000000000000003.wal", input.substr(second));
    }
  }
  keel::StorageOptions options;
  options.wal.cache_bytes = 0;  // every read goes to "disk" and is verified
  auto storage = keel::DurableStorage::Open(fs, "/n", {1, 2, 3}, options);
  if (!storage.ok()) return 0;  // refused: fine, as long as it did not crash
  const keel::Index first_index = (*storage)->FirstIndex();
  const keel::Index last_index = (*storage)->LastIndex();
  if (last_index + 1 < first_index) std::abort();
  if (last_index >= first_index) {
    std::vector<keel::Entry> entries;
    const absl::Status status = (*storage)->Entries(first_index, last_index + 1, UINT64_MAX, &entries);
    if (status.ok()) {
      // Every CRC-valid entry record anywhere in the input, decoded.
      std::set<std::string> verified;
      for (size_t offset = 0; offset < input.size(); ++offset) {
        keel::wal::ParsedRecord record;
        keel::raftpb::Entry entry;
        if (keel::wal::ParseRecord(absl::string_view(input).substr(offset), &record) == keel::wal::ParseStatus::kOk &&
            record.type == keel::wal::RecordType::kEntry && entry.ParseFromString(std::string(record.payload))) {
          verified.insert(entry.SerializeAsString());
        }
      }
      for (const keel::Entry& entry : entries) {
        // Every returned entry must be a verified record of the input.
        if (!verified.contains(keel::ToProto(entry).SerializeAsString())) {
          std::fprintf(stderr, "entry %llu was not read from a verified record\n",
                       static_cast<unsigned long long>(entry.index()));
          std::abort();
        }
      }
    }
  }
  return 0;
}
