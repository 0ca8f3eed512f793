// Leader-side cost per proposed entry: a 3-node cluster in one process with in-memory storage
// and message passing, so only the Raft core's own work is measured. Reports entries committed
// per second, heap allocations per entry for the whole cluster and for the leader alone
// (counted by replacing global operator new).
//
//   build/bin/engine_bench [--benchmark_filter=...]
#include <atomic>
#include <cstdlib>
#include <deque>
#include <memory>
#include <new>
#include <vector>

#include "benchmark/benchmark.h"
#include "engine/memory_storage.h"
#include "engine/raft.h"

namespace {
std::atomic<uint64_t> g_allocations{0};
}  // namespace

void* operator new(std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace keel {
namespace {

class BenchCluster {
 public:
  explicit BenchCluster(int nodes) {
    std::vector<NodeId> voters;
    for (int i = 1; i <= nodes; ++i) voters.push_back(i);
    for (NodeId id : voters) {
      storages_.push_back(std::make_unique<MemoryStorage>(voters));
      Config config;
      config.id = id;
      config.seed = id;
      rafts_.push_back(std::move(*Raft::Create(config, *storages_.back())));
    }
    rafts_[0]->Campaign();
    Drain();
  }

  Raft& leader() { return *rafts_[0]; }

  // Carries out every Ready and delivers every message until the cluster is quiet.
  void Drain() {
    bool progress = true;
    while (progress) {
      progress = false;
      for (size_t i = 0; i < rafts_.size(); ++i) {
        Raft& raft = *rafts_[i];
        if (!raft.HasReady()) continue;
        progress = true;
        const uint64_t allocations_before = g_allocations.load(std::memory_order_relaxed);
        Ready ready = raft.GetReady();
        for (auto& m : ready.messages) queue_.push_back(std::move(m));
        MemoryStorage& storage = *storages_[i];
        if (ready.snapshot) storage.ApplySnapshot(ready.snapshot->meta, ready.snapshot->data);
        storage.Append(ready.entries);
        if (ready.hard_state) storage.SetHardState(*ready.hard_state);
        for (auto& m : ready.messages_after_persist) queue_.push_back(std::move(m));
        applied_ += ready.committed_entries.size();
        raft.Advance(ready);
        raft.Recycle(std::move(ready));  // as the node's replica does
        if (i == 0) leader_allocations_ += g_allocations.load(std::memory_order_relaxed) - allocations_before;
      }
      // Step() queues nothing (messages come out of the next Readys), so the whole queue is
      // delivered in order and then cleared, keeping its memory: the bench's own queue does
      // not allocate per message (a deque allocated a block per two messages).
      for (Message& m : queue_) {
        progress = true;
        const uint64_t allocations_before = g_allocations.load(std::memory_order_relaxed);
        const NodeId to = m.header.to();
        (void)rafts_[to - 1]->Step(std::move(m));
        if (to == 1) leader_allocations_ += g_allocations.load(std::memory_order_relaxed) - allocations_before;
      }
      queue_.clear();
    }
  }

  // Keeps the in-memory logs from growing without bound across iterations.
  void Compact() {
    for (size_t i = 0; i < rafts_.size(); ++i) {
      const Index applied = rafts_[i]->log().applied();
      if (applied > storages_[i]->FirstIndex() + 4096) {
        storages_[i]->CreateSnapshot(applied - 1024, storages_[i]->InitialConfState(), "");
      }
    }
  }

  uint64_t applied() const { return applied_; }
  // Allocations made while the leader (node 1) handled its Readys and incoming messages,
  // including its in-memory storage writes.
  uint64_t leader_allocations() const { return leader_allocations_; }

 private:
  std::vector<std::unique_ptr<MemoryStorage>> storages_;
  std::vector<std::unique_ptr<Raft>> rafts_;
  std::vector<Message> queue_;
  uint64_t applied_ = 0;
  uint64_t leader_allocations_ = 0;
};

// Proposes `batch` entries of `size` bytes, then replicates and commits them on all nodes.
void BM_ProposeCommit(benchmark::State& state) {
  const int batch = static_cast<int>(state.range(0));
  const std::string payload(static_cast<size_t>(state.range(1)), 'x');
  BenchCluster cluster(3);
  uint64_t entries = 0;
  uint64_t allocations = 0;
  uint64_t leader_allocations = 0;
  for (auto _ : state) {
    const uint64_t before = g_allocations.load(std::memory_order_relaxed);
    const uint64_t leader_before = cluster.leader_allocations();
    for (int i = 0; i < batch; ++i) {
      if (!cluster.leader().Propose(payload).ok()) state.SkipWithError("propose failed");
    }
    leader_allocations += g_allocations.load(std::memory_order_relaxed) - before;  // Propose
    cluster.Drain();
    allocations += g_allocations.load(std::memory_order_relaxed) - before;
    leader_allocations += cluster.leader_allocations() - leader_before;
    entries += batch;
    state.PauseTiming();
    cluster.Compact();
    state.ResumeTiming();
  }
  state.counters["entries_per_s"] = benchmark::Counter(static_cast<double>(entries), benchmark::Counter::kIsRate);
  state.counters["allocs_per_entry"] = static_cast<double>(allocations) / static_cast<double>(entries);
  state.counters["leader_allocs_per_entry"] =
      static_cast<double>(leader_allocations) / static_cast<double>(entries);
  state.SetBytesProcessed(static_cast<int64_t>(entries * payload.size()));
}
BENCHMARK(BM_ProposeCommit)->Args({1, 100})->Args({16, 100})->Args({256, 100})->Args({16, 4096});

}  // namespace
}  // namespace keel

BENCHMARK_MAIN();
