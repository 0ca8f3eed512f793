// kv.proto's name and value rules (kvstate/names.h), and that the state machine answers a
// bad name with INVALID_ARGUMENT for every command that takes one.
#include "kvstate/names.h"

#include <string>

#include "gtest/gtest.h"

namespace keel::kvstate {
namespace {

TEST(NamesTest, Keys) {
  EXPECT_TRUE(IsKey("g/b/k"));
  EXPECT_TRUE(IsKey("group/block/some key with spaces"));
  EXPECT_TRUE(IsKey("g/b/" + std::string(508, 'k')));   // exactly 512 bytes
  EXPECT_FALSE(IsKey("g/b/" + std::string(509, 'k')));  // 513
  EXPECT_FALSE(IsKey(""));
  EXPECT_FALSE(IsKey("g/b"));
  EXPECT_FALSE(IsKey("g/b/k/x"));
  EXPECT_FALSE(IsKey("/b/k"));
  EXPECT_FALSE(IsKey("g//k"));
  EXPECT_FALSE(IsKey("g/b/"));
  EXPECT_FALSE(IsKey("g/b/k/"));
  EXPECT_FALSE(IsKey("//"));
}

TEST(NamesTest, PoolNames) {
  EXPECT_TRUE(IsPoolName("g/b"));
  EXPECT_TRUE(IsPoolName("g/" + std::string(254, 'b')));   // 256
  EXPECT_FALSE(IsPoolName("g/" + std::string(255, 'b')));  // 257
  EXPECT_FALSE(IsPoolName("g"));
  EXPECT_FALSE(IsPoolName("g/b/c"));
  EXPECT_FALSE(IsPoolName("g/"));
  EXPECT_FALSE(IsPoolName("/b"));
  EXPECT_FALSE(IsPoolName("/"));
  EXPECT_FALSE(IsPoolName(""));
}

TEST(NamesTest, GroupNames) {
  EXPECT_TRUE(IsGroupName("g"));
  EXPECT_TRUE(IsGroupName(std::string(128, 'g')));
  EXPECT_FALSE(IsGroupName(std::string(129, 'g')));
  EXPECT_FALSE(IsGroupName(""));
  EXPECT_FALSE(IsGroupName("g/b"));
  EXPECT_FALSE(IsGroupName("/"));
}

TEST(NamesTest, MemberNamesAreAnyOneTo128Bytes) {
  EXPECT_TRUE(IsMemberName("a"));
  EXPECT_TRUE(IsMemberName("a/b/c"));  // backends and owners may contain '/'
  EXPECT_TRUE(IsMemberName(std::string(128, 'x')));
  EXPECT_FALSE(IsMemberName(std::string(129, 'x')));
  EXPECT_FALSE(IsMemberName(""));
}

TEST(NamesTest, Values) {
  EXPECT_TRUE(IsValue(""));
  EXPECT_TRUE(IsValue(std::string(64 * 1024, 'v')));
  EXPECT_FALSE(IsValue(std::string(64 * 1024 + 1, 'v')));
}

}  // namespace
}  // namespace keel::kvstate
