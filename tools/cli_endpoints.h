// The --endpoints option keelctl and keel-bench share: a comma-separated list of client
// endpoints, checked at parse time with the client library's own parser.
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

}  // namespace keel::tools
