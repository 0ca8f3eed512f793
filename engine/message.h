// Raft messages and peer envelopes as the engine holds them in memory. raftpb::Message and
// nodepb::Envelope stay the wire format; in memory an append's entries travel beside the
// protobuf header as keel::Entry, whose payloads are shared. So a leader's append of one batch
// to N followers costs N reference counts per entry, not N protobuf copies of every payload
// (engine_bench: 6 of the 10.8 allocations per entry cluster-wide at batch 256 were those
// copies), and the simulated network delays and duplicates appends without copying payloads.
//
// Invariant of both types: the protobuf header never holds entries itself (header.entries()
// resp. header.raft().entries() is empty); FromProto moves them out.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/entry.h"
#include "engine/peer.pb.h"
#include "engine/raft.pb.h"

namespace keel {

struct Message {
  raftpb::Message header;       // every field but entries
  std::vector<Entry> entries;   // MSG_APPEND's entries

  Message() = default;
  // `header` must hold no entries (FromProto converts a protobuf message that does). By rvalue:
  // the header is moved in once (a protobuf move constructs and swaps, and messages are built
  // on every send; by-value parameters doubled that). A copy is the caller's, explicitly.
  explicit Message(raftpb::Message&& header, std::vector<Entry> entries = {});
};

// The rvalue overload moves the payloads out of `proto`; the other copies them.
Message FromProto(raftpb::Message&& proto);
Message FromProto(const raftpb::Message& proto);
raftpb::Message ToProto(const Message& message);

struct Envelope {
  nodepb::Envelope header;          // with a raft body: that message's header
  std::vector<Entry> raft_entries;  // the raft body's entries (empty without a raft body)

  Envelope() = default;
  // `header` must hold no entries, and `raft_entries` be empty unless it has a raft body.
  explicit Envelope(nodepb::Envelope&& header, std::vector<Entry> raft_entries = {});
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
