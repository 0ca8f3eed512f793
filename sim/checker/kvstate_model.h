// The checker's models of keel's replicated state (kvstate/): `pool`, `lb` and `kvstate`.
//
// A history operation is one kvstate command: :f names the command (the kv.proto Command field
// with '-' for '_': :pool-acquire, :lb-pick, :kv-put, ...), the invocation's :value is that
// command as an EDN map (proto_edn.h: `{:pool "app/db", :owner "c1"}`), and an :ok
// completion's :value is the Result (`{:code :ok, :slot 0}`, `{:code :exhausted}`). Results
// such as :exhausted or :not-found are :ok completions: the command took effect and that was
// its answer. :fail means the command was never applied; :info that it may have been.
// Sessions are invisible: a retried command that the cluster deduplicated is one operation.
// The result's :error text is ignored.
//
// Objects never constrain each other, so operations are checked per object: a pool, a load
// balancer group, or a KV block (`group/block`: a kv-list's prefix must name one block).
// Pools and load balancers are stepped by kvstate/model. The KV partition cannot know log
// indexes, so it learns versions from results: an :ok put or cas fixes the key's version to
// the one returned, an indeterminate one leaves the version (or, for a cas whose outcome
// cannot be told, the whole key) unknown, and unknown parts accept any answer until the next
// write that fixes them. That keeps the model sound (it never rejects a linearizable history)
// at the price of not checking versions that nobody saw being assigned.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "kvstate/kv.pb.h"
#include "kvstate/model/models.h"
#include "sim/checker/model.h"

namespace keel::checker {

class KvstateModel {
 public:
  enum class Objects : uint8_t { kPools, kLoadBalancers, kAll };

  // One KV key in a partition's state. Keys not in the map are absent.
  struct Key {
    bool wildcard = false;  // presence, value and version all unknown
    std::string value;
    uint64_t version = 0;   // 0: unknown
    bool operator==(const Key&) const = default;
  };
  // Only the partition's object is ever non-empty.
  struct State {
    kvstate::model::PoolModel pool;
    kvstate::model::LbModel lb;
    std::map<std::string, Key> kv;
    bool operator==(const State&) const = default;
  };
  using Input = kvpb::Command;
  using Output = kvpb::Result;

  // Accepts pool commands only (kPools), load balancer commands only, or every object's.
  explicit KvstateModel(Objects objects) : objects_(objects) {}

  State Init() const { return {}; }
  absl::StatusOr<Call<KvstateModel>> Decode(const Operation& op) const;
  // Decode's checks and call for an operation whose command and result (exactly when `op` is
  // kOk) the caller holds as protos already (the simulator's workload): no EDN is read but
  // op's for error messages. Decode is this after reading the EDN.
  absl::StatusOr<Call<KvstateModel>> Decoded(const Operation& op, kvpb::Command command,
                                             std::optional<kvpb::Result> result) const;
  std::string PartitionKey(const Operation& op) const;
  std::optional<State> Step(const State& state, const Input& input,
                            const std::optional<Output>& output) const;
  uint64_t Hash(const State& state) const;
  std::string Describe(const State& state) const;

 private:
  std::optional<State> StepKv(const State& state, const Input& input,
                              const std::optional<Output>& output) const;
  Objects objects_;
};

static_assert(SequentialModel<KvstateModel>);

// The EDN :f of a command ("pool-acquire"), or "" if no op is set.
std::string CommandName(const kvpb::Command& command);

// The command's op message (what an invocation's :value holds). Precondition: an op is set.
const google::protobuf::Message& CommandBody(const kvpb::Command& command);

// True for the commands that never change the state: kv-get, kv-list, pool-stats, lb-stats.
bool IsReadCommand(const kvpb::Command& command);

// A message as canonical EDN text (ProtoToEdn then edn::ToEdn). Precondition: no uint64
// field above INT64_MAX (asserted).
std::string ProtoToEdnText(const google::protobuf::Message& message);

// The name of the object a command acts on, as PartitionKey reports it ("pool app/db",
// "lb web", "kv app/cache"), or "" if the command names none.
std::string ObjectOf(const kvpb::Command& command);

}  // namespace keel::checker
