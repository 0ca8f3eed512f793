// Reassembles a snapshot sent in chunks (MSG_SNAPSHOT). Resumable: if a chunk is lost or the
// leader restarts the stream, the receiver answers with the offset it expects next and keeps
// what it already has, as long as the chunks describe the same snapshot from the same leader
// term.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "engine/message_header.h"
#include "engine/raft.pb.h"
#include "engine/types.h"

namespace keel {

class SnapshotReceiver {
 public:
  struct Result {
    uint64_t next_offset = 0;  // what the sender should send next
    bool complete = false;     // the whole snapshot arrived and its checksum verified
    bool corrupt = false;      // it arrived whole but failed verification; discarded
  };

  // Offers one chunk. Precondition: the message passed Raft's validation (offset + data size
  // <= meta.size, meta.index > 0).
  Result Offer(const MessageHeader& chunk);
  // After a complete Result: takes the data and forgets the transfer.
  std::string TakeData();
  const raftpb::SnapshotMeta& meta() const { return meta_; }
  void Reset();

 private:
  bool active_ = false;
  Term leader_term_ = 0;
  NodeId leader_ = kNoNode;
  raftpb::SnapshotMeta meta_;
  std::string data_;
};

}  // namespace keel
