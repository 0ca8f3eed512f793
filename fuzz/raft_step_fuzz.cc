// Fuzz target: a peer sends arbitrary messages to a Raft core. The core must never crash,
// never break its invariants, and reject malformed messages with an error instead.
//
// Input format: a sequence of records. Each record starts with an op byte:
//   op % 4 == 0: Tick()
//   op % 4 == 1: a raw protobuf Message follows (2-byte length, then bytes): tests decoding
//   otherwise:   a structured Message built from the following bytes (type, sender, term,
//                index, log term, commit, entries, flags, snapshot fields): reaches deep paths
// After every record the core's Ready is carried out (persist to MemoryStorage, advance) and
// CheckNodeInvariants must hold.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "sim/invariants.h"
#include "engine/memory_storage.h"
#include "engine/raft.h"

namespace {

class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool empty() const { return pos_ >= size_; }
  uint8_t Byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  uint64_t Small(uint64_t bound) { return Byte() % bound; }
  std::string Bytes(size_t n) {
    n = std::min(n, size_ - std::min(pos_, size_));
    std::string out(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return out;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

keel::raftpb::Message Structured(Reader& in, const keel::Raft& raft) {
  keel::raftpb::Message m;
  m.set_type(static_cast<keel::raftpb::MessageType>(in.Small(15)));
  m.set_to(in.Small(8) == 0 ? in.Small(5) : 1);
  m.set_from(in.Small(4));  // 0..3: 0 and 1 are invalid senders for node 1
  // Terms near the node's own term hit the interesting comparisons.
  const int64_t term_delta = static_cast<int64_t>(in.Small(5)) - 2;
  m.set_term(static_cast<uint64_t>(std::max<int64_t>(0, static_cast<int64_t>(raft.term()) + term_delta)));
  const uint64_t last = raft.log().LastIndex();
  m.set_index(static_cast<uint64_t>(std::max<int64_t>(0, static_cast<int64_t>(last) + in.Small(9) - 4)));
  m.set_log_term(in.Small(m.term() + 1));
  m.set_commit(in.Small(last + 4));
  // Entries on an append; rarely on anything else (which Raft rejects as malformed), so that
  // the other types mostly reach their handlers.
  const bool with_entries = m.type() == keel::raftpb::MSG_APPEND || in.Small(16) == 0;
  const int entries = with_entries ? static_cast<int>(in.Small(4)) : 0;
  uint64_t entry_term = m.log_term();
  for (int i = 0; i < entries; ++i) {
    keel::raftpb::Entry* entry = m.add_entries();
    entry->set_index(m.index() + 1 + i + (in.Small(16) == 0 ? 1 : 0));
    entry_term = std::min<uint64_t>(m.term(), entry_term + in.Small(2));
    entry->set_term(entry_term);
    entry->set_type(static_cast<keel::raftpb::EntryType>(in.Small(3)));
    entry->set_data(in.Bytes(in.Small(8)));
  }
  const uint8_t flags = in.Byte();
  m.set_reject(flags & 1);
  m.set_transfer(flags & 2);
  m.set_reject_hint(in.Small(m.index() + 2));
  if (flags & 4) m.set_context(in.Bytes(in.Small(10)));
  if (m.type() == keel::raftpb::MSG_SNAPSHOT || (flags & 8)) {
    keel::raftpb::SnapshotMeta* meta = m.mutable_snapshot();
    meta->set_index(in.Small(last + 6));
    meta->set_term(in.Small(m.term() + 1));
    meta->set_size(in.Small(40));
    meta->set_crc32c(in.Byte());
    meta->mutable_conf_state()->add_voters(1);
    if (flags & 16) meta->mutable_conf_state()->add_voters(2);
    meta->mutable_conf_state()->add_voters(3);
    m.set_snapshot_offset(in.Small(41));
    m.set_snapshot_data(in.Bytes(in.Small(41)));
    m.set_snapshot_done(flags & 32);
  }
  return m;
}

void CarryOutReady(keel::Raft& raft, keel::MemoryStorage& storage) {
  if (!raft.HasReady()) return;
  keel::Ready ready = raft.GetReady();
  if (ready.snapshot) storage.ApplySnapshot(ready.snapshot->meta, ready.snapshot->data);
  storage.Append(ready.entries);
  if (ready.hard_state) storage.SetHardState(*ready.hard_state);
  raft.Advance(ready);
}

void CheckOrDie(const keel::Raft& raft) {
  const absl::Status status = keel::CheckNodeInvariants(raft);
  if (!status.ok()) {
    std::fprintf(stderr, "invariant violated: %s\n", status.ToString().c_str());
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  keel::MemoryStorage storage({1, 2, 3});
  keel::Config config;
  config.id = 1;
  config.election_tick = 4;
  config.max_snapshot_chunk_bytes = 8;
  auto raft_or = keel::Raft::Create(config, storage);
  if (!raft_or.ok()) std::abort();
  keel::Raft& raft = **raft_or;
  Reader in(data, size);
  int records = 0;
  while (!in.empty() && records++ < 256) {
    const uint8_t op = in.Byte();
    if (op % 4 == 0) {
      raft.Tick();
    } else if (op % 4 == 1) {
      const size_t length = (size_t{in.Byte()} << 8) | in.Byte();
      keel::raftpb::Message m;
      if (m.ParseFromString(in.Bytes(length))) (void)raft.Step(m);
    } else {
      (void)raft.Step(Structured(in, raft));
    }
    if (op & 0x80) {
      // Let the node propose when it can, so leader paths are reached too.
      (void)raft.Propose("x");
    }
    CheckOrDie(raft);
    CarryOutReady(raft, storage);
    CheckOrDie(raft);
  }
  return 0;
}
