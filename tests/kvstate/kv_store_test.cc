// README "KV": put/get/delete/cas/list through KvState, with versions = log indexes.
#include <string>

#include "gtest/gtest.h"
#include "tests/kvstate/kv_test_util.h"

namespace keel::kvstate::testing {
namespace {

class KvStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { driver_.Register(); }
  Driver driver_;
};

TEST_F(KvStoreTest, PutThenGetReturnsValueAndIndexAsVersion) {
  const Index put_index = driver_.next_index();
  const kvpb::Result put = driver_.Do(PutCmd("g/b/k", "v1"));
  ASSERT_EQ(put.code(), kvpb::CODE_OK);
  EXPECT_EQ(put.version(), put_index);

  const kvpb::Result get = driver_.Apply(GetCmd("g/b/k"));
  ASSERT_EQ(get.code(), kvpb::CODE_OK);
  EXPECT_EQ(get.value(), "v1");
  EXPECT_EQ(get.version(), put_index);

  const Index overwrite_index = driver_.next_index();
  EXPECT_EQ(driver_.Do(PutCmd("g/b/k", "v2")).version(), overwrite_index);
  const kvpb::Result again = driver_.Apply(GetCmd("g/b/k"));
  EXPECT_EQ(again.value(), "v2");
  EXPECT_EQ(again.version(), overwrite_index);
}

TEST_F(KvStoreTest, GetMissingIsNotFound) {
  EXPECT_EQ(driver_.Apply(GetCmd("g/b/missing")).code(), kvpb::CODE_NOT_FOUND);
}

TEST_F(KvStoreTest, EmptyValueIsAValue) {
  ASSERT_EQ(driver_.Do(PutCmd("g/b/k", "")).code(), kvpb::CODE_OK);
  const kvpb::Result get = driver_.Apply(GetCmd("g/b/k"));
  EXPECT_EQ(get.code(), kvpb::CODE_OK);
  EXPECT_EQ(get.value(), "");
}

TEST_F(KvStoreTest, DeleteReturnsRemovedVersionThenNotFound) {
  const Index put_index = driver_.next_index();
  driver_.Do(PutCmd("g/b/k", "v"));
  const kvpb::Result deleted = driver_.Do(DeleteCmd("g/b/k"));
  ASSERT_EQ(deleted.code(), kvpb::CODE_OK);
  EXPECT_EQ(deleted.version(), put_index);
  EXPECT_EQ(driver_.Apply(GetCmd("g/b/k")).code(), kvpb::CODE_NOT_FOUND);
  EXPECT_EQ(driver_.Do(DeleteCmd("g/b/k")).code(), kvpb::CODE_NOT_FOUND);
}

TEST_F(KvStoreTest, CasOnAbsentKeyNeedsExpectedZero) {
  const kvpb::Result mismatch = driver_.Do(CasCmd("g/b/k", 7, "v"));
  EXPECT_EQ(mismatch.code(), kvpb::CODE_VERSION_MISMATCH);
  EXPECT_EQ(mismatch.version(), 0u);
  EXPECT_EQ(driver_.Apply(GetCmd("g/b/k")).code(), kvpb::CODE_NOT_FOUND);

  const Index cas_index = driver_.next_index();
  const kvpb::Result created = driver_.Do(CasCmd("g/b/k", 0, "v"));
  ASSERT_EQ(created.code(), kvpb::CODE_OK);
  EXPECT_EQ(created.version(), cas_index);
}

TEST_F(KvStoreTest, CasComparesVersions) {
  const Index put_index = driver_.next_index();
  driver_.Do(PutCmd("g/b/k", "v1"));

  const kvpb::Result stale = driver_.Do(CasCmd("g/b/k", put_index + 100, "x"));
  EXPECT_EQ(stale.code(), kvpb::CODE_VERSION_MISMATCH);
  EXPECT_EQ(stale.version(), put_index) << "a mismatch reports the current version";
  const kvpb::Result expect_absent = driver_.Do(CasCmd("g/b/k", 0, "x"));
  EXPECT_EQ(expect_absent.code(), kvpb::CODE_VERSION_MISMATCH);
  EXPECT_EQ(driver_.Apply(GetCmd("g/b/k")).value(), "v1") << "a failed CAS changes nothing";

  const Index cas_index = driver_.next_index();
  const kvpb::Result ok = driver_.Do(CasCmd("g/b/k", put_index, "v2"));
  ASSERT_EQ(ok.code(), kvpb::CODE_OK);
  EXPECT_EQ(ok.version(), cas_index);
  const kvpb::Result get = driver_.Apply(GetCmd("g/b/k"));
  EXPECT_EQ(get.value(), "v2");
  EXPECT_EQ(get.version(), cas_index);
}

TEST_F(KvStoreTest, ListIsByteOrderedAndPrefixed) {
  for (const char* key : {"g/b/b", "g/b/a", "g/c/a", "g/b/c", "h/b/a", "g/bb/a"}) driver_.Do(PutCmd(key, key));
  const kvpb::Result list = driver_.Apply(ListCmd("g/b/"));
  ASSERT_EQ(list.code(), kvpb::CODE_OK);
  ASSERT_EQ(list.entries_size(), 3);
  EXPECT_EQ(list.entries(0).key(), "g/b/a");
  EXPECT_EQ(list.entries(1).key(), "g/b/b");
  EXPECT_EQ(list.entries(2).key(), "g/b/c");
  EXPECT_EQ(list.entries(1).value(), "g/b/b");
  EXPECT_GT(list.entries(1).version(), 0u);
  EXPECT_FALSE(list.truncated());

  const kvpb::Result all = driver_.Apply(ListCmd(""));
  ASSERT_EQ(all.entries_size(), 6);
  EXPECT_EQ(all.entries(3).key(), "g/bb/a");  // '/' (0x2f) sorts before 'b'
  EXPECT_EQ(all.entries(5).key(), "h/b/a");

  EXPECT_EQ(driver_.Apply(ListCmd("zzz")).entries_size(), 0);
}

TEST_F(KvStoreTest, ListTruncatesAtLimit) {
  for (int i = 0; i < 5; ++i) driver_.Do(PutCmd("g/b/k" + std::to_string(i), "v"));
  const kvpb::Result two = driver_.Apply(ListCmd("g/b/", 2));
  ASSERT_EQ(two.entries_size(), 2);
  EXPECT_EQ(two.entries(1).key(), "g/b/k1");
  EXPECT_TRUE(two.truncated());

  const kvpb::Result exact = driver_.Apply(ListCmd("g/b/", 5));
  EXPECT_EQ(exact.entries_size(), 5);
  EXPECT_FALSE(exact.truncated()) << "exactly limit matches is not truncated";
}

TEST_F(KvStoreTest, ListLimitDefaultsTo100AndCapsAt1000) {
  for (int i = 0; i < 1001; ++i) {
    driver_.Do(PutCmd("g/b/k" + std::string(4 - std::to_string(i).size(), '0') + std::to_string(i), "v"));
  }
  const kvpb::Result by_default = driver_.Apply(ListCmd("g/", 0));
  EXPECT_EQ(by_default.entries_size(), 100);
  EXPECT_TRUE(by_default.truncated());
  const kvpb::Result capped = driver_.Apply(ListCmd("g/", 5000));
  EXPECT_EQ(capped.entries_size(), 1000);
  EXPECT_TRUE(capped.truncated());
  EXPECT_EQ(capped.entries(999).key(), "g/b/k0999");
}

TEST_F(KvStoreTest, ValidationFailuresChangeNothing) {
  driver_.Do(PutCmd("g/b/k", "v"));
  const kvpb::StateSnapshot before = driver_.DecodedSnapshot();
  const std::string big(64 * 1024 + 1, 'x');
  for (const kvpb::Command& bad : {PutCmd("g/b", "v"), PutCmd("g/b/k", big), CasCmd("g/b/k/x", 0, "v"),
                                   CasCmd("g/b/k", 0, big), DeleteCmd("g//k"), PutCmd("", "v")}) {
    EXPECT_EQ(driver_.Do(bad).code(), kvpb::CODE_INVALID_ARGUMENT) << bad.DebugString();
  }
  EXPECT_EQ(driver_.Apply(GetCmd("")).code(), kvpb::CODE_INVALID_ARGUMENT);
  EXPECT_EQ(driver_.Apply(ListCmd(std::string(513, 'g'))).code(), kvpb::CODE_INVALID_ARGUMENT);
  const kvpb::StateSnapshot after = driver_.DecodedSnapshot();
  ASSERT_EQ(after.kv_size(), 1);
  EXPECT_EQ(after.kv(0).SerializeAsString(), before.kv(0).SerializeAsString());
}

// README: version has explicit presence, set (even to 0) exactly when the result names it.
TEST_F(KvStoreTest, VersionPresence) {
  const kvpb::Result absent_cas = driver_.Do(CasCmd("g/b/k", 5, "v"));
  ASSERT_EQ(absent_cas.code(), kvpb::CODE_VERSION_MISMATCH);
  EXPECT_TRUE(absent_cas.has_version()) << "version 0 (absent) is an answer";
  EXPECT_EQ(absent_cas.version(), 0u);
  EXPECT_FALSE(driver_.Apply(GetCmd("g/b/k")).has_version()) << "NOT_FOUND names no version";
  EXPECT_FALSE(driver_.Do(DeleteCmd("g/b/k")).has_version());
  EXPECT_FALSE(driver_.Do(PutCmd("bad", "v")).has_version());
  EXPECT_TRUE(driver_.Do(PutCmd("g/b/k", "v")).has_version());
  EXPECT_TRUE(driver_.Apply(GetCmd("g/b/k")).has_version());
  EXPECT_TRUE(driver_.Do(DeleteCmd("g/b/k")).has_version());
  EXPECT_FALSE(driver_.Apply(ListCmd("")).has_version());
}

TEST_F(KvStoreTest, LimitsAreInclusive) {
  EXPECT_EQ(driver_.Apply(ListCmd(std::string(512, 'g'))).code(), kvpb::CODE_OK);
  EXPECT_EQ(driver_.Do(PutCmd("g/b/k", std::string(64 * 1024, 'x'))).code(), kvpb::CODE_OK);
  EXPECT_EQ(driver_.Apply(GetCmd("g/b/k")).value().size(), 64u * 1024);
}

}  // namespace
}  // namespace keel::kvstate::testing
