// Fuzz target: keel-check's input path. Arbitrary bytes are parsed as an EDN history; a
// parsed history is checked against every model with a step budget. Nothing may crash:
// bad input must come back as an error status, and the search must stop within its budget.
#include <cstddef>
#include <cstdint>
#include <string>

#include "sim/checker/history.h"
#include "sim/checker/models.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<keel::checker::History> history = keel::checker::ParseHistory(text);
  if (!history.ok()) return 0;
  keel::checker::CheckOptions options;
  options.max_steps = 20000;
  for (const keel::checker::ModelInfo& model : keel::checker::Models()) {
    (void)model.check(*history, options);  // an input error for this model is fine
  }
  return 0;
}
