// Durable storage on the real disk (under $TMPDIR or /tmp), fsync on:
// - BM_RawFdatasync: the disk's raw rate of (100-byte write + fdatasync), the physical limit;
// - BM_WalAppend/<batch>/<bytes>: WAL batches of 1, 16, 256 entries of 100 B and 4 KiB, one
//   fdatasync per batch (group commit);
// - BM_Recovery1GiB: time to recover (open, verify every CRC, index) a 1 GiB WAL.
// Compare WAL figures with BM_RawFdatasync from the same run: the machine is shared and noisy.
//
//   build/bin/storage_bench [--benchmark_filter=...]
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "engine/storage/durable_storage.h"
#include "net/posix_filesystem.h"

namespace keel {
namespace {

std::string ScratchDir(const std::string& name) {
  const char* tmp = std::getenv("TMPDIR");
  const std::string dir = absl::StrCat(tmp ? tmp : "/tmp", "/keel-storage-bench-", ::getpid(), "-", name);
  std::system(absl::StrCat("rm -rf '", dir, "'").c_str());
  return dir;
}

void RemoveDir(const std::string& dir) { std::system(absl::StrCat("rm -rf '", dir, "'").c_str()); }

void BM_RawFdatasync(benchmark::State& state) {
  PosixFileSystem fs;
  const std::string dir = ScratchDir("raw");
  if (!fs.MakeDirs(dir).ok()) return state.SkipWithError("mkdir failed");
  auto file = fs.Open(dir + "/raw", FileSystem::OpenMode::kTruncate);
  if (!file.ok()) return state.SkipWithError("open failed");
  const std::string payload(100, 'x');
  for (auto _ : state) {
    if (!(*file)->Append(payload).ok() || !(*file)->Sync().ok()) return state.SkipWithError("io failed");
  }
  state.counters["syncs_per_s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  file->reset();
  RemoveDir(dir);
}
BENCHMARK(BM_RawFdatasync)->UseRealTime()->MinTime(2.0);

void BM_WalAppend(benchmark::State& state) {
  const int batch = static_cast<int>(state.range(0));
  const std::string payload(static_cast<size_t>(state.range(1)), 'x');
  PosixFileSystem fs;
  const std::string dir = ScratchDir(absl::StrCat("wal-", batch, "-", payload.size()));
  StorageOptions options;
  auto storage = DurableStorage::Open(fs, dir, {1}, options);
  if (!storage.ok()) return state.SkipWithError(storage.status().ToString().c_str());
  Index next = 1;
  uint64_t entries = 0;
  for (auto _ : state) {
    Ready ready;
    ready.entries.reserve(batch);
    for (int i = 0; i < batch; ++i) {
      Entry entry;
      entry.set_index(next++);
      entry.set_term(1);
      entry.set_data(payload);
      ready.entries.push_back(std::move(entry));
    }
    if (!(*storage)->SaveReady(ready).ok()) return state.SkipWithError("write failed");
    entries += batch;
  }
  state.counters["entries_per_s"] = benchmark::Counter(static_cast<double>(entries), benchmark::Counter::kIsRate);
  state.counters["batches_per_s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.SetBytesProcessed(static_cast<int64_t>(entries * payload.size()));
  storage->reset();
  RemoveDir(dir);
}
BENCHMARK(BM_WalAppend)
    ->UseRealTime()
    ->MinTime(2.0)
    ->Args({1, 100})->Args({16, 100})->Args({256, 100})
    ->Args({1, 4096})->Args({16, 4096})->Args({256, 4096});

void BM_Recovery1GiB(benchmark::State& state) {
  PosixFileSystem fs;
  const std::string dir = ScratchDir("recovery");
  constexpr uint64_t kTotal = 1ULL << 30;
  constexpr size_t kEntryBytes = 4096;
  {
    auto storage = DurableStorage::Open(fs, dir, {1}, StorageOptions{});
    if (!storage.ok()) return state.SkipWithError("open failed");
    const std::string payload(kEntryBytes, 'r');
    Index next = 1;
    for (uint64_t written = 0; written < kTotal;) {
      Ready ready;
      for (int i = 0; i < 1024; ++i, written += kEntryBytes) {
        Entry entry;
        entry.set_index(next++);
        entry.set_term(1);
        entry.set_data(payload);
        ready.entries.push_back(std::move(entry));
      }
      if (!(*storage)->SaveReady(ready).ok()) return state.SkipWithError("write failed");
    }
  }
  std::system("sync");
  Index last = 0;
  for (auto _ : state) {
    auto storage = DurableStorage::Open(fs, dir, {1}, StorageOptions{});
    if (!storage.ok()) return state.SkipWithError(storage.status().ToString().c_str());
    last = (*storage)->LastIndex();
  }
  state.counters["entries"] = static_cast<double>(last);
  state.SetBytesProcessed(static_cast<int64_t>(kTotal) * static_cast<int64_t>(state.iterations()));
  RemoveDir(dir);
}
BENCHMARK(BM_Recovery1GiB)->UseRealTime()->Iterations(3)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace keel

BENCHMARK_MAIN();
