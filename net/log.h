// keel's operator log: one line per event on stderr, through spdlog (Debian's libspdlog-dev),
// as text ("<utc time> <level> <message>") or, with --log-format=json, one JSON object per
// line: {"time","level","node","event","msg"}. Only the production node and tools log: the
// engine reports through counters and the node driver, and the server turns those into events.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace keel::net {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

struct LogOptions {
  bool json = false;
  LogLevel level = LogLevel::kInfo;
  uint64_t node = 0;  // named in every JSON line (0: not yet known)
};

// Parses --log-format (text, json) and --log-level (debug, info, warn, error) into `options`;
// InvalidArgument naming the flag otherwise.
absl::Status ParseLogFlags(const std::string& format, const std::string& level, LogOptions* options);

// Sets up the log. Until called, events go out as text at info level.
void InitLogging(const LogOptions& options);

// Logs one event. `event` is a short snake_case name machines can match (role_change,
// refused, storage_failed, ...); `message` is for people. Thread-safe.
void LogEvent(LogLevel level, std::string_view event, const std::string& message);

// `text` as the inside of a JSON string (quotes, backslashes and control bytes escaped).
std::string JsonEscape(std::string_view text);

}  // namespace keel::net
