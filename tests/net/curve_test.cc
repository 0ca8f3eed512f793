// Key files (net/curve.h): what `keel keygen` writes reads back; malformed files name the file
// and line; a key pair whose halves do not belong together is refused.
#include "net/curve.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace keel::net {
namespace {

using ::testing::HasSubstr;

class CurveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/keel-curve-test.XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::system(absl::StrCat("rm -rf ", dir_).c_str()); }
  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = absl::StrCat(dir_, "/", name);
    std::ofstream(path) << text;
    return path;
  }
  std::string dir_;
};

TEST_F(CurveTest, GeneratedPairWritesAndReadsBack) {
  absl::StatusOr<CurveKeyPair> pair = GenerateCurveKeyPair();
  ASSERT_TRUE(pair.ok()) << pair.status();
  EXPECT_TRUE(IsCurveKey(pair->public_key));
  EXPECT_TRUE(IsCurveKey(pair->secret_key));
  const std::string out = absl::StrCat(dir_, "/n1");
  ASSERT_TRUE(WriteCurveKeyPair(out, *pair).ok());
  struct stat info{};
  ASSERT_EQ(stat(absl::StrCat(out, ".key").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u) << "the secret key is private";
  absl::StatusOr<CurveKeyPair> read = ReadCurveKeyPair(absl::StrCat(out, ".key"));
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->public_key, pair->public_key);
  EXPECT_EQ(read->secret_key, pair->secret_key);
  absl::StatusOr<std::vector<NamedKey>> pub = ReadCurveKeyList(absl::StrCat(out, ".pub"));
  ASSERT_TRUE(pub.ok()) << pub.status();
  ASSERT_EQ(pub->size(), 1u);
  EXPECT_EQ(pub->front().key, pair->public_key);
  EXPECT_FALSE(WriteCurveKeyPair(out, *pair).ok()) << "never overwrites a key";
}

TEST_F(CurveTest, MismatchedPairIsRefused) {
  absl::StatusOr<CurveKeyPair> a = GenerateCurveKeyPair();
  absl::StatusOr<CurveKeyPair> b = GenerateCurveKeyPair();
  ASSERT_TRUE(a.ok() && b.ok());
  const std::string path = Write("mixed.key", absl::StrCat("public=", a->public_key, "\nsecret=", b->secret_key, "\n"));
  absl::StatusOr<CurveKeyPair> read = ReadCurveKeyPair(path);
  ASSERT_FALSE(read.ok());
  EXPECT_THAT(read.status().message(), HasSubstr("not the secret key's"));
  read = ReadCurveKeyPair(Write("half.key", absl::StrCat("public=", a->public_key, "\n")));
  ASSERT_FALSE(read.ok());
  EXPECT_THAT(read.status().message(), HasSubstr("needs both"));
  read = ReadCurveKeyPair(absl::StrCat(dir_, "/missing.key"));
  EXPECT_FALSE(read.ok());
}

TEST_F(CurveTest, KeyListsNameTheBadLine) {
  absl::StatusOr<CurveKeyPair> a = GenerateCurveKeyPair();
  absl::StatusOr<CurveKeyPair> b = GenerateCurveKeyPair();
  ASSERT_TRUE(a.ok() && b.ok());
  // Comments, blank lines, names with '=' in the key, unnamed keys.
  const std::string good = Write("good.keys", absl::StrCat("# members\n\n1=", a->public_key, "\n  ", b->public_key, "  \n"));
  absl::StatusOr<std::vector<NamedKey>> keys = ReadCurveKeyList(good);
  ASSERT_TRUE(keys.ok()) << keys.status();
  ASSERT_EQ(keys->size(), 2u);
  EXPECT_EQ((*keys)[0].name, "1");
  EXPECT_EQ((*keys)[0].key, a->public_key);
  EXPECT_EQ((*keys)[1].name, "");
  EXPECT_EQ((*keys)[1].key, b->public_key);

  keys = ReadCurveKeyList(Write("short.keys", absl::StrCat("1=", a->public_key, "\n2=abc\n")));
  ASSERT_FALSE(keys.ok());
  EXPECT_THAT(keys.status().message(), HasSubstr("short.keys:2"));
  keys = ReadCurveKeyList(Write("twice.keys", absl::StrCat("1=", a->public_key, "\n1=", b->public_key, "\n")));
  ASSERT_FALSE(keys.ok());
  EXPECT_THAT(keys.status().message(), HasSubstr("'1' listed twice"));
  keys = ReadCurveKeyList(Write("dup.keys", absl::StrCat("1=", a->public_key, "\n2=", a->public_key, "\n")));
  ASSERT_FALSE(keys.ok());
  EXPECT_THAT(keys.status().message(), HasSubstr("key listed twice"));
  keys = ReadCurveKeyList(Write("empty.keys", "# nobody\n"));
  ASSERT_FALSE(keys.ok());
  EXPECT_THAT(keys.status().message(), HasSubstr("no keys"));
}

TEST_F(CurveTest, KeysWithHashAndEqualsSignsParse) {
  // Z85 has '#' and '=': neither may be taken for a comment or a name separator inside a key.
  std::string key;
  for (int i = 0; i < 1000 && key.empty(); ++i) {
    absl::StatusOr<CurveKeyPair> pair = GenerateCurveKeyPair();
    ASSERT_TRUE(pair.ok());
    const std::string& k = pair->public_key;
    if (k.find('#') != std::string::npos && k.find('=') != std::string::npos) key = k;
  }
  ASSERT_FALSE(key.empty()) << "no key with both '#' and '=' in 1000 tries (about 1 in 5 expected)";
  absl::StatusOr<std::vector<NamedKey>> keys = ReadCurveKeyList(Write("hash.keys", absl::StrCat(key, "\n7=", key.substr(0, 0), "\n")));
  EXPECT_FALSE(keys.ok()) << "'7=' alone is not a key";
  keys = ReadCurveKeyList(Write("hash.pub", absl::StrCat(key, "\n")));
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_EQ(keys->front().key, key);
  EXPECT_EQ(keys->front().name, "");
  keys = ReadCurveKeyList(Write("named.keys", absl::StrCat("node-7=", key, "\n")));
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_EQ(keys->front().key, key);
  EXPECT_EQ(keys->front().name, "node-7");
}

TEST(CurveZ85, BinaryKeysConvert) {
  EXPECT_EQ(CurveKeyToZ85(std::string(31, 'x')), "");
  const std::string z85 = CurveKeyToZ85(std::string(32, '\0'));
  EXPECT_EQ(z85.size(), 40u);
  EXPECT_TRUE(IsCurveKey(z85));
  EXPECT_FALSE(IsCurveKey(z85.substr(1)));
}

}  // namespace
}  // namespace keel::net
