// keel::Message and keel::Envelope (engine/message.h): a plain header converts to and from
// raftpb::Message without losing a field, entries travel beside it sharing their payloads, and
// the hand-written wire encoding of an envelope must parse, with any protobuf parser, to
// exactly the envelope protobuf would have sent.
#include "engine/message.h"

#include <cstdint>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <google/protobuf/util/message_differencer.h>

#include "gtest/gtest.h"

namespace keel {
namespace {

using google::protobuf::util::MessageDifferencer;

Envelope RandomAppend(std::mt19937_64& prng) {
  Envelope envelope;
  nodepb::Envelope& header = envelope.header;
  // Fields at 0 are not written at all: cover both, and the varint edges.
  auto field = [&prng] {
    switch (prng() % 4) {
      case 0: return uint64_t{0};
      case 1: return std::numeric_limits<uint64_t>::max();
      default: return prng() >> (prng() % 64);
    }
  };
  header.set_cluster_id(field());
  header.set_from(field());
  header.set_to(field());
  envelope.raft.emplace();
  MessageHeader& raft = envelope.raft->header;
  raft.set_type(raftpb::MSG_APPEND);
  raft.set_from(header.from());
  raft.set_to(header.to());
  raft.set_term(field());
  raft.set_index(field());
  raft.set_log_term(field());
  raft.set_commit(field());
  if (prng() % 8 == 0) raft.set_context(std::string(prng() % 200, 'c'));
  // Encode writes a snapshot chunk's bytes itself (no copy): cover them too.
  if (prng() % 8 == 1) raft.set_snapshot_data(std::string(prng() % 300, 'd'));
  const size_t entries = prng() % 5 == 0 ? 0 : prng() % 40;
  for (size_t i = 0; i < entries; ++i) {
    std::string data(prng() % 3 == 0 ? 0 : prng() % 400, 'a');
    for (char& c : data) c = static_cast<char>(prng());
    envelope.raft->entries.emplace_back(field(), field(), static_cast<raftpb::EntryType>(prng() % 3),
                                        std::move(data));
  }
  return envelope;
}

void ExpectEncodesAsProtobuf(const Envelope& envelope) {
  const nodepb::Envelope proto = ToProto(envelope);
  const std::string encoded = Encode(envelope);
  nodepb::Envelope parsed;
  ASSERT_TRUE(parsed.ParseFromString(encoded));
  ASSERT_TRUE(MessageDifferencer::Equals(parsed, proto)) << parsed.DebugString() << "\nvs\n" << proto.DebugString();
  // Same length as protobuf's own serialization: only the order of fields may differ.
  ASSERT_EQ(encoded.size(), proto.ByteSizeLong());
  absl::StatusOr<Envelope> decoded = DecodeEnvelope(encoded);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ASSERT_FALSE(decoded->header.has_raft()) << "the raft body must move out of the protobuf header";
  ASSERT_TRUE(decoded->raft.has_value());
  ASSERT_EQ(decoded->raft->entries, envelope.raft->entries);
  ASSERT_TRUE(MessageDifferencer::Equals(ToProto(*decoded), proto));
}

TEST(MessageTest, AnEncodedAppendParsesAsTheProtobufEnvelope) {
  std::mt19937_64 prng(11);
  for (int i = 0; i < 500; ++i) ExpectEncodesAsProtobuf(RandomAppend(prng));
}

TEST(MessageTest, EnvelopesWithoutEntriesEncodeAsProtobufDoes) {
  Envelope proxy;
  proxy.header.set_cluster_id(3);
  proxy.header.set_from(1);
  proxy.header.set_to(2);
  proxy.header.mutable_proxy_request()->set_proxy_id(77);
  proxy.header.mutable_proxy_request()->mutable_request()->set_command("w:x");
  EXPECT_EQ(Encode(proxy), proxy.header.SerializeAsString());
  Envelope heartbeat;
  heartbeat.header.set_from(1);
  heartbeat.raft.emplace();
  heartbeat.raft->header.set_type(raftpb::MSG_HEARTBEAT);
  EXPECT_EQ(Encode(heartbeat), ToProto(heartbeat).SerializeAsString());
}

TEST(MessageTest, AHeaderWithUnknownFieldsStillEncodesEverything) {
  // A peer of a later version may add envelope fields; this version keeps them when it
  // re-encodes (the slow path), rather than dropping bytes.
  nodepb::Envelope newer;
  newer.set_from(2);
  newer.set_to(1);
  newer.mutable_raft()->set_type(raftpb::MSG_APPEND);
  *newer.mutable_raft()->add_entries() = ToProto(Entry(1, 1, raftpb::ENTRY_NORMAL, "payload"));
  std::string bytes = newer.SerializeAsString();
  bytes.push_back(static_cast<char>((15 << 3) | 0));  // field 15, varint: unknown to this version
  bytes.push_back(42);
  absl::StatusOr<Envelope> decoded = DecodeEnvelope(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ASSERT_TRUE(decoded->raft.has_value());
  ASSERT_EQ(decoded->raft->entries.size(), 1u);
  nodepb::Envelope reparsed;
  ASSERT_TRUE(reparsed.ParseFromString(Encode(*decoded)));
  EXPECT_EQ(reparsed.raft().entries(0).data(), "payload");
  EXPECT_EQ(reparsed.GetReflection()->GetUnknownFields(reparsed).field_count(), 1);
}

TEST(MessageTest, EncodeKnowsEveryFieldOfTheEnvelope) {
  // Encode writes an envelope with a raft body field by field (engine/message.cc). A field
  // added to Envelope, or renumbered, must be added there too: otherwise appends would be sent
  // without it.
  std::set<int> numbers;
  const google::protobuf::Descriptor* envelope = nodepb::Envelope::descriptor();
  for (int i = 0; i < envelope->field_count(); ++i) numbers.insert(envelope->field(i)->number());
  EXPECT_EQ(numbers, (std::set<int>{1, 2, 3, 10, 11, 12})) << "update Encode in engine/message.cc";
  EXPECT_EQ(raftpb::Message::descriptor()->FindFieldByName("entries")->number(), 7);
}

TEST(MessageTest, TheHeaderKeepsEveryFieldOfTheProtobufMessage) {
  // MessageHeader mirrors raftpb::Message field by field (engine/message_header.h). A field
  // added to the proto but not to the header (or to one of the conversions) would be dropped
  // on every send: set every field but the entries to a value other than its default and
  // convert both ways.
  raftpb::Message proto;
  const google::protobuf::Descriptor* descriptor = raftpb::Message::descriptor();
  const google::protobuf::Reflection* reflection = proto.GetReflection();
  int fields = 0;
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const google::protobuf::FieldDescriptor* field = descriptor->field(i);
    if (field->name() == "entries") continue;
    ++fields;
    const uint64_t value = 1000 + static_cast<uint64_t>(field->number());
    switch (field->cpp_type()) {
      case google::protobuf::FieldDescriptor::CPPTYPE_UINT64: reflection->SetUInt64(&proto, field, value); break;
      case google::protobuf::FieldDescriptor::CPPTYPE_BOOL: reflection->SetBool(&proto, field, true); break;
      // An out-of-range value: proto3 enums are open, and the header must keep it (Step rejects it).
      case google::protobuf::FieldDescriptor::CPPTYPE_ENUM: reflection->SetEnumValue(&proto, field, 99); break;
      case google::protobuf::FieldDescriptor::CPPTYPE_STRING:
        reflection->SetString(&proto, field, std::string(field->number(), 's'));
        break;
      case google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE: {
        raftpb::SnapshotMeta* meta = proto.mutable_snapshot();
        ASSERT_EQ(field->message_type(), raftpb::SnapshotMeta::descriptor()) << field->name();
        meta->set_index(7);
        meta->set_crc32c(9);
        meta->mutable_conf_state()->add_voters(3);
        break;
      }
      default:
        FAIL() << "field " << field->name() << " has a type this test (and MessageHeader) does not handle";
    }
  }
  EXPECT_EQ(fields, 17) << "a field was added to raftpb::Message: add it to MessageHeader and its conversions";
  const raftpb::Message copy = proto;
  Message message = FromProto(std::move(proto));
  EXPECT_TRUE(MessageDifferencer::Equals(ToProto(message), copy)) << ToProto(message).DebugString();
  // And a header at its defaults converts to the empty message.
  EXPECT_EQ(ToProto(Message()).ByteSizeLong(), 0u);
}

TEST(MessageTest, GarbageDoesNotDecode) {
  EXPECT_FALSE(DecodeEnvelope("\xff\xff\xff").ok());
  EXPECT_FALSE(DecodeEnvelope(std::string("\x52\x05\x01", 3)).ok());  // raft body cut short
}

TEST(MessageTest, ConversionsMoveOrShareThePayloads) {
  raftpb::Message proto;
  proto.set_type(raftpb::MSG_APPEND);
  *proto.add_entries() = ToProto(Entry(2, 5, raftpb::ENTRY_NORMAL, std::string(100, 'p')));
  const std::string* bytes = &proto.entries(0).data();
  const char* buffer = bytes->data();
  Message message = FromProto(std::move(proto));
  ASSERT_EQ(message.entries.size(), 1u);
  EXPECT_EQ(message.entries[0].data().data(), buffer) << "the rvalue conversion moves the bytes";
  const Message copy = message;
  EXPECT_EQ(&copy.entries[0].data(), &message.entries[0].data()) << "copies share the payload";
  const raftpb::Message back = ToProto(copy);
  ASSERT_EQ(back.entries_size(), 1);
  EXPECT_EQ(back.entries(0).index(), 5u);
  EXPECT_EQ(back.entries(0).data(), std::string(100, 'p'));
}

}  // namespace
}  // namespace keel
