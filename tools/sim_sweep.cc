#include "tools/sim_sweep.h"

#include <poll.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <optional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"

namespace keel::tools {
namespace {

// Line breaks inside a failure travel through the pipe as a byte that never occurs in one.
constexpr char kLineBreak = '\x1e';

// Shared by the parent and every worker (an anonymous shared mapping made before the forks):
// workers take the next seed from `next` as they finish one, so a worker that drew long seeds
// does not leave the other idle at the end (with fixed shares, one of two workers was idle
// for ~10% of a sweep's wall time). Lock-free atomics work across processes on one mapping.
struct SharedState {
  std::atomic<uint64_t> next;  // the next seed to hand out
  std::atomic<bool> stop;      // first_failure: a seed failed, hand out no more
};
static_assert(std::atomic<uint64_t>::is_always_lock_free && std::atomic<bool>::is_always_lock_free);

struct Worker {
  pid_t pid = -1;
  int fd = -1;
  std::string data;
};

bool WriteLine(int fd, const std::string& line) {
  return write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
}

// Forks a worker taking seeds <= last from `shared` until none is left; -1 pid on failure.
// It writes "R <seed>" when it takes a seed and "P <seed>" or "F <seed> <why>" when the seed is
// decided, so the seed a dead worker was running is the one it took and never decided.
Worker Spawn(SharedState* shared, uint64_t last, bool first_failure,
             const std::function<SeedVerdict(uint64_t)>& run) {
  Worker worker;
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
    while (!shared->stop.load()) {
      const uint64_t seed = shared->next.fetch_add(1);
      if (seed > last) break;
      if (!WriteLine(fds[1], absl::StrCat("R ", seed, "\n"))) _exit(3);
      const SeedVerdict verdict = run(seed);
      const std::string line =
          verdict.passed ? absl::StrCat("P ", seed, "\n")
                         : absl::StrCat("F ", seed, " ",
                                        absl::StrReplaceAll(verdict.failure, {{"\n", std::string(1, kLineBreak)}}),
                                        "\n");
      if (!WriteLine(fds[1], line)) _exit(3);
      if (!verdict.passed && first_failure) {
        // Every seed below this one was handed out before it: the workers running them finish
        // them, so the first failing seed is still found.
        shared->stop.store(true);
        break;
      }
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
  void* mapping = mmap(nullptr, sizeof(SharedState), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mapping == MAP_FAILED) {
    std::perror("keel-sim: mmap");
    std::exit(2);
  }
  SharedState* shared = new (mapping) SharedState{};
  shared->next.store(first);
  shared->stop.store(false);
  // Which seeds a worker reported taking: a seed handed out but never started (its worker
  // died between taking it and saying so) is reported at the end rather than lost. One bit per
  // seed; not kept for ranges too large to sweep anyway.
  const uint64_t count = last - first + 1;
  std::vector<bool> started(count <= (uint64_t{1} << 27) ? count : 0);
  // Starts a worker into `into`; if that fails the others carry on, and seeds no worker was
  // left to run are reported at the end.
  auto spawn = [&](std::vector<Worker>& into) {
    Worker worker = Spawn(shared, last, first_failure, run);
    if (worker.pid < 0) {
      std::perror("keel-sim: could not start a sweep worker (pipe/fork)");
      return;
    }
    into.push_back(std::move(worker));
  };
  std::vector<Worker> workers;
  for (int j = 0; j < std::max(1, jobs) && first + static_cast<uint64_t>(j) <= last; ++j) spawn(workers);
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
      std::optional<uint64_t> running;  // the seed it took and has not decided (one at a time)
      for (absl::string_view line : absl::StrSplit(worker.data, '\n', absl::SkipEmpty())) {
        std::vector<absl::string_view> parts = absl::StrSplit(line, absl::MaxSplits(' ', 2));
        uint64_t seed = 0;
        if (parts.size() < 2 || !absl::SimpleAtoi(parts[1], &seed)) continue;
        if (parts[0] == "R") {
          running = seed;
          if (seed - first < started.size()) started[seed - first] = true;
          continue;
        }
        running.reset();
        ++outcome.runs;
        if (parts[0] == "F") {
          outcome.failures.emplace_back(
              seed, parts.size() > 2 ? absl::StrReplaceAll(parts[2], {{std::string(1, kLineBreak), "\n  "}}) : "");
        }
      }
      const bool clean_exit = WIFEXITED(status) && WEXITSTATUS(status) == 0;
      if (clean_exit && !running) continue;
      // The worker died, at the seed it took and never decided (none: at exit).
      ++outcome.worker_crashes;
      std::fprintf(stderr, "keel-sim: sweep worker %d %s %d\n", static_cast<int>(worker.pid),
                   WIFSIGNALED(status) ? "killed by signal" : "exited with status",
                   WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
      if (running) {
        outcome.failures.emplace_back(*running, "the simulation process crashed (assertion or signal; see stderr)");
        if (first_failure) shared->stop.store(true);
      }
      // A replacement carries on with the seeds not yet handed out (none left: it exits at once).
      if (!shared->stop.load() && shared->next.load() <= last) spawn(next);
    }
    workers = std::move(next);
  }
  const uint64_t handed_end = std::min(shared->next.load(), last + 1);  // seeds below were handed out
  if (!started.empty()) {
    for (uint64_t seed = first; seed < handed_end; ++seed) {
      if (!started[seed - first]) {
        outcome.failures.emplace_back(seed, "handed to a worker that died before it started the seed");
      }
    }
  }
  if (!shared->stop.load() && handed_end <= last) {
    outcome.failures.emplace_back(handed_end, absl::StrCat("seeds ", handed_end, "..", last,
                                                           " did not run: could not start a worker process "
                                                           "(pipe/fork failed)"));
  }
  munmap(mapping, sizeof(SharedState));
  std::sort(outcome.failures.begin(), outcome.failures.end());
  return outcome;
}

}  // namespace keel::tools
