// keel-bench: closed-loop load generator for a keel cluster, measuring the way the anchor
// benchmarks' driver does (../shared/bench-anchors/README.md, "What the driver measures"), so
// its figures can be set beside etcd's and hashicorp/raft's from the same run: N clients, each
// with exactly one request outstanding (by default all on one pipelined client, as the anchor
// driver's goroutines share one connection; --driver=threads gives each client its own
// blocking Client and thread); keys uniform over
// --keys; values of --value-size random bytes; a warm-up that is discarded; only operations
// completing inside the measured window count; exact percentiles over every sample.
//
// Exit status: 0 the run completed (errors are counted, not fatal), 1 setup failed (no
// leader, a session or the bench objects could not be created), 2 usage error.
#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <latch>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "net/client.h"
#include "net/pipeline.h"
#include "tools/cli_endpoints.h"

namespace keel::bench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kExitSetup = 1;
constexpr int kExitUsage = 2;

constexpr const char* kPool = "bench/pool";
constexpr const char* kLbGroup = "bench";
constexpr std::array<const char*, 3> kBackends = {"backend-1", "backend-2", "backend-3"};
// As the anchor driver: values are slices of one random buffer at random offsets, and a client
// that keeps failing gives up after this many errors, pausing after each.
constexpr size_t kValuePoolBytes = size_t{1} << 20;
constexpr uint64_t kMaxErrorsPerClient = 1000;
constexpr auto kErrorPause = std::chrono::milliseconds(10);

constexpr const char* kFooter = R"(
Operations (--mix weights, e.g. put=100 or put=50,get=40,acquire=5,next=5):
  put      KvPut of a random key "bench/kv/key%08d" with a random value
  get      linearizable KvGet of a random key (NOT_FOUND is an answer, not an error); when
           the mix has gets, every key is written once before the run, untimed
  acquire  PoolAcquire on "bench/pool" then PoolRelease of the slot: one op per pair
  next     LbPick on load balancer group "bench" (round robin over 3 backends)
Before the run every client opens a session, and the pool (capacity = --clients) and the load
balancer are created (or the pool resized, if they exist).

Output: one line
  keel-bench mode=MIX clients=N ops=N ops_per_sec=X p50_ms=X p99_ms=X p999_ms=X errors=N
(MIX is the operation's name when there is only one), or with --json one JSON object with
the same figures (and ops_per_s, like the anchor driver's), routing, value_size, keys,
seconds, attempts (requests the clients sent, sessions, preload and retries included) and
driver_cpu_s (the generator's own CPU time) and driver. errors counts
operations that got an error status or a result code other than OK (and NOT_FOUND for gets).

Exit status: 0 the run completed, 1 setup failed, 2 usage error.
)";

enum Op : size_t { kPut, kGet, kAcquire, kNext, kOpCount };
constexpr std::array<const char*, kOpCount> kOpNames = {"put", "get", "acquire", "next"};

struct Options {
  std::string endpoints = "tcp://127.0.0.1:7101";
  int clients = 64;
  std::string mix = "put=100";
  int value_size = 100;
  int keys = 10000;
  double warmup_seconds = 2;
  double seconds = 10;
  bool leader_only = true;  // the default; the flag only spells it out
  bool spread = false;
  bool follow_leader = false;
  bool json = false;
  std::string driver = "pipeline";
  tools::SecurityFlags security;
  std::optional<client::ClientOptions::Curve> curve;  // from `security`
};

struct Mix {
  std::array<uint64_t, kOpCount> weights{};
  uint64_t total = 0;
  std::string name;  // "put" when only puts, else the canonical list "put=50,get=50"
};

absl::StatusOr<Mix> ParseMix(const std::string& text) {
  Mix mix;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(part, absl::MaxSplits('=', 1));
    const auto* name =
        std::find(kOpNames.begin(), kOpNames.end(), absl::StripAsciiWhitespace(kv.first));
    uint64_t weight = 0;
    if (name == kOpNames.end())
      return absl::InvalidArgumentError(absl::StrCat("unknown operation in '", part, "'"));
    if (!absl::SimpleAtoi(kv.second, &weight) || weight > 1'000'000) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", part, "' is not NAME=WEIGHT (0..1000000)"));
    }
    mix.weights[name - kOpNames.begin()] += weight;
  }
  std::vector<std::string> named;
  const char* only = nullptr;
  for (size_t op = 0; op < kOpCount; ++op) {
    mix.total += mix.weights[op];
    if (mix.weights[op] == 0) continue;
    named.push_back(absl::StrCat(kOpNames[op], "=", mix.weights[op]));
    only = kOpNames[op];
  }
  if (mix.total == 0)
    return absl::InvalidArgumentError("the mix has no operation with a weight above 0");
  // One operation: its bare name, as the anchor driver's MODE (put, get).
  mix.name = named.size() == 1 ? std::string(only) : absl::StrJoin(named, ",");
  return mix;
}

// ---------------------------------------------------------------------------------------
// Setup.

absl::StatusOr<std::unique_ptr<client::Client>> Connect(const Options& o, std::vector<std::string> endpoints) {
  client::ClientOptions options;
  options.endpoints = std::move(endpoints);
  options.curve = o.curve;
  return client::Client::Create(options);
}

// The leader's endpoint, asking every node for its own status (as the anchor driver does),
// for up to 30 s while an election may still be under way.
absl::StatusOr<std::string> FindLeaderEndpoint(const Options& o, const std::vector<std::string>& endpoints) {
  absl::StatusOr<std::unique_ptr<client::Client>> probe = Connect(o, endpoints);
  if (!probe.ok()) return probe.status();
  const Clock::time_point give_up = Clock::now() + std::chrono::seconds(30);
  while (Clock::now() < give_up) {
    uint64_t best_term = 0;
    std::string leader;
    for (size_t i = 0; i < endpoints.size(); ++i) {
      absl::StatusOr<nodepb::NodeStatus> status = (*probe)->NodeStatus(i);
      if (!status.ok() || status->role() != "leader" || !status->failure().empty()) continue;
      if (leader.empty() || status->term() > best_term) {
        best_term = status->term();
        leader = endpoints[i];
      }
    }
    if (!leader.empty()) return leader;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return absl::UnavailableError(
      absl::StrCat("no leader found among ", absl::StrJoin(endpoints, ",")));
}

// Runs a setup command; codes in `accepted` besides OK are fine (the object exists already).
absl::StatusOr<kvpb::Result> Expect(client::Client& client, kvpb::Command command,
                                    std::initializer_list<kvpb::Code> accepted,
                                    absl::string_view what) {
  absl::StatusOr<kvpb::Result> result = client.Execute(std::move(command));
  if (!result.ok())
    return absl::Status(result.status().code(),
                        absl::StrCat(what, ": ", result.status().message()));
  if (result->code() != kvpb::CODE_OK &&
      std::find(accepted.begin(), accepted.end(), result->code()) == accepted.end()) {
    return absl::InternalError(
        absl::StrCat(what, ": ", kvpb::Code_Name(result->code()), ": ", result->error()));
  }
  return result;
}

// The pool (one slot per client, so acquire never finds it exhausted) and the load balancer.
absl::Status CreateBenchObjects(const Options& o, const std::vector<std::string>& endpoints, int clients) {
  absl::StatusOr<std::unique_ptr<client::Client>> connected = Connect(o, endpoints);
  if (!connected.ok()) return connected.status();
  client::Client& client = **connected;
  if (absl::Status status = client.OpenSession(); !status.ok()) return status;
  kvpb::Command command;
  command.mutable_pool_create()->set_pool(kPool);
  command.mutable_pool_create()->set_capacity(clients);
  absl::StatusOr<kvpb::Result> created =
      Expect(client, command, {kvpb::CODE_ALREADY_EXISTS}, "pool create");
  if (!created.ok()) return created.status();
  if (created->code() == kvpb::CODE_ALREADY_EXISTS) {
    // A run with another client count made it: one slot per client again.
    command.mutable_pool_resize()->set_pool(kPool);
    command.mutable_pool_resize()->set_capacity(clients);
    absl::StatusOr<kvpb::Result> resized =
        Expect(client, command, {kvpb::CODE_BELOW_BUSY}, "pool resize");
    if (!resized.ok()) return resized.status();
    if (resized->code() == kvpb::CODE_BELOW_BUSY) {
      std::cerr << "keel-bench: warning: " << kPool << " has " << resized->pool().busy()
                << " slots held by an earlier run; capacity left at " << resized->pool().capacity()
                << "\n";
    }
  }
  command.mutable_lb_create()->set_group(kLbGroup);
  command.mutable_lb_create()->set_policy(kvpb::POLICY_ROUND_ROBIN);
  if (absl::Status status =
          Expect(client, command, {kvpb::CODE_ALREADY_EXISTS}, "lb create").status();
      !status.ok()) {
    return status;
  }
  for (const char* backend : kBackends) {
    command.mutable_lb_set_backend()->set_group(kLbGroup);
    command.mutable_lb_set_backend()->set_backend(backend);
    if (absl::Status status = Expect(client, command, {}, "lb add").status(); !status.ok())
      return status;
  }
  client.CloseSession().IgnoreError();
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------
// The clients.

// What every client thread reads; written by the main thread before `go` opens.
struct Shared {
  Options options;
  Mix mix;
  std::string value_pool;  // kValuePoolBytes + value_size random bytes
  std::latch ready;        // every client has its session (and its share of the preload)
  std::latch go{1};
  std::atomic<bool> abort{false};
  Clock::time_point measure_start, measure_end;

  Shared(const Options& o, Mix m) : options(o), mix(std::move(m)), ready(o.clients) {}
};

struct ClientReport {
  std::vector<int64_t> latencies_nanos;  // operations completed inside the measured window
  uint64_t errors = 0;
  std::string first_error;
  absl::Status setup;
  uint64_t attempts = 0;

  // Counts an operation that ran from `start` to `end` with `status`, as both drivers do: its
  // latency if it succeeded inside the measured window, else the error. False once the client
  // had more than kMaxErrorsPerClient errors and must stop; after an error that is not yet
  // the case, it pauses kErrorPause before its next operation.
  bool Record(const Shared& shared, Clock::time_point start, Clock::time_point end, const absl::Status& status) {
    if (!status.ok()) {
      if (errors++ == 0) first_error = status.ToString();
      return errors <= kMaxErrorsPerClient;
    }
    if (end >= shared.measure_start && end <= shared.measure_end) {
      latencies_nanos.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(end - start).count());
    }
    return true;
  }
};

using ResultFn = absl::AnyInvocable<void(absl::StatusOr<kvpb::Result>)>;
using StatusFn = absl::AnyInvocable<void(absl::Status)>;

// How a worker's commands reach the cluster: at once on its own blocking Client (the threaded
// driver), or queued on the Pipeline its driver thread polls (the pipelined driver). `done`
// runs with the answer: before Execute returns, or inside a later Pipeline::Poll.
class Executor {
 public:
  virtual ~Executor() = default;
  virtual void Execute(kvpb::Command command, ResultFn done) = 0;
};

class ClientExecutor final : public Executor {
 public:
  explicit ClientExecutor(client::Client& client) : client_(client) {}
  void Execute(kvpb::Command command, ResultFn done) override { done(client_.Execute(std::move(command))); }

 private:
  client::Client& client_;
};

class PipelineExecutor final : public Executor {
 public:
  explicit PipelineExecutor(client::Pipeline& pipeline) : pipeline_(pipeline) {}
  void Execute(kvpb::Command command, ResultFn done) override {
    pipeline_.Submit(std::move(command), std::move(done));
  }

 private:
  client::Pipeline& pipeline_;
};

// One closed-loop client's operations. Each Run ends by calling `done` once, with OK or the
// operation's error.
class Worker {
 public:
  Worker(int index, const Shared& shared, Executor& executor)
      : shared_(shared),
        executor_(executor),
        owner_(absl::StrCat("bench-", index)),
        rng_(static_cast<uint64_t>(index) * 7919 + Clock::now().time_since_epoch().count()) {}

  void Run(Op op, StatusFn done) {
    switch (op) {
      case kPut:
        return Put(Key(std::uniform_int_distribution<int>(0, shared_.options.keys - 1)(rng_)), std::move(done));
      case kGet:
        return Get(std::move(done));
      case kAcquire:
        return AcquireRelease(std::move(done));
      default:
        return Next(std::move(done));
    }
  }

  Op Draw() {
    uint64_t point = std::uniform_int_distribution<uint64_t>(0, shared_.mix.total - 1)(rng_);
    for (size_t op = 0; op < kOpCount; ++op) {
      if (point < shared_.mix.weights[op]) return static_cast<Op>(op);
      point -= shared_.mix.weights[op];
    }
    return kPut;  // unreachable: the weights sum to total
  }

  static std::string Key(int n) { return absl::StrFormat("bench/kv/key%08d", n); }

  void Put(const std::string& key, StatusFn done) {
    const size_t offset = std::uniform_int_distribution<size_t>(0, kValuePoolBytes - 1)(rng_);
    kvpb::Command command;
    command.mutable_kv_put()->set_key(key);
    command.mutable_kv_put()->set_value(shared_.value_pool.substr(offset, shared_.options.value_size));
    executor_.Execute(std::move(command), Checked("put", std::move(done)));
  }

 private:
  void Get(StatusFn done) {
    kvpb::Command command;
    command.mutable_kv_get()->set_key(Key(std::uniform_int_distribution<int>(0, shared_.options.keys - 1)(rng_)));
    executor_.Execute(std::move(command), Checked("get", std::move(done), kvpb::CODE_NOT_FOUND));
  }

  void AcquireRelease(StatusFn done) {
    kvpb::Command command;
    command.mutable_pool_acquire()->set_pool(kPool);
    command.mutable_pool_acquire()->set_owner(owner_);
    executor_.Execute(std::move(command), [this, done = std::move(done)](absl::StatusOr<kvpb::Result> acquired) mutable {
      if (absl::Status status = Check(acquired, "acquire"); !status.ok()) return done(status);
      kvpb::Command release;
      release.mutable_pool_release()->set_pool(kPool);
      release.mutable_pool_release()->set_slot(acquired->slot());
      release.mutable_pool_release()->set_owner(owner_);
      executor_.Execute(std::move(release), Checked("release", std::move(done)));
    });
  }

  void Next(StatusFn done) {
    kvpb::Command command;
    command.mutable_lb_pick()->set_group(kLbGroup);
    executor_.Execute(std::move(command), Checked("next", std::move(done)));
  }

  static ResultFn Checked(absl::string_view what, StatusFn done, kvpb::Code also_fine = kvpb::CODE_OK) {
    return [what, done = std::move(done), also_fine](absl::StatusOr<kvpb::Result> result) mutable {
      done(Check(result, what, also_fine));
    };
  }

  // An error status, or a result code other than OK and `also_fine`, is an error.
  static absl::Status Check(const absl::StatusOr<kvpb::Result>& result, absl::string_view what,
                            kvpb::Code also_fine = kvpb::CODE_OK) {
    if (!result.ok())
      return absl::Status(result.status().code(),
                          absl::StrCat(what, ": ", result.status().message()));
    if (result->code() == kvpb::CODE_OK || result->code() == also_fine) return absl::OkStatus();
    return absl::InternalError(
        absl::StrCat(what, ": ", kvpb::Code_Name(result->code()), ": ", result->error()));
  }

  const Shared& shared_;
  Executor& executor_;
  const std::string owner_;
  std::mt19937_64 rng_;
};

// Runs `worker`'s operation on a synchronous executor and returns its status.
absl::Status RunSync(Worker& worker, Op op) {
  absl::Status status = absl::InternalError("operation did not finish");
  worker.Run(op, [&status](absl::Status s) { status = std::move(s); });
  return status;
}

// Session, then this client's share of the preload: keys index, index + clients, ...
absl::Status PrepareClient(int index, const Shared& shared, client::Client& client,
                           Worker& worker) {
  if (absl::Status status = client.OpenSession(); !status.ok()) {
    return absl::Status(status.code(), absl::StrCat("open session: ", status.message()));
  }
  if (shared.mix.weights[kGet] == 0) return absl::OkStatus();
  for (int n = index; n < shared.options.keys; n += shared.options.clients) {
    absl::Status status = absl::InternalError("put did not finish");
    worker.Put(Worker::Key(n), [&status](absl::Status s) { status = std::move(s); });
    if (!status.ok()) {
      return absl::Status(status.code(), absl::StrCat("preload: ", status.message()));
    }
  }
  return absl::OkStatus();
}

void RunClient(int index, std::vector<std::string> endpoints, Shared& shared,
               ClientReport& report) {
  absl::StatusOr<std::unique_ptr<client::Client>> connected = Connect(shared.options, std::move(endpoints));
  if (!connected.ok()) {
    report.setup = connected.status();
    shared.ready.count_down();
    return;
  }
  client::Client& client = **connected;
  ClientExecutor executor(client);
  Worker worker(index, shared, executor);
  report.setup = PrepareClient(index, shared, client, worker);
  shared.ready.count_down();
  shared.go.wait();
  if (shared.abort.load()) {
    client.CloseSession().IgnoreError();
    return;
  }
  report.latencies_nanos.reserve(1 << 14);
  while (true) {
    const Clock::time_point start = Clock::now();
    if (start >= shared.measure_end) break;
    const absl::Status status = RunSync(worker, worker.Draw());
    if (!report.Record(shared, start, Clock::now(), status)) break;
    if (!status.ok()) std::this_thread::sleep_for(kErrorPause);
  }
  client.CloseSession().IgnoreError();  // best effort: it would expire anyway
  report.attempts = client.attempts();
}

// The pipelined driver: one thread per distinct endpoint list runs that list's clients as
// closed loops over one Pipeline (one session, one socket per node), as the anchor driver's
// goroutines share one connection. Each client still has exactly one operation outstanding.
class PipelinedGroup {
 public:
  PipelinedGroup(Shared& shared, std::vector<int> clients, std::vector<ClientReport*> reports)
      : shared_(shared), indices_(std::move(clients)), reports_(std::move(reports)) {}

  void Run(std::vector<std::string> endpoints) {
    client::ClientOptions options;
    options.endpoints = std::move(endpoints);
    options.curve = shared_.options.curve;
    absl::StatusOr<std::unique_ptr<client::Pipeline>> created = client::Pipeline::Create(options);
    absl::Status setup = created.ok() ? Prepare(**created) : created.status();
    for (ClientReport* report : reports_) {
      report->setup = setup;
      shared_.ready.count_down();
    }
    shared_.go.wait();
    if (!setup.ok() || shared_.abort.load()) {
      if (created.ok()) (*created)->CloseSession().IgnoreError();
      return;
    }
    client::Pipeline& pipeline = **created;
    for (size_t i = 0; i < loops_.size(); ++i) Start(i);
    while (running_ > 0 || pipeline.open_calls() > 0 || !paused_.empty()) {
      pipeline.Poll(paused_.empty() ? 5'000'000 : 1'000'000);
      const Clock::time_point now = Clock::now();
      while (!paused_.empty() && paused_.begin()->first <= now) {
        const size_t loop = paused_.begin()->second;
        paused_.erase(paused_.begin());
        Start(loop);
      }
    }
    pipeline.CloseSession().IgnoreError();  // best effort: it would expire anyway
    reports_.front()->attempts = pipeline.attempts();
  }

 private:
  struct Loop {
    std::unique_ptr<Worker> worker;
    ClientReport* report = nullptr;
    Clock::time_point started;
  };

  // The session, the workers, and (for gets) this group's share of the preload, each client
  // writing its keys index, index + clients, ... one at a time.
  absl::Status Prepare(client::Pipeline& pipeline) {
    if (absl::Status status = pipeline.OpenSession(); !status.ok()) {
      return absl::Status(status.code(), absl::StrCat("open session: ", status.message()));
    }
    executor_ = std::make_unique<PipelineExecutor>(pipeline);
    for (size_t i = 0; i < indices_.size(); ++i) {
      loops_.push_back(Loop{std::make_unique<Worker>(indices_[i], shared_, *executor_), reports_[i], {}});
      loops_.back().report->latencies_nanos.reserve(1 << 14);
    }
    if (shared_.mix.weights[kGet] == 0) return absl::OkStatus();
    for (size_t i = 0; i < loops_.size(); ++i) Preload(i, indices_[i]);
    while (preloading_ > 0) pipeline.Poll(5'000'000);
    if (!preload_failed_.ok()) {
      return absl::Status(preload_failed_.code(), absl::StrCat("preload: ", preload_failed_.message()));
    }
    return absl::OkStatus();
  }

  // Client `loop` writes `key`, then its next key, until the keys run out or a put failed.
  void Preload(size_t loop, int key) {
    if (key >= shared_.options.keys || !preload_failed_.ok()) return;
    ++preloading_;
    loops_[loop].worker->Put(Worker::Key(key), [this, loop, key](absl::Status status) {
      --preloading_;
      if (!status.ok()) preload_failed_.Update(status);
      Preload(loop, key + shared_.options.clients);
    });
  }

  // Starts client `loop`'s next operation, or retires it once the window closed.
  void Start(size_t loop) {
    Loop& l = loops_[loop];
    l.started = Clock::now();
    if (l.started >= shared_.measure_end) return;
    ++running_;
    l.worker->Run(l.worker->Draw(), [this, loop](absl::Status status) { Finished(loop, status); });
  }

  void Finished(size_t loop, const absl::Status& status) {
    --running_;
    Loop& l = loops_[loop];
    const Clock::time_point end = Clock::now();
    if (!l.report->Record(shared_, l.started, end, status)) return;  // too many errors: retired
    if (status.ok()) Start(loop);
    else paused_.emplace(end + kErrorPause, loop);
  }

  Shared& shared_;
  std::vector<int> indices_;
  std::vector<ClientReport*> reports_;
  std::unique_ptr<PipelineExecutor> executor_;
  std::vector<Loop> loops_;
  size_t running_ = 0;
  std::multimap<Clock::time_point, size_t> paused_;  // clients pausing after an error
  size_t preloading_ = 0;  // preload puts submitted and not yet answered
  absl::Status preload_failed_;
};

// ---------------------------------------------------------------------------------------
// The run and its report.

// Exact percentile, as the anchor driver computes it: the ceil(p * n)-th smallest sample.
double PercentileMs(const std::vector<int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  const auto rank = static_cast<int64_t>(std::ceil(p * static_cast<double>(sorted.size())));
  return static_cast<double>(sorted[std::clamp<int64_t>(rank - 1, 0, sorted.size() - 1)]) / 1e6;
}

double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

void PrintReport(const Shared& shared, const std::vector<ClientReport>& reports) {
  const Options& o = shared.options;
  std::vector<int64_t> all;
  uint64_t errors = 0, attempts = 0;
  std::string first_error;
  for (const ClientReport& report : reports) {
    all.insert(all.end(), report.latencies_nanos.begin(), report.latencies_nanos.end());
    errors += report.errors;
    attempts += report.attempts;
    if (first_error.empty()) first_error = report.first_error;
  }
  std::sort(all.begin(), all.end());
  if (errors > 0)
    std::cerr << "keel-bench: " << errors << " errors, first: " << first_error << "\n";
  const double ops_per_sec = static_cast<double>(all.size()) / o.seconds;
  const double p50 = PercentileMs(all, 0.50), p99 = PercentileMs(all, 0.99),
               p999 = PercentileMs(all, 0.999);
  if (!o.json) {
    std::cout << absl::StrFormat(
        "keel-bench mode=%s clients=%d ops=%d ops_per_sec=%.1f p50_ms=%.3f p99_ms=%.3f "
        "p999_ms=%.3f errors=%d\n",
        shared.mix.name, o.clients, all.size(), ops_per_sec, p50, p99, p999, errors);
    return;
  }
  // The mix name holds only operation names, '=', ',' and digits: no escaping needed.
  std::cout << absl::StrFormat(
      "{\"system\":\"keel\",\"mode\":\"%s\",\"routing\":\"%s\",\"clients\":%d,\"ops\":%d,"
      "\"ops_per_sec\":%.1f,\"ops_per_s\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,"
      "\"errors\":%d,\"value_size\":%d,\"keys\":%d,\"seconds\":%g,\"attempts\":%d,"
      "\"driver_cpu_s\":%.1f,\"driver\":\"%s\"}\n",
      shared.mix.name, o.spread ? "spread" : (o.follow_leader ? "follow" : "leader"), o.clients, all.size(), ops_per_sec,
      ops_per_sec, p50, p99, p999, errors, o.value_size, o.keys, o.seconds, attempts, CpuSeconds(),
      o.driver);
}

// Leader only: every client talks to the leader's endpoint. Spread: client i talks to endpoint
// i mod n alone (so followers proxy), since a Client given them all would go to the leader.
// Follow: every client gets every endpoint and goes wherever the leader is.
absl::StatusOr<std::vector<std::vector<std::string>>> ClientEndpoints(
    const Options& o, const std::vector<std::string>& all) {
  std::vector<std::vector<std::string>> endpoints;
  if (o.follow_leader) {
    std::cerr << "keel-bench: " << o.clients << " clients following the leader among " << absl::StrJoin(all, ",")
              << "\n";
    endpoints.assign(o.clients, all);
    return endpoints;
  }
  if (o.spread) {
    for (int i = 0; i < o.clients; ++i) endpoints.push_back({all[i % all.size()]});
    std::cerr << "keel-bench: " << o.clients << " clients spread over " << absl::StrJoin(all, ",")
              << "\n";
    return endpoints;
  }
  absl::StatusOr<std::string> leader = FindLeaderEndpoint(o, all);
  if (!leader.ok()) return leader.status();
  std::cerr << "keel-bench: " << o.clients << " clients on the leader, " << *leader << "\n";
  endpoints.assign(o.clients, {*leader});
  return endpoints;
}

std::string RandomBytes(size_t size) {
  std::mt19937_64 rng(1);
  std::string bytes(size, '\0');
  for (char& byte : bytes) byte = static_cast<char>(rng());
  return bytes;
}

int RunBench(const Options& o, Mix mix) {
  absl::StatusOr<std::vector<std::string>> all = client::ParseEndpoints(o.endpoints);
  if (!all.ok()) return kExitUsage;  // CLI11 checked them already
  absl::StatusOr<std::vector<std::vector<std::string>>> endpoints = ClientEndpoints(o, *all);
  absl::Status setup =
      endpoints.ok() ? CreateBenchObjects(o, endpoints->front(), o.clients) : endpoints.status();
  if (!setup.ok()) {
    std::cerr << "keel-bench: setup: " << setup << "\n";
    return kExitSetup;
  }
  Shared shared(o, std::move(mix));
  shared.value_pool = RandomBytes(kValuePoolBytes + o.value_size);
  std::vector<ClientReport> reports(o.clients);
  std::vector<std::thread> threads;
  std::vector<std::unique_ptr<PipelinedGroup>> groups;
  if (o.driver == "threads") {
    for (int i = 0; i < o.clients; ++i) {
      threads.emplace_back(RunClient, i, (*endpoints)[i], std::ref(shared), std::ref(reports[i]));
    }
  } else {
    // One group (and thread) per distinct endpoint list: one for --leader-only, n for --spread.
    std::map<std::vector<std::string>, std::pair<std::vector<int>, std::vector<ClientReport*>>> by_endpoints;
    for (int i = 0; i < o.clients; ++i) {
      auto& group = by_endpoints[(*endpoints)[i]];
      group.first.push_back(i);
      group.second.push_back(&reports[i]);
    }
    for (auto& [list, members] : by_endpoints) {
      groups.push_back(std::make_unique<PipelinedGroup>(shared, members.first, members.second));
      threads.emplace_back([group = groups.back().get(), list = list] { group->Run(list); });
    }
  }
  const Clock::time_point prepare = Clock::now();
  shared.ready.wait();
  for (const ClientReport& report : reports) {
    if (!report.setup.ok()) {
      std::cerr << "keel-bench: client setup: " << report.setup << "\n";
      shared.abort = true;
      break;
    }
  }
  if (shared.mix.weights[kGet] > 0 && !shared.abort) {
    std::cerr << absl::StrFormat("keel-bench: preloaded %d keys in %.1fs\n", o.keys,
                                 std::chrono::duration<double>(Clock::now() - prepare).count());
  }
  const Clock::time_point start = Clock::now();
  shared.measure_start = start + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(o.warmup_seconds));
  shared.measure_end = shared.measure_start + std::chrono::duration_cast<Clock::duration>(
                                                  std::chrono::duration<double>(o.seconds));
  shared.go.count_down();
  for (std::thread& thread : threads) thread.join();
  if (shared.abort) return kExitSetup;
  PrintReport(shared, reports);
  return 0;
}

void AddOptions(CLI::App& app, Options& o) {
  tools::AddEndpointsOption(app, o.endpoints);
  tools::AddSecurityOptions(app, o.security);
  app.add_option("--clients", o.clients, "concurrent clients, one request outstanding each")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  app.add_option("--mix", o.mix, "operation weights: put, get, acquire, next")
      ->capture_default_str();
  app.add_option("--value-size", o.value_size, "bytes per put value")
      ->capture_default_str()
      ->check(CLI::Range(0, 65536));
  app.add_option("--keys", o.keys, "keys, chosen uniformly")
      ->capture_default_str()
      ->check(CLI::Range(1, 100'000'000));
  app.add_option("--warmup-seconds", o.warmup_seconds, "discarded warm-up")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 3600.0));
  app.add_option("--seconds", o.seconds, "measured window")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 86400.0));
  CLI::Option* leader_only = app.add_flag("--leader-only", o.leader_only,
                                          "every client talks to the leader's endpoint (default)");
  CLI::Option* spread =
      app.add_flag("--spread", o.spread, "client i talks to endpoint i mod n; followers proxy");
  spread->excludes(leader_only);
  CLI::Option* follow = app.add_flag("--follow-leader", o.follow_leader,
                                     "every client is given every endpoint and follows the leader as the client "
                                     "library does, so a run survives a leader change");
  follow->excludes(leader_only);
  follow->excludes(spread);
  app.add_option("--driver", o.driver,
                 "pipeline: one thread and one session per endpoint list, every client's request "
                 "on one socket (as the anchor driver's goroutines on one connection); threads: a "
                 "thread, a blocking Client and a session per client")
      ->capture_default_str()
      ->check(CLI::IsMember({"pipeline", "threads"}));
  app.add_flag("--json", o.json, "print one JSON object instead of the key=value line");
}

int Main(int argc, char** argv) {
  CLI::App app("keel-bench: closed-loop load generator for a keel cluster", "keel-bench");
  app.footer(kFooter);
  Options o;
  AddOptions(app, o);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : kExitUsage;
  }
  client::ClientOptions security;
  if (absl::Status status = tools::ApplySecurity(o.security, security); !status.ok()) {
    std::cerr << "keel-bench: " << status.message() << "\n";
    return kExitUsage;
  }
  o.curve = security.curve;
  absl::StatusOr<Mix> mix = ParseMix(o.mix);
  if (!mix.ok()) {
    std::cerr << "keel-bench: --mix: " << mix.status().message() << "\n";
    return kExitUsage;
  }
  return RunBench(o, *std::move(mix));
}

}  // namespace
}  // namespace keel::bench

int main(int argc, char** argv) {
  return keel::bench::Main(argc, argv);
}
