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
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "engine/raft.pb.h"

namespace keel {

class MessageHeader {
 public:
  MessageHeader() = default;
  MessageHeader(const MessageHeader& other) : fields_(other.fields_), chunk_(Clone(other.chunk_)) {}
  MessageHeader& operator=(const MessageHeader& other) {
    if (this != &other) {
      fields_ = other.fields_;
      chunk_ = Clone(other.chunk_);
    }
    return *this;
  }
  MessageHeader(MessageHeader&&) noexcept = default;
  MessageHeader& operator=(MessageHeader&&) noexcept = default;

// Scalar fields: a getter and a setter, defaulting to proto3's zero.
#define KEEL_HEADER_SCALAR(type, name)                     \
  type name() const { return fields_.name; }               \
  void set_##name(type value) { fields_.name = value; }
  KEEL_HEADER_SCALAR(raftpb::MessageType, type)
  KEEL_HEADER_SCALAR(uint64_t, from)
  KEEL_HEADER_SCALAR(uint64_t, to)
  KEEL_HEADER_SCALAR(uint64_t, term)
  KEEL_HEADER_SCALAR(uint64_t, log_term)
  KEEL_HEADER_SCALAR(uint64_t, index)
  KEEL_HEADER_SCALAR(uint64_t, commit)
  KEEL_HEADER_SCALAR(bool, reject)
  KEEL_HEADER_SCALAR(uint64_t, reject_hint)
  KEEL_HEADER_SCALAR(bool, transfer)
  KEEL_HEADER_SCALAR(uint64_t, cluster_id)
  KEEL_HEADER_SCALAR(uint64_t, lease_tick)
#undef KEEL_HEADER_SCALAR

  // The read context (heartbeats and read-index messages). set_context takes whatever
  // std::string::assign takes (a string by value or rvalue, a string_view, a pointer and a
  // length).
  const std::string& context() const { return fields_.context; }
  template <typename... Args>
  void set_context(Args&&... args) {
    fields_.context.assign(std::forward<Args>(args)...);
  }
  std::string* mutable_context() { return &fields_.context; }

  // Snapshot chunks (MSG_SNAPSHOT and its acks): kept out of line, so that every other message
  // moves and dies without them. Reading never allocates; writing does, once per header.
  uint64_t snapshot_offset() const { return chunk_ ? chunk_->offset : 0; }
  void set_snapshot_offset(uint64_t value) {
    if (value != 0 || chunk_) Chunk().offset = value;
  }
  bool snapshot_done() const { return chunk_ && chunk_->done; }
  void set_snapshot_done(bool value) {
    if (value || chunk_) Chunk().done = value;
  }
  const std::string& snapshot_data() const { return chunk_ ? chunk_->data : EmptyString(); }
  template <typename... Args>
  void set_snapshot_data(Args&&... args) {
    Chunk().data.assign(std::forward<Args>(args)...);
  }
  std::string* mutable_snapshot_data() { return &Chunk().data; }
  // The chunk's snapshot; the default instance when unset, as protobuf's getter.
  bool has_snapshot() const { return chunk_ && chunk_->meta.has_value(); }
  const raftpb::SnapshotMeta& snapshot() const {
    return has_snapshot() ? *chunk_->meta : raftpb::SnapshotMeta::default_instance();
  }
  raftpb::SnapshotMeta* mutable_snapshot() {
    std::optional<raftpb::SnapshotMeta>& meta = Chunk().meta;
    if (!meta) meta.emplace();
    return &*meta;
  }
  void clear_snapshot() {
    if (chunk_) chunk_->meta.reset();
  }

 private:
  struct Fields {
    raftpb::MessageType type = raftpb::MSG_UNKNOWN;
    bool reject = false;
    bool transfer = false;
    uint64_t from = 0;
    uint64_t to = 0;
    uint64_t term = 0;
    uint64_t log_term = 0;
    uint64_t index = 0;
    uint64_t commit = 0;
    uint64_t reject_hint = 0;
    uint64_t cluster_id = 0;
    uint64_t lease_tick = 0;
    std::string context;
  };
  struct SnapshotChunk {
    std::optional<raftpb::SnapshotMeta> meta;
    uint64_t offset = 0;
    std::string data;
    bool done = false;
  };
  SnapshotChunk& Chunk() {
    if (!chunk_) chunk_ = std::make_unique<SnapshotChunk>();
    return *chunk_;
  }
  static std::unique_ptr<SnapshotChunk> Clone(const std::unique_ptr<SnapshotChunk>& chunk) {
    return chunk ? std::make_unique<SnapshotChunk>(*chunk) : nullptr;
  }
  static const std::string& EmptyString() {
    static const std::string* const empty = new std::string();
    return *empty;
  }

  Fields fields_;
  std::unique_ptr<SnapshotChunk> chunk_;  // null: no snapshot fields set
};

// Conversions to and from the wire type. The proto's entries are not the header's: ToProto
// leaves them empty, FromProto ignores them (message.h moves them beside the header).
void ToProto(const MessageHeader& header, raftpb::Message* out);
MessageHeader HeaderFromProto(raftpb::Message&& proto);

}  // namespace keel
