// The options keelctl and keel-bench share: --endpoints, a comma-separated list of client
// endpoints checked at parse time with the client library's own parser, and how to
// authenticate (--key-file and --server-keys for CURVE, or --insecure).
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "net/client.h"

namespace keel::tools {

inline void AddEndpointsOption(CLI::App& app, std::string& endpoints) {
  app.add_option("--endpoints", endpoints, "comma-separated client endpoints, tcp://host:port or host:port")
      ->capture_default_str()
      ->check(CLI::Validator(
          [](std::string& text) -> std::string {
            absl::StatusOr<std::vector<std::string>> parsed = client::ParseEndpoints(text);
            return parsed.ok() ? "" : std::string(parsed.status().message());
          },
          ""));
}

struct SecurityFlags {
  std::string key_file;
  std::string server_keys;
  bool insecure = false;
};

inline void AddSecurityOptions(CLI::App& app, SecurityFlags& flags) {
  app.add_option("--key-file", flags.key_file, "this client's CURVE key pair (keel keygen --out NAME: NAME.key)");
  app.add_option("--server-keys", flags.server_keys,
                 "the nodes' client-port public keys: a file of host:port=<key> lines, or one <key> for all");
  app.add_flag("--insecure", flags.insecure, "speak plaintext (only to nodes started with --insecure)");
}

// Sets options.curve from the flags. InvalidArgument for a missing or unreadable key, or for
// keys together with --insecure.
inline absl::Status ApplySecurity(const SecurityFlags& flags, client::ClientOptions& options) {
  if (flags.insecure) {
    if (!flags.key_file.empty() || !flags.server_keys.empty()) {
      return absl::InvalidArgumentError("--insecure contradicts --key-file/--server-keys");
    }
    options.curve.reset();
    return absl::OkStatus();
  }
  if (flags.key_file.empty() || flags.server_keys.empty()) {
    return absl::InvalidArgumentError(
        "keel nodes authenticate clients with CURVE: give --key-file and --server-keys (or --insecure)");
  }
  absl::StatusOr<client::ClientOptions::Curve> curve = client::LoadClientCurve(flags.key_file, flags.server_keys);
  if (!curve.ok()) return curve.status();
  options.curve = *std::move(curve);
  return absl::OkStatus();
}

}  // namespace keel::tools
