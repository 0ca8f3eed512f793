#include "engine/assert.h"

#include <cstdio>
#include <cstdlib>

namespace keel::detail {

void AssertFail(const char* expr, const char* file, int line, const char* message) {
  std::fprintf(stderr, "keel: assertion failed: %s at %s:%d%s%s\n", expr, file, line,
               message ? ": " : "", message ? message : "");
  std::fflush(stderr);
  std::abort();
}

}  // namespace keel::detail
