#include "tools/sim_sweep.h"

#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"

namespace keel::tools {
namespace {

// Line breaks inside a failure travel through the pipe as a byte that never occurs in one.
constexpr char kLineBreak = '\x1e';

struct Worker {
  pid_t pid = -1;
  int fd = -1;
  uint64_t start = 0;  // first seed of this worker's share
  std::string data;
};

// Forks a worker running seeds start, start + stride, ... <= last; -1 pid on failure.
Worker Spawn(uint64_t start, uint64_t stride, uint64_t last, bool first_failure,
             const std::function<SeedVerdict(uint64_t)>& run) {
  Worker worker;
  worker.start = start;
  int fds[2];
  if (pipe(fds) != 0) return worker;
  const pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return worker;
  }
  if (pid == 0) {
    close(fds[0]);
    for (uint64_t seed = start; seed <= last; seed += stride) {
      const SeedVerdict verdict = run(seed);
      // One line per seed, so that a seed that kills the process is known by its absence.
      const std::string line =
          verdict.passed ? absl::StrCat("P ", seed, "\n")
                         : absl::StrCat("F ", seed, " ",
                                        absl::StrReplaceAll(verdict.failure, {{"\n", std::string(1, kLineBreak)}}),
                                        "\n");
      if (write(fds[1], line.data(), line.size()) != static_cast<ssize_t>(line.size())) _exit(3);
      if (!verdict.passed && first_failure) break;
    }
    close(fds[1]);
    _exit(0);
  }
  close(fds[1]);
  worker.pid = pid;
  worker.fd = fds[0];
  return worker;
}

}  // namespace

SweepOutcome RunSweep(uint64_t first, uint64_t last, int jobs, bool first_failure,
                      const std::function<SeedVerdict(uint64_t)>& run) {
  SweepOutcome outcome;
  const uint64_t stride = static_cast<uint64_t>(std::max(1, jobs));
  std::vector<Worker> workers;
  for (uint64_t j = 0; j < stride && first + j <= last; ++j) {
    Worker worker = Spawn(first + j, stride, last, first_failure, run);
    if (worker.pid < 0) {
      outcome.failures.emplace_back(first + j, "could not start a worker process (pipe/fork failed)");
      continue;
    }
    workers.push_back(std::move(worker));
  }
  while (!workers.empty()) {
    std::vector<pollfd> fds;
    for (const Worker& worker : workers) fds.push_back(pollfd{worker.fd, POLLIN, 0});
    if (poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      std::perror("keel-sim: poll");
      std::exit(2);
    }
    std::vector<Worker> next;
    for (size_t i = 0; i < workers.size(); ++i) {
      Worker& worker = workers[i];
      if (fds[i].revents == 0) {
        next.push_back(std::move(worker));
        continue;
      }
      char buffer[4096];
      const ssize_t n = read(worker.fd, buffer, sizeof(buffer));
      if (n > 0) {
        worker.data.append(buffer, static_cast<size_t>(n));
        next.push_back(std::move(worker));
        continue;
      }
      if (n < 0 && errno == EINTR) {
        next.push_back(std::move(worker));
        continue;
      }
      // End of the worker's output: collect it.
      close(worker.fd);
      int status = 0;
      waitpid(worker.pid, &status, 0);
      std::set<uint64_t> reported;
      bool failed = false;
      for (absl::string_view line : absl::StrSplit(worker.data, '\n', absl::SkipEmpty())) {
        std::vector<absl::string_view> parts = absl::StrSplit(line, absl::MaxSplits(' ', 2));
        uint64_t seed = 0;
        if (parts.size() < 2 || !absl::SimpleAtoi(parts[1], &seed)) continue;
        reported.insert(seed);
        ++outcome.runs;
        if (parts[0] == "F") {
          outcome.failures.emplace_back(
              seed, parts.size() > 2 ? absl::StrReplaceAll(parts[2], {{std::string(1, kLineBreak), "\n  "}}) : "");
          failed = true;
        }
      }
      const bool clean_exit = WIFEXITED(status) && WEXITSTATUS(status) == 0;
      if (clean_exit || (first_failure && failed)) continue;
      // The worker died at the first seed of its share it did not report.
      ++outcome.worker_crashes;
      std::fprintf(stderr, "keel-sim: sweep worker %d %s %d\n", static_cast<int>(worker.pid),
                   WIFSIGNALED(status) ? "killed by signal" : "exited with status",
                   WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
      uint64_t crashed = worker.start;
      while (crashed <= last && reported.contains(crashed)) crashed += stride;
      if (crashed > last) continue;  // died after its last seed (at exit)
      outcome.failures.emplace_back(crashed, "the simulation process crashed (assertion or signal; see stderr)");
      if (first_failure || crashed + stride > last) continue;
      Worker replacement = Spawn(crashed + stride, stride, last, first_failure, run);
      if (replacement.pid < 0) {
        outcome.failures.emplace_back(crashed + stride, "could not restart a worker process (pipe/fork failed)");
        continue;
      }
      next.push_back(std::move(replacement));
    }
    workers = std::move(next);
  }
  std::sort(outcome.failures.begin(), outcome.failures.end());
  return outcome;
}

}  // namespace keel::tools
