// keel-chaos: the client side of a Jepsen-style test of real keel processes (tests/chaos/
// runs it, next to the nemesis). Concurrent clients, each a thread with its own
// keel::client::Client (sessions, retries that resend the same (session, sequence), deadlines),
// drive connection pools, load balancers and the KV store the way the simulator's workload
// does (sim/workload.cc), and every operation lands in a Jepsen-style EDN history that
// `keel-check --model kvstate` judges.
//
// Contract with the orchestrator:
//   - clients run until a line "stop" (or EOF) arrives on stdin, or --duration-ms passes;
//   - then each client finishes the operation it is in, and one reader (process 0) reads
//     every object once more (final reads) and every durability key (below);
//   - the history goes to --history; the last line on stdout is `key=value ...`: operations by
//     outcome, acknowledged durability writes and how many of them the final read lacks.
//   Exit 0 when the run completed (whatever the verdict: keel-check and the orchestrator
//   judge), 1 when the final reads could not be done (the cluster never recovered), 2 usage.
//
// Outcomes map exactly as the simulator's: an answer is :ok (NOT_FOUND, EXHAUSTED, a CAS
// mismatch are answers too); Unavailable (never applied) is :fail; DeadlineExceeded and any
// other error (outcome unknown) are :info, after which the client continues as a new process
// (Jepsen: the old one still has an operation in flight). Client c's processes are
// c, c + (clients + 1), ...; the final reader's is 0. "clients" counts the --pipelined-clients
// too: closed loops sharing one pipelined client (net/pipeline.h) on one thread.
//
// Durability: besides the checked history, each client puts write-once keys
// `dur/c<client>b<block>/<n>` now and then (kept out of the EDN history: thousands of
// single-write keys only slow the checker down and prove nothing the list below does not).
// After healing, a linearizable kv-list of every such block must contain every key whose put
// was acknowledged: `lost_acked` counts those it lacks.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "absl/strings/str_cat.h"
#include "engine/assert.h"
#include "engine/prng.h"
#include "net/client.h"
#include "net/pipeline.h"
#include "sim/checker/kvstate_model.h"
#include "tools/cli_endpoints.h"

namespace {

namespace kvpb = keel::kvpb;
using keel::Prng;
using keel::client::Client;
using keel::client::ClientOptions;

constexpr int kPools = 2;
constexpr uint64_t kPoolCapacity = 3;
constexpr int kKvBlocks = 2;
constexpr int kKeysPerBlock = 3;
constexpr int kBackends = 4;
constexpr uint64_t kDurKeysPerBlock = 900;  // below kv-list's 1,000-entry limit
struct LbSpec {
  const char* group;
  kvpb::Policy policy;
};
constexpr LbSpec kLbs[] = {{"rr", kvpb::POLICY_ROUND_ROBIN},
                           {"wrr", kvpb::POLICY_WEIGHTED_ROUND_ROBIN},
                           {"lc", kvpb::POLICY_LEAST_CONNECTIONS},
                           {"ch", kvpb::POLICY_CONSISTENT_HASH}};

std::string PoolName(int i) { return absl::StrCat("app/pool", i); }
std::string Backend(int i) { return absl::StrCat("b", i); }
std::string Key(int block, int key) { return absl::StrCat("cfg/blk", block, "/k", key); }
std::string DurBlock(int client, uint64_t n) { return absl::StrCat("dur/c", client, "b", n / kDurKeysPerBlock, "/"); }

struct Options {
  std::string endpoints;
  keel::tools::SecurityFlags security;
  uint64_t cluster_id = 0;
  int clients = 6;
  int local_clients = 3;  // the first ones talk to one node only (MakeClient)
  uint64_t seed = 1;
  int64_t duration_ms = 0;  // 0: until "stop" on stdin
  int64_t attempt_timeout_ms = 1000;
  int64_t call_timeout_ms = 6000;
  int64_t think_ms = 20;
  int pipelined_clients = 0;  // closed loops on one Pipeline, after the threads' clients
  std::string history;
};

// The history, shared by every client thread. The time of an event is taken under the lock
// that appends it, so the file's order is the real-time order the checker relies on.
class History {
 public:
  explicit History(int clients) : clients_(clients), start_(std::chrono::steady_clock::now()) {}
  void Record(int64_t process, const char* type, const kvpb::Command& command, const std::string& value_edn) {
    std::lock_guard<std::mutex> lock(mutex_);
    const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start_).count();
    absl::StrAppend(&text_, "{:process ", process, ", :type :", type, ", :f :", keel::checker::CommandName(command),
                    ", :value ", value_edn, ", :time ", now, "}\n");
    if (std::string_view(type) != "invoke") ++outcomes_[type];
  }
  std::string text() {
    std::lock_guard<std::mutex> lock(mutex_);
    return text_;
  }
  std::map<std::string, uint64_t> outcomes() {
    std::lock_guard<std::mutex> lock(mutex_);
    return outcomes_;
  }
  int clients() const { return clients_; }

 private:
  const int clients_;
  const std::chrono::steady_clock::time_point start_;
  std::mutex mutex_;
  std::string text_;
  std::map<std::string, uint64_t> outcomes_;
};

// Acknowledged durability keys, per block.
struct Durability {
  std::mutex mutex;
  std::map<std::string, std::set<std::string>> acked;  // block prefix -> keys
  uint64_t unknown = 0;                                // puts whose outcome is unknown (not checked)
};

struct ClientState {
  int id = 0;
  int64_t process = 0;
  std::unique_ptr<Client> client;
  Prng prng{0};
  std::vector<std::pair<std::string, uint64_t>> held;       // (pool, slot) acquired, not released
  std::vector<std::pair<std::string, std::string>> picked;  // (group, backend) not yet done
  std::map<std::string, uint64_t> versions;                 // last version seen per key
  uint64_t writes = 0;                                      // for unique values
  uint64_t dur_next = 0;
};

void RecordInvoke(ClientState& c, History& history, const kvpb::Command& command) {
  history.Record(c.process, "invoke", command, keel::checker::ProtoToEdnText(keel::checker::CommandBody(command)));
}

// Records the outcome of `command` and what the client learned from it. Returns false if the
// session must be opened again.
bool RecordOutcome(ClientState& c, History& history, const kvpb::Command& command,
                   const absl::StatusOr<kvpb::Result>& result) {
  if (result.ok() && result->code() != kvpb::CODE_SESSION_UNKNOWN) {
    kvpb::Result recorded = *result;
    recorded.clear_error();
    history.Record(c.process, "ok", command, keel::checker::ProtoToEdnText(recorded));
    if (command.has_pool_acquire() && result->code() == kvpb::CODE_OK) {
      c.held.emplace_back(command.pool_acquire().pool(), result->slot());
    } else if (command.has_lb_pick() && result->code() == kvpb::CODE_OK) {
      c.picked.emplace_back(command.lb_pick().group(), result->backend());
    } else if (result->has_version()) {
      const std::string& key = command.has_kv_get()   ? command.kv_get().key()
                               : command.has_kv_put() ? command.kv_put().key()
                               : command.has_kv_cas() ? command.kv_cas().key()
                                                      : command.kv_delete().key();
      c.versions[key] = command.has_kv_delete() ? 0 : result->version();
    }
    return true;
  }
  if (!result.ok() && absl::IsUnavailable(result.status())) {
    history.Record(c.process, "fail", command, "nil");  // never applied
    return true;
  }
  // Deadline exceeded, an unknown outcome, or SESSION_UNKNOWN after attempts whose fate is
  // unknown: indeterminate. The old process keeps the operation in flight forever.
  history.Record(c.process, "info", command, "nil");
  c.process += history.clients() + 1;
  return !(result.ok() && result->code() == kvpb::CODE_SESSION_UNKNOWN);
}

// Runs one operation on the client's blocking Client and records it. Returns false if the
// session must be opened again.
bool RunOperation(ClientState& c, History& history, const kvpb::Command& command) {
  RecordInvoke(c, history, command);
  return RecordOutcome(c, history, command, c.client->Execute(command));
}

kvpb::Command DrawPoolCommand(ClientState& c) {
  kvpb::Command cmd;
  const std::string pool = PoolName(static_cast<int>(c.prng.Uniform(kPools)));
  const uint64_t kind = c.prng.Uniform(100);
  if (kind < 30 && !c.held.empty()) {
    const size_t i = c.prng.Uniform(c.held.size());
    cmd.mutable_pool_release()->set_pool(c.held[i].first);
    cmd.mutable_pool_release()->set_slot(c.held[i].second);
    cmd.mutable_pool_release()->set_owner(absl::StrCat("c", c.id));
    c.held.erase(c.held.begin() + static_cast<std::ptrdiff_t>(i));
  } else if (kind < 70) {
    cmd.mutable_pool_acquire()->set_pool(pool);
    cmd.mutable_pool_acquire()->set_owner(absl::StrCat("c", c.id));
  } else if (kind < 90) {
    cmd.mutable_pool_stats()->set_pool(pool);
  } else {
    cmd.mutable_pool_resize()->set_pool(pool);
    cmd.mutable_pool_resize()->set_capacity(1 + c.prng.Uniform(kPoolCapacity + 1));
  }
  return cmd;
}

kvpb::Command DrawLbCommand(ClientState& c) {
  kvpb::Command cmd;
  const LbSpec& lb = kLbs[c.prng.Uniform(std::size(kLbs))];
  const uint64_t kind = c.prng.Uniform(100);
  if (kind < 15 && !c.picked.empty()) {
    const size_t i = c.prng.Uniform(c.picked.size());
    cmd.mutable_lb_done()->set_group(c.picked[i].first);
    cmd.mutable_lb_done()->set_backend(c.picked[i].second);
    c.picked.erase(c.picked.begin() + static_cast<std::ptrdiff_t>(i));
  } else if (kind < 65) {
    cmd.mutable_lb_pick()->set_group(lb.group);
    cmd.mutable_lb_pick()->set_client_key(absl::StrCat("user", c.prng.Uniform(8)));
  } else if (kind < 80) {
    cmd.mutable_lb_mark()->set_group(lb.group);
    cmd.mutable_lb_mark()->set_backend(Backend(static_cast<int>(c.prng.Uniform(kBackends))));
    cmd.mutable_lb_mark()->set_up(c.prng.Uniform(5) < 3);
  } else if (kind < 90) {
    cmd.mutable_lb_stats()->set_group(lb.group);
  } else {
    cmd.mutable_lb_set_backend()->set_group(lb.group);
    cmd.mutable_lb_set_backend()->set_backend(Backend(static_cast<int>(c.prng.Uniform(kBackends))));
    cmd.mutable_lb_set_backend()->set_weight(1 + static_cast<uint32_t>(c.prng.Uniform(5)));
  }
  return cmd;
}

kvpb::Command DrawKvCommand(ClientState& c) {
  kvpb::Command cmd;
  const int block = static_cast<int>(c.prng.Uniform(kKvBlocks));
  const std::string key = Key(block, static_cast<int>(c.prng.Uniform(kKeysPerBlock)));
  const std::string value = absl::StrCat("c", c.id, "-", ++c.writes);  // unique per write
  const uint64_t kind = c.prng.Uniform(100);
  if (kind < 30) {
    cmd.mutable_kv_get()->set_key(key);
  } else if (kind < 60) {
    cmd.mutable_kv_put()->set_key(key);
    cmd.mutable_kv_put()->set_value(value);
  } else if (kind < 75) {
    cmd.mutable_kv_cas()->set_key(key);
    const auto seen = c.versions.find(key);
    cmd.mutable_kv_cas()->set_expected_version(seen == c.versions.end() ? 0 : seen->second);
    cmd.mutable_kv_cas()->set_value(value);
  } else if (kind < 85) {
    cmd.mutable_kv_delete()->set_key(key);
  } else {
    cmd.mutable_kv_list()->set_prefix(absl::StrCat("cfg/blk", block, "/"));
  }
  return cmd;
}

// One write-once durability put (not in the history).
void DurabilityPut(ClientState& c, Durability& durability) {
  const uint64_t n = c.dur_next++;
  const std::string block = DurBlock(c.id, n);
  kvpb::Command cmd;
  cmd.mutable_kv_put()->set_key(absl::StrCat(block, n));
  cmd.mutable_kv_put()->set_value("d");
  absl::StatusOr<kvpb::Result> result = c.client->Execute(cmd);
  std::lock_guard<std::mutex> lock(durability.mutex);
  if (result.ok() && result->code() == kvpb::CODE_OK) {
    durability.acked[block].insert(cmd.kv_put().key());
  } else if (!result.ok() && !absl::IsUnavailable(result.status())) {
    ++durability.unknown;
  }
}

// Client `id` (0: the final reader) talks to every node, or, if it is one of the first
// --local-clients, only to its "own" node, as a GatewayD proxy next to its keel node does: its
// requests then take the follower-proxying path (and a stale local read would show).
absl::StatusOr<ClientOptions> MakeClientOptions(const Options& o, int id) {
  ClientOptions options;
  absl::StatusOr<std::vector<std::string>> endpoints = keel::client::ParseEndpoints(o.endpoints);
  if (!endpoints.ok()) return endpoints.status();
  options.endpoints = *endpoints;
  if (id >= 1 && id <= o.local_clients) {
    options.endpoints = {(*endpoints)[static_cast<size_t>(id - 1) % endpoints->size()]};
  }
  options.cluster_id = o.cluster_id;
  options.attempt_timeout_nanos = o.attempt_timeout_ms * 1'000'000;
  options.call_timeout_nanos = o.call_timeout_ms * 1'000'000;
  options.session_timeout_nanos = 3600LL * 1'000'000'000;  // outlives any run
  if (absl::Status s = keel::tools::ApplySecurity(o.security, options); !s.ok()) return s;
  return options;
}

absl::StatusOr<std::unique_ptr<Client>> MakeClient(const Options& o, int id) {
  absl::StatusOr<ClientOptions> options = MakeClientOptions(o, id);
  if (!options.ok()) return options.status();
  return Client::Create(*options);
}

// Creates the pools and load balancers (client 1, like the simulator: the others may see
// them missing at first; NOT_FOUND is an answer the model checks too).
void SetUp(ClientState& c, History& history, const std::atomic<bool>& stop) {
  auto run = [&](const kvpb::Command& cmd) {
    if (!stop.load()) RunOperation(c, history, cmd);
  };
  for (int i = 0; i < kPools; ++i) {
    kvpb::Command cmd;
    cmd.mutable_pool_create()->set_pool(PoolName(i));
    cmd.mutable_pool_create()->set_capacity(kPoolCapacity);
    run(cmd);
  }
  for (const LbSpec& lb : kLbs) {
    kvpb::Command cmd;
    cmd.mutable_lb_create()->set_group(lb.group);
    cmd.mutable_lb_create()->set_policy(lb.policy);
    cmd.mutable_lb_create()->set_virtual_nodes(16);
    run(cmd);
    for (int b = 0; b < kBackends; ++b) {
      kvpb::Command add;
      add.mutable_lb_set_backend()->set_group(lb.group);
      add.mutable_lb_set_backend()->set_backend(Backend(b));
      add.mutable_lb_set_backend()->set_weight(1 + static_cast<uint32_t>(b));
      run(add);
    }
  }
}

void OpenSessionUntil(ClientState& c, const std::atomic<bool>& stop) {
  while (!stop.load()) {
    if (c.client->OpenSession().ok()) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

// The operation families by a draw in [0, 100): below 10 a durability put (the threads'
// loop does those itself), then pools, load balancers and KV, 30 each.
constexpr uint64_t kDurabilityShare = 10;
kvpb::Command DrawCommand(ClientState& c, uint64_t family) {
  KEEL_ASSERT(family >= kDurabilityShare && family < 100);
  return family < 40 ? DrawPoolCommand(c) : family < 70 ? DrawLbCommand(c) : DrawKvCommand(c);
}

void ClientMain(int id, const Options& o, History& history, Durability& durability, const std::atomic<bool>& stop) {
  ClientState c;
  c.id = id;
  c.process = id;
  c.prng = Prng(o.seed * 1000003 + static_cast<uint64_t>(id));
  absl::StatusOr<std::unique_ptr<Client>> client = MakeClient(o, id);
  if (!client.ok()) return;
  c.client = std::move(*client);
  OpenSessionUntil(c, stop);
  if (id == 1) SetUp(c, history, stop);
  while (!stop.load()) {
    const uint64_t family = c.prng.Uniform(100);
    if (family < kDurabilityShare) {
      DurabilityPut(c, durability);
    } else if (!RunOperation(c, history, DrawCommand(c, family))) {
      OpenSessionUntil(c, stop);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1 + c.prng.Uniform(static_cast<uint64_t>(o.think_ms) + 1)));
  }
}

// The pipelined processes: --pipelined-clients closed loops sharing one keel::client::Pipeline
// (one session, every command on one socket per node, answered out of order) on one thread,
// as a proxy's event loop would use it. Each keeps one operation outstanding; their numbers
// follow the threads' (clients + 1, ...). A loop whose session is lost (SESSION_UNKNOWN)
// retires: its operations are all recorded, and the rest go on.
class PipelinedClients {
 public:
  PipelinedClients(const Options& o, History& history, const std::atomic<bool>& stop)
      : o_(o), history_(history), stop_(stop) {}

  void Run() {
    // Every endpoint, as the final reader's (id 0) options have.
    absl::StatusOr<ClientOptions> options = MakeClientOptions(o_, 0);
    if (!options.ok()) return;
    absl::StatusOr<std::unique_ptr<keel::client::Pipeline>> pipeline = keel::client::Pipeline::Create(*options);
    if (!pipeline.ok()) return;
    pipeline_ = pipeline->get();
    while (!stop_.load() && !pipeline_->OpenSession().ok()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    loops_.resize(static_cast<size_t>(o_.pipelined_clients));
    for (size_t i = 0; i < loops_.size(); ++i) {
      ClientState& c = loops_[i];
      c.id = o_.clients + 1 + static_cast<int>(i);
      c.process = c.id;
      c.prng = Prng(o_.seed * 1000003 + static_cast<uint64_t>(c.id));
      Start(i);
    }
    while (pipeline_->open_calls() > 0 || (!stop_.load() && !waiting_.empty())) {
      pipeline_->Poll(2'000'000);
      const auto now = std::chrono::steady_clock::now();
      while (!waiting_.empty() && waiting_.begin()->first <= now) {
        const size_t loop = waiting_.begin()->second;
        waiting_.erase(waiting_.begin());
        Start(loop);
      }
    }
  }

 private:
  void Start(size_t loop) {
    if (stop_.load()) return;
    ClientState& c = loops_[loop];
    const kvpb::Command command = DrawCommand(c, kDurabilityShare + c.prng.Uniform(100 - kDurabilityShare));
    RecordInvoke(c, history_, command);
    pipeline_->Submit(command, [this, loop, command](absl::StatusOr<kvpb::Result> result) {
      ClientState& c = loops_[loop];
      if (!RecordOutcome(c, history_, command, result)) return;  // session lost: retire
      const auto think = std::chrono::milliseconds(1 + c.prng.Uniform(static_cast<uint64_t>(o_.think_ms) + 1));
      waiting_.emplace(std::chrono::steady_clock::now() + think, loop);
    });
  }

  const Options& o_;
  History& history_;
  const std::atomic<bool>& stop_;
  keel::client::Pipeline* pipeline_ = nullptr;
  std::vector<ClientState> loops_;
  std::multimap<std::chrono::steady_clock::time_point, size_t> waiting_;  // thinking until then
};

// A read as one operation of process 0, its attempts repeated until one is answered (a read
// changes nothing, so repeating it inside one operation is sound). False if none was.
bool FinalRead(Client& client, History& history, const kvpb::Command& cmd, kvpb::Result* out) {
  history.Record(0, "invoke", cmd, keel::checker::ProtoToEdnText(keel::checker::CommandBody(cmd)));
  for (int attempt = 0; attempt < 10; ++attempt) {
    absl::StatusOr<kvpb::Result> result = client.Execute(cmd);
    if (result.ok()) {
      kvpb::Result recorded = *result;
      recorded.clear_error();
      history.Record(0, "ok", cmd, keel::checker::ProtoToEdnText(recorded));
      if (out != nullptr) *out = *result;
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  history.Record(0, "fail", cmd, "nil");
  return false;
}

// Final reads of every object (in the history), then the durability lists (not in it):
// counts the acknowledged durability keys and those missing. False if some read got no answer.
bool FinalReads(const Options& o, History& history, Durability& durability, uint64_t* lost, uint64_t* acked) {
  Options patient = o;
  patient.call_timeout_ms = 20'000;
  absl::StatusOr<std::unique_ptr<Client>> client = MakeClient(patient, 0);
  if (!client.ok()) return false;
  bool all = true;
  for (int i = 0; i < kPools; ++i) {
    kvpb::Command cmd;
    cmd.mutable_pool_stats()->set_pool(PoolName(i));
    all &= FinalRead(**client, history, cmd, nullptr);
  }
  for (const LbSpec& lb : kLbs) {
    kvpb::Command cmd;
    cmd.mutable_lb_stats()->set_group(lb.group);
    all &= FinalRead(**client, history, cmd, nullptr);
  }
  for (int block = 0; block < kKvBlocks; ++block) {
    kvpb::Command cmd;
    cmd.mutable_kv_list()->set_prefix(absl::StrCat("cfg/blk", block, "/"));
    all &= FinalRead(**client, history, cmd, nullptr);
  }
  std::lock_guard<std::mutex> lock(durability.mutex);
  for (const auto& [block, keys] : durability.acked) {
    *acked += keys.size();
    kvpb::Command cmd;
    cmd.mutable_kv_list()->set_prefix(block);
    cmd.mutable_kv_list()->set_limit(1000);
    absl::StatusOr<kvpb::Result> result;
    for (int attempt = 0; attempt < 10 && !(result = (*client)->Execute(cmd)).ok(); ++attempt) {
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    if (!result.ok()) return false;
    std::set<std::string> present;
    for (const kvpb::KeyValue& entry : result->entries()) present.insert(entry.key());
    for (const std::string& key : keys) {
      if (!present.contains(key)) {
        ++*lost;
        std::fprintf(stderr, "keel-chaos: acknowledged put of %s is missing after healing\n", key.c_str());
      }
    }
  }
  return all;
}

int Run(const Options& o) {
  History history(o.clients + o.pipelined_clients);
  Durability durability;
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  PipelinedClients pipelined(o, history, stop);
  if (o.pipelined_clients > 0) threads.emplace_back([&] { pipelined.Run(); });
  for (int id = 1; id <= o.clients; ++id) {
    threads.emplace_back([&, id] { ClientMain(id, o, history, durability, stop); });
  }
  std::thread stopper([&] {
    // "stop" or EOF on stdin ends the run; --duration-ms bounds it anyway.
    if (o.duration_ms > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(o.duration_ms));
    } else {
      std::string line;
      while (std::getline(std::cin, line) && line != "stop") {
      }
    }
    stop.store(true);
  });
  stopper.join();
  for (std::thread& t : threads) t.join();
  uint64_t lost = 0;
  uint64_t acked = 0;
  const bool read_all = FinalReads(o, history, durability, &lost, &acked);
  if (FILE* f = std::fopen(o.history.c_str(), "w"); f != nullptr) {
    const std::string text = history.text();
    std::fwrite(text.data(), 1, text.size(), f);
    std::fclose(f);
  } else {
    std::fprintf(stderr, "keel-chaos: cannot write %s\n", o.history.c_str());
    return 2;
  }
  std::map<std::string, uint64_t> outcomes = history.outcomes();
  std::printf("ops_ok=%llu ops_fail=%llu ops_info=%llu durable_acked=%llu durable_unknown=%llu lost_acked=%llu "
              "final_reads=%s\n",
              static_cast<unsigned long long>(outcomes["ok"]), static_cast<unsigned long long>(outcomes["fail"]),
              static_cast<unsigned long long>(outcomes["info"]), static_cast<unsigned long long>(acked),
              static_cast<unsigned long long>(durability.unknown), static_cast<unsigned long long>(lost),
              read_all ? "ok" : "failed");
  std::fflush(stdout);
  return read_all ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("keel-chaos: concurrent clients over pools, load balancers and KV, writing a Jepsen-style EDN "
               "history (tests/chaos/ runs it next to its nemesis)",
               "keel-chaos");
  Options o;
  keel::tools::AddEndpointsOption(app, o.endpoints);
  app.get_option("--endpoints")->required();
  keel::tools::AddSecurityOptions(app, o.security);
  app.add_option("--cluster-id", o.cluster_id, "if not 0, every request names this cluster");
  app.add_option("--clients", o.clients, "concurrent clients (threads), one operation outstanding each")
      ->check(CLI::Range(1, 256));
  app.add_option("--local-clients", o.local_clients,
                 "how many of the clients talk to one node only (client c to endpoint c mod N), like a proxy "
                 "next to its node; the others to all");
  app.add_option("--pipelined-clients", o.pipelined_clients,
                 "more clients, all on one pipelined client (net/pipeline.h): one session and socket per node, "
                 "one thread, one operation outstanding each")
      ->check(CLI::Range(0, 256));
  app.add_option("--seed", o.seed, "seeds each client's choice of operations");
  app.add_option("--duration-ms", o.duration_ms, "stop after this long (0: at a 'stop' line or EOF on stdin)");
  app.add_option("--attempt-timeout-ms", o.attempt_timeout_ms, "one attempt's timeout")->check(CLI::PositiveNumber);
  app.add_option("--call-timeout-ms", o.call_timeout_ms, "an operation's timeout, retries included")
      ->check(CLI::PositiveNumber);
  app.add_option("--think-ms", o.think_ms, "at most this long between a client's operations");
  app.add_option("--history", o.history, "where to write the EDN history")->required();
  CLI11_PARSE(app, argc, argv);
  return Run(o);
}
