// Raft messages and peer envelopes as the engine holds them in memory. raftpb::Message and
// nodepb::Envelope stay the wire format; in memory a message is a plain header
// (engine/message_header.h) and an append's entries travel beside it as keel::Entry, whose
// payloads are shared. So a leader's append of one batch to N followers costs N reference
// counts per entry, not N protobuf copies of every payload (engine_bench: 6 of the 10.8
// allocations per entry cluster-wide at batch 256 were those copies), and the simulated
// network delays and duplicates appends without copying payloads.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/entry.h"
#include "engine/message_header.h"
#include "engine/peer.pb.h"
#include "engine/raft.pb.h"

namespace keel {

struct Message {
  MessageHeader header;         // every field but entries
  std::vector<Entry> entries;   // MSG_APPEND's entries

  Message() = default;
  // By rvalue: messages are built on every send, and a by-value header would be moved twice.
  explicit Message(MessageHeader&& header_in, std::vector<Entry>&& entries_in = {})
      : header(std::move(header_in)), entries(std::move(entries_in)) {}
};

// The rvalue overload moves the payloads out of `proto`; the other copies them.
Message FromProto(raftpb::Message&& proto);
Message FromProto(const raftpb::Message& proto);
raftpb::Message ToProto(const Message& message);

// In memory the raft body is a Message beside the protobuf header, which then has no body
// (the header's raft field is only ever set on the wire). Invariant: `header` never has a raft
// body, and has no other body when `raft` is set.
struct Envelope {
  nodepb::Envelope header;      // cluster id, sender, receiver, and a proxy body if any
  std::optional<Message> raft;  // the raft body

  Envelope() = default;
  explicit Envelope(nodepb::Envelope&& header);
  Envelope(nodepb::Envelope&& header, Message&& raft);
};

Envelope FromProto(nodepb::Envelope&& proto);
Envelope FromProto(const nodepb::Envelope& proto);
nodepb::Envelope ToProto(const Envelope& envelope);

// The wire encoding of ToProto(envelope), written straight from the shared payloads: parsing
// it as a nodepb::Envelope gives a message equal to ToProto(envelope). (The raft body's entries
// come after its other fields, so the bytes may differ from protobuf's own serializer, which
// writes fields in number order; every protobuf parser accepts fields in any order.)
std::string Encode(const Envelope& envelope);
// Parses an encoded envelope (Encode's or protobuf's). kInvalidArgument if it is not one.
absl::StatusOr<Envelope> DecodeEnvelope(absl::string_view bytes);

}  // namespace keel
