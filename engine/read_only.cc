#include "engine/read_only.h"

#include "engine/assert.h"

namespace keel {

std::string ReadOnly::EncodeSequence(uint64_t sequence) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((sequence >> (8 * i)) & 0xFF);
  return out;
}

std::optional<uint64_t> ReadOnly::DecodeSequence(const std::string& context) {
  if (context.size() != 8) return std::nullopt;
  uint64_t sequence = 0;
  for (int i = 0; i < 8; ++i) sequence |= uint64_t{static_cast<unsigned char>(context[i])} << (8 * i);
  return sequence;
}

std::string ReadOnly::Add(NodeId from, std::string context, Index index, NodeId self) {
  Request request;
  request.from = from;
  request.context = std::move(context);
  request.index = index;
  request.sequence = next_sequence_++;
  request.acks.insert(self);
  pending_.push_back(std::move(request));
  return EncodeSequence(pending_.back().sequence);
}

std::vector<ReadOnly::Request> ReadOnly::Ack(NodeId from, const std::string& heartbeat_context,
                                             const std::function<bool(const absl::btree_set<NodeId>&)>& has_quorum) {
  std::vector<Request> released;
  const std::optional<uint64_t> sequence = DecodeSequence(heartbeat_context);
  if (!sequence) return released;  // a plain heartbeat, or garbage from a peer: no read to ack
  size_t position = 0;
  while (position < pending_.size() && pending_[position].sequence != *sequence) ++position;
  if (position == pending_.size()) return released;  // already released or never ours
  Request& request = pending_[position];
  request.acks.insert(from);
  if (!has_quorum(request.acks)) return released;
  for (size_t i = 0; i <= position; ++i) {
    released.push_back(std::move(pending_.front()));
    pending_.pop_front();
  }
  return released;
}

std::vector<ReadOnly::Request> ReadOnly::ReleaseAll() {
  std::vector<Request> released(std::make_move_iterator(pending_.begin()),
                                std::make_move_iterator(pending_.end()));
  pending_.clear();
  return released;
}

}  // namespace keel
