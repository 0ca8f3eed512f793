// Building kvpb::Result values: every object answers with these so that codes and the
// "fields not named for a command are left unset" rule (kv.proto) are applied one way.
#pragma once

#include <string>

#include "absl/strings/string_view.h"
#include "kvstate/kv.pb.h"

namespace keel::kvstate {

// A result with code OK and nothing else set.
inline kvpb::Result OkResult() {
  kvpb::Result result;
  result.set_code(kvpb::CODE_OK);
  return result;
}

// A failed result. `error` is for people only (tests ignore it), but it must be deterministic:
// it is cached with the result and ends up in snapshots.
inline kvpb::Result ErrorResult(kvpb::Code code, absl::string_view error) {
  kvpb::Result result;
  result.set_code(code);
  result.set_error(std::string(error));
  return result;
}

inline kvpb::Result InvalidArgument(absl::string_view error) {
  return ErrorResult(kvpb::CODE_INVALID_ARGUMENT, error);
}

}  // namespace keel::kvstate
