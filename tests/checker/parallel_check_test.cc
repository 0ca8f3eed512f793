// CheckOptions::parallel_for: searching partitions concurrently (keel-check --jobs) must not
// change the verdict or the report, for linearizable histories and for ones with a planted
// stale read, whatever order the tasks run in.
#include <algorithm>
#include <atomic>
#include <functional>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "sim/checker/history_gen.h"
#include "sim/checker/models.h"
#include "sim/checker/report.h"

namespace keel::checker {
namespace {

// Runs the tasks on `threads` threads.
std::function<void(size_t, const std::function<void(size_t)>&)> Threaded(int threads) {
  return [threads](size_t count, const std::function<void(size_t)>& task) {
    std::atomic<size_t> next{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&] {
        for (size_t k; (k = next.fetch_add(1)) < count;) task(k);
      });
    }
    for (std::thread& thread : pool) thread.join();
  };
}

// Runs the tasks one by one, last first: the opposite of the sequential order.
void Backwards(size_t count, const std::function<void(size_t)>& task) {
  for (size_t k = count; k-- > 0;) task(k);
}

TEST(ParallelCheck, SameVerdictAndReportAsSequential) {
  int failing = 0;
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    GeneratorOptions generator;
    generator.operations = 400;
    generator.clients = 6;
    generator.keys = 8;
    generator.seed = seed;
    generator.info_rate = 0.05;
    generator.fail_rate = 0.05;
    generator.stale_read_rate = seed % 2 == 0 ? 0.02 : 0.0;
    absl::StatusOr<History> history = ParseHistory(GenerateHistory(generator));
    ASSERT_TRUE(history.ok()) << history.status();
    const ModelInfo* kv = FindModel("kv");
    ASSERT_NE(kv, nullptr);
    ReportContext context;
    context.model = "kv";
    context.input = "generated";

    absl::StatusOr<CheckResult> sequential = kv->check(*history, CheckOptions{});
    ASSERT_TRUE(sequential.ok());
    const std::string expected = RenderText(*history, *sequential, context);
    failing += sequential->verdict == Verdict::kNotLinearizable ? 1 : 0;

    for (int variant = 0; variant < 2; ++variant) {
      CheckOptions options;
      options.parallel_for = variant == 0 ? Threaded(3) : std::function(Backwards);
      absl::StatusOr<CheckResult> parallel = kv->check(*history, options);
      ASSERT_TRUE(parallel.ok());
      EXPECT_EQ(parallel->verdict, sequential->verdict) << "seed " << seed;
      // Steps differ (partitions after a failure may have been searched); the rest must not.
      CheckResult comparable = *parallel;
      comparable.steps = sequential->steps;
      EXPECT_EQ(RenderText(*history, comparable, context), expected) << "seed " << seed << " variant " << variant;
    }
  }
  // Both verdicts came up, or the comparison proves little.
  EXPECT_GT(failing, 3);
  EXPECT_LT(failing, 40);
}

}  // namespace
}  // namespace keel::checker
