// keel-sim: deterministic simulation of a keel cluster (sim/simulation.h).
//
//   keel-sim run --seed N [options]        one run; prints a key=value verdict line
//   keel-sim replay --seed N [options]     the same run again (compare trace_hash)
//   keel-sim sweep --seeds A..B [--jobs J] many seeds; prints failing seeds and replay commands
//   keel-sim bench [--seconds S] [--repeat N]  simulated seconds per wall second, events per second
//   keel-sim --list-planted-bugs
// Exit status: 0 pass, 1 a run failed, 2 usage error.

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "engine/planted_bugs.h"
#include "sim/simulation.h"
#include "tools/sim_sweep.h"

namespace {

constexpr const char* kHelp = R"(keel-sim: deterministic, seeded simulation of a keel cluster.

Every run is decided by one 64-bit seed: cluster size (1-7 nodes unless --nodes), timeouts,
fault rates (swarm testing), every delay, drop, partition, crash, torn write and client
operation. The same seed replays the same run: same trace, same trace_hash.

Commands:
  run --seed N        One run. Prints every derived setting, then one verdict line of
                      key=value pairs: seed, nodes, sim_ms, events, faults (by kind),
                      leader_changes, membership_changes, membership_refused and
                      transfers (the operator's actions answered OK, or refused),
                      lease_reads (1: the seed's nodes serve lease reads, then
                      lease_served: how many), client_ops (by outcome: ok, fail, info),
                      history (operations and the linearizability verdict), trace_hash,
                      verdict, wall_ms.
  replay --seed N     Same as run; use it to reproduce a failing seed (with --trace).
  sweep --seeds A..B  Runs seeds A through B (inclusive); prints each failing seed with the
                      exact replay command, then a summary line. Exit 1 if any failed.
  bench               Runs 5-node clusters with faults and 8 clients for --seconds of
                      simulated time per seed (seeds 1-3); prints simulated seconds per
                      wall second and events per second. With --timing production, the
                      production-timed profile (compare the two in one run). With
                      --repeat N, N times over, then the best, median and worst (exit 1 if
                      any run failed its checks).

Options:
  --seed N            Seed of run/replay (required there).
  --seeds A..B        Seed range of sweep.
  --jobs J            Sweep with J worker processes (default 1).
  --nodes N           Fix the cluster size (1-7) instead of drawing it from the seed.
  --clients N         Client fibers (default 4; bench uses 8).
  --safety-ms MS      Virtual time with faults on (default 20000). `--safety-ms seed` draws
                      it from each seed instead (1 s to 40 s, log-uniform), so a sweep
                      covers short and long runs; replay commands print the drawn value.
  --liveness-ms MS    Virtual time allowed after healing to commit a fresh entry on every
                      node (default 20000); a stall is a failure.
  --timing T          swarm (default): ticks of 2-20 ms, elections after 5-20 ticks, drawn per
                      seed, to pack many elections into little simulated time. production:
                      etcd's defaults (100 ms ticks, election after 10), LAN latencies,
                      faults and membership changes 10x further apart.
  --no-faults         No nemesis, no drops or duplicates (a calm run).
  --plant-bug NAME    Switch on a known bug of the engine or of the replicated state (see
                      --list-planted-bugs); the checks must catch it. The production keel
                      binary has none of them.
  --list-planted-bugs Print the planted bugs and exit.
  --no-engine-checks  Skip the engine's safety checks (election safety, log matching, leader
                      completeness, durability); only the linearizability of the clients'
                      history and identical replica states judge the run.
  --trace FILE        Write every trace line of run/replay to FILE.
  --history FILE      Write the clients' history of run/replay to FILE in the EDN form
                      keel-check reads (one event per line); `keel-check --model kvstate FILE`
                      gives the verdict the run gave. Written for failing runs too.
  --seconds S         Simulated seconds per bench run (default 60).
  --repeat N          Bench repetitions (default 1).
  --no-fault KIND     Switch off one fault class (repeatable): crash, partition, pause, clog,
                      slow-disk, fsync-error, loss, bit-flip, membership (about half the
                      seeds run an operator that adds spare nodes, promotes, removes and
                      replaces members and transfers leadership). The rest of the run is
                      drawn as before.
  --shrink            run/replay of a failing seed: search for a smaller run that still fails
                      (earlier stop, fewer fault classes, fewer clients) and print it as a
                      replayable command. Exit 1 with the shrunk run, 0 if the seed passes.
  --first-failure     sweep: no seed is handed out after the first failing one (the seeds
                      below it run to their verdicts): to measure how many seeds it takes to
                      catch a planted bug.
  --quiet             run/replay: print only the verdict line.
  --crash-worker-at-seed N
                      sweep, for testing the sweep itself: the worker aborts instead of
                      running seed N. The sweep reports seed N as crashed and a new worker
                      carries on with the seeds not yet handed out.
  --help              This text.

Exit status: 0 pass, 1 fail, 2 usage error.
)";

struct Args {
  std::string command;
  keel::sim::SimOptions options;
  bool have_seed = false;
  uint64_t first = 0;
  uint64_t last = 0;
  bool have_range = false;
  int jobs = 1;
  std::string trace_file;
  std::string history_file;
  double bench_seconds = 60;
  int bench_repeat = 1;
  bool quiet = false;
  bool clients_set = false;
  bool first_failure = false;
  bool shrink = false;
  bool safety_from_seed = false;  // --safety-ms seed
  uint64_t crash_worker_at_seed = 0;  // 0: never
};

int Usage(const std::string& error) {
  std::fprintf(stderr, "keel-sim: %s\n(see keel-sim --help)\n", error.c_str());
  return 2;
}

int64_t WallMillis(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
}

// The options of the run of `seed`: with --safety-ms seed, its drawn safety-phase length.
keel::sim::SimOptions OptionsFor(const Args& args, uint64_t seed) {
  keel::sim::SimOptions options = args.options;
  options.seed = seed;
  if (args.safety_from_seed) options.safety_nanos = keel::sim::SafetyNanosForSeed(seed);
  return options;
}

std::string ReplayFlags(const Args& args, uint64_t seed) {
  std::string out = absl::StrCat("keel-sim replay --seed ", seed);
  if (args.options.nodes > 0) absl::StrAppend(&out, " --nodes ", args.options.nodes);
  if (args.clients_set) absl::StrAppend(&out, " --clients ", args.options.clients);
  absl::StrAppend(&out, " --safety-ms ", OptionsFor(args, seed).safety_nanos / 1'000'000);
  absl::StrAppend(&out, " --liveness-ms ", args.options.liveness_nanos / 1'000'000);
  if (!args.options.faults) absl::StrAppend(&out, " --no-faults");
  if (args.options.production_timing) absl::StrAppend(&out, " --timing production");
  if (!args.options.engine_checks) absl::StrAppend(&out, " --no-engine-checks");
  for (const keel::sim::FaultClassInfo& fault : keel::sim::FaultClasses()) {
    if (args.options.disabled_faults & fault.fault) absl::StrAppend(&out, " --no-fault ", fault.name);
  }
  for (const keel::PlantedBugInfo& bug : keel::AllPlantedBugs()) {
    if (args.options.planted_bugs & bug.bug) absl::StrAppend(&out, " --plant-bug ", bug.name);
  }
  return out;
}

int RunOne(const Args& args) {
  std::ofstream trace_out;
  if (!args.trace_file.empty()) {
    trace_out.open(args.trace_file);
    if (!trace_out) return Usage(absl::StrCat("cannot write ", args.trace_file));
  }
  keel::sim::TraceSink sink;
  if (trace_out.is_open()) sink = [&](const std::string& line) { trace_out << line << '\n'; };
  const auto start = std::chrono::steady_clock::now();
  const keel::sim::SimResult result = keel::sim::RunSimulation(args.options, sink);
  if (!args.history_file.empty()) {
    std::ofstream history_out(args.history_file);
    history_out << result.history;
    if (!history_out.flush()) return Usage(absl::StrCat("cannot write ", args.history_file));
  }
  if (!args.quiet) std::printf("%s", result.settings.c_str());
  std::printf("%s wall_ms=%lld\n", result.VerdictLine().c_str(), static_cast<long long>(WallMillis(start)));
  if (!result.passed) {
    std::printf("failure: %s\nreplay: %s --trace trace.txt\n", result.failure.c_str(),
                ReplayFlags(args, args.options.seed).c_str());
  }
  return result.passed ? 0 : 1;
}

// Greedy shrinking: each step keeps a change only if the run still fails. Every candidate is
// a complete, replayable run (same seed, smaller options), so the result replays exactly.
int Shrink(Args args) {
  auto fails = [](const keel::sim::SimOptions& options) { return !keel::sim::RunSimulation(options, nullptr).passed; };
  if (!fails(args.options)) {
    std::printf("seed %llu passes: nothing to shrink\n", static_cast<unsigned long long>(args.options.seed));
    return 0;
  }
  int runs = 1;
  auto try_options = [&](const keel::sim::SimOptions& candidate) {
    ++runs;
    if (!fails(candidate)) return false;
    args.options = candidate;
    return true;
  };
  auto shorten = [&]() {
    // Earlier stop: try cutting half, a quarter, ... of the faulty phase (whole milliseconds,
    // so that the printed --safety-ms replays exactly).
    for (int64_t cut_ms = args.options.safety_nanos / 2'000'000; cut_ms >= 100; cut_ms /= 2) {
      keel::sim::SimOptions candidate = args.options;
      candidate.safety_nanos = (args.options.safety_nanos / 1'000'000 - cut_ms) * 1'000'000;
      try_options(candidate);
    }
  };
  shorten();
  for (const keel::sim::FaultClassInfo& fault : keel::sim::FaultClasses()) {
    if (args.options.disabled_faults & fault.fault) continue;
    keel::sim::SimOptions candidate = args.options;
    candidate.disabled_faults |= fault.fault;
    try_options(candidate);
  }
  while (args.options.clients > 1) {  // the workload needs a client
    keel::sim::SimOptions candidate = args.options;
    --candidate.clients;
    if (!try_options(candidate)) break;
  }
  args.clients_set = true;
  shorten();
  const keel::sim::SimResult result = keel::sim::RunSimulation(args.options, nullptr);
  std::printf("shrunk after %d runs: %s\nfailure: %s\nreplay: %s --trace trace.txt\n", runs,
              result.VerdictLine().c_str(), result.failure.c_str(), ReplayFlags(args, args.options.seed).c_str());
  return result.passed ? 0 : 1;
}

int Sweep(const Args& args) {
  const auto start = std::chrono::steady_clock::now();
  const uint64_t count = args.last - args.first + 1;
  const int jobs = static_cast<int>(std::min<uint64_t>(std::max(1, args.jobs), count));
  const keel::tools::SweepOutcome outcome =
      keel::tools::RunSweep(args.first, args.last, jobs, args.first_failure, [&args](uint64_t seed) {
        if (args.crash_worker_at_seed == seed) std::abort();  // --crash-worker-at-seed
        const keel::sim::SimOptions options = OptionsFor(args, seed);
        const keel::sim::SimResult result = keel::sim::RunSimulation(options, nullptr);
        return keel::tools::SeedVerdict{result.passed, result.failure};
      });
  for (const auto& [seed, why] : outcome.failures) {
    std::printf("FAIL seed=%llu %s\n  replay: %s --trace trace.txt\n", static_cast<unsigned long long>(seed),
                why.c_str(), ReplayFlags(args, seed).c_str());
  }
  const int64_t wall = WallMillis(start);
  std::printf("sweep seeds=%llu..%llu runs=%llu failed=%zu worker_crashes=%d jobs=%d wall_ms=%lld seeds_per_minute=%.0f\n",
              static_cast<unsigned long long>(args.first), static_cast<unsigned long long>(args.last),
              static_cast<unsigned long long>(outcome.runs), outcome.failures.size(), outcome.worker_crashes, jobs,
              static_cast<long long>(wall),
              wall > 0 ? static_cast<double>(outcome.runs) * 60000.0 / static_cast<double>(wall) : 0.0);
  if (!outcome.failures.empty()) {
    std::printf("first_failing_seed=%llu\n", static_cast<unsigned long long>(outcome.failures.front().first));
  }
  return outcome.failures.empty() ? 0 : 1;
}

int Bench(const Args& args) {
  keel::sim::SimOptions options = args.options;
  options.nodes = 5;
  if (!args.clients_set) options.clients = 8;
  options.safety_nanos = static_cast<int64_t>(args.bench_seconds * 1e9);
  const char* timing = options.production_timing ? "production" : "swarm";
  // Each repetition runs the same seeds (the same simulated work): on a shared machine the
  // best of several is the figure to compare, and the spread says how noisy it was.
  std::vector<double> rates;
  int failed = 0;
  for (int repeat = 0; repeat < args.bench_repeat; ++repeat) {
    const auto start = std::chrono::steady_clock::now();
    uint64_t events = 0;
    int64_t sim_nanos = 0;
    int runs = 0;
    for (uint64_t seed = 1; seed <= 3; ++seed, ++runs) {
      options.seed = seed;
      const keel::sim::SimResult result = keel::sim::RunSimulation(options, nullptr);
      events += result.events;
      sim_nanos += result.sim_nanos;
      if (!result.passed) {
        ++failed;
        // The first line; `keel-sim run --seed N` with the same options shows it all.
        const std::string first_line = result.failure.substr(0, result.failure.find('\n'));
        std::printf("bench seed %llu failed: %s\n", static_cast<unsigned long long>(seed), first_line.c_str());
      }
    }
    const double wall_s = std::max(static_cast<double>(WallMillis(start)), 1.0) / 1000.0;
    rates.push_back(static_cast<double>(sim_nanos) / 1e9 / wall_s);
    std::printf("bench timing=%s runs=%d nodes=5 clients=%d sim_s=%.1f wall_s=%.2f sim_per_wall=%.0f events=%llu events_per_s=%.0f\n",
                timing, runs, options.clients, static_cast<double>(sim_nanos) / 1e9, wall_s, rates.back(),
                static_cast<unsigned long long>(events), static_cast<double>(events) / wall_s);
  }
  if (rates.size() > 1) {
    std::sort(rates.begin(), rates.end());
    std::printf("bench_summary timing=%s repeats=%zu sim_per_wall_best=%.0f median=%.0f worst=%.0f\n", timing,
                rates.size(), rates.back(), rates[rates.size() / 2], rates.front());
  }
  return failed == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  // The simulated disks' files and the history grow by doubling. Above the default mmap
  // threshold glibc gives each growth fresh mapped pages and unmaps the old ones, so every
  // growth faults its pages in anew (9% of a production-timed run's samples were page
  // faults); kept on the heap, freed blocks are reused. Addresses decide nothing in a run.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's largest on 64-bit
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  Args args;
  std::vector<std::string> words(argv + 1, argv + argc);
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string& word = words[i];
    auto value = [&](const char* flag) -> const std::string* {
      if (i + 1 >= words.size()) {
        Usage(absl::StrCat(flag, " needs a value"));
        return nullptr;
      }
      return &words[++i];
    };
    auto number = [&](const char* flag, int64_t low, int64_t high, int64_t* out) {
      const std::string* v = value(flag);
      if (v == nullptr) return false;
      if (!absl::SimpleAtoi(*v, out) || *out < low || *out > high) {
        Usage(absl::StrCat(flag, " must be a number in [", low, ", ", high, "], not '", *v, "'"));
        return false;
      }
      return true;
    };
    int64_t n = 0;
    if (word == "--help" || word == "-h") {
      std::printf("%s", kHelp);
      return 0;
    } else if (word == "--list-planted-bugs") {
      for (const keel::PlantedBugInfo& bug : keel::AllPlantedBugs()) {
        std::printf("%-20s %s\n", std::string(bug.name).c_str(), std::string(bug.description).c_str());
      }
      return 0;
    } else if (word == "--seed") {
      const std::string* v = value("--seed");
      if (v == nullptr || !absl::SimpleAtoi(*v, &args.options.seed)) return Usage("--seed needs an unsigned number");
      args.have_seed = true;
    } else if (word == "--seeds") {
      const std::string* v = value("--seeds");
      if (v == nullptr) return 2;
      std::vector<std::string> parts = absl::StrSplit(*v, "..");
      if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &args.first) || !absl::SimpleAtoi(parts[1], &args.last) ||
          args.first > args.last) {
        return Usage("--seeds takes A..B with A <= B");
      }
      args.have_range = true;
    } else if (word == "--jobs") {
      if (!number("--jobs", 1, 64, &n)) return 2;
      args.jobs = static_cast<int>(n);
    } else if (word == "--nodes") {
      if (!number("--nodes", 1, 7, &n)) return 2;
      args.options.nodes = static_cast<int>(n);
    } else if (word == "--clients") {
      if (!number("--clients", 1, 64, &n)) return 2;
      args.options.clients = static_cast<int>(n);
      args.clients_set = true;
    } else if (word == "--safety-ms" && i + 1 < words.size() && words[i + 1] == "seed") {
      args.safety_from_seed = true;
      ++i;
    } else if (word == "--safety-ms") {
      if (!number("--safety-ms", 0, 86'400'000, &n)) return 2;
      args.options.safety_nanos = n * 1'000'000;
    } else if (word == "--liveness-ms") {
      if (!number("--liveness-ms", 1, 86'400'000, &n)) return 2;
      args.options.liveness_nanos = n * 1'000'000;
    } else if (word == "--timing") {
      const std::string* v = value("--timing");
      if (v == nullptr) return 2;
      if (*v != "swarm" && *v != "production") return Usage("--timing is swarm or production");
      args.options.production_timing = *v == "production";
    } else if (word == "--no-faults") {
      args.options.faults = false;
    } else if (word == "--no-engine-checks") {
      args.options.engine_checks = false;
    } else if (word == "--plant-bug") {
      const std::string* v = value("--plant-bug");
      if (v == nullptr) return 2;
      const std::optional<keel::PlantedBug> bug = keel::PlantedBugByName(*v);
      if (!bug) return Usage(absl::StrCat("unknown planted bug '", *v, "' (see --list-planted-bugs)"));
      args.options.planted_bugs |= *bug;
    } else if (word == "--trace") {
      const std::string* v = value("--trace");
      if (v == nullptr) return 2;
      args.trace_file = *v;
    } else if (word == "--history") {
      const std::string* v = value("--history");
      if (v == nullptr) return 2;
      args.history_file = *v;
      args.options.keep_history = true;
    } else if (word == "--seconds") {
      if (!number("--seconds", 1, 100000, &n)) return 2;
      args.bench_seconds = static_cast<double>(n);
    } else if (word == "--repeat") {
      if (!number("--repeat", 1, 1000, &n)) return 2;
      args.bench_repeat = static_cast<int>(n);
    } else if (word == "--no-fault") {
      const std::string* v = value("--no-fault");
      if (v == nullptr) return 2;
      bool found = false;
      for (const keel::sim::FaultClassInfo& fault : keel::sim::FaultClasses()) {
        if (*v == fault.name) {
          args.options.disabled_faults |= fault.fault;
          found = true;
        }
      }
      if (!found) return Usage(absl::StrCat("unknown fault class '", *v, "'"));
    } else if (word == "--shrink") {
      args.shrink = true;
    } else if (word == "--crash-worker-at-seed") {
      if (!number("--crash-worker-at-seed", 1, INT64_MAX, &n)) return 2;
      args.crash_worker_at_seed = static_cast<uint64_t>(n);
    } else if (word == "--first-failure") {
      args.first_failure = true;
    } else if (word == "--quiet") {
      args.quiet = true;
    } else if (!word.empty() && word[0] != '-' && args.command.empty()) {
      args.command = word;
    } else {
      return Usage(absl::StrCat("unknown argument '", word, "'"));
    }
  }
  if (args.command == "run" || args.command == "replay") {
    if (!args.have_seed) return Usage(absl::StrCat(args.command, " needs --seed N"));
    args.options = OptionsFor(args, args.options.seed);
    if (args.shrink) return Shrink(args);
    return RunOne(args);
  }
  if (args.command == "sweep") {
    if (!args.have_range) return Usage("sweep needs --seeds A..B");
    return Sweep(args);
  }
  if (args.command == "bench") return Bench(args);
  if (args.command.empty()) return Usage("no command (run, replay, sweep, bench)");
  return Usage(absl::StrCat("unknown command '", args.command, "'"));
}
