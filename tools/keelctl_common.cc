// keelctl's shared pieces (keelctl.h).
#include <algorithm>
#include <iostream>

#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_format.h"
#include "tools/keelctl.h"

namespace keel::keelctl {

std::string JsonQuote(absl::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      absl::StrAppend(&out, "\\", std::string(1, c));
    } else if (byte < 0x20) {
      absl::StrAppend(&out, absl::StrFormat("\\u%04x", byte));
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
  return out;
}

std::string ToJson(const google::protobuf::Message& message, bool every_field) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = every_field;
  std::string out;
  if (!google::protobuf::util::MessageToJsonString(message, &out, options).ok()) return "null";
  return out;
}

// Rows padded to their columns' widths, two spaces apart.
void PrintTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()), 0);
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      absl::StrAppend(&line, row[i]);
      if (i + 1 < row.size()) line.append(widths[i] - row[i].size() + 2, ' ');
    }
    std::cout << line << "\n";
  }
}

int ExitCodeFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return kExitOk;
    case absl::StatusCode::kUnavailable:
      return kExitUnavailable;
    case absl::StatusCode::kDeadlineExceeded:
      return kExitUnknown;
    default:
      return kExitOther;
  }
}

// Reports an error status (the cluster gave no answer to the command) and returns its exit code.
int ReportStatus(const Globals& globals, const absl::Status& status, absl::string_view what) {
  const std::string name = absl::StatusCodeToString(status.code());
  if (globals.json()) {
    std::cout << "{\"error\":{\"status\":" << JsonQuote(name)
              << ",\"message\":" << JsonQuote(absl::StrCat(what, ": ", status.message())) << "}}\n";
  } else {
    std::cerr << "keelctl: " << what << ": " << name << ": " << status.message() << "\n";
  }
  return ExitCodeFor(status);
}

absl::StatusOr<std::unique_ptr<client::Client>> Connect(const Globals& globals,
                                                        int64_t session_timeout_nanos) {
  absl::StatusOr<std::vector<std::string>> endpoints = client::ParseEndpoints(globals.endpoints);
  if (!endpoints.ok()) return endpoints.status();
  client::ClientOptions options;
  options.endpoints = *std::move(endpoints);
  options.call_timeout_nanos = static_cast<int64_t>(globals.timeout_seconds * 1e9);
  options.attempt_timeout_nanos =
      std::min(options.attempt_timeout_nanos, options.call_timeout_nanos);
  if (session_timeout_nanos > 0) options.session_timeout_nanos = session_timeout_nanos;
  options.curve = globals.curve;
  return client::Client::Create(options);
}

}  // namespace keel::keelctl
