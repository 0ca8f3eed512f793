// The EDN parser: every value kind a Jepsen history line may hold, escapes, errors with their
// column, and ToEdn/Parse round trips (RapidCheck).
#include "gtest/gtest.h"
// clang-format off: rapidcheck's gtest glue needs gtest first.
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>
// clang-format on
#include "sim/checker/edn.h"

namespace keel::edn {
namespace {

Value MustParse(absl::string_view text) {
  absl::StatusOr<Value> value = Parse(text);
  EXPECT_TRUE(value.ok()) << text << ": " << value.status();
  return value.ok() ? *value : Value();
}

std::string ErrorOf(absl::string_view text) {
  absl::StatusOr<Value> value = Parse(text);
  EXPECT_FALSE(value.ok()) << text << " parsed as " << (value.ok() ? ToEdn(*value) : "");
  return value.ok() ? "" : std::string(value.status().message());
}

TEST(EdnParse, Scalars) {
  EXPECT_TRUE(MustParse("nil").is_nil());
  EXPECT_EQ(MustParse("true").kind, Kind::kBool);
  EXPECT_TRUE(MustParse("true").boolean);
  EXPECT_FALSE(MustParse("false").boolean);
  EXPECT_EQ(MustParse("42").integer, 42);
  EXPECT_EQ(MustParse("-7").integer, -7);
  EXPECT_EQ(MustParse("+7").integer, 7);
  EXPECT_EQ(MustParse("12N").integer, 12);
  EXPECT_EQ(MustParse("9223372036854775807").integer, INT64_MAX);
  EXPECT_EQ(MustParse("-9223372036854775808").integer, INT64_MIN);
  EXPECT_EQ(MustParse("1.5").kind, Kind::kFloat);
  EXPECT_DOUBLE_EQ(MustParse("-2.5e3").floating, -2500.0);
  EXPECT_TRUE(MustParse(":read").is_keyword("read"));
  EXPECT_TRUE(MustParse(":jepsen.history/op").is_keyword("jepsen.history/op"));
  EXPECT_EQ(MustParse("foo/bar").kind, Kind::kSymbol);
  EXPECT_EQ(MustParse("-").kind, Kind::kSymbol);
}

TEST(EdnParse, StringEscapes) {
  EXPECT_EQ(MustParse(R"("plain")").text, "plain");
  EXPECT_EQ(MustParse(R"("a\"b\\c\nd\te\rf")").text, "a\"b\\c\nd\te\rf");
  EXPECT_EQ(MustParse(R"("\u00e9")").text, "\xc3\xa9");
  EXPECT_EQ(MustParse(R"("\u20AC")").text, "\xe2\x82\xac");
  EXPECT_EQ(MustParse(R"("\ud83d\ude00")").text, "\xf0\x9f\x98\x80");
  EXPECT_EQ(MustParse(R"("with, comma")").text, "with, comma");
  EXPECT_EQ(MustParse(R"("")").text, "");
}

TEST(EdnParse, Collections) {
  const Value vector = MustParse("[3 0]");
  ASSERT_EQ(vector.kind, Kind::kVector);
  ASSERT_EQ(vector.items.size(), 2u);
  EXPECT_EQ(vector.items[0].integer, 3);
  EXPECT_EQ(vector.items[1].integer, 0);
  EXPECT_EQ(MustParse("(1 2 3)").kind, Kind::kList);
  EXPECT_EQ(MustParse("#{1 2}").kind, Kind::kSet);
  EXPECT_EQ(MustParse("[]").items.size(), 0u);

  const Value map = MustParse(R"({:process 0, :type :invoke, :f :cas, :value [nil 2], :key "k"})");
  ASSERT_EQ(map.kind, Kind::kMap);
  ASSERT_NE(map.Find("process"), nullptr);
  EXPECT_EQ(map.Find("process")->integer, 0);
  EXPECT_TRUE(map.Find("type")->is_keyword("invoke"));
  EXPECT_TRUE(map.Find("value")->items[0].is_nil());
  EXPECT_EQ(map.Find("key")->text, "k");
  EXPECT_EQ(map.Find("time"), nullptr);
  EXPECT_EQ(MustParse("{\"s\" {:nested [1 {:x nil}]}}").items.size(), 2u);
}

TEST(EdnParse, CommasCommentsTagsAndDiscards) {
  EXPECT_EQ(MustParse("  ,[1,,2,] ; trailing comment").items.size(), 2u);
  const Value tagged = MustParse("#jepsen.history.Op{:index 3, :process 1}");
  EXPECT_EQ(tagged.kind, Kind::kMap);
  EXPECT_EQ(tagged.Find("index")->integer, 3);
  EXPECT_EQ(MustParse("[1 #_ 2 3]").items.size(), 2u);
  EXPECT_EQ(MustParse("#_ :gone 5").integer, 5);
}

TEST(EdnParse, ErrorsNameTheColumnAndReason) {
  EXPECT_EQ(ErrorOf(""), "column 1: expected a value, found the end of the line");
  EXPECT_EQ(ErrorOf("   ; only a comment"),
            "column 20: expected a value, found the end of the line");
  EXPECT_EQ(ErrorOf(R"({:f "abc)"), "column 5: unterminated string");
  EXPECT_EQ(ErrorOf("[1 2"), "column 1: ']' missing");
  EXPECT_EQ(ErrorOf("{:a 1 :b}"), "column 1: map has a key without a value");
  EXPECT_EQ(ErrorOf("{:a 1 :a 2}"), "column 1: map has the key :a twice");
  EXPECT_EQ(ErrorOf("[1 2]]"), "column 6: unexpected text after the value");
  EXPECT_EQ(ErrorOf("1 2"), "column 3: unexpected text after the value");
  EXPECT_EQ(ErrorOf("]"), "column 1: unmatched ']'");
  EXPECT_EQ(ErrorOf(R"("bad \q escape")"), "column 6: unknown escape '\\q' in string");
  EXPECT_EQ(ErrorOf(R"("\u12")"), "column 2: \\u needs four hex digits");
  EXPECT_EQ(ErrorOf(R"("\ud83d")"), "column 2: unpaired UTF-16 surrogate in \\u escape");
  EXPECT_EQ(ErrorOf("99999999999999999999"),
            "column 1: integer '99999999999999999999' does not fit in 64 bits");
  EXPECT_EQ(ErrorOf("12abc"), "column 1: malformed number '12abc'");
  EXPECT_EQ(ErrorOf("1e999"), "column 1: number '1e999' out of range");
  EXPECT_EQ(ErrorOf(":"), "column 1: keyword without a name");
  EXPECT_EQ(ErrorOf("\\a"), "column 1: character literals are not supported");
  EXPECT_EQ(ErrorOf("@x"), "column 1: unexpected character '@'");
  EXPECT_EQ(ErrorOf("# 1"), "column 1: '#' must start a set '#{', a discard '#_' or a tag '#name'");
  EXPECT_EQ(ErrorOf("[1 #_]"), "column 6: unmatched ']'");
}

TEST(EdnParse, DeepNestingIsAnErrorNotACrash) {
  EXPECT_EQ(ErrorOf(std::string(100000, '[')), "column 65: values nested more than 64 deep");
  std::string tags;
  for (int i = 0; i < 100000; ++i) tags += "#t ";
  EXPECT_EQ(ErrorOf(tags + "1"), "column 193: values nested more than 64 deep");
  std::string discards;
  for (int i = 0; i < 100000; ++i) discards += "#_ ";
  EXPECT_FALSE(Parse(discards + "1").ok());
  EXPECT_TRUE(Parse(std::string(60, '[') + std::string(60, ']')).ok());
}

TEST(EdnToEdn, IsCanonical) {
  EXPECT_EQ(ToEdn(MustParse("{:process 0 ,:value [3 0], :s \"a\\\"b\"}")),
            "{:process 0, :value [3 0], :s \"a\\\"b\"}");
  EXPECT_EQ(ToEdn(MustParse("1.0")), "1.0");
  EXPECT_EQ(ToEdn(MustParse("#{1 (2 nil)}")), "#{1 (2 nil)}");
  EXPECT_EQ(ToEdn(Value::String(std::string("\x01", 1))), "\"\\u0001\"");
}

// Random values: ToEdn then Parse gives the value back.
rc::Gen<Value> GenAnyValue(int depth) {
  auto leaf = rc::gen::oneOf(
      rc::gen::just(Value::Nil()),
      rc::gen::map(rc::gen::arbitrary<int64_t>(), [](int64_t v) { return Value::Integer(v); }),
      rc::gen::map(rc::gen::arbitrary<std::string>(),
                   [](std::string s) { return Value::String(std::move(s)); }),
      rc::gen::map(rc::gen::elementOf(std::vector<std::string>{"read", "a.b/c", "x-y?", "ok"}),
                   [](std::string s) { return Value::Keyword(std::move(s)); }),
      rc::gen::map(rc::gen::inRange(-100000, 100000), [](int n) {
        Value v;
        v.kind = Kind::kFloat;
        v.floating = n / 64.0;
        return v;
      }));
  if (depth == 0) return leaf;
  auto child = GenAnyValue(depth - 1);
  return rc::gen::oneOf(
      leaf,
      rc::gen::map(rc::gen::container<std::vector<Value>>(child),
                   [](std::vector<Value> items) { return Value::Vector(std::move(items)); }),
      rc::gen::map(rc::gen::mapcat(rc::gen::inRange<size_t>(0, 4),
                                   [child](size_t count) {
                                     return rc::gen::container<std::vector<Value>>(count, child);
                                   }),
                   [](std::vector<Value> values) {
                     // Distinct keyword keys, so the map is valid EDN.
                     Value map;
                     map.kind = Kind::kMap;
                     for (size_t i = 0; i < values.size(); ++i) {
                       map.items.push_back(Value::Keyword("k" + std::to_string(i)));
                       map.items.push_back(std::move(values[i]));
                     }
                     return map;
                   }));
}

RC_GTEST_PROP(EdnRoundTrip, ParseOfToEdnIsIdentity, ()) {
  const Value value = *GenAnyValue(2);
  const std::string text = ToEdn(value);
  absl::StatusOr<Value> parsed = Parse(text);
  RC_ASSERT(parsed.ok());
  RC_ASSERT(*parsed == value);
  RC_ASSERT(ToEdn(*parsed) == text);
}

RC_GTEST_PROP(EdnRobustness, ArbitraryBytesNeverCrash, ()) {
  const std::string text = *rc::gen::arbitrary<std::string>();
  absl::StatusOr<Value> parsed = Parse(text);
  if (parsed.ok()) RC_ASSERT(Parse(ToEdn(*parsed)).ok());
}

}  // namespace
}  // namespace keel::edn
