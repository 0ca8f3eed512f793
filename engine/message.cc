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
constexpr int kMessageSnapshotData = 13;

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

Envelope::Envelope(nodepb::Envelope&& header_in) : header(std::move(header_in)) {
  KEEL_ASSERT(!header.has_raft());
}

Envelope::Envelope(nodepb::Envelope&& header_in, Message&& raft_in)
    : header(std::move(header_in)), raft(std::move(raft_in)) {
  KEEL_ASSERT(header.body_case() == nodepb::Envelope::BODY_NOT_SET);
}

namespace {

// Every field but snapshot_data (Encode writes that one itself rather than copy a chunk).
void FieldsToProto(const MessageHeader& header, raftpb::Message* out) {
  out->set_type(header.type());
  out->set_from(header.from());
  out->set_to(header.to());
  out->set_term(header.term());
  out->set_log_term(header.log_term());
  out->set_index(header.index());
  out->set_commit(header.commit());
  out->set_reject(header.reject());
  out->set_reject_hint(header.reject_hint());
  if (header.has_snapshot()) *out->mutable_snapshot() = header.snapshot();
  out->set_snapshot_offset(header.snapshot_offset());
  out->set_snapshot_done(header.snapshot_done());
  out->set_transfer(header.transfer());
  out->set_context(header.context());
  out->set_cluster_id(header.cluster_id());
  out->set_lease_tick(header.lease_tick());
}

}  // namespace

void ToProto(const MessageHeader& header, raftpb::Message* out) {
  FieldsToProto(header, out);
  out->set_snapshot_data(header.snapshot_data());
}

MessageHeader HeaderFromProto(raftpb::Message&& proto) {
  MessageHeader header;
  header.set_type(proto.type());
  header.set_from(proto.from());
  header.set_to(proto.to());
  header.set_term(proto.term());
  header.set_log_term(proto.log_term());
  header.set_index(proto.index());
  header.set_commit(proto.commit());
  header.set_reject(proto.reject());
  header.set_reject_hint(proto.reject_hint());
  if (proto.has_snapshot()) *header.mutable_snapshot() = std::move(*proto.mutable_snapshot());
  header.set_snapshot_offset(proto.snapshot_offset());
  if (!proto.snapshot_data().empty()) header.set_snapshot_data(std::move(*proto.mutable_snapshot_data()));
  header.set_snapshot_done(proto.snapshot_done());
  header.set_transfer(proto.transfer());
  header.set_context(std::move(*proto.mutable_context()));
  header.set_cluster_id(proto.cluster_id());
  header.set_lease_tick(proto.lease_tick());
  return header;
}

Message FromProto(raftpb::Message&& proto) {
  std::vector<Entry> entries = TakeEntries(proto);
  return Message(HeaderFromProto(std::move(proto)), std::move(entries));
}

Message FromProto(const raftpb::Message& proto) {
  raftpb::Message copy = proto;
  return FromProto(std::move(copy));
}

raftpb::Message ToProto(const Message& message) {
  raftpb::Message proto;
  ToProto(message.header, &proto);
  PutEntries(message.entries, &proto);
  return proto;
}

Envelope FromProto(nodepb::Envelope&& proto) {
  if (!proto.has_raft()) return Envelope(std::move(proto));
  Message raft = FromProto(std::move(*proto.mutable_raft()));
  proto.clear_raft();
  return Envelope(std::move(proto), std::move(raft));
}

Envelope FromProto(const nodepb::Envelope& proto) {
  nodepb::Envelope copy = proto;
  return FromProto(std::move(copy));
}

nodepb::Envelope ToProto(const Envelope& envelope) {
  KEEL_ASSERT(!envelope.header.has_raft());
  nodepb::Envelope proto = envelope.header;
  if (envelope.raft) *proto.mutable_raft() = ToProto(*envelope.raft);
  return proto;
}

std::string Encode(const Envelope& envelope) {
  const nodepb::Envelope& header = envelope.header;
  KEEL_ASSERT(!header.has_raft());
  if (!envelope.raft) return header.SerializeAsString();
  // The envelope's own fields are written by hand below: every field of Envelope but the other
  // bodies (message_test checks the list against the descriptor). A header carrying unknown
  // fields (from a newer peer, never one this node built) goes the slow way.
  if (!header.GetReflection()->GetUnknownFields(header).empty()) return ToProto(envelope).SerializeAsString();
  const std::vector<Entry>& entries = envelope.raft->entries;
  // The raft body: its header but the snapshot chunk's bytes as protobuf writes it, then those
  // bytes and the entries straight from where they are (no copy of either).
  raftpb::Message raft;
  FieldsToProto(envelope.raft->header, &raft);
  const std::string& snapshot_data = envelope.raft->header.snapshot_data();
  uint64_t raft_size = raft.ByteSizeLong();
  if (!snapshot_data.empty()) raft_size += wire::LengthDelimitedFieldSize(snapshot_data.size());
  for (const Entry& entry : entries) raft_size += wire::LengthDelimitedFieldSize(EncodedSize(entry));
  std::string out;
  out.reserve(wire::VarintFieldSize(header.cluster_id()) + wire::VarintFieldSize(header.from()) +
              wire::VarintFieldSize(header.to()) + wire::LengthDelimitedFieldSize(raft_size));
  wire::AppendVarintField(kEnvelopeClusterId, header.cluster_id(), &out);
  wire::AppendVarintField(kEnvelopeFrom, header.from(), &out);
  wire::AppendVarintField(kEnvelopeTo, header.to(), &out);
  wire::AppendLengthDelimitedHeader(kEnvelopeRaft, raft_size, &out);
  const size_t raft_start = out.size();
  raft.AppendToString(&out);
  if (!snapshot_data.empty()) {
    wire::AppendLengthDelimitedHeader(kMessageSnapshotData, snapshot_data.size(), &out);
    out.append(snapshot_data);
  }
  for (const Entry& entry : entries) {
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
