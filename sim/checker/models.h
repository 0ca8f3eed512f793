// The models keel-check knows, by name. A new model (pool, lb, kvstate) is a SequentialModel
// class (model.h) plus one entry in models.cc.
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "sim/checker/check.h"
#include "sim/checker/history.h"

namespace keel::checker {

struct ModelInfo {
  absl::string_view name;     // what --model takes, e.g. "cas-register"
  absl::string_view summary;  // the operations it understands, for --help
  // CheckHistory with this model (typed_check.h).
  absl::StatusOr<CheckResult> (*check)(const History& history, const CheckOptions& options);
};

// Every registered model, in the order --help lists them.
const std::vector<ModelInfo>& Models();

// The model called `name`, or nullptr.
const ModelInfo* FindModel(absl::string_view name);

}  // namespace keel::checker
