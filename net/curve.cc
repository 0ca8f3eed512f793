#include "net/curve.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "zmq.h"

namespace keel::net {
namespace {

constexpr size_t kZ85KeyChars = 40;
constexpr size_t kBinaryKeyBytes = 32;

}  // namespace

bool IsCurveKey(const std::string& z85) {
  if (z85.size() != kZ85KeyChars) return false;
  uint8_t binary[kBinaryKeyBytes];
  return zmq_z85_decode(binary, z85.c_str()) != nullptr;
}

namespace {

// The lines of a text file with comments and surrounding blanks removed; keeps line numbers.
absl::StatusOr<std::vector<std::pair<int, std::string>>> ReadLines(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path, ": ", std::strerror(errno)));
  std::vector<std::pair<int, std::string>> lines;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    std::string text(absl::StripAsciiWhitespace(line));
    // Z85's alphabet has '#' (and '='), so only a whole line is a comment, and never a line
    // that is a key by itself.
    if (text.empty() || (text[0] == '#' && !IsCurveKey(text))) continue;
    lines.emplace_back(number, std::move(text));
  }
  return lines;
}

absl::Status BadLine(const std::string& path, int line, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat(path, ":", line, ": ", why));
}

absl::Status WriteFile(const std::string& path, const std::string& text, mode_t mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return absl::FailedPreconditionError(absl::StrCat("cannot create ", path, ": ", std::strerror(errno)));
  const ssize_t written = ::write(fd, text.data(), text.size());
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (written != static_cast<ssize_t>(text.size()) || !synced) {
    return absl::DataLossError(absl::StrCat("cannot write ", path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace

std::string CurveKeyToZ85(const std::string& binary) {
  if (binary.size() != kBinaryKeyBytes) return "";
  char text[kZ85KeyChars + 1];
  if (zmq_z85_encode(text, reinterpret_cast<const uint8_t*>(binary.data()), kBinaryKeyBytes) == nullptr) return "";
  return std::string(text, kZ85KeyChars);
}

absl::StatusOr<CurveKeyPair> GenerateCurveKeyPair() {
  char public_key[kZ85KeyChars + 1];
  char secret_key[kZ85KeyChars + 1];
  if (zmq_curve_keypair(public_key, secret_key) != 0) {
    return absl::UnavailableError(absl::StrCat("cannot make a CURVE key pair: ", zmq_strerror(zmq_errno())));
  }
  return CurveKeyPair{public_key, secret_key};
}

absl::Status WriteCurveKeyPair(const std::string& out, const CurveKeyPair& pair) {
  if (absl::Status s = WriteFile(absl::StrCat(out, ".key"),
                                 absl::StrCat("# keel CURVE key pair. Keep this file private.\npublic=",
                                              pair.public_key, "\nsecret=", pair.secret_key, "\n"),
                                 0600);
      !s.ok()) {
    return s;
  }
  return WriteFile(absl::StrCat(out, ".pub"), absl::StrCat(pair.public_key, "\n"), 0644);
}

absl::StatusOr<CurveKeyPair> ReadCurveKeyPair(const std::string& path) {
  absl::StatusOr<std::vector<std::pair<int, std::string>>> lines = ReadLines(path);
  if (!lines.ok()) return lines.status();
  CurveKeyPair pair;
  for (const auto& [number, text] : *lines) {
    const size_t eq = text.find('=');
    const std::string name = eq == std::string::npos ? "" : std::string(absl::StripAsciiWhitespace(text.substr(0, eq)));
    const std::string key =
        eq == std::string::npos ? text : std::string(absl::StripAsciiWhitespace(text.substr(eq + 1)));
    if (name != "public" && name != "secret") return BadLine(path, number, "expected public=<key> or secret=<key>");
    if (!IsCurveKey(key)) return BadLine(path, number, "not a 40-character Z85 CURVE key");
    (name == "public" ? pair.public_key : pair.secret_key) = key;
  }
  if (pair.public_key.empty() || pair.secret_key.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": needs both public= and secret= (a key pair file from `keel keygen`)"));
  }
  char derived[kZ85KeyChars + 1];
  if (zmq_curve_public(derived, pair.secret_key.c_str()) != 0 || pair.public_key != derived) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": the public key is not the secret key's"));
  }
  return pair;
}

absl::StatusOr<std::vector<NamedKey>> ReadCurveKeyList(const std::string& path) {
  absl::StatusOr<std::vector<std::pair<int, std::string>>> lines = ReadLines(path);
  if (!lines.ok()) return lines.status();
  std::vector<NamedKey> keys;
  std::set<std::string> names;
  std::set<std::string> seen_keys;
  for (const auto& [number, text] : *lines) {
    // Z85's alphabet has '=': the key is the last 40 characters, a name the part before '='.
    NamedKey entry;
    if (text.size() > kZ85KeyChars && text[text.size() - kZ85KeyChars - 1] == '=') {
      entry.name = std::string(absl::StripAsciiWhitespace(text.substr(0, text.size() - kZ85KeyChars - 1)));
      entry.key = text.substr(text.size() - kZ85KeyChars);
    } else {
      entry.key = text;
    }
    if (!IsCurveKey(entry.key)) return BadLine(path, number, "not a 40-character Z85 CURVE key ([name=]<key>)");
    if (!entry.name.empty() && !names.insert(entry.name).second) {
      return BadLine(path, number, absl::StrCat("'", entry.name, "' listed twice"));
    }
    if (!seen_keys.insert(entry.key).second) return BadLine(path, number, "key listed twice");
    keys.push_back(std::move(entry));
  }
  if (keys.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": no keys"));
  return keys;
}

}  // namespace keel::net
