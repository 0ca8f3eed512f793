// keel::Entry, the in-memory log entry: its encoding must be byte-for-byte protobuf's (the WAL
// writes it, recovery and older readers parse it as raftpb::Entry), and its shared payload must
// keep value semantics.
#include "engine/entry.h"

#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace keel {
namespace {

std::vector<Entry> EdgeEntries() {
  const uint64_t max = std::numeric_limits<uint64_t>::max();
  std::vector<Entry> out;
  out.emplace_back();  // every field at its default: encodes to nothing
  out.emplace_back(1, 1, raftpb::ENTRY_NORMAL, "x");
  out.emplace_back(0, 7, raftpb::ENTRY_NOOP, "");
  out.emplace_back(127, 128, raftpb::ENTRY_CONF_CHANGE, std::string(127, 'c'));
  out.emplace_back(128, 16383, raftpb::ENTRY_NORMAL, std::string(128, 'd'));
  out.emplace_back(max, max, raftpb::ENTRY_NORMAL, std::string(70000, '\0'));
  return out;
}

TEST(EntryTest, EncodingIsProtobufs) {
  std::vector<Entry> entries = EdgeEntries();
  std::mt19937_64 prng(7);
  for (int i = 0; i < 2000; ++i) {
    const int shift = static_cast<int>(prng() % 64);
    std::string data(prng() % 300, 'a');
    for (char& c : data) c = static_cast<char>(prng());
    entries.emplace_back(prng() >> shift, prng() >> (63 - shift), static_cast<raftpb::EntryType>(prng() % 3),
                         std::move(data));
  }
  for (const Entry& entry : entries) {
    const raftpb::Entry proto = ToProto(entry);
    std::string encoded = "prefix";
    AppendEncoded(entry, &encoded);
    ASSERT_EQ(encoded, "prefix" + proto.SerializeAsString()) << entry.index();
    ASSERT_EQ(EncodedSize(entry), proto.ByteSizeLong());
    raftpb::Entry parsed;
    ASSERT_TRUE(parsed.ParseFromString(encoded.substr(6)));
    ASSERT_EQ(FromProto(parsed), entry);
  }
}

TEST(EntryTest, CopiesShareThePayloadButNotChanges) {
  Entry a(3, 9, raftpb::ENTRY_NORMAL, "payload");
  const Entry b = a;
  EXPECT_EQ(&a.data(), &b.data());  // shared, not copied
  a.set_data("other");
  a.set_term(4);
  EXPECT_EQ(b.data(), "payload");
  EXPECT_EQ(b.term(), 3u);
  EXPECT_NE(a, b);
  a.set_data("payload");
  a.set_term(3);
  EXPECT_EQ(a, b);  // equal bytes, different buffers
  a.set_data("");
  EXPECT_EQ(a.data(), "");
  EXPECT_NE(a, b);
}

TEST(EntryTest, FromProtoMovesThePayload) {
  raftpb::Entry proto;
  proto.set_term(2);
  proto.set_index(5);
  proto.set_type(raftpb::ENTRY_CONF_CHANGE);
  proto.set_data(std::string(1000, 'p'));
  const char* bytes = proto.data().data();
  const Entry copied = FromProto(proto);
  EXPECT_NE(copied.data().data(), bytes);
  const Entry moved = FromProto(std::move(proto));
  EXPECT_EQ(moved.data().data(), bytes);
  EXPECT_EQ(moved, copied);
  EXPECT_EQ(moved.type(), raftpb::ENTRY_CONF_CHANGE);
  EXPECT_EQ(moved.index(), 5u);
}

}  // namespace
}  // namespace keel
