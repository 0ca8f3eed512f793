#include "sim/checker/edn.h"

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace keel::edn {

Value Value::Integer(int64_t v) {
  Value value;
  value.kind = Kind::kInteger;
  value.integer = v;
  return value;
}

Value Value::String(std::string s) {
  Value value;
  value.kind = Kind::kString;
  value.text = std::move(s);
  return value;
}

Value Value::Keyword(std::string name) {
  Value value;
  value.kind = Kind::kKeyword;
  value.text = std::move(name);
  return value;
}

Value Value::Vector(std::vector<Value> elements) {
  Value value;
  value.kind = Kind::kVector;
  value.items = std::move(elements);
  return value;
}

const Value* Value::Find(absl::string_view keyword) const {
  if (kind != Kind::kMap) return nullptr;
  for (size_t i = 0; i + 1 < items.size(); i += 2) {
    if (items[i].is_keyword(keyword)) return &items[i + 1];
  }
  return nullptr;
}

bool operator==(const Value& a, const Value& b) {
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Kind::kNil:
      return true;
    case Kind::kBool:
      return a.boolean == b.boolean;
    case Kind::kInteger:
      return a.integer == b.integer;
    case Kind::kFloat:
      return a.floating == b.floating;
    case Kind::kString:
    case Kind::kKeyword:
    case Kind::kSymbol:
      return a.text == b.text;
    case Kind::kVector:
    case Kind::kList:
    case Kind::kSet:
    case Kind::kMap:
      return a.items == b.items;
  }
  return false;
}

namespace {

void AppendEdn(std::string& out, const Value& value) {
  switch (value.kind) {
    case Kind::kNil:
      out += "nil";
      return;
    case Kind::kBool:
      out += value.boolean ? "true" : "false";
      return;
    case Kind::kInteger:
      absl::StrAppend(&out, value.integer);
      return;
    case Kind::kFloat: {
      std::string text = absl::StrFormat("%.17g", value.floating);
      // Keep it a float when read back.
      if (text.find_first_of(".eE") == std::string::npos) text += ".0";
      out += text;
      return;
    }
    case Kind::kString:
      AppendQuotedString(out, value.text);
      return;
    case Kind::kKeyword:
      absl::StrAppend(&out, ":", value.text);
      return;
    case Kind::kSymbol:
      out += value.text;
      return;
    case Kind::kVector:
    case Kind::kList:
    case Kind::kSet: {
      out += value.kind == Kind::kVector ? "[" : value.kind == Kind::kList ? "(" : "#{";
      for (size_t i = 0; i < value.items.size(); ++i) {
        if (i > 0) out.push_back(' ');
        AppendEdn(out, value.items[i]);
      }
      out += value.kind == Kind::kVector ? "]" : value.kind == Kind::kList ? ")" : "}";
      return;
    }
    case Kind::kMap: {
      out.push_back('{');
      for (size_t i = 0; i + 1 < value.items.size(); i += 2) {
        if (i > 0) out += ", ";
        AppendEdn(out, value.items[i]);
        out.push_back(' ');
        AppendEdn(out, value.items[i + 1]);
      }
      out.push_back('}');
      return;
    }
  }
}

bool IsWhitespace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',' || c == '\f' || c == '\v';
}

bool IsDigit(char c) {
  return c >= '0' && c <= '9';
}

// Characters that may continue a symbol, keyword or number token.
bool IsTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || IsDigit(c)) return true;
  switch (c) {
    case '.':
    case '*':
    case '+':
    case '!':
    case '-':
    case '_':
    case '?':
    case '$':
    case '%':
    case '&':
    case '=':
    case '<':
    case '>':
    case '/':
    case ':':
    case '#':
    case '\'':
      return true;
    default:
      return false;
  }
}

void AppendUtf8(std::string& out, uint32_t code_point) {
  if (code_point < 0x80) {
    out.push_back(static_cast<char>(code_point));
  } else if (code_point < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (code_point >> 6)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else if (code_point < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (code_point >> 12)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (code_point >> 18)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  }
}

class Parser {
 public:
  explicit Parser(absl::string_view text) : text_(text) {}

  absl::StatusOr<Value> ParseDocument() {
    if (auto status = SkipIgnored(); !status.ok()) return status;
    if (AtEnd()) return Error("expected a value, found the end of the line");
    absl::StatusOr<Value> value = ParseValue();
    if (!value.ok()) return value;
    if (auto status = SkipIgnored(); !status.ok()) return status;
    if (!AtEnd()) return Error("unexpected text after the value");
    return value;
  }

 private:
  static constexpr int kMaxDepth = 64;

  bool AtEnd() const { return pos_ >= text_.size(); }
  char Peek(size_t ahead = 0) const {
    return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : '\0';
  }

  absl::Status Error(absl::string_view reason) const { return ErrorAt(pos_, reason); }
  absl::Status ErrorAt(size_t pos, absl::string_view reason) const {
    return absl::InvalidArgumentError(absl::StrCat("column ", pos + 1, ": ", reason));
  }

  // Skips whitespace (commas included), `;` comments and `#_`-discarded values.
  absl::Status SkipIgnored() {
    while (!AtEnd()) {
      const char c = Peek();
      if (IsWhitespace(c)) {
        ++pos_;
      } else if (c == ';') {
        while (!AtEnd() && Peek() != '\n') ++pos_;
      } else if (c == '#' && Peek(1) == '_') {
        pos_ += 2;
        // `#_ #_ #_ ...` recurses through here, so it counts towards the nesting limit.
        if (++depth_ > kMaxDepth) return Error("values nested more than 64 deep");
        if (auto status = SkipIgnored(); !status.ok()) return status;
        if (AtEnd()) return Error("#_ discards nothing: the line ends");
        absl::StatusOr<Value> discarded = ParseValue();
        if (!discarded.ok()) return discarded.status();
        --depth_;
      } else {
        break;
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<Value> ParseValue() {
    if (depth_ >= kMaxDepth) return Error("values nested more than 64 deep");
    const char c = Peek();
    switch (c) {
      case '[':
        return ParseSequence(Kind::kVector, ']', 1);
      case '(':
        return ParseSequence(Kind::kList, ')', 1);
      case '{':
        return ParseMap();
      case '"':
        return ParseString();
      case ':':
        return ParseKeyword();
      case '#':
        if (Peek(1) == '{') return ParseSequence(Kind::kSet, '}', 2);
        return ParseTagged();
      case '\\':
        return Error("character literals are not supported");
      case ']':
      case ')':
      case '}':
        return Error(absl::StrCat("unmatched '", std::string(1, c), "'"));
      default:
        break;
    }
    if (IsDigit(c) || ((c == '-' || c == '+') && IsDigit(Peek(1)))) return ParseNumber();
    if (IsTokenChar(c)) return ParseSymbol();
    return Error(absl::StrFormat("unexpected character '%s'", DescribeChar(c)));
  }

  static std::string DescribeChar(char c) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7F) {
      return absl::StrFormat("\\x%02x", static_cast<unsigned char>(c));
    }
    return std::string(1, c);
  }

  absl::StatusOr<Value> ParseSequence(Kind kind, char close, size_t open_width) {
    const size_t start = pos_;
    pos_ += open_width;
    ++depth_;
    Value value;
    value.kind = kind;
    while (true) {
      if (auto status = SkipIgnored(); !status.ok()) return status;
      if (AtEnd()) {
        return ErrorAt(start, absl::StrCat("'", std::string(1, close), "' missing"));
      }
      if (Peek() == close) {
        ++pos_;
        break;
      }
      absl::StatusOr<Value> element = ParseValue();
      if (!element.ok()) return element;
      value.items.push_back(*std::move(element));
    }
    --depth_;
    return value;
  }

  absl::StatusOr<Value> ParseMap() {
    const size_t start = pos_;
    absl::StatusOr<Value> value = ParseSequence(Kind::kMap, '}', 1);
    if (!value.ok()) return value;
    if (value->items.size() % 2 != 0) {
      return ErrorAt(start, "map has a key without a value");
    }
    // Duplicate keys would make ":process" or ":type" ambiguous; EDN forbids them anyway.
    for (size_t i = 0; i < value->items.size(); i += 2) {
      for (size_t j = i + 2; j < value->items.size(); j += 2) {
        if (value->items[i] == value->items[j]) {
          return ErrorAt(start, absl::StrCat("map has the key ", ToEdn(value->items[i]), " twice"));
        }
      }
    }
    return value;
  }

  absl::StatusOr<Value> ParseString() {
    const size_t start = pos_;
    ++pos_;  // opening quote
    std::string out;
    while (true) {
      if (AtEnd()) return ErrorAt(start, "unterminated string");
      const char c = text_[pos_++];
      if (c == '"') break;
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (AtEnd()) return ErrorAt(start, "unterminated string");
      const size_t escape_pos = pos_ - 1;
      const char e = text_[pos_++];
      switch (e) {
        case '"':
          out.push_back('"');
          break;
        case '\\':
          out.push_back('\\');
          break;
        case '/':
          out.push_back('/');
          break;
        case 'n':
          out.push_back('\n');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'u': {
          absl::StatusOr<uint32_t> unit = ParseHex4(escape_pos);
          if (!unit.ok()) return unit.status();
          uint32_t code_point = *unit;
          if (code_point >= 0xD800 && code_point <= 0xDBFF) {
            // A UTF-16 high surrogate must be followed by an escaped low surrogate.
            if (Peek() != '\\' || Peek(1) != 'u') {
              return ErrorAt(escape_pos, "unpaired UTF-16 surrogate in \\u escape");
            }
            pos_ += 2;
            absl::StatusOr<uint32_t> low = ParseHex4(escape_pos);
            if (!low.ok()) return low.status();
            if (*low < 0xDC00 || *low > 0xDFFF) {
              return ErrorAt(escape_pos, "unpaired UTF-16 surrogate in \\u escape");
            }
            code_point = 0x10000 + ((code_point - 0xD800) << 10) + (*low - 0xDC00);
          } else if (code_point >= 0xDC00 && code_point <= 0xDFFF) {
            return ErrorAt(escape_pos, "unpaired UTF-16 surrogate in \\u escape");
          }
          AppendUtf8(out, code_point);
          break;
        }
        default:
          return ErrorAt(escape_pos,
                         absl::StrFormat("unknown escape '\\%s' in string", DescribeChar(e)));
      }
    }
    return Value::String(std::move(out));
  }

  absl::StatusOr<uint32_t> ParseHex4(size_t escape_pos) {
    if (pos_ + 4 > text_.size()) return ErrorAt(escape_pos, "\\u needs four hex digits");
    uint32_t result = 0;
    for (int i = 0; i < 4; ++i) {
      const char h = text_[pos_++];
      uint32_t digit;
      if (IsDigit(h)) {
        digit = static_cast<uint32_t>(h - '0');
      } else if (h >= 'a' && h <= 'f') {
        digit = static_cast<uint32_t>(h - 'a' + 10);
      } else if (h >= 'A' && h <= 'F') {
        digit = static_cast<uint32_t>(h - 'A' + 10);
      } else {
        return ErrorAt(escape_pos, "\\u needs four hex digits");
      }
      result = result * 16 + digit;
    }
    return result;
  }

  absl::string_view ReadToken() {
    const size_t start = pos_;
    while (!AtEnd() && IsTokenChar(Peek())) ++pos_;
    return text_.substr(start, pos_ - start);
  }

  absl::StatusOr<Value> ParseKeyword() {
    const size_t start = pos_;
    ++pos_;
    const absl::string_view name = ReadToken();
    if (name.empty()) return ErrorAt(start, "keyword without a name");
    return Value::Keyword(std::string(name));
  }

  absl::StatusOr<Value> ParseSymbol() {
    const size_t start = pos_;
    const absl::string_view token = ReadToken();
    Value value;
    if (token == "nil") return value;
    if (token == "true" || token == "false") {
      value.kind = Kind::kBool;
      value.boolean = token == "true";
      return value;
    }
    if (token.empty()) return ErrorAt(start, "expected a value");
    value.kind = Kind::kSymbol;
    value.text = std::string(token);
    return value;
  }

  absl::StatusOr<Value> ParseTagged() {
    const size_t start = pos_;
    ++pos_;  // '#'
    if (!(std::isalpha(static_cast<unsigned char>(Peek())))) {
      return ErrorAt(start, "'#' must start a set '#{', a discard '#_' or a tag '#name'");
    }
    ReadToken();
    if (auto status = SkipIgnored(); !status.ok()) return status;
    if (AtEnd()) return ErrorAt(start, "tag without a value");
    // The tag (e.g. jepsen.history.Op) says how to build the value; the checker only needs
    // the value itself. `#a #a #a ...` recurses, so tags count towards the nesting limit.
    if (++depth_ > kMaxDepth) return Error("values nested more than 64 deep");
    absl::StatusOr<Value> value = ParseValue();
    --depth_;
    return value;
  }

  absl::StatusOr<Value> ParseNumber() {
    const size_t start = pos_;
    absl::string_view token = ReadToken();
    Value value;
    bool is_float = token.find_first_of(".eE") != absl::string_view::npos;
    if (!token.empty() && token.back() == 'N') {
      token.remove_suffix(1);
    } else if (!token.empty() && token.back() == 'M') {
      token.remove_suffix(1);
      is_float = true;
    }
    if (is_float) {
      const std::string copy(token);
      char* end = nullptr;
      errno = 0;
      const double parsed = std::strtod(copy.c_str(), &end);
      if (end != copy.c_str() + copy.size() || copy.find_first_of("xXpP") != std::string::npos) {
        return ErrorAt(start, absl::StrCat("malformed number '", token, "'"));
      }
      if (errno == ERANGE && std::isinf(parsed)) {
        return ErrorAt(start, absl::StrCat("number '", token, "' out of range"));
      }
      value.kind = Kind::kFloat;
      value.floating = parsed;
      return value;
    }
    absl::string_view digits = token;
    if (!digits.empty() && digits.front() == '+') digits.remove_prefix(1);
    int64_t parsed = 0;
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), parsed);
    if (error == std::errc::result_out_of_range) {
      return ErrorAt(start, absl::StrCat("integer '", token, "' does not fit in 64 bits"));
    }
    if (error != std::errc() || end != digits.data() + digits.size()) {
      return ErrorAt(start, absl::StrCat("malformed number '", token, "'"));
    }
    value.kind = Kind::kInteger;
    value.integer = parsed;
    return value;
  }

  absl::string_view text_;
  size_t pos_ = 0;
  int depth_ = 0;
};

}  // namespace

void AppendQuotedString(std::string& out, absl::string_view s) {
  out.push_back('"');
  for (const char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += absl::StrFormat("\\u%04x", static_cast<unsigned char>(c));
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

std::string ToEdn(const Value& value) {
  std::string out;
  AppendEdn(out, value);
  return out;
}

absl::StatusOr<Value> Parse(absl::string_view text) {
  return Parser(text).ParseDocument();
}

}  // namespace keel::edn
