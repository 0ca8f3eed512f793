// GoogleTest assertions for absl::Status and absl::StatusOr, printing the status on failure.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gtest/gtest.h"

namespace keel::testing {

inline absl::Status StatusOf(const absl::Status& status) { return status; }
template <typename T>
absl::Status StatusOf(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

inline ::testing::AssertionResult IsOk(const absl::Status& status) {
  if (status.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << status;
}

inline ::testing::AssertionResult HasCode(const absl::Status& status, absl::StatusCode code) {
  if (status.code() == code) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "expected " << absl::StatusCodeToString(code) << ", got " << status;
}

}  // namespace keel::testing

// Each takes an absl::Status or absl::StatusOr and accepts a streamed message.
#define ASSERT_OK(expr) ASSERT_TRUE(::keel::testing::IsOk(::keel::testing::StatusOf(expr)))
#define EXPECT_OK(expr) EXPECT_TRUE(::keel::testing::IsOk(::keel::testing::StatusOf(expr)))
#define EXPECT_CODE(expr, expected_code) \
  EXPECT_TRUE(::keel::testing::HasCode(::keel::testing::StatusOf(expr), (expected_code)))
