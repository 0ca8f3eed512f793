// Assertions that stay on in every build type (TigerBeetle style): a broken invariant stops the
// process with the expression and location instead of corrupting replicated state.
// Use KEEL_ASSERT for internal invariants and preconditions between keel's own components;
// input from outside (peers, clients, disk) must be validated and answered with an error instead.
#pragma once

namespace keel::detail {
[[noreturn]] void AssertFail(const char* expr, const char* file, int line, const char* message);
}  // namespace keel::detail

#define KEEL_ASSERT(cond)                                                    \
  do {                                                                       \
    if (!(cond)) [[unlikely]]                                                \
      ::keel::detail::AssertFail(#cond, __FILE__, __LINE__, nullptr);        \
  } while (0)

#define KEEL_ASSERT_MSG(cond, msg)                                           \
  do {                                                                       \
    if (!(cond)) [[unlikely]]                                                \
      ::keel::detail::AssertFail(#cond, __FILE__, __LINE__, (msg));          \
  } while (0)
