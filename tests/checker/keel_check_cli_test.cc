// The keel-check executable: exit codes, --help, --json, input errors, the generators. It
// runs the binary that sits beside this test in build/bin (both are built by a full build).
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace keel::checker {
namespace {

struct CliRun {
  int exit_code = -1;
  std::string out;  // standard output and standard error
};

std::filesystem::path KeelCheck() {
  return std::filesystem::read_symlink("/proc/self/exe").parent_path() / "keel-check";
}

CliRun RunKeelCheck(const std::string& args) {
  CliRun run;
  const std::string command = KeelCheck().string() + " " + args + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return run;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) run.out.append(buffer, n);
  const int status = pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

std::string WriteFile(const std::string& name, const std::string& contents) {
  const std::string path = ::testing::TempDir() + "/keel_check_cli_" + name;
  std::ofstream(path) << contents;
  return path;
}

class KeelCheckCli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(KeelCheck())) {
      GTEST_SKIP() << KeelCheck() << " is not built (ninja keel-check)";
    }
  }
};

constexpr char kStaleRead[] =
    "{:process 0, :type :invoke, :f :write, :value 1}\n"
    "{:process 0, :type :ok, :f :write, :value 1}\n"
    "{:process 0, :type :invoke, :f :write, :value 2}\n"
    "{:process 0, :type :ok, :f :write, :value 2}\n"
    "{:process 1, :type :invoke, :f :read, :value nil}\n"
    "{:process 1, :type :ok, :f :read, :value 1}\n";

constexpr char kFreshRead[] =
    "{:process 0, :type :invoke, :f :write, :value 1}\n"
    "{:process 0, :type :ok, :f :write, :value 1}\n"
    "{:process 0, :type :invoke, :f :write, :value 2}\n"
    "{:process 0, :type :ok, :f :write, :value 2}\n"
    "{:process 1, :type :invoke, :f :read, :value nil}\n"
    "{:process 1, :type :ok, :f :read, :value 2}\n";

TEST_F(KeelCheckCli, HelpDocumentsFormatsModelsOptionsAndExitCodes) {
  const CliRun run = RunKeelCheck("--help");
  EXPECT_EQ(run.exit_code, 0);
  for (const char* needle :
       {"HISTORY FORMAT", ":invoke", ":info", "register", "cas-register", "kv", "--model", "--json",
        "--time-limit", "--max-steps", "EXIT STATUS", "gen-kv", "gen-register", "--stale-reads"}) {
    EXPECT_TRUE(absl::StrContains(run.out, needle)) << needle;
  }
}

TEST_F(KeelCheckCli, ExitCodes) {
  const std::string bad = WriteFile("stale.edn", kStaleRead);
  CliRun run = RunKeelCheck("--model register " + bad);
  EXPECT_EQ(run.exit_code, 1) << run.out;
  EXPECT_TRUE(absl::StrContains(run.out, "NOT LINEARIZABLE")) << run.out;
  EXPECT_TRUE(absl::StrContains(run.out, "no linearization gets past line 6")) << run.out;

  const std::string good = WriteFile("good.edn", kFreshRead);
  run = RunKeelCheck("--model register " + good);
  EXPECT_EQ(run.exit_code, 0) << run.out;
  EXPECT_TRUE(absl::StrContains(run.out, "LINEARIZABLE (model register)")) << run.out;

  run = RunKeelCheck("--model register --max-steps 1 " + bad);
  EXPECT_EQ(run.exit_code, 3) << run.out;
  EXPECT_TRUE(absl::StrContains(run.out, "UNKNOWN")) << run.out;

  const std::string broken =
      WriteFile("broken.edn", "{:process 0, :type :invoke, :f :read}\n{:process 0 :type}\n");
  run = RunKeelCheck(broken);
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(run.out, "line 2: column 1: map has a key without a value"))
      << run.out;

  EXPECT_EQ(RunKeelCheck("--model nope " + good).exit_code, 2);
  EXPECT_EQ(RunKeelCheck("--bogus " + good).exit_code, 2);
  EXPECT_EQ(RunKeelCheck("").exit_code, 2);
  EXPECT_EQ(RunKeelCheck("/nonexistent/history.edn").exit_code, 2);
  EXPECT_EQ(RunKeelCheck("--model kv " + good).exit_code, 2);  // register ops are not kv ops
}

TEST_F(KeelCheckCli, JsonReport) {
  const std::string bad = WriteFile("stale_json.edn", kStaleRead);
  CliRun run = RunKeelCheck("--json --model=register " + bad);
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_TRUE(absl::StartsWith(run.out, "{\"verdict\":\"not-linearizable\",\"model\":\"register\""))
      << run.out;
  EXPECT_TRUE(absl::StrContains(run.out, "\"prefix_end_line\":6")) << run.out;
  EXPECT_TRUE(absl::StrContains(run.out, "\"state\":\"2\"")) << run.out;

  const std::string broken = WriteFile("broken_json.edn", "{:process \"x\n");
  run = RunKeelCheck("--json " + broken);
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(run.out, "\n{\"verdict\":\"input-error\",\"input\":")) << run.out;
}

TEST_F(KeelCheckCli, GeneratedHistoriesCheck) {
  const std::string dir = ::testing::TempDir();
  CliRun run = RunKeelCheck("gen-kv --ops 2000 --clients 5 --keys 20 --seed 3 --info-rate 0.05 > " +
                            dir + "/keel_check_cli_kv.edn");
  ASSERT_EQ(run.exit_code, 0) << run.out;
  run = RunKeelCheck("--model kv " + dir + "/keel_check_cli_kv.edn");
  EXPECT_EQ(run.exit_code, 0) << run.out;
  run = RunKeelCheck("gen-register --cas --ops 500 --clients 8 --stale-reads 0.05 > " + dir +
                     "/keel_check_cli_reg.edn");
  ASSERT_EQ(run.exit_code, 0) << run.out;
  run = RunKeelCheck("--model cas-register " + dir + "/keel_check_cli_reg.edn");
  EXPECT_EQ(run.exit_code, 1) << run.out;
  EXPECT_EQ(RunKeelCheck("gen-kv --ops -1").exit_code, 2);
}

}  // namespace
}  // namespace keel::checker
