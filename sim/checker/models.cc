#include "sim/checker/models.h"

#include "sim/checker/kv_model.h"
#include "sim/checker/kvstate_model.h"
#include "sim/checker/register_model.h"
#include "sim/checker/typed_check.h"

namespace keel::checker {
namespace {

absl::StatusOr<CheckResult> CheckRegister(const History& history, const CheckOptions& options) {
  return CheckHistory(RegisterModel(/*with_cas=*/false), history, options);
}

absl::StatusOr<CheckResult> CheckCasRegister(const History& history, const CheckOptions& options) {
  return CheckHistory(RegisterModel(/*with_cas=*/true), history, options);
}

absl::StatusOr<CheckResult> CheckKv(const History& history, const CheckOptions& options) {
  return CheckHistory(KvModel(), history, options);
}

absl::StatusOr<CheckResult> CheckPools(const History& history, const CheckOptions& options) {
  return CheckHistory(KvstateModel(KvstateModel::Objects::kPools), history, options);
}

absl::StatusOr<CheckResult> CheckLoadBalancers(const History& history, const CheckOptions& options) {
  return CheckHistory(KvstateModel(KvstateModel::Objects::kLoadBalancers), history, options);
}

absl::StatusOr<CheckResult> CheckKvstate(const History& history, const CheckOptions& options) {
  return CheckHistory(KvstateModel(KvstateModel::Objects::kAll), history, options);
}

}  // namespace

const std::vector<ModelInfo>& Models() {
  static const std::vector<ModelInfo> models = {
      {"register", "one integer register, nil at first: :read (result in :ok :value), :write v",
       &CheckRegister},
      {"cas-register",
       "register plus :cas [old new] (an :ok cas succeeded; a mismatch completes :fail)",
       &CheckCasRegister},
      {"kv", "string values per :key, \"\" at first: :get, :put v, :append v (checked key by key)",
       &CheckKv},
      {"pool",
       "keel connection pools: :pool-create, :pool-acquire, :pool-release, :pool-resize, "
       ":pool-stats; :value is the kv.proto command as a map, the :ok :value its Result "
       "(checked pool by pool)",
       &CheckPools},
      {"lb",
       "keel load balancers: :lb-create, :lb-set-backend, :lb-remove-backend, :lb-mark, "
       ":lb-pick, :lb-done, :lb-stats (checked group by group)",
       &CheckLoadBalancers},
      {"kvstate",
       "everything keel-sim records: the pool and lb operations plus :kv-get, :kv-put, "
       ":kv-delete, :kv-cas, :kv-list (KV checked block by block)",
       &CheckKvstate},
  };
  return models;
}

const ModelInfo* FindModel(absl::string_view name) {
  for (const ModelInfo& model : Models()) {
    if (model.name == name) return &model;
  }
  return nullptr;
}

}  // namespace keel::checker
