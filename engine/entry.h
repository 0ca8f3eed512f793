// The engine's in-memory log entry. raftpb::Entry stays the wire and disk format; this is what
// the core, its storages and the Ready hold. The payload is immutable and shared, so the copies
// a core makes of every entry (unstable log, Ready::entries, the storage's cache, committed
// entries, the next append to each follower) cost a reference count instead of an allocation
// and a copy of the bytes each (engine_bench counted 42 allocations per entry cluster-wide
// with protobuf entries everywhere; most were payload copies).
//
// Value semantics: copies are independent. set_data() replaces this entry's payload and never
// changes another copy's.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "engine/raft.pb.h"
#include "engine/types.h"

namespace keel {

class Entry {
 public:
  Entry() = default;
  Entry(Term term, Index index, raftpb::EntryType type, std::string data);

  Term term() const { return term_; }
  Index index() const { return index_; }
  raftpb::EntryType type() const { return type_; }
  // The payload; a reference to a shared empty string when there is none. Valid while this
  // entry (or a copy sharing its payload) lives and set_data() is not called on it.
  const std::string& data() const;

  void set_term(Term term) { term_ = term; }
  void set_index(Index index) { index_ = index; }
  void set_type(raftpb::EntryType type) { type_ = type; }
  void set_data(std::string data);

  // Equal fields and equal payload bytes.
  friend bool operator==(const Entry& a, const Entry& b);

 private:
  Term term_ = 0;
  Index index_ = 0;
  raftpb::EntryType type_ = raftpb::ENTRY_NORMAL;
  std::shared_ptr<const std::string> data_;  // null: empty
};

// Conversions at the wire and disk boundaries. FromProto copies the payload; the rvalue
// overload moves it (no copy of the bytes).
Entry FromProto(const raftpb::Entry& proto);
Entry FromProto(raftpb::Entry&& proto);
void ToProto(const Entry& entry, raftpb::Entry* out);
raftpb::Entry ToProto(const Entry& entry);

// Encodes `entry` exactly as raftpb::Entry::SerializeToString would (the WAL's entry record
// payload), appending to `out`, without building a raftpb::Entry (that would copy the payload).
void AppendEncoded(const Entry& entry, std::string* out);
// The size AppendEncoded appends: raftpb::Entry::ByteSizeLong() of the same entry.
uint64_t EncodedSize(const Entry& entry);

// Approximate wire size of an entry, used for byte-based flow control.
inline uint64_t EntryBytes(const Entry& entry) { return entry.data().size() + 24; }

}  // namespace keel
