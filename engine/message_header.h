// A Raft message's header (every field of raftpb::Message but its entries) as a plain struct.
//
// Why not the protobuf class: messages are built on every send and moved through the Ready,
// the transport and the (simulated) network several times each. A protobuf message's move is
// a construction plus a swap, its destruction frees string fields out of line, and the
// simulator's profile showed raftpb::Message construction, swap and destruction at ~8% of a
// sweep. This struct moves like its members (ints, two strings, an optional SnapshotMeta that
// only snapshot chunks carry). Protobuf stays the wire format: message.h converts.
//
// The accessors are named as protobuf generates them (x(), set_x(), mutable_x(), has_x()) so
// that the core reads the same as with the protobuf class. Fields of a newer version's
// raftpb::Message (unknown to this one) are dropped in HeaderFromProto, as the core could not
// use them anyway; a node never forwards a peer's raft message. `type` keeps any value, as a
// proto3 enum does (Raft::Step rejects unknown types).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "engine/raft.pb.h"

namespace keel {

class MessageHeader {
 public:
// Scalar fields: a getter and a setter, defaulting to proto3's zero.
#define KEEL_HEADER_SCALAR(type, name)             \
  type name() const { return name##_; }            \
  void set_##name(type value) { name##_ = value; }
  KEEL_HEADER_SCALAR(raftpb::MessageType, type)
  KEEL_HEADER_SCALAR(uint64_t, from)
  KEEL_HEADER_SCALAR(uint64_t, to)
  KEEL_HEADER_SCALAR(uint64_t, term)
  KEEL_HEADER_SCALAR(uint64_t, log_term)
  KEEL_HEADER_SCALAR(uint64_t, index)
  KEEL_HEADER_SCALAR(uint64_t, commit)
  KEEL_HEADER_SCALAR(bool, reject)
  KEEL_HEADER_SCALAR(uint64_t, reject_hint)
  KEEL_HEADER_SCALAR(uint64_t, snapshot_offset)
  KEEL_HEADER_SCALAR(bool, snapshot_done)
  KEEL_HEADER_SCALAR(bool, transfer)
  KEEL_HEADER_SCALAR(uint64_t, cluster_id)
  KEEL_HEADER_SCALAR(uint64_t, lease_tick)
#undef KEEL_HEADER_SCALAR

// Bytes fields: set_x takes whatever std::string::assign takes (a string by value or rvalue,
// a string_view, a pointer and a length).
#define KEEL_HEADER_BYTES(name)                                                                  \
  const std::string& name() const { return name##_; }                                           \
  template <typename... Args>                                                                    \
  void set_##name(Args&&... args) {                                                              \
    name##_.assign(std::forward<Args>(args)...);                                                 \
  }                                                                                              \
  std::string* mutable_##name() { return &name##_; }
  KEEL_HEADER_BYTES(snapshot_data)
  KEEL_HEADER_BYTES(context)
#undef KEEL_HEADER_BYTES

  // The snapshot chunk's description (MSG_SNAPSHOT and its acks); the default instance when
  // unset, as protobuf's getter.
  bool has_snapshot() const { return snapshot_.has_value(); }
  const raftpb::SnapshotMeta& snapshot() const {
    return snapshot_ ? *snapshot_ : raftpb::SnapshotMeta::default_instance();
  }
  raftpb::SnapshotMeta* mutable_snapshot() {
    if (!snapshot_) snapshot_.emplace();
    return &*snapshot_;
  }
  void clear_snapshot() { snapshot_.reset(); }

 private:
  raftpb::MessageType type_ = raftpb::MSG_UNKNOWN;
  uint64_t from_ = 0;
  uint64_t to_ = 0;
  uint64_t term_ = 0;
  uint64_t log_term_ = 0;
  uint64_t index_ = 0;
  uint64_t commit_ = 0;
  bool reject_ = false;
  bool snapshot_done_ = false;
  bool transfer_ = false;
  uint64_t reject_hint_ = 0;
  uint64_t snapshot_offset_ = 0;
  uint64_t cluster_id_ = 0;
  uint64_t lease_tick_ = 0;
  std::string snapshot_data_;
  std::string context_;
  std::optional<raftpb::SnapshotMeta> snapshot_;
};

// Conversions to and from the wire type. The proto's entries are not the header's: ToProto
// leaves them empty, FromProto ignores them (message.h moves them beside the header).
void ToProto(const MessageHeader& header, raftpb::Message* out);
MessageHeader HeaderFromProto(raftpb::Message&& proto);

}  // namespace keel
