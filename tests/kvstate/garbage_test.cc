// README step 1 and DESIGN "Bad input anywhere": any bytes given to Apply get a Result, never
// a crash, and bytes that are not a Command with an op change nothing.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kvstate/ring_hash.h"
#include "tests/kvstate/kv_test_util.h"

namespace keel::kvstate::testing {
namespace {

// Everything but the applied index, which every entry moves.
std::string StateWithoutIndex(const Driver& driver) {
  kvpb::StateSnapshot snapshot = driver.DecodedSnapshot();
  snapshot.clear_applied_index();
  return snapshot.SerializeAsString();
}

TEST(GarbageTest, NonCommandsAreInvalidArgumentAndChangeNothing) {
  Driver driver;
  driver.Register();
  driver.Do(PutCmd("g/b/k", "v"));
  const std::string before = StateWithoutIndex(driver);
  const std::vector<std::string> garbage = {
      std::string(),                    // empty: parses, but no op
      std::string("\xff", 1),           // a truncated varint tag
      std::string("\x0a\x05" "ab", 4),  // a length past the end
      std::string("\xa2\x01\x03\x0a\x01", 5),  // kv_put (field 20) cut short
      std::string("\x00\x00\x00", 3),   // field number 0
      "hello world, this is not a protobuf",
      std::string(1000, '\x80'),        // an endless varint
  };
  for (const std::string& bytes : garbage) {
    const kvpb::Result result = driver.ApplyBytes(bytes);
    EXPECT_EQ(result.code(), kvpb::CODE_INVALID_ARGUMENT) << ::testing::PrintToString(bytes);
    EXPECT_FALSE(result.error().empty());
    EXPECT_EQ(StateWithoutIndex(driver), before);
  }
}

TEST(GarbageTest, InvalidUtf8InAStringFieldIsRefused) {
  Driver driver;
  const uint64_t session = driver.Register();
  kvpb::Command command = PutCmd("g/b/k", "v");
  command.set_session(session);
  command.set_sequence(1);
  std::string bytes = command.SerializeAsString();
  const size_t at = bytes.find("g/b/k");
  ASSERT_NE(at, std::string::npos);
  bytes[at + 4] = '\xff';  // proto3 strings must be UTF-8: this no longer parses
  EXPECT_EQ(driver.ApplyBytes(bytes).code(), kvpb::CODE_INVALID_ARGUMENT);
  EXPECT_EQ(driver.Apply(GetCmd("g/b/k")).code(), kvpb::CODE_NOT_FOUND);
}

TEST(GarbageTest, RandomBytesNeverCrash) {
  Driver driver;
  driver.Register();
  driver.Do(PoolCreateCmd("g/p", 3));
  driver.Do(LbCreateCmd("lb", kvpb::POLICY_CONSISTENT_HASH, 4));
  driver.Do(SetBackendCmd("lb", "a"));
  uint64_t state = 99;
  int invalid = 0;
  for (int i = 0; i < 5000; ++i) {
    std::string bytes;
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    const size_t length = (state >> 56) % 40;
    for (size_t j = 0; j < length; ++j) {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      bytes.push_back(static_cast<char>(state >> 56));
    }
    const kvpb::Result result = driver.ApplyBytes(bytes);
    ASSERT_NE(result.code(), kvpb::CODE_UNSPECIFIED);
    if (result.code() == kvpb::CODE_INVALID_ARGUMENT) ++invalid;
  }
  EXPECT_GT(invalid, 4000) << "almost all random bytes are refused";
}

// Every command that names something refuses a bad name with INVALID_ARGUMENT, cached like any
// other result, and changes nothing.
TEST(GarbageTest, BadNamesInEveryCommand) {
  Driver driver;
  driver.Register();
  driver.Do(PoolCreateCmd("g/p", 3));
  driver.Do(LbCreateCmd("lb", kvpb::POLICY_ROUND_ROBIN));
  driver.Do(SetBackendCmd("lb", "a"));
  const std::string before = StateWithoutIndex(driver);
  const std::string long_member(129, 'm');
  const std::vector<kvpb::Command> mutations = {
      PutCmd("k", "v"), DeleteCmd("a/b"), CasCmd("a/b/c/d", 0, "v"),
      PoolCreateCmd("p", 1), AcquireCmd("g/p/x", "o"), AcquireCmd("g/p", long_member), ReleaseCmd("/p", 0, "o"),
      ResizeCmd("g/", 1), LbCreateCmd("a/b", kvpb::POLICY_ROUND_ROBIN), SetBackendCmd("lb", long_member),
      RemoveBackendCmd("", "a"), MarkCmd("lb", "", false), PickCmd("l/b"), DoneCmd("lb", long_member),
  };
  for (const kvpb::Command& command : mutations) {
    EXPECT_EQ(driver.Do(command).code(), kvpb::CODE_INVALID_ARGUMENT) << command.DebugString();
  }
  for (const kvpb::Command& command : {GetCmd("g/b/"), PoolStatsCmd("gp"), LbStatsCmd("l/")}) {
    EXPECT_EQ(driver.Apply(command).code(), kvpb::CODE_INVALID_ARGUMENT) << command.DebugString();
  }
  kvpb::StateSnapshot after = driver.DecodedSnapshot();
  kvpb::StateSnapshot expected;
  ASSERT_TRUE(expected.ParseFromString(before));
  // Only the session moved: its cache holds the last refusal (earlier ones were acknowledged).
  after.clear_applied_index();
  after.clear_sessions();
  expected.clear_sessions();
  EXPECT_EQ(after.SerializeAsString(), expected.SerializeAsString());
}

TEST(RingHashTest, IsFnv1aThenSplitmixFinaliser) {
  // FNV-1a 64 of "" and "a" are published constants; the finaliser is applied by hand here.
  const auto finalise = [](uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  };
  EXPECT_EQ(RingHash(""), finalise(0xcbf29ce484222325ull));
  EXPECT_EQ(RingHash("a"), finalise(0xaf63dc4c8601ec8cull));
  EXPECT_EQ(RingHash("foobar"), finalise(0x85944171f73967e8ull));
  EXPECT_EQ(RingHash(std::string("\xff", 1)), finalise((0xcbf29ce484222325ull ^ 0xff) * 0x100000001b3ull))
      << "bytes are unsigned";
}

}  // namespace
}  // namespace keel::kvstate::testing
