// The production Clock: std::chrono::steady_clock (monotonic; never jumps with wall time).
#pragma once

#include <chrono>

#include "engine/env.h"

namespace keel::net {

class SteadyClock final : public Clock {
 public:
  int64_t NowNanos() const override {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
};

}  // namespace keel::net
