#include "engine/message.h"

#include <utility>

#include "absl/status/status.h"
#include "engine/assert.h"
#include "engine/wire.h"

namespace keel {
namespace {

// Field numbers in engine/peer.proto and engine/raft.proto.
constexpr int kEnvelopeClusterId = 1;
constexpr int kEnvelopeFrom = 2;
constexpr int kEnvelopeTo = 3;
constexpr int kEnvelopeRaft = 10;
constexpr int kMessageEntries = 7;

std::vector<Entry> TakeEntries(raftpb::Message& proto) {
  std::vector<Entry> entries;
  entries.reserve(static_cast<size_t>(proto.entries_size()));
  for (raftpb::Entry& entry : *proto.mutable_entries()) entries.push_back(FromProto(std::move(entry)));
  proto.clear_entries();
  return entries;
}

void PutEntries(const std::vector<Entry>& entries, raftpb::Message* out) {
  out->mutable_entries()->Reserve(static_cast<int>(entries.size()));
  for (const Entry& entry : entries) ToProto(entry, out->add_entries());
}

}  // namespace

Message::Message(raftpb::Message&& header_in, std::vector<Entry> entries_in)
    : header(std::move(header_in)), entries(std::move(entries_in)) {
  KEEL_ASSERT(header.entries().empty());
}

Envelope::Envelope(nodepb::Envelope&& header_in, std::vector<Entry> raft_entries_in)
    : header(std::move(header_in)), raft_entries(std::move(raft_entries_in)) {
  KEEL_ASSERT(header.has_raft() ? header.raft().entries().empty() : raft_entries.empty());
}

Message FromProto(raftpb::Message&& proto) {
  std::vector<Entry> entries = TakeEntries(proto);
  return Message(std::move(proto), std::move(entries));
}

Message FromProto(const raftpb::Message& proto) {
  raftpb::Message copy = proto;
  return FromProto(std::move(copy));
}

raftpb::Message ToProto(const Message& message) {
  KEEL_ASSERT(message.header.entries().empty());
  raftpb::Message proto = message.header;
  PutEntries(message.entries, &proto);
  return proto;
}

Envelope FromProto(nodepb::Envelope&& proto) {
  std::vector<Entry> entries;
  if (proto.has_raft()) entries = TakeEntries(*proto.mutable_raft());
  return Envelope(std::move(proto), std::move(entries));
}

Envelope FromProto(const nodepb::Envelope& proto) {
  nodepb::Envelope copy = proto;
  return FromProto(std::move(copy));
}

nodepb::Envelope ToProto(const Envelope& envelope) {
  KEEL_ASSERT(envelope.header.has_raft() || envelope.raft_entries.empty());
  nodepb::Envelope proto = envelope.header;
  if (proto.has_raft()) {
    KEEL_ASSERT(proto.raft().entries().empty());
    PutEntries(envelope.raft_entries, proto.mutable_raft());
  }
  return proto;
}

std::string Encode(const Envelope& envelope) {
  const nodepb::Envelope& header = envelope.header;
  KEEL_ASSERT(header.has_raft() || envelope.raft_entries.empty());
  if (!header.has_raft()) return header.SerializeAsString();
  // The envelope's own fields are written by hand below: every field of Envelope but the other
  // bodies (message_test checks the list against the descriptor). A header carrying unknown
  // fields (from a newer peer, never one this node built) goes the slow way.
  if (!header.GetReflection()->GetUnknownFields(header).empty()) return ToProto(envelope).SerializeAsString();
  const raftpb::Message& raft = header.raft();
  KEEL_ASSERT(raft.entries().empty());
  uint64_t raft_size = raft.ByteSizeLong();
  for (const Entry& entry : envelope.raft_entries) raft_size += wire::LengthDelimitedFieldSize(EncodedSize(entry));
  std::string out;
  out.reserve(wire::VarintFieldSize(header.cluster_id()) + wire::VarintFieldSize(header.from()) +
              wire::VarintFieldSize(header.to()) + wire::LengthDelimitedFieldSize(raft_size));
  wire::AppendVarintField(kEnvelopeClusterId, header.cluster_id(), &out);
  wire::AppendVarintField(kEnvelopeFrom, header.from(), &out);
  wire::AppendVarintField(kEnvelopeTo, header.to(), &out);
  wire::AppendLengthDelimitedHeader(kEnvelopeRaft, raft_size, &out);
  const size_t raft_start = out.size();
  raft.AppendToString(&out);
  for (const Entry& entry : envelope.raft_entries) {
    wire::AppendLengthDelimitedHeader(kMessageEntries, EncodedSize(entry), &out);
    AppendEncoded(entry, &out);
  }
  KEEL_ASSERT(out.size() - raft_start == raft_size);
  return out;
}

absl::StatusOr<Envelope> DecodeEnvelope(absl::string_view bytes) {
  nodepb::Envelope proto;
  if (bytes.size() > static_cast<size_t>(INT32_MAX) ||
      !proto.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::InvalidArgumentError("not a peer envelope");
  }
  return FromProto(std::move(proto));
}

}  // namespace keel
