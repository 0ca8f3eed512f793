// EDN values and a parser for the subset that Jepsen-style histories use.
//
// keel-check reads histories that other systems wrote, so the parser accepts everything a
// history line may plausibly hold (nil, booleans, integers, floats, strings with escapes,
// keywords, symbols, vectors, lists, sets, maps, tagged elements such as
// `#jepsen.history.Op{...}`, `#_` discards and `;` comments), even in keys the checker ignores,
// and rejects everything else with the column and the reason. It never crashes on bad input.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace keel::edn {

enum class Kind : uint8_t {
  kNil,
  kBool,
  kInteger,
  kFloat,
  kString,
  kKeyword,
  kSymbol,
  kVector,
  kList,
  kSet,
  kMap,
};

// One EDN value. A plain struct: histories are small per line, and the checker copies out what
// it needs before the line's value is dropped.
struct Value {
  Kind kind = Kind::kNil;
  bool boolean = false;
  int64_t integer = 0;
  double floating = 0;
  // The contents of a string, or the name of a keyword (without ':') or symbol.
  std::string text;
  // Elements of a vector, list or set in the order written; for a map, keys and values
  // alternate (key0, value0, key1, value1, ...) in the order written.
  std::vector<Value> items;

  static Value Nil() { return Value{}; }
  static Value Integer(int64_t v);
  static Value String(std::string s);
  static Value Keyword(std::string name);
  static Value Vector(std::vector<Value> elements);

  bool is_nil() const { return kind == Kind::kNil; }
  bool is_integer() const { return kind == Kind::kInteger; }
  bool is_string() const { return kind == Kind::kString; }
  bool is_keyword() const { return kind == Kind::kKeyword; }
  bool is_keyword(absl::string_view name) const { return kind == Kind::kKeyword && text == name; }

  // For a map: the value stored under keyword `name`, or nullptr if absent (or not a map).
  const Value* Find(absl::string_view keyword) const;
};

// Structural equality: same kind and same contents (maps and sets compare in written order,
// which is all the checker needs: it compares values that came from the same writer).
bool operator==(const Value& a, const Value& b);

// The value written back as EDN, canonically: single spaces between elements, ", " between
// map entries, strings escaped. Parse(ToEdn(v)) == v for every value Parse returns.
std::string ToEdn(const Value& value);

// Appends `s` in double quotes with \" \\ \n \t \r and \uNNNN (other control characters)
// escaped: valid as both an EDN and a JSON string literal.
void AppendQuotedString(std::string& out, absl::string_view s);

// Parses exactly one EDN value from `text`; whitespace, commas and comments may surround it.
// Errors are InvalidArgument and start with "column N: " (1-based, in bytes) so that the
// caller can prefix a line number. Nesting deeper than 64 levels is rejected rather than
// recursing without bound.
absl::StatusOr<Value> Parse(absl::string_view text);

}  // namespace keel::edn
