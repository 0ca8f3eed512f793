// keelctl's shared pieces: exit codes, global options, output helpers and the connection, for
// the command files (keelctl.cc: KV, pools, load balancers; keelctl_admin.cc: cluster status,
// leadership and membership).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <google/protobuf/message.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "net/client.h"
#include "tools/cli_endpoints.h"

namespace keel::keelctl {

// Exit status (scripts rely on these; keep kExitCodesHelp in keelctl.cc in step).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitUnavailable = 3;
inline constexpr int kExitUnknown = 4;
inline constexpr int kExitOther = 5;

// Options shared by every command.
struct Globals {
  std::string endpoints = "tcp://127.0.0.1:7101";
  std::string output = "text";
  double timeout_seconds = 10;
  tools::SecurityFlags security;
  std::optional<client::ClientOptions::Curve> curve;  // from `security`, checked before any command
  bool json() const { return output == "json"; }
};

// Every command's action, run if its subcommand was parsed.
using Actions = std::vector<std::pair<CLI::App*, std::function<int()>>>;

// `text` as a JSON string literal.
std::string JsonQuote(absl::string_view text);
// `message` as proto3 JSON with the .proto field names; all fields if `every_field`.
std::string ToJson(const google::protobuf::Message& message, bool every_field);
// Rows padded to their columns' widths, two spaces apart.
void PrintTable(const std::vector<std::vector<std::string>>& rows);
// The exit code of a status the cluster gave instead of an answer.
int ExitCodeFor(const absl::Status& status);
// Reports an error status (the cluster gave no answer to the command) and returns its exit code.
int ReportStatus(const Globals& globals, const absl::Status& status, absl::string_view what);
// A client for the global options' endpoints, timeout and keys.
absl::StatusOr<std::unique_ptr<client::Client>> Connect(const Globals& globals, int64_t session_timeout_nanos = 0);

// so the text is rewritten in canonical form before CLI11 converts it.
template <typename T>
CLI::Validator Unsigned() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        T value = 0;
        if (text.empty() || text[0] == '-' || !absl::SimpleAtoi(text, &value)) {
          return absl::StrCat("'", text, "' is not a non-negative integer up to ",
                              std::numeric_limits<T>::max());
        }
        text = absl::StrCat(value);
        return "";
      },
      "");
}

// keelctl_admin.cc: `cluster status`, `leader transfer` and `member ...`.
struct AdminArgs {
  uint64_t target = 0;  // leader transfer, member add/add-learner/promote/remove
  std::string raft_address, public_key_file;
};
void AddAdminCommands(CLI::App& app, const Globals& globals, AdminArgs& args, Actions& actions);

}  // namespace keel::keelctl
