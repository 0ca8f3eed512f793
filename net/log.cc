#include "net/log.h"

#include <memory>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "spdlog/pattern_formatter.h"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"

namespace keel::net {
namespace {

std::mutex g_mu;
LogOptions g_options;
std::shared_ptr<spdlog::logger> g_logger;

spdlog::level::level_enum ToSpdlog(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return spdlog::level::debug;
    case LogLevel::kInfo: return spdlog::level::info;
    case LogLevel::kWarn: return spdlog::level::warn;
    case LogLevel::kError: return spdlog::level::err;
  }
  return spdlog::level::info;
}

// Precondition: g_mu held.
void SetUpLocked(const LogOptions& options) {
  g_options = options;
  if (g_logger == nullptr) {
    g_logger = std::make_shared<spdlog::logger>("keel", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  }
  // The JSON payload is built by LogEvent (escaped there); spdlog adds time and level.
  const char* pattern = options.json ? R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l",%v})"
                                     : "%Y-%m-%dT%H:%M:%S.%eZ %l %v";
  g_logger->set_formatter(std::make_unique<spdlog::pattern_formatter>(pattern, spdlog::pattern_time_type::utc));
  g_logger->set_level(ToSpdlog(options.level));
  // Every line reaches the file at once: a node killed with SIGKILL must leave its last words.
  g_logger->flush_on(spdlog::level::trace);
}

}  // namespace

absl::Status ParseLogFlags(const std::string& format, const std::string& level, LogOptions* options) {
  if (format == "text" || format == "json") {
    options->json = format == "json";
  } else {
    return absl::InvalidArgumentError(absl::StrCat("--log-format must be text or json, not '", format, "'"));
  }
  if (level == "debug") options->level = LogLevel::kDebug;
  else if (level == "info") options->level = LogLevel::kInfo;
  else if (level == "warn") options->level = LogLevel::kWarn;
  else if (level == "error") options->level = LogLevel::kError;
  else return absl::InvalidArgumentError(absl::StrCat("--log-level must be debug, info, warn or error, not '", level, "'"));
  return absl::OkStatus();
}

void InitLogging(const LogOptions& options) {
  std::lock_guard<std::mutex> lock(g_mu);
  SetUpLocked(options);
}

std::string JsonEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += absl::StrFormat("\\u%04x", c);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  return out;
}

void LogEvent(LogLevel level, std::string_view event, const std::string& message) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_logger == nullptr) SetUpLocked(LogOptions{});
  if (!g_options.json) {
    g_logger->log(ToSpdlog(level), "{}", message);
    return;
  }
  g_logger->log(ToSpdlog(level), "\"node\":{},\"event\":\"{}\",\"msg\":\"{}\"", g_options.node, JsonEscape(event),
                JsonEscape(message));
}

}  // namespace keel::net
