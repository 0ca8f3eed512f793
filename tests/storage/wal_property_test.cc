// RapidCheck: any sequence of appends (with conflict truncation), hard-state updates, snapshot
// installs (log resets), local snapshots (compaction) and crashes — including crashes in the
// middle of a write whose fsync failed — recovers to exactly the acknowledged state, and a
// crash never loses a write whose SaveReady returned OK. A byte corrupted at rest is either
// detected (Open fails with DataLoss) or costs only an unacknowledged-looking tail; it is never
// returned as data.
#include <map>
#include <optional>

#include "gtest/gtest.h"
// clang-format off: rapidcheck's gtest glue needs gtest first.
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>
// clang-format on

#include "absl/strings/str_cat.h"
#include "engine/storage/durable_storage.h"
#include "sim/sim_filesystem.h"

namespace keel {
namespace {

// The acknowledged state: what recovery must return.
struct Model {
  Index base_index = 0;
  Term base_term = 0;
  std::vector<Entry> entries;  // base_index + 1 ...
  raftpb::HardState hard_state;
  Index last_index() const { return base_index + entries.size(); }
  Term last_term() const { return entries.empty() ? base_term : entries.back().term(); }
};

struct Op {
  uint32_t kind = 0;
  uint32_t a = 0;
  uint32_t b = 0;
};

StorageOptions SmallSegments() {
  StorageOptions options;
  options.wal.max_segment_bytes = 300;  // many segments, many rollovers
  options.wal.cache_bytes = 64;         // most reads come from disk
  return options;
}

// Compares recovered storage with the model; returns a description of the first difference.
std::string Compare(const DurableStorage& storage, const Model& model) {
  if (storage.FirstIndex() != model.base_index + 1) {
    return absl::StrCat("first index ", storage.FirstIndex(), " != ", model.base_index + 1);
  }
  if (storage.LastIndex() != model.last_index()) {
    return absl::StrCat("last index ", storage.LastIndex(), " != ", model.last_index());
  }
  const raftpb::HardState hs = storage.InitialHardState();
  if (hs.term() != model.hard_state.term() || hs.vote() != model.hard_state.vote() ||
      hs.commit() != model.hard_state.commit()) {
    return "hard state differs";
  }
  if (model.entries.empty()) return "";
  std::vector<Entry> read;
  absl::Status status = storage.Entries(model.base_index + 1, model.last_index() + 1, UINT64_MAX, &read);
  if (!status.ok()) return status.ToString();
  if (read.size() != model.entries.size()) return "entry count differs";
  for (size_t i = 0; i < read.size(); ++i) {
    if (read[i].index() != model.entries[i].index() || read[i].term() != model.entries[i].term() ||
        read[i].data() != model.entries[i].data()) {
      return absl::StrCat("entry ", model.entries[i].index(), " differs");
    }
  }
  return "";
}

std::vector<Entry> MakeEntries(Index first, Term term, uint32_t count, uint32_t salt) {
  std::vector<Entry> entries;
  for (uint32_t i = 0; i < count; ++i) {
    Entry entry;
    entry.set_index(first + i);
    entry.set_term(term);
    entry.set_data(std::string(1 + (salt + i) % 37, static_cast<char>('a' + (salt + i) % 26)));
    entries.push_back(std::move(entry));
  }
  return entries;
}

void ApplyToModel(Model& model, const Ready& ready) {
  if (ready.snapshot) {
    model.base_index = ready.snapshot->meta.index();
    model.base_term = ready.snapshot->meta.term();
    model.entries.clear();
  }
  if (!ready.entries.empty()) {
    model.entries.resize(ready.entries.front().index() - model.base_index - 1);
    for (const Entry& entry : ready.entries) model.entries.push_back(entry);
  }
  if (ready.hard_state) model.hard_state = *ready.hard_state;
}

// Builds the Ready for an op, consistent with Raft (terms never decrease, commit never passes
// the log, truncation never below commit).
Ready MakeReady(const Model& model, const Op& op, Term* term_counter) {
  Ready ready;
  switch (op.kind % 10) {
    case 0: case 1: case 2: case 3: case 4: {  // append, possibly replacing a suffix
      const Index lowest = std::max(model.base_index, model.hard_state.commit()) + 1;
      Index first = model.last_index() + 1;
      if (op.a % 3 == 0 && model.last_index() >= lowest) {
        first = lowest + op.b % (model.last_index() - lowest + 1);
        ++*term_counter;  // a conflicting suffix comes from a newer leader
      }
      *term_counter = std::max<Term>(*term_counter, model.last_term());
      ready.entries = MakeEntries(first, *term_counter, 1 + op.b % 8, op.a);
      if (*term_counter > model.hard_state.term()) {
        // As in Raft: a node learns a newer term (and persists it) before or with its entries.
        raftpb::HardState hs = model.hard_state;
        hs.set_term(*term_counter);
        hs.set_vote(op.a % 4);
        ready.hard_state = hs;
      }
      break;
    }
    case 5: case 6: {  // hard state
      raftpb::HardState hs = model.hard_state;
      hs.set_term(std::max<Term>(hs.term(), *term_counter) + op.a % 2);
      hs.set_vote(op.b % 4);
      hs.set_commit(std::max<Index>(hs.commit(), std::min<Index>(model.last_index(), hs.commit() + op.a % 5)));
      ready.hard_state = hs;
      break;
    }
    default: {  // install a snapshot from a leader, past our log
      ++*term_counter;
      SnapshotToInstall snapshot;
      snapshot.meta.set_index(std::max(model.last_index(), model.hard_state.commit()) + 1 + op.a % 5);
      snapshot.meta.set_term(*term_counter);
      snapshot.meta.mutable_conf_state()->add_voters(1);
      snapshot.data = absl::StrCat("state@", snapshot.meta.index());
      ready.snapshot = snapshot;
      raftpb::HardState hs = model.hard_state;
      hs.set_term(std::max<Term>(hs.term(), *term_counter));
      hs.set_commit(snapshot.meta.index());
      ready.hard_state = hs;
      break;
    }
  }
  return ready;
}

// A prefix of a batch without its hard state: recovery adopts the term of the log's end (with
// no vote) when it is above the durable term.
Model AdoptingLastTerm(Model model) {
  if (model.last_term() > model.hard_state.term()) {
    model.hard_state.set_term(model.last_term());
    model.hard_state.set_vote(0);
  }
  return model;
}

// The states a crash may leave after an unacknowledged write of `ready` on top of `before`:
// nothing of it, all of it, or (the batch being written in order: reset, entries, hard state)
// any prefix of it.
std::vector<Model> TornCandidates(const Model& before, const Ready& ready) {
  std::vector<Model> candidates = {before};
  Model partial = before;
  if (ready.snapshot) {
    // The snapshot file is durable before the log reset; recovery then drops the old log.
    partial.base_index = ready.snapshot->meta.index();
    partial.base_term = ready.snapshot->meta.term();
    partial.entries.clear();
    candidates.push_back(AdoptingLastTerm(partial));
  }
  for (const Entry& entry : ready.entries) {
    partial.entries.resize(entry.index() - partial.base_index - 1);
    partial.entries.push_back(entry);
    candidates.push_back(AdoptingLastTerm(partial));
  }
  Model after = before;
  ApplyToModel(after, ready);
  candidates.push_back(after);
  return candidates;
}

RC_GTEST_PROP(WalProperty, CrashRecoversExactlyTheAcknowledgedState, ()) {
  const auto ops = *rc::gen::container<std::vector<Op>>(rc::gen::build<Op>(
      rc::gen::set(&Op::kind, rc::gen::inRange<uint32_t>(0, 20)),
      rc::gen::set(&Op::a, rc::gen::inRange<uint32_t>(0, 1000)),
      rc::gen::set(&Op::b, rc::gen::inRange<uint32_t>(0, 1000))));
  const auto seed = *rc::gen::inRange<uint64_t>(1, 1u << 30);
  SimFileSystem fs(seed);
  fs.faults().torn_write_probability = 1.0;  // always keep a random prefix of unsynced bytes
  auto storage = DurableStorage::Open(fs, "/n", {1}, SmallSegments());
  if (!storage.ok()) RC_FAIL(storage.status().ToString());
  Model model;
  Term term = 1;
  for (const Op& op : ops) {
    const uint32_t action = op.kind % 20;
    if (action < 13) {
      const Ready ready = MakeReady(model, op, &term);
      const absl::Status status = (*storage)->SaveReady(ready);
      RC_ASSERT(status.ok());
      ApplyToModel(model, ready);
    } else if (action < 15) {
      // Local snapshot + compaction at a committed index.
      if (model.hard_state.commit() > model.base_index) {
        const Index index = model.base_index + 1 + op.a % (model.hard_state.commit() - model.base_index);
        raftpb::ConfState conf;
        conf.add_voters(1);
        RC_ASSERT((*storage)->CreateSnapshot(index, conf, absl::StrCat("local@", index)).ok());
        model.base_term = model.entries[index - model.base_index - 1].term();
        model.entries.erase(model.entries.begin(), model.entries.begin() + (index - model.base_index));
        model.base_index = index;
      }
    } else if (action < 18) {
      // Power loss between writes: everything acknowledged survives.
      storage->reset();
      fs.Crash();
      storage = DurableStorage::Open(fs, "/n", {1}, SmallSegments());
      if (!storage.ok()) RC_FAIL(storage.status().ToString());
      const std::string diff = Compare(**storage, model);
      if (!diff.empty()) RC_FAIL(absl::StrCat("after crash: ", diff));
    } else {
      // Power loss during a write whose fsync fails: the write was never acknowledged, so
      // recovery may return the state before it or with a prefix of its entries, nothing else.
      const Ready ready = MakeReady(model, Op{op.a, op.b, op.kind}, &term);
      fs.faults().sync_failure_probability = 1.0;
      const absl::Status status = (*storage)->SaveReady(ready);
      fs.faults().sync_failure_probability = 0;
      RC_ASSERT(!status.ok());
      storage->reset();
      fs.Crash();
      storage = DurableStorage::Open(fs, "/n", {1}, SmallSegments());
      if (!storage.ok()) RC_FAIL(storage.status().ToString());
      // Part of the failed write may have reached the disk before the crash.
      std::optional<Model> recovered;
      for (const Model& candidate : TornCandidates(model, ready)) {
        if (Compare(**storage, candidate).empty()) recovered = candidate;
      }
      if (!recovered) RC_FAIL(absl::StrCat("after failed write + crash: ", Compare(**storage, model)));
      model = *recovered;
    }
  }
  storage->reset();
  fs.Crash();
  storage = DurableStorage::Open(fs, "/n", {1}, SmallSegments());
  if (!storage.ok()) RC_FAIL(storage.status().ToString());
  const std::string diff = Compare(**storage, model);
  if (!diff.empty()) RC_FAIL(absl::StrCat("final: ", diff));
}

// Unsynced appends torn at every possible byte: recovery keeps exactly a prefix of the entries
// of the torn batch on top of the acknowledged state.
TEST(WalProperty, TornBatchRecoversToAPrefixOfIt) {
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    SimFileSystem fs(seed);
    fs.faults().torn_write_probability = 1.0;
    Model model;
    {
      auto storage = DurableStorage::Open(fs, "/n", {1}, StorageOptions{});
      ASSERT_TRUE(storage.ok());
      Ready ready;
      ready.entries = MakeEntries(1, 1, 5, 0);
      ASSERT_TRUE((*storage)->SaveReady(ready).ok());
      ApplyToModel(model, ready);
      // The next batch is written but its fsync fails; then the power goes.
      Ready torn;
      torn.entries = MakeEntries(6, 1, 6, 3);
      fs.faults().sync_failure_probability = 1.0;
      ASSERT_FALSE((*storage)->SaveReady(torn).ok());
      fs.faults().sync_failure_probability = 0;
    }
    // The failed fsync made nothing durable; emulate a kernel that did write part of it by
    // appending a random prefix of the batch's bytes directly, then recover.
    const std::string segment = "/n/wal/0000000000000001.wal";
    std::string contents = fs.Contents(segment);
    std::string batch;
    {
      SimFileSystem scratch(1);
      auto other = DurableStorage::Open(scratch, "/n", {1}, StorageOptions{});
      ASSERT_TRUE(other.ok());
      Ready ready;
      ready.entries = MakeEntries(1, 1, 5, 0);
      ASSERT_TRUE((*other)->SaveReady(ready).ok());
      const size_t before = scratch.Contents(segment).size();
      Ready torn;
      torn.entries = MakeEntries(6, 1, 6, 3);
      ASSERT_TRUE((*other)->SaveReady(torn).ok());
      batch = scratch.Contents(segment).substr(before);
    }
    Prng prng(seed);
    const size_t cut = prng.Uniform(batch.size() + 1);
    fs.faults().torn_write_probability = 0;  // the crash keeps only what was synced ...
    fs.Crash();                              // ... and the test appends the torn part itself
    fs.SetContents(segment, contents.substr(0, fs.Contents(segment).size()) + batch.substr(0, cut));
    auto storage = DurableStorage::Open(fs, "/n", {1}, StorageOptions{});
    ASSERT_TRUE(storage.ok()) << "cut " << cut << ": " << storage.status();
    const Index last = (*storage)->LastIndex();
    ASSERT_GE(last, 5u);
    ASSERT_LE(last, 11u);
    std::vector<Entry> read;
    ASSERT_TRUE((*storage)->Entries(1, last + 1, UINT64_MAX, &read).ok());
    const std::vector<Entry> expected_tail = MakeEntries(6, 1, 6, 3);
    for (const Entry& entry : read) {
      const Entry& expected = entry.index() <= 5 ? model.entries[entry.index() - 1]
                                                         : expected_tail[entry.index() - 6];
      ASSERT_EQ(entry.data(), expected.data()) << "cut " << cut;
    }
  }
}

// A byte flipped at rest anywhere in the WAL: recovery either refuses (DataLoss) or returns a
// prefix of the truth (when the flip hit the final record, indistinguishable from a torn
// write). It never returns a wrong entry.
TEST(WalProperty, CorruptionIsDetectedNeverReturned) {
  SimFileSystem base(7);
  Model model;
  {
    auto storage = DurableStorage::Open(base, "/n", {1}, SmallSegments());
    ASSERT_TRUE(storage.ok());
    for (int batch = 0; batch < 6; ++batch) {
      Ready ready;
      ready.entries = MakeEntries(model.last_index() + 1, 1, 4, batch);
      ASSERT_TRUE((*storage)->SaveReady(ready).ok());
      ApplyToModel(model, ready);
    }
  }
  const std::vector<std::string> segments = *base.List("/n/wal");
  int refused = 0;
  int prefix = 0;
  for (const std::string& name : segments) {
    const std::string path = "/n/wal/" + name;
    const size_t size = base.Contents(path).size();
    for (size_t offset = 0; offset < size; ++offset) {
      SimFileSystem fs(1);
      for (const std::string& other : segments) fs.SetContents("/n/wal/" + other, base.Contents("/n/wal/" + other));
      (void)fs.MakeDirs("/n/wal");
      (void)fs.MakeDirs("/n/snap");
      fs.CorruptByte(path, offset);
      auto storage = DurableStorage::Open(fs, "/n", {1}, SmallSegments());
      if (!storage.ok()) {
        EXPECT_EQ(storage.status().code(), absl::StatusCode::kDataLoss) << storage.status();
        ++refused;
        continue;
      }
      std::vector<Entry> read;
      if ((*storage)->LastIndex() >= 1) {
        ASSERT_TRUE((*storage)->Entries(1, (*storage)->LastIndex() + 1, UINT64_MAX, &read).ok());
      }
      for (const Entry& entry : read) {
        ASSERT_EQ(entry.data(), model.entries[entry.index() - 1].data()) << name << "@" << offset;
      }
      ++prefix;
    }
  }
  std::printf("corrupted bytes: %d refused at open, %d recovered a correct prefix\n", refused, prefix);
  EXPECT_GT(refused, 0);
}

}  // namespace
}  // namespace keel
