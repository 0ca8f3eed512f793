// keel-check: checks a Jepsen-style EDN history for linearizability against a sequential
// model, and generates histories for benchmarks. The checking itself is sim/checker; this file
// is the command line, the file I/O and the wall clock (which sim/ may not read).
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "sim/checker/history.h"
#include "sim/checker/history_gen.h"
#include "sim/checker/models.h"
#include "sim/checker/report.h"

namespace keel::checker {
namespace {

constexpr int kExitLinearizable = 0;
constexpr int kExitNotLinearizable = 1;
constexpr int kExitInputError = 2;
constexpr int kExitUnknown = 3;

constexpr double kDefaultTimeLimitSeconds = 60;
// The failure explanation's step budget: enough for the shortest prefix of the histories the
// benchmarks use many times over, small enough that the explanation never takes seconds
// after a verdict that took milliseconds.
constexpr uint64_t kDefaultExplainSteps = 1'000'000;

std::string HelpText() {
  std::string models;
  for (const ModelInfo& model : Models()) {
    absl::StrAppend(&models, "  ", model.name, std::string(14 - model.name.size(), ' '),
                    model.summary, "\n");
  }
  return absl::StrCat(R"(keel-check: is this history linearizable?

usage:
  keel-check [--model NAME] [--json] [--time-limit SECONDS] [--max-steps N] [--jobs N]
             [--explain-steps N] FILE
  keel-check gen-kv [--appends-only] [--ops N] [--clients C] [--keys K] [--seed S] [FAULTS]
  keel-check gen-register [--cas] [--ops N] [--clients C] [--values V] [--seed S] [FAULTS]
  keel-check --help

Checks the history in FILE ('-' reads standard input) against a sequential model with the
Wing & Gong / Lowe search (as in Porcupine, Knossos): it looks for an order of the operations
that respects real time (an operation that completed before another was invoked comes first)
and that the model accepts. The search memoises (set of linearized operations, model state)
and checks each partition of the history on its own (P-compositionality: kv splits by :key),
stopping at the first partition that is not linearizable.

HISTORY FORMAT
  Jepsen-style EDN, one event map per line; blank lines and lines starting with ';' are
  skipped, commas are whitespace:
    {:process 0, :type :invoke, :f :read, :value nil}
    {:process 1, :type :invoke, :f :cas, :value [3 0]}
    {:process 0, :type :ok, :f :read, :value 3}
    {:process 1, :type :fail, :f :cas, :value [3 0]}
    {:process 2, :type :invoke, :f :append, :key "k", :value "x"}
    {:process 2, :type :info, :f :append, :key "k", :value "x"}
  :process  integer client id; each process has at most one operation in flight. Events whose
            :process is not an integer (e.g. :nemesis) are skipped.
  :type     :invoke, then the completion: :ok (happened, with the result in :value),
            :fail (did not happen), or :info (indeterminate: may take effect at any time after
            the invocation, or never). An invocation never completed counts as :info.
  :f        the operation, a keyword; the completion repeats the invocation's :f.
  :value    the invocation's argument; for an :ok read, the result.
  :key      the object, for models that have several (kv).
  Other keys (:time, :index, :error, ...) are ignored; values may be nil, true/false,
  integers, floats, strings (with \" \\ \n \t \r \uXXXX escapes), keywords, symbols, vectors,
  lists, sets, maps and tagged values (#tag v).

MODELS (--model NAME, default cas-register)
)",
                      models, R"(
OPTIONS
  --model NAME          the sequential model to check against (see MODELS)
  --json                print the report as one JSON object instead of text
  --jobs N              search up to N partitions (keys, objects) at once in threads (default:
                        the number of CPUs). The verdict and report do not depend on it: a
                        partition is stopped early only when one before it in key order failed.
  --time-limit SECONDS  give up with "unknown" (exit 3) after this long (default 60; 0: none)
  --max-steps N         give up with "unknown" after N search steps (default: none); unlike the
                        time limit, the same on every machine (partitions are then searched
                        one after another, whatever --jobs says)
  --explain-steps N     search steps the failure explanation may take after the verdict
                        (default 1000000; 0: no limit). The verdict never depends on it; when
                        it runs out, the report shows a failing prefix that may not be the
                        shortest, and says so.

REPORT
  The first line gives the counts, the search steps and the time to the verdict. Not
  linearizable: the partition (kv: the key) that is not; the
  operation no linearization can place before its completion, so that the history up to that
  line is not linearizable while, for that partition, up to any earlier line it is (counting
  operations that :fail later as never happening); a linearization of the partition's
  operations that completed before that line, with the model state after it; and the
  operations invoked before that line that it leaves out, each with whether the model accepts
  it in that state; last, the steps and time the explanation took, apart from the verdict's,
  and its budget (--explain-steps). --json gives the same as one object ("verdict", "operations",
  "partitions", "steps", "verdict_seconds", "check_seconds" (verdict and explanation),
  "explain_steps", "explain_max_steps", and "failure" with "prefix_end_line", "blocked",
  "linearized", "state", "pending").

EXIT STATUS
  0  linearizable
  1  not linearizable
  2  input error (the message names the line and the reason) or bad command line
  3  unknown: the time limit or --max-steps ran out first

GENERATORS (history on standard output; a simulated linearizable system unless FAULTS say)
  gen-kv        :get/:put/:append over --keys K keys "k0".."k<K-1>" (default 100);
                --appends-only: :get/:append, as Jepsen's append workload
  gen-register  :read/:write, plus :cas with --cas; --values V draws values from [0, V)
                (default 0: every write writes a new value)
  --ops N (default 1000)  --clients C (default 10)  --seed S (default 1)
  FAULTS:  --info-rate P    chance an acknowledgement is lost (:info); the operation takes
                            effect before, after, or never (default 0)
           --fail-rate P    chance a write is refused without effect (:fail) (default 0)
           --stale-reads P  planted bug: chance a read returns the value before the latest
                            write, which makes the history non-linearizable (default 0)
           --plant-anomaly  gen-kv: exactly one read, after half the operations, returns the
                            value from before a write acknowledged before the read was
                            invoked (named in a '; planted anomaly' comment line at the end)
  e.g.  keel-check gen-kv --ops 100000 --clients 10 --keys 1000 --seed 7 > h.edn
        keel-check gen-kv --appends-only --ops 2000 --clients 50 --keys 10 --plant-anomaly
        keel-check --model kv h.edn
)");
}

int UsageError(absl::string_view message) {
  std::cerr << "keel-check: " << message << "\n(keel-check --help explains the options)\n";
  return kExitInputError;
}

// Splits "--name=value" and "--name value"; `i` advances past what was used.
struct FlagReader {
  std::vector<std::string> args;
  size_t i = 0;

  bool Done() const { return i >= args.size(); }
  const std::string& Current() const { return args[i]; }

  // If args[i] is flag `name`, sets `value` from "=value" or the next argument.
  std::optional<std::string> Take(absl::string_view name, std::string* error) {
    const std::string& arg = args[i];
    if (arg == name) {
      if (i + 1 >= args.size()) {
        *error = absl::StrCat(name, " needs a value");
        return std::nullopt;
      }
      i += 2;
      return args[i - 1];
    }
    if (absl::string_view(arg).substr(0, name.size() + 1) == absl::StrCat(name, "=")) {
      ++i;
      return arg.substr(name.size() + 1);
    }
    return std::nullopt;
  }
};

bool ParseRate(const std::string& text, double* rate) {
  return absl::SimpleAtod(text, rate) && *rate >= 0 && *rate <= 1;
}

int RunGenerator(GeneratorOptions::Workload workload, FlagReader flags) {
  GeneratorOptions options;
  options.workload = workload;
  std::string error;
  while (!flags.Done()) {
    const std::string arg = flags.Current();
    std::optional<std::string> value;
    if (arg == "--cas" && workload != GeneratorOptions::Workload::kKv) {
      options.workload = GeneratorOptions::Workload::kCasRegister;
      ++flags.i;
    } else if (arg == "--appends-only" && workload == GeneratorOptions::Workload::kKv) {
      options.appends_only = true;
      ++flags.i;
    } else if (arg == "--plant-anomaly" && workload == GeneratorOptions::Workload::kKv) {
      options.plant_anomaly = true;
      ++flags.i;
    } else if ((value = flags.Take("--ops", &error))) {
      if (!absl::SimpleAtoi(*value, &options.operations) || options.operations < 0) {
        return UsageError("--ops needs a count >= 0");
      }
    } else if ((value = flags.Take("--clients", &error))) {
      if (!absl::SimpleAtoi(*value, &options.clients) || options.clients < 1) {
        return UsageError("--clients needs a count >= 1");
      }
    } else if ((value = flags.Take("--keys", &error)) &&
               workload == GeneratorOptions::Workload::kKv) {
      if (!absl::SimpleAtoi(*value, &options.keys) || options.keys < 1) {
        return UsageError("--keys needs a count >= 1");
      }
    } else if ((value = flags.Take("--values", &error)) &&
               workload != GeneratorOptions::Workload::kKv) {
      if (!absl::SimpleAtoi(*value, &options.values) || options.values < 0) {
        return UsageError("--values needs a count >= 0");
      }
    } else if ((value = flags.Take("--seed", &error))) {
      if (!absl::SimpleAtoi(*value, &options.seed)) return UsageError("--seed needs an integer");
    } else if ((value = flags.Take("--info-rate", &error))) {
      if (!ParseRate(*value, &options.info_rate)) return UsageError("--info-rate needs 0..1");
    } else if ((value = flags.Take("--fail-rate", &error))) {
      if (!ParseRate(*value, &options.fail_rate)) return UsageError("--fail-rate needs 0..1");
    } else if ((value = flags.Take("--stale-reads", &error))) {
      if (!ParseRate(*value, &options.stale_read_rate))
        return UsageError("--stale-reads needs 0..1");
    } else {
      return UsageError(error.empty() ? absl::StrCat("unknown argument '", arg, "'") : error);
    }
  }
  std::cout << GenerateHistory(options);
  return std::cout.flush() ? kExitLinearizable : kExitInputError;
}

bool ReadInput(const std::string& path, std::string* contents, std::string* error) {
  std::ostringstream buffer;
  if (path == "-") {
    buffer << std::cin.rdbuf();
  } else {
    std::ifstream file(path, std::ios::binary);
    if (!file) {
      *error = absl::StrCat("cannot read ", path, ": ", std::strerror(errno));
      return false;
    }
    buffer << file.rdbuf();
  }
  *contents = std::move(buffer).str();
  return true;
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

int RunCheck(FlagReader flags) {
  std::string model_name = "cas-register";
  bool json = false;
  double time_limit = kDefaultTimeLimitSeconds;
  int jobs = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  CheckOptions options;
  options.explain_max_steps = kDefaultExplainSteps;
  std::optional<std::string> path;
  std::string error;
  while (!flags.Done()) {
    const std::string arg = flags.Current();
    std::optional<std::string> value;
    if (arg == "--json") {
      json = true;
      ++flags.i;
    } else if ((value = flags.Take("--model", &error))) {
      model_name = *value;
    } else if ((value = flags.Take("--time-limit", &error))) {
      if (!absl::SimpleAtod(*value, &time_limit) || !(time_limit >= 0)) {
        return UsageError("--time-limit needs a number of seconds >= 0");
      }
    } else if ((value = flags.Take("--jobs", &error))) {
      if (!absl::SimpleAtoi(*value, &jobs) || jobs < 1 || jobs > 1024) {
        return UsageError("--jobs needs a count from 1 to 1024");
      }
    } else if ((value = flags.Take("--max-steps", &error))) {
      if (!absl::SimpleAtoi(*value, &options.max_steps)) {
        return UsageError("--max-steps needs a count");
      }
    } else if ((value = flags.Take("--explain-steps", &error))) {
      if (!absl::SimpleAtoi(*value, &options.explain_max_steps)) {
        return UsageError("--explain-steps needs a count");
      }
    } else if (!error.empty()) {
      return UsageError(error);
    } else if (arg.size() > 1 && arg[0] == '-') {
      return UsageError(absl::StrCat("unknown option '", arg, "'"));
    } else if (path.has_value()) {
      return UsageError("give one history file");
    } else {
      path = arg;
      ++flags.i;
    }
  }
  if (!path.has_value()) return UsageError("no history file given");
  const ModelInfo* model = FindModel(model_name);
  if (model == nullptr) {
    std::string names;
    for (const ModelInfo& info : Models()) absl::StrAppend(&names, " ", info.name);
    return UsageError(absl::StrCat("unknown model '", model_name, "'; models:", names));
  }

  std::string contents;
  if (!ReadInput(*path, &contents, &error)) {
    std::cerr << "keel-check: " << error << "\n";
    return kExitInputError;
  }
  auto input_error = [&](absl::string_view message) {
    std::cerr << "keel-check: " << *path << ": " << message << "\n";
    if (json) std::cout << RenderJsonInputError(*path, message);
    return kExitInputError;
  };

  const auto parse_start = std::chrono::steady_clock::now();
  absl::StatusOr<History> history = ParseHistory(contents);
  if (!history.ok()) return input_error(history.status().message());
  ReportContext context;
  context.model = model_name;
  context.input = *path;
  context.parse_seconds = SecondsSince(parse_start);

  const auto check_start = std::chrono::steady_clock::now();
  if (time_limit > 0) {
    const auto deadline =
        check_start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                          std::chrono::duration<double>(time_limit));
    options.should_stop = [deadline] { return std::chrono::steady_clock::now() >= deadline; };
  }
  if (jobs > 1) {
    options.parallel_for = [jobs](size_t count, const std::function<void(size_t)>& task) {
      std::atomic<size_t> next{0};
      std::vector<std::thread> threads;
      for (size_t t = 0; t < std::min<size_t>(static_cast<size_t>(jobs), count); ++t) {
        threads.emplace_back([&] {
          for (size_t k; (k = next.fetch_add(1)) < count;) task(k);
        });
      }
      for (std::thread& thread : threads) thread.join();
    };
  }
  options.on_verdict = [&] { context.verdict_seconds = SecondsSince(check_start); };
  absl::StatusOr<CheckResult> result = model->check(*history, options);
  if (!result.ok()) return input_error(result.status().message());
  context.check_seconds = SecondsSince(check_start);
  context.explain_max_steps = options.explain_max_steps;

  std::cout << (json ? RenderJson(*history, *result, context)
                     : RenderText(*history, *result, context));
  std::cout.flush();
  switch (result->verdict) {
    case Verdict::kLinearizable:
      return kExitLinearizable;
    case Verdict::kNotLinearizable:
      return kExitNotLinearizable;
    case Verdict::kUnknown:
      return kExitUnknown;
  }
  return kExitUnknown;
}

int Main(int argc, char** argv) {
  FlagReader flags;
  for (int i = 1; i < argc; ++i) flags.args.emplace_back(argv[i]);
  for (const std::string& arg : flags.args) {
    if (arg == "--help" || arg == "-h") {
      std::cout << HelpText();
      return 0;
    }
  }
  if (!flags.Done() && flags.Current() == "gen-kv") {
    ++flags.i;
    return RunGenerator(GeneratorOptions::Workload::kKv, std::move(flags));
  }
  if (!flags.Done() && flags.Current() == "gen-register") {
    ++flags.i;
    return RunGenerator(GeneratorOptions::Workload::kRegister, std::move(flags));
  }
  return RunCheck(std::move(flags));
}

}  // namespace
}  // namespace keel::checker

int main(int argc, char** argv) {
  return keel::checker::Main(argc, argv);
}
