#include "engine/env.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace keel {

std::string JoinPath(absl::string_view dir, absl::string_view name) {
  if (dir.empty()) return std::string(name);
  if (absl::EndsWith(dir, "/")) return absl::StrCat(dir, name);
  return absl::StrCat(dir, "/", name);
}

}  // namespace keel
