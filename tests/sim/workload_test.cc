// The simulator's workload keeps its history as paired operations with their commands and
// results as protos (what the simulator checks, without parsing), and writes it as EDN text
// (the trace, --history, keel-check) only when asked. These tests drive clients against a fake
// cluster that answers, refuses and loses requests at random, and show that the two say the
// same thing: parsing the text gives exactly the operations (with values filled in; without,
// the same but nil), the protos are what keel-check decodes from the text (byte for byte:
// session fields cleared, error text dropped), the trace gets the text's lines, and the check
// of the operations reaches the verdict, in the same number of search steps and with the same
// explanation, that keel-check's check of the text does.
#include "sim/workload.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "engine/prng.h"
#include "kvstate/kv_state.h"
#include "sim/checker/edn.h"
#include "sim/checker/kvstate_model.h"
#include "sim/checker/proto_edn.h"
#include "sim/checker/report.h"
#include "sim/checker/typed_check.h"
#include "sim/scheduler.h"

namespace keel::sim {
namespace {

constexpr int64_t kMillis = 1'000'000;

// A fake cluster: each attempt takes a few ms and is refused, lost, or answered. An honest one
// applies the command to a real KvState when it arrives (so the history is linearizable; a
// lost answer may have been applied); a lying one makes answers up (so it is most likely not).
Attempt FakeSubmit(Scheduler& scheduler, Prng& prng, kvstate::KvState* honest, Index* index,
                   const std::string& bytes) {
  kvpb::Command command;
  EXPECT_TRUE(command.ParseFromString(bytes));
  const uint64_t roll = prng.Uniform(10);
  if (roll == 0) {
    scheduler.Sleep(1 + static_cast<int64_t>(prng.Uniform(5 * kMillis)));
    return Attempt{Attempt::Outcome::kNotApplied, ""};
  }
  kvpb::Result result;
  if (honest != nullptr) {
    result = honest->ApplyCommand(++*index, command);
  } else {
    result.set_code(prng.Uniform(4) == 0 ? kvpb::CODE_NOT_FOUND : kvpb::CODE_OK);
    if (command.has_register_session()) {
      result.set_code(kvpb::CODE_OK);
      result.set_session(1 + prng.Uniform(1000));
    } else if (command.has_pool_acquire()) {
      result.set_slot(prng.Uniform(3));
    } else if (command.has_lb_pick()) {
      result.set_backend(absl::StrCat("b", prng.Uniform(4)));
    } else if (command.has_kv_put() || command.has_kv_get() || command.has_kv_cas()) {
      result.set_version(1 + prng.Uniform(50));
      if (command.has_kv_get()) result.set_value("v");
    }
    if (prng.Uniform(8) == 0) result.set_error("ignored by the checker");
  }
  scheduler.Sleep(1 + static_cast<int64_t>(prng.Uniform(5 * kMillis)));
  if (roll == 1) return Attempt{Attempt::Outcome::kUnknown, ""};
  return Attempt{Attempt::Outcome::kApplied, result.SerializeAsString()};
}

struct WorkloadRun {
  std::unique_ptr<kvstate::KvState> state;  // the honest cluster's, or null
  Index applied = 0;
  std::unique_ptr<Workload> workload;
  // The history lines the workload traced, in order, each with its newline; and the digests
  // of those it traced deferred.
  std::shared_ptr<std::string> traced = std::make_shared<std::string>();
  std::shared_ptr<std::vector<std::string>> digests = std::make_shared<std::vector<std::string>>();
  // Destroyed first: it unwinds the fibers still in the workload's code.
  std::unique_ptr<Scheduler> scheduler = std::make_unique<Scheduler>();
};

// `clients` clients for `millis` of virtual time, then the final reads. `deferred`: the
// workload traces its history through trace_deferred (as the simulator's does), else trace.
WorkloadRun RunWorkload(uint64_t seed, int clients, int64_t millis, bool honest, bool deferred = true) {
  WorkloadRun run;
  if (honest) run.state = std::make_unique<kvstate::KvState>();
  Scheduler& scheduler = *run.scheduler;
  auto prng = std::make_shared<Prng>(seed);
  WorkloadEnv env;
  env.scheduler = &scheduler;
  env.nodes = {1, 2, 3};
  env.leader_hint = [prng]() { return static_cast<NodeId>(prng->Uniform(4)); };  // 0: no hint
  kvstate::KvState* state = run.state.get();
  Index* applied = &run.applied;
  env.submit = [&scheduler, prng, state, applied](NodeId, const std::string& bytes, int64_t) {
    return FakeSubmit(scheduler, *prng, state, applied, bytes);
  };
  std::shared_ptr<std::string> traced = run.traced;
  env.trace = [traced](const std::string& line) {
    if (absl::StartsWith(line, "history ")) absl::StrAppend(traced.get(), line.substr(8), "\n");
  };
  if (deferred) {
    std::shared_ptr<std::vector<std::string>> digests = run.digests;
    env.trace_deferred = [traced, digests](absl::string_view digest, absl::FunctionRef<std::string()> render) {
      digests->emplace_back(digest);
      const std::string line = render();
      EXPECT_TRUE(absl::StartsWith(line, "history ")) << line;
      absl::StrAppend(traced.get(), line.substr(8), "\n");
    };
  }
  env.stopped = [] { return false; };
  env.attempt_timeout_nanos = 20 * kMillis;
  env.think_nanos = 2 * kMillis;
  Prng shape_prng(seed + 1);
  run.workload = std::make_unique<Workload>(env, DrawWorkloadShape(shape_prng), clients, Prng(seed + 2));
  Workload& workload = *run.workload;
  for (int c = 1; c <= clients; ++c) scheduler.Spawn(absl::StrCat("client-", c), [&workload, c] { workload.ClientMain(c); });
  scheduler.Run(millis * kMillis);
  workload.StopClients();
  scheduler.Spawn("final-reads", [&workload] { workload.FinalReads(); });
  scheduler.Run(INT64_MAX, [&workload] { return workload.final_reads_done(); });
  EXPECT_TRUE(workload.final_reads_done());
  return run;
}

TEST(WorkloadTest, OperationsAreTheParsedTextAndTheProtosAreItsValues) {
  int outcomes[3] = {0, 0, 0};
  const checker::KvstateModel model(checker::KvstateModel::Objects::kAll);
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    const WorkloadRun run = RunWorkload(seed, 1 + static_cast<int>(seed % 6), 200 + 100 * static_cast<int64_t>(seed),
                                        seed % 2 == 0, /*deferred=*/seed % 3 != 0);
    const Workload& workload = *run.workload;
    const std::string text = workload.history();
    // The trace got exactly the history's lines, in order.
    EXPECT_EQ(*run.traced, text);
    if (!run.digests->empty()) {
      // Each digest (what the trace hash covers in a line's place) decides its line but for
      // the :time (which the hash covers apart): a changed event changes the hash.
      const std::vector<std::string> lines = absl::StrSplit(absl::StripSuffix(text, "\n"), '\n');
      ASSERT_EQ(lines.size(), run.digests->size());
      std::map<std::string, std::string> line_of;
      for (size_t i = 0; i < lines.size(); ++i) {
        const std::string timeless = lines[i].substr(0, lines[i].rfind(", :time "));
        const auto [it, added] = line_of.emplace((*run.digests)[i], timeless);
        EXPECT_EQ(it->second, timeless) << "two lines share a digest";
      }
    }
    absl::StatusOr<checker::History> parsed = checker::ParseHistory(text);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    const checker::History full = workload.operations_with_values();
    const checker::History& ops = workload.operations();
    ASSERT_EQ(parsed->ops.size(), full.ops.size());
    ASSERT_EQ(ops.ops.size(), full.ops.size());
    ASSERT_GT(ops.ops.size(), 20u);
    ASSERT_EQ(workload.typed_operations().size(), ops.ops.size());
    for (size_t i = 0; i < ops.ops.size(); ++i) {
      const checker::Operation& a = parsed->ops[i];
      const checker::Operation& b = full.ops[i];
      // operations() is the same without values.
      const checker::Operation& bare = ops.ops[i];
      ASSERT_EQ(bare.process, b.process) << i;
      ASSERT_EQ(bare.f, b.f) << i;
      ASSERT_EQ(bare.outcome, b.outcome) << i;
      ASSERT_EQ(bare.invoke_line, b.invoke_line) << i;
      ASSERT_EQ(bare.complete_line, b.complete_line) << i;
      ASSERT_EQ(bare.call, b.call) << i;
      ASSERT_EQ(bare.ret, b.ret) << i;
      ASSERT_TRUE(bare.input.is_nil() && bare.output.is_nil()) << i;
      ASSERT_EQ(a.process, b.process) << i;
      ASSERT_EQ(a.f, b.f) << i;
      ASSERT_EQ(a.key.has_value(), b.key.has_value()) << i;
      ASSERT_EQ(edn::ToEdn(a.input), edn::ToEdn(b.input)) << i;
      ASSERT_EQ(edn::ToEdn(a.output), edn::ToEdn(b.output)) << i;
      ASSERT_EQ(a.outcome, b.outcome) << i;
      ASSERT_EQ(a.invoke_line, b.invoke_line) << i;
      ASSERT_EQ(a.complete_line, b.complete_line) << i;
      ASSERT_EQ(a.call, b.call) << i;
      ASSERT_EQ(a.ret, b.ret) << i;
      ++outcomes[static_cast<int>(b.outcome)];
      // The protos are what keel-check decodes from the text, byte for byte.
      const Workload::TypedOperation& typed = workload.typed_operations()[i];
      ASSERT_EQ(typed.result.has_value(), b.outcome == checker::Outcome::kOk) << i;
      if (a.outcome == checker::Outcome::kFail) continue;  // never decoded
      absl::StatusOr<checker::Call<checker::KvstateModel>> decoded = model.Decode(a);
      ASSERT_TRUE(decoded.ok()) << decoded.status();
      EXPECT_EQ(decoded->input.SerializeAsString(), typed.command.SerializeAsString()) << i;
      ASSERT_EQ(decoded->output.has_value(), typed.result.has_value()) << i;
      if (typed.result) {
        EXPECT_EQ(decoded->output->SerializeAsString(), typed.result->SerializeAsString()) << i;
      }
    }
  }
  // Every outcome occurs.
  EXPECT_GT(outcomes[static_cast<int>(checker::Outcome::kOk)], 0);
  EXPECT_GT(outcomes[static_cast<int>(checker::Outcome::kFail)], 0);
  EXPECT_GT(outcomes[static_cast<int>(checker::Outcome::kInfo)], 0);
}

TEST(WorkloadTest, TheChecksOfTheOperationsAndOfTheTextAgree) {
  int not_linearizable = 0;
  int linearizable = 0;
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    const WorkloadRun run = RunWorkload(100 + seed, 1 + static_cast<int>(seed % 4),
                                        100 + 50 * static_cast<int64_t>(seed % 5), seed % 2 == 0);
    checker::CheckOptions options;
    options.max_steps = 200'000;
    options.explain_max_steps = 200'000;
    absl::StatusOr<checker::CheckResult> typed = run.workload->CheckOperations(options);
    absl::StatusOr<checker::History> parsed = checker::ParseHistory(run.workload->history());
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    absl::StatusOr<checker::CheckResult> text =
        checker::CheckHistory(checker::KvstateModel(checker::KvstateModel::Objects::kAll), *parsed, options);
    ASSERT_TRUE(typed.ok()) << typed.status();
    ASSERT_TRUE(text.ok()) << text.status();
    EXPECT_EQ(typed->verdict, text->verdict);
    EXPECT_EQ(typed->steps, text->steps);
    EXPECT_EQ(typed->partitions, text->partitions);
    EXPECT_EQ(typed->ops_ok, text->ops_ok);
    EXPECT_EQ(typed->ops_fail, text->ops_fail);
    EXPECT_EQ(typed->ops_info, text->ops_info);
    EXPECT_EQ(typed->ops_unseen_reads, text->ops_unseen_reads);
    if (typed->verdict == checker::Verdict::kNotLinearizable) {
      // The same explanation, naming the same values.
      checker::ReportContext context;
      EXPECT_EQ(checker::RenderText(run.workload->operations_with_values(), *typed, context),
                checker::RenderText(*parsed, *text, context));
    }
    not_linearizable += typed->verdict == checker::Verdict::kNotLinearizable;
    linearizable += typed->verdict == checker::Verdict::kLinearizable;
  }
  // Both verdicts must have been compared.
  EXPECT_GT(not_linearizable, 0);
  EXPECT_GT(linearizable, 0);
}

}  // namespace
}  // namespace keel::sim
