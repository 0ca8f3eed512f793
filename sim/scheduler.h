// A single-threaded, deterministic scheduler of Boost.Context fibers over virtual time.
//
// Everything in a simulation runs on one OS thread. Work is either a fiber (a simulated node
// process, a client) that can block — Sleep, Park — or a plain timed callback. The scheduler
// always runs the earliest pending event; ties run in the order they were scheduled, so a run
// is a pure function of what the program does (no wall clock, no pointer-ordered containers).
// Virtual time jumps straight to the next event.
//
// AddressSanitizer is told about every stack switch (__sanitizer_start_switch_fiber /
// __sanitizer_finish_switch_fiber) so ASan builds work with fibers.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace keel::sim {

using FiberId = uint64_t;
inline constexpr FiberId kNoFiber = 0;

class Scheduler {
 public:
  Scheduler();
  ~Scheduler();  // kills (unwinds) every fiber still alive
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Virtual time in nanoseconds since the start of the simulation.
  int64_t now() const;

  // Starts `body` as a fiber, first run at the current time (after already-due events).
  FiberId Spawn(std::string name, std::function<void()> body);
  // Runs `callback` (not in a fiber: it must not block) at virtual time `when` (>= now()).
  void At(int64_t when, std::function<void()> callback);

  // --- only from inside a fiber ---
  FiberId current() const;
  // Blocks the calling fiber until virtual time `when`.
  void SleepUntil(int64_t when);
  void Sleep(int64_t nanos) { SleepUntil(now() + nanos); }
  // Blocks the calling fiber until Wake(current()) is called or `deadline` passes (pass
  // INT64_MAX for no deadline). Returns true if woken, false on timeout. A Wake that arrives
  // while the fiber is not parked is remembered and makes the next Park return at once.
  bool Park(int64_t deadline);

  // Wakes a parked fiber (from anywhere). No-op for an unknown or finished fiber.
  void Wake(FiberId fiber);
  // Destroys a fiber (a simulated crash): its stack is unwound and it never runs again.
  // Must not be called on the current fiber. No-op for an unknown or finished fiber.
  void Kill(FiberId fiber);
  bool Alive(FiberId fiber) const;

  // Runs events until none is left, virtual time reaches `until`, or `stop()` returns true
  // (checked after every event). Returns the number of events run.
  uint64_t Run(int64_t until, const std::function<bool()>& stop = nullptr);
  uint64_t events_run() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace keel::sim
