// Scheduler: event order, virtual time, fiber blocking (Sleep, Park/Wake), Kill and its stack
// unwinding, teardown, many short-lived fibers (for ASan/LSan), determinism, and fatal misuse.
#include "sim/scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/prng.h"

namespace keel::sim {
namespace {

constexpr int64_t kForever = INT64_MAX;

// Counts live instances, so tests can see which destructors ran.
struct Tracked {
  explicit Tracked(int* live) : live(live), payload(1000, 'x') { ++*live; }
  ~Tracked() { --*live; }
  Tracked(const Tracked&) = delete;
  Tracked& operator=(const Tracked&) = delete;
  int* live;
  std::string payload;  // heap memory: LSan reports it if the destructor is skipped
};

TEST(SchedulerTest, CallbacksRunInTimeOrderThenInSchedulingOrder) {
  Scheduler s;
  std::vector<std::string> trace;
  s.At(30, [&] { trace.push_back(absl::StrCat("c@", s.now())); });
  s.At(10, [&] { trace.push_back(absl::StrCat("a@", s.now())); });
  s.At(20, [&] { trace.push_back(absl::StrCat("b1@", s.now())); });
  s.At(20, [&] { trace.push_back(absl::StrCat("b2@", s.now())); });
  s.At(10, [&] {
    trace.push_back(absl::StrCat("a2@", s.now()));
    s.At(20, [&] { trace.push_back(absl::StrCat("b3@", s.now())); });
  });
  EXPECT_EQ(s.Run(kForever), 6u);
  EXPECT_EQ(trace, (std::vector<std::string>{"a@10", "a2@10", "b1@20", "b2@20", "b3@20", "c@30"}));
  EXPECT_EQ(s.now(), 30);  // an empty queue does not move the clock
  EXPECT_EQ(s.events_run(), 6u);
}

// Thousands of events at few distinct times, scheduled up front and from inside callbacks:
// they run exactly in (time, scheduling order), the order std::stable_sort gives (the queue
// is a hand-written 4-ary heap; this is its check against the library).
TEST(SchedulerTest, ManyEventsRunInTimeThenSchedulingOrder) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    Scheduler s;
    Prng prng(seed);
    struct Scheduled {
      int64_t time;
      int id;
    };
    std::vector<Scheduled> scheduled;
    std::vector<int> ran;
    int next_id = 0;
    std::function<void(int64_t)> schedule = [&](int64_t time) {
      const int id = next_id++;
      scheduled.push_back({time, id});
      s.At(time, [&, id] {
        ran.push_back(id);
        // Some callbacks schedule more, at or after now (never in the past).
        if (next_id < 5000 && prng.Uniform(3) == 0) schedule(s.now() + static_cast<int64_t>(prng.Uniform(40)));
      });
    };
    const int up_front = 1000 + static_cast<int>(prng.Uniform(2000));
    for (int i = 0; i < up_front; ++i) {
      schedule(static_cast<int64_t>(prng.Uniform(1 + prng.Uniform(500))));
    }
    s.Run(kForever);
    std::stable_sort(scheduled.begin(), scheduled.end(),
                     [](const Scheduled& a, const Scheduled& b) { return a.time < b.time; });
    std::vector<int> expected;
    for (const Scheduled& e : scheduled) expected.push_back(e.id);
    ASSERT_EQ(ran, expected) << "seed " << seed;
  }
}

TEST(SchedulerTest, RunStopsAtUntilAndMovesTheClockThere) {
  Scheduler s;
  int ran = 0;
  s.At(100, [&] { ++ran; });
  s.At(200, [&] { ++ran; });
  s.At(300, [&] { ++ran; });
  EXPECT_EQ(s.Run(200), 2u);  // `until` is inclusive
  EXPECT_EQ(s.now(), 200);
  EXPECT_EQ(s.Run(250), 0u);
  EXPECT_EQ(s.now(), 250);
  EXPECT_EQ(s.Run(kForever), 1u);
  EXPECT_EQ(ran, 3);
  EXPECT_EQ(s.Run(kForever), 0u);
}

TEST(SchedulerTest, RunStopsWhenThePredicateSaysSo) {
  Scheduler s;
  int ran = 0;
  for (int i = 1; i <= 10; ++i) s.At(i, [&] { ++ran; });
  EXPECT_EQ(s.Run(kForever, [&] { return ran == 4; }), 4u);
  EXPECT_EQ(s.now(), 4);
  EXPECT_EQ(s.Run(kForever), 6u);
  EXPECT_EQ(s.events_run(), 10u);
}

TEST(SchedulerTest, SpawnRunsAtTheCurrentTimeAfterAlreadyDueEvents) {
  Scheduler s;
  std::vector<std::string> trace;
  s.At(5, [&] {
    s.At(5, [&] { trace.emplace_back("due-before-spawn"); });
    s.Spawn("f", [&] { trace.push_back(absl::StrCat("fiber@", s.now())); });
    s.At(5, [&] { trace.emplace_back("due-after-spawn"); });
  });
  s.Run(kForever);
  EXPECT_EQ(trace, (std::vector<std::string>{"due-before-spawn", "fiber@5", "due-after-spawn"}));
}

TEST(SchedulerTest, SleepJumpsVirtualTime) {
  Scheduler s;
  std::vector<int64_t> wakeups;
  const FiberId id = s.Spawn("sleeper", [&] {
    s.Sleep(1'000'000'000);
    wakeups.push_back(s.now());
    s.SleepUntil(5'000'000'000);
    wakeups.push_back(s.now());
    s.SleepUntil(1);  // in the past: yields, the clock stays
    wakeups.push_back(s.now());
  });
  EXPECT_TRUE(s.Alive(id));
  s.Run(kForever);
  EXPECT_EQ(wakeups, (std::vector<int64_t>{1'000'000'000, 5'000'000'000, 5'000'000'000}));
  EXPECT_FALSE(s.Alive(id));
}

TEST(SchedulerTest, SleepInThePastLetsOtherDueEventsRunFirst) {
  Scheduler s;
  std::vector<std::string> trace;
  s.Spawn("f", [&] {
    s.At(s.now(), [&] { trace.emplace_back("callback"); });
    s.Sleep(0);
    trace.emplace_back("fiber");
  });
  s.Run(kForever);
  EXPECT_EQ(trace, (std::vector<std::string>{"callback", "fiber"}));
}

TEST(SchedulerTest, CurrentIsTheRunningFiber) {
  Scheduler s;
  EXPECT_EQ(s.current(), kNoFiber);
  FiberId seen_a = kNoFiber, seen_b = kNoFiber, seen_in_callback = 42;
  FiberId a = s.Spawn("a", [&] {
    s.Sleep(1);
    seen_a = s.current();
  });
  FiberId b = s.Spawn("b", [&] { seen_b = s.current(); });
  s.At(0, [&] { seen_in_callback = s.current(); });
  s.Run(kForever);
  EXPECT_NE(a, b);
  EXPECT_EQ(seen_a, a);
  EXPECT_EQ(seen_b, b);
  EXPECT_EQ(seen_in_callback, kNoFiber);
  EXPECT_EQ(s.current(), kNoFiber);
}

TEST(SchedulerTest, ParkReturnsTrueWhenWokenBeforeTheDeadline) {
  Scheduler s;
  bool result = false;
  int64_t when = -1;
  const FiberId id = s.Spawn("parker", [&] {
    result = s.Park(1000);
    when = s.now();
  });
  s.At(300, [&] { s.Wake(id); });
  s.Run(kForever);
  EXPECT_TRUE(result);
  EXPECT_EQ(when, 300);
  // The deadline event is stale: it neither ran nor moved the clock.
  EXPECT_EQ(s.now(), 300);
  EXPECT_EQ(s.events_run(), 3u);  // spawn, the Wake callback, the wake-up
}

TEST(SchedulerTest, ParkReturnsFalseAtTheDeadline) {
  Scheduler s;
  bool result = true;
  int64_t when = -1;
  s.Spawn("parker", [&] {
    result = s.Park(1000);
    when = s.now();
  });
  s.Run(kForever);
  EXPECT_FALSE(result);
  EXPECT_EQ(when, 1000);
}

TEST(SchedulerTest, WakeAtTheDeadlineWinsOverTheTimeout) {
  Scheduler s;
  bool result = false;
  // The callback is queued before the fiber parks, so it runs before the deadline event.
  FiberId id = kNoFiber;
  s.At(1000, [&] { s.Wake(id); });
  id = s.Spawn("parker", [&] { result = s.Park(1000); });
  s.Run(kForever);
  EXPECT_TRUE(result);
}

TEST(SchedulerTest, ParkWithoutDeadlineWaitsForWake) {
  Scheduler s;
  int64_t when = -1;
  const FiberId id = s.Spawn("parker", [&] {
    EXPECT_TRUE(s.Park(kForever));
    when = s.now();
  });
  EXPECT_EQ(s.Run(kForever), 1u);  // parked; nothing else to do
  EXPECT_TRUE(s.Alive(id));
  s.At(7'000, [&] { s.Wake(id); });
  s.Run(kForever);
  EXPECT_EQ(when, 7'000);
  EXPECT_FALSE(s.Alive(id));
}

TEST(SchedulerTest, WakeWhileNotParkedIsRememberedOnce) {
  Scheduler s;
  std::vector<std::string> trace;
  FiberId id = kNoFiber;
  auto park = [&](int64_t deadline) {
    const bool woken = s.Park(deadline);  // before reading now(): argument order is unspecified
    trace.push_back(absl::StrCat(woken, "@", s.now()));
  };
  id = s.Spawn("f", [&] {
    s.Wake(id);  // while running
    s.Wake(id);  // coalesces with the first: one permit
    park(500);
    park(500);
    s.Sleep(100);  // woken during the sleep: does not cut it short, but is remembered
    trace.push_back(absl::StrCat("slept@", s.now()));
    park(kForever);
  });
  s.At(550, [&] { s.Wake(id); });
  s.Run(kForever);
  EXPECT_EQ(trace, (std::vector<std::string>{"1@0", "0@500", "slept@600", "1@600"}));
}

TEST(SchedulerTest, WakeAndKillOfUnknownOrFinishedFibersAreNoOps) {
  Scheduler s;
  const FiberId id = s.Spawn("short", [] {});
  s.Run(kForever);
  EXPECT_FALSE(s.Alive(id));
  s.Wake(id);
  s.Kill(id);
  s.Wake(12345);
  s.Kill(12345);
  EXPECT_FALSE(s.Alive(12345));
  EXPECT_EQ(s.Run(kForever), 0u);
}

// Recursion so that destructors live in several frames of the fiber's stack.
void Nest(Scheduler& s, int* live, int depth, bool* resumed) {
  Tracked here(live);
  if (depth == 0) {
    s.Park(kForever);
    *resumed = true;
    return;
  }
  Nest(s, live, depth - 1, resumed);
}

TEST(SchedulerTest, KillUnwindsTheStackAndLeavesNoStaleWakeups) {
  Scheduler s;
  int live = 0;
  bool resumed = false;
  bool after_sleep = false;
  const FiberId sleeper = s.Spawn("sleeper", [&] {
    Tracked outer(&live);
    auto owned = std::make_unique<Tracked>(&live);
    s.Sleep(1000);
    after_sleep = true;
  });
  const FiberId nested = s.Spawn("nested", [&] { Nest(s, &live, 10, &resumed); });
  s.Run(500);
  EXPECT_EQ(live, 2 + 11);
  EXPECT_TRUE(s.Alive(sleeper));
  s.Kill(sleeper);
  EXPECT_FALSE(s.Alive(sleeper));
  EXPECT_EQ(live, 11);
  s.Wake(nested);  // its wake-up event is queued; the Kill must make it stale
  s.Kill(nested);
  EXPECT_EQ(live, 0);
  const uint64_t before = s.events_run();
  EXPECT_EQ(s.Run(kForever), 0u);  // the sleep and the wake-up were stale
  EXPECT_EQ(s.events_run(), before);
  EXPECT_FALSE(after_sleep);
  EXPECT_FALSE(resumed);
  EXPECT_EQ(s.now(), 500);
}

TEST(SchedulerTest, KillOfAFiberThatNeverRanDropsItsBody) {
  Scheduler s;
  int live = 0;
  bool ran = false;
  auto captured = std::make_shared<Tracked>(&live);
  const FiberId id = s.Spawn("never", [&ran, captured] { ran = true; });
  captured.reset();
  EXPECT_EQ(live, 1);
  s.Kill(id);
  EXPECT_EQ(live, 0);
  EXPECT_EQ(s.Run(kForever), 0u);
  EXPECT_FALSE(ran);
}

TEST(SchedulerTest, AFiberCanKillAnotherFiber) {
  Scheduler s;
  int live = 0;
  std::vector<std::string> trace;
  const FiberId victim = s.Spawn("victim", [&] {
    Tracked on_stack(&live);
    s.Park(kForever);
    trace.emplace_back("victim resumed");
  });
  s.Spawn("killer", [&] {
    s.Sleep(10);
    trace.push_back(absl::StrCat("killing, live=", live));
    s.Kill(victim);
    trace.push_back(absl::StrCat("killed, live=", live, " alive=", s.Alive(victim)));
    s.Sleep(10);
    trace.push_back(absl::StrCat("killer done@", s.now()));
  });
  s.Run(kForever);
  EXPECT_EQ(trace, (std::vector<std::string>{"killing, live=1", "killed, live=0 alive=0",
                                             "killer done@20"}));
}

TEST(SchedulerTest, UnwindingDestructorsMayUseTheScheduler) {
  Scheduler s;
  int live = 0;
  std::vector<std::string> trace;
  FiberId other = kNoFiber;
  struct OnUnwind {
    std::function<void()> action;
    ~OnUnwind() { action(); }
  };
  other = s.Spawn("other", [&] {
    Tracked t(&live);
    s.Park(kForever);
  });
  const FiberId victim = s.Spawn("victim", [&] {
    OnUnwind hook{[&] {
      trace.push_back(absl::StrCat("unwinding, current is victim: ", s.current() != kNoFiber));
      s.Kill(other);  // a nested kill from the dying fiber's stack
      s.At(s.now() + 5, [&] { trace.push_back(absl::StrCat("callback@", s.now())); });
    }};
    s.Park(kForever);
  });
  s.Run(kForever);
  EXPECT_EQ(live, 1);
  s.Kill(victim);
  EXPECT_EQ(live, 0);
  EXPECT_FALSE(s.Alive(other));
  s.Run(kForever);
  EXPECT_EQ(trace, (std::vector<std::string>{"unwinding, current is victim: 1", "callback@5"}));
}

TEST(SchedulerTest, DestructionUnwindsEveryLiveFiber) {
  int live = 0;
  {
    Scheduler s;
    for (int i = 0; i < 20; ++i) {
      s.Spawn(absl::StrCat("f", i), [&s, &live, i] {
        Tracked t(&live);
        if (i % 2 == 0) {
          s.Sleep(1'000'000);
        } else {
          s.Park(kForever);
        }
      });
    }
    s.Run(10);
    EXPECT_EQ(live, 20);
    auto captured = std::make_shared<Tracked>(&live);
    s.Spawn("never-started", [captured] {});
    captured.reset();
    EXPECT_EQ(live, 21);
  }
  EXPECT_EQ(live, 0);
}

TEST(SchedulerTest, ThousandsOfFibersComeAndGo) {
  Scheduler s;
  Prng prng(7);
  int live = 0;
  int finished = 0;
  int64_t total = 0;
  // A driver spawns waves; each fiber allocates, sleeps a random while and finishes; one in
  // five of each wave is killed mid-sleep.
  s.Spawn("driver", [&] {
    for (int wave = 0; wave < 20; ++wave) {
      std::vector<FiberId> ids;
      for (int i = 0; i < 250; ++i) {
        const int64_t nap = static_cast<int64_t>(prng.Uniform(1000)) + 1;
        ids.push_back(s.Spawn(absl::StrCat("w", wave, "-", i), [&, nap, i] {
          Tracked t(&live);
          std::vector<int> scratch(64, i);
          s.Sleep(nap);
          total += scratch[0];
          ++finished;
        }));
      }
      s.Sleep(1);
      for (size_t i = 0; i < ids.size(); i += 5) s.Kill(ids[i]);
      s.Sleep(2000);
      for (FiberId id : ids) EXPECT_FALSE(s.Alive(id));
    }
  });
  s.Run(kForever);
  EXPECT_EQ(finished, 20 * 200);
  EXPECT_EQ(live, 0);
  EXPECT_GT(total, 0);
}

// Uses a good part of the 256 KiB stack (more in ASan builds, whose frames are larger).
int Deep(int depth) {
  volatile char buffer[1024];
  buffer[0] = static_cast<char>(depth);
  if (depth == 0) return buffer[0];
  return Deep(depth - 1) + buffer[0];
}

TEST(SchedulerTest, FibersHaveRoomForDeepCalls) {
  Scheduler s;
  int result = -1;
  s.Spawn("deep", [&] {
    s.Sleep(1);
    result = Deep(64);
  });
  s.Run(kForever);
  EXPECT_EQ(result, 64 * 65 / 2);
}

// A scripted scenario with random sleeps, parks and wakes in several fibers; returns its trace.
std::vector<std::string> Scenario(uint64_t seed) {
  Scheduler s;
  Prng prng(seed);
  std::vector<std::string> trace;
  std::vector<FiberId> ids;
  ids.reserve(5);
  for (int f = 0; f < 5; ++f) {
    ids.push_back(s.Spawn(absl::StrCat("node", f), [&, f] {
      for (int step = 0; step < 20; ++step) {
        switch (prng.Uniform(3)) {
          case 0:
            s.Sleep(static_cast<int64_t>(prng.Uniform(1000)));
            break;
          case 1:
            trace.push_back(absl::StrCat("park:", s.Park(s.now() + 500)));
            break;
          default:
            s.Wake(ids[prng.Uniform(ids.size())]);
            break;
        }
        trace.push_back(absl::StrCat(s.now(), " node", f, " step", step));
        if (step == 10 && f == 0) {
          s.At(s.now() + static_cast<int64_t>(prng.Uniform(100)),
               [&] { trace.push_back(absl::StrCat(s.now(), " callback")); });
        }
      }
    }));
  }
  s.Spawn("chaos", [&] {
    s.Sleep(static_cast<int64_t>(prng.Uniform(3000)));
    s.Kill(ids[4]);
    trace.push_back(absl::StrCat(s.now(), " killed node4"));
  });
  s.Run(kForever);
  trace.push_back(absl::StrCat("end ", s.now(), " events ", s.events_run()));
  return trace;
}

TEST(SchedulerTest, SameSeedSameTraceOtherSeedOtherTrace) {
  const std::vector<std::string> first = Scenario(42);
  const std::vector<std::string> second = Scenario(42);
  const std::vector<std::string> other = Scenario(43);
  EXPECT_GT(first.size(), 50u);
  EXPECT_EQ(first, second);
  EXPECT_NE(first, other);
}

TEST(SchedulerDeathTest, AnExceptionEscapingAFiberAborts) {
  EXPECT_DEATH(
      {
        Scheduler s;
        s.Spawn("thrower", [&] {
          s.Sleep(1);
          throw std::runtime_error("boom");
        });
        s.Run(kForever);
      },
      "fiber 'thrower' \\(id 1\\) let an exception escape: boom");
}

TEST(SchedulerDeathTest, SwallowingTheUnwindAborts) {
  EXPECT_DEATH(
      {
        Scheduler s;
        const FiberId id = s.Spawn("stubborn", [&] {
          try {
            s.Park(kForever);
          } catch (...) {  // wrong: must rethrow
          }
        });
        s.Run(kForever);
        s.Kill(id);
      },
      // Ours, or (in debug builds) Boost's own assertion in ~forced_unwind, which fires first.
      "swallowed boost::context forced_unwind|forced_unwind.*caught");
}

TEST(SchedulerDeathTest, BlockingOutsideAFiberAborts) {
  EXPECT_DEATH(
      {
        Scheduler s;
        s.Sleep(1);
      },
      "SleepUntil outside a fiber");
}

// Not run by default: measures scheduler throughput with 100 fibers in 50 ping-pong pairs.
// Run with --gtest_also_run_disabled_tests --gtest_filter='*Throughput*'.
TEST(SchedulerTest, DISABLED_PingPongThroughput) {
  Scheduler s;
  constexpr int kPairs = 50;
  constexpr int kRounds = 20'000;
  for (int p = 0; p < kPairs; ++p) {
    auto ids = std::make_shared<std::pair<FiberId, FiberId>>();
    ids->first = s.Spawn(absl::StrCat("ping", p), [&s, ids] {
      for (int r = 0; r < kRounds; ++r) {
        s.Wake(ids->second);
        s.Park(kForever);
      }
      s.Wake(ids->second);
    });
    ids->second = s.Spawn(absl::StrCat("pong", p), [&s, ids] {
      for (int r = 0; r < kRounds; ++r) {
        s.Park(kForever);
        s.Wake(ids->first);
      }
    });
  }
  const auto start = std::chrono::steady_clock::now();
  const uint64_t events = s.Run(kForever);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%llu events in %.3f s: %.0f events/s\n", static_cast<unsigned long long>(events),
              seconds, static_cast<double>(events) / seconds);
  EXPECT_GE(events, static_cast<uint64_t>(kPairs) * kRounds * 2);
}

}  // namespace
}  // namespace keel::sim
