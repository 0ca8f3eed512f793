// Scheduler: a (time, sequence)-ordered event heap driving Boost.Context fibers.
//
// Fiber lifecycle. Spawn records the fiber and queues its first run; the Boost fiber (and its
// stack) is only created when that event runs, so killing a fiber that never ran needs no
// stack switch. A running fiber blocks by queueing a wake-up event tagged with a fresh token
// and switching back to whoever resumed it; an event resumes the fiber only if its token is
// still current, so leftovers (a Park timeout after a Wake, a sleep of a killed fiber) are
// ignored without searching the heap. A finished fiber's stack is handed back by Boost on the
// way out (to the stack pool, FiberStack) and its record is dropped; Kill destroys the
// suspended Boost fiber, which makes Boost throw forced_unwind at the fiber's suspension
// point, so every destructor on its stack runs before Kill returns.
//
// AddressSanitizer. Every switch is bracketed: the side that leaves calls
// __sanitizer_start_switch_fiber with the destination stack, the side that arrives calls
// __sanitizer_finish_switch_fiber, which also reports the stack it came from. A fiber records
// that as its "caller" stack and switches back to it; this covers the main stack (whose bounds
// we never know up front) and a fiber that kills another fiber from its own stack.
#include "sim/scheduler.h"

#include <algorithm>
#include <boost/context/fiber.hpp>
#include <boost/context/preallocated.hpp>
#include <boost/context/protected_fixedsize_stack.hpp>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <utility>
#include <vector>

#include "engine/assert.h"

#if defined(__SANITIZE_ADDRESS__)
#define KEEL_SIM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KEEL_SIM_ASAN 1
#endif
#endif

#ifdef KEEL_SIM_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

namespace keel::sim {
namespace {

namespace ctx = boost::context;

// Thin wrappers so the switching code reads the same with and without ASan.
void StartSwitch(void** fake_stack_save, const void* bottom, size_t size) {
#ifdef KEEL_SIM_ASAN
  __sanitizer_start_switch_fiber(fake_stack_save, bottom, size);
#else
  (void)fake_stack_save, (void)bottom, (void)size;
#endif
}

void FinishSwitch(void* fake_stack_save, const void** bottom_old, size_t* size_old) {
#ifdef KEEL_SIM_ASAN
  __sanitizer_finish_switch_fiber(fake_stack_save, bottom_old, size_old);
#else
  (void)fake_stack_save, (void)bottom_old, (void)size_old;
#endif
}

// Fixed-size stacks with a guard page below, so an overflow faults instead of corrupting a
// neighbour. Pages are only committed when touched, so the size is mostly address space.
// Freed stacks are kept for the next fiber (up to kPoolLimit per thread): a sweep runs
// thousands of simulations in one process, each spawning and ending fibers, and mapping,
// guarding, faulting in and unmapping a fresh stack each time was ~2.5% of a sweep (munmap's
// TLB flushes most of it).
class FiberStack {
 public:
  static constexpr size_t kSize = size_t{256} * 1024;
  static constexpr size_t kPoolLimit = 64;

  ctx::stack_context allocate() {
    std::vector<ctx::stack_context>& pool = Pool().free;
    if (pool.empty()) return ctx::protected_fixedsize_stack(kSize).allocate();
    const ctx::stack_context stack = pool.back();
    pool.pop_back();
    return stack;
  }

  void deallocate(ctx::stack_context& stack) noexcept {
#ifdef KEEL_SIM_ASAN
    // Frames abandoned by a switch or unwound by forced_unwind can leave poisoned redzones in
    // the shadow; the next fiber on this stack (or a later mapping at the same address) must
    // not inherit them.
    ASAN_UNPOISON_MEMORY_REGION(static_cast<char*>(stack.sp) - stack.size, stack.size);
#endif
    // After the thread's pool is gone (a scheduler outliving it, e.g. in static storage), a
    // stack is unmapped at once. A stack is always allocated (constructing the pool) on the
    // thread that frees it, so the pool exists here unless it was destroyed.
    if (!pool_gone_) {
      std::vector<ctx::stack_context>& pool = Pool().free;
      if (pool.size() < kPoolLimit) {
        pool.push_back(stack);  // capacity reserved: no allocation, no throw
        return;
      }
    }
    ctx::protected_fixedsize_stack(kSize).deallocate(stack);
  }

 private:
  struct StackPool {
    std::vector<ctx::stack_context> free;
    StackPool() { free.reserve(kPoolLimit); }
    ~StackPool() {
      pool_gone_ = true;
      for (ctx::stack_context& stack : free) ctx::protected_fixedsize_stack(kSize).deallocate(stack);
    }
  };
  static inline thread_local bool pool_gone_ = false;  // trivially destructible: valid to the end
  static StackPool& Pool() {
    thread_local StackPool pool;
    return pool;
  }
};

enum class State {
  kStarting,  // spawned, first run queued, no stack yet
  kRunning,   // on the CPU (or it switched into a fiber it is killing)
  kSleeping,  // in SleepUntil
  kParked,    // in Park
};

}  // namespace

struct Scheduler::Impl {
  struct Fiber {
    FiberId id = kNoFiber;
    std::string name;
    std::function<void()> body;
    State state = State::kStarting;
    // Token of the current wait: an event resumes the fiber only if it carries this value.
    uint64_t token = 0;
    bool wake_pending = false;  // a Wake arrived while not parked
    bool woken = false;         // a Wake arrived during the current Park
    bool dying = false;         // Kill is unwinding it
    bool finished = false;      // its body returned
    bool active = false;        // its stack is in use (it is current or it is killing another)
    ctx::fiber context;         // the suspended fiber (held by the scheduler side)
    ctx::fiber sink;            // whoever resumed it (held by the fiber side)
    // For ASan: this fiber's stack, the stack it switches back to, and its fake stack.
    const void* stack_bottom = nullptr;
    size_t stack_size = 0;
    const void* caller_bottom = nullptr;
    size_t caller_size = 0;
    void* fake_stack = nullptr;
  };

  // Trivially copyable, so that heap sifts move 32 bytes, not a std::function: callbacks
  // wait in `callbacks`, in a slot the event names.
  struct Event {
    int64_t time;
    uint64_t seq;
    FiberId fiber;  // kNoFiber: run callbacks[token] instead
    uint64_t token;  // the fiber's wait token, or the callback's slot
  };

  // Heap comparator: the earliest (time, seq) on top. Never compares anything else, so the
  // order is fully decided by the program.
  static constexpr size_t kArity = 4;
  static bool Later(const Event& a, const Event& b) {
    return a.time != b.time ? a.time > b.time : a.seq > b.seq;
  }

  void Push(int64_t time, FiberId fiber, uint64_t token, std::function<void()> callback) {
    if (fiber == kNoFiber) {
      if (free_slots.empty()) {
        token = callbacks.size();
        callbacks.push_back(std::move(callback));
      } else {
        token = free_slots.back();
        free_slots.pop_back();
        callbacks[token] = std::move(callback);
      }
    }
    const Event event{time, next_seq++, fiber, token};
    // Sift up: a 4-ary heap (children of i at 4i+1..4i+4) is half as deep as a binary one, and
    // a node's four children share two cache lines; std::pop_heap's sifts were 5% of a sweep.
    size_t i = queue.size();
    queue.push_back(event);
    while (i > 0) {
      const size_t parent = (i - 1) / kArity;
      if (!Later(queue[parent], event)) break;
      queue[i] = queue[parent];
      i = parent;
    }
    queue[i] = event;
  }

  Event Pop() {
    KEEL_ASSERT(!queue.empty());
    const Event top = queue.front();
    const Event last = queue.back();
    queue.pop_back();
    const size_t n = queue.size();
    if (n == 0) return top;
    // Sift `last` down from the root.
    size_t i = 0;
    while (true) {
      const size_t first = i * kArity + 1;
      if (first >= n) break;
      size_t best = first;
      const size_t end = std::min(first + kArity, n);
      for (size_t c = first + 1; c < end; ++c) {
        if (Later(queue[best], queue[c])) best = c;
      }
      if (!Later(last, queue[best])) break;
      queue[i] = queue[best];
      i = best;
    }
    queue[i] = last;
    return top;
  }

  // Takes the callback of a popped event out of its slot (the slot is reused).
  std::function<void()> TakeCallback(const Event& event) {
    std::function<void()> callback = std::move(callbacks[event.token]);
    callbacks[event.token] = nullptr;
    free_slots.push_back(event.token);
    return callback;
  }

  Fiber* Find(FiberId id) const {
    auto it = fibers.find(id);
    return it == fibers.end() ? nullptr : it->second.get();
  }

  Fiber& RequireCurrent(const char* what) const {
    KEEL_ASSERT_MSG(current != nullptr, what);
    return *current;
  }

  // Switches from the current stack (main or a fiber) into `target` and runs `op`, which
  // resumes or destroys target.context; returns when control comes back.
  template <typename Op>
  void SwitchInto(Fiber& target, Op op) {
    Fiber* const previous = current;
    current = &target;
    target.active = true;
    void* fake_stack = nullptr;
    StartSwitch(&fake_stack, target.stack_bottom, target.stack_size);
    op();
    FinishSwitch(fake_stack, nullptr, nullptr);
    target.active = false;
    current = previous;
  }

  // Fiber side: switches back to the stack that resumed `fiber`. Throws forced_unwind if the
  // fiber is killed while suspended.
  void Suspend(Fiber& fiber) {
    KEEL_ASSERT_MSG(!fiber.dying, "a fiber being killed must not block");
    StartSwitch(&fiber.fake_stack, fiber.caller_bottom, fiber.caller_size);
    try {
      fiber.sink = std::move(fiber.sink).resume();
    } catch (const ctx::detail::forced_unwind&) {
      FinishSwitch(fiber.fake_stack, &fiber.caller_bottom, &fiber.caller_size);
      throw;
    }
    FinishSwitch(fiber.fake_stack, &fiber.caller_bottom, &fiber.caller_size);
  }

  // Blocks the current fiber in `state` until an event carrying its new token runs (queued
  // here for `when` unless it is INT64_MAX, or later by Wake).
  void Block(Fiber& fiber, State state, int64_t when) {
    fiber.state = state;
    const uint64_t token = ++fiber.token;
    if (when != INT64_MAX) Push(std::max(when, now), fiber.id, token, nullptr);
    Suspend(fiber);
  }

  [[noreturn]] static void DieOfException(const Fiber& fiber, const char* what) {
    std::fprintf(stderr,
                 "keel::sim: fiber '%s' (id %llu) let an exception escape: %s\n"
                 "keel::sim: a fiber body must handle its own errors; this is a simulator bug\n",
                 fiber.name.c_str(), static_cast<unsigned long long>(fiber.id), what);
    std::fflush(stderr);
    std::abort();
  }

  // Runs on the fiber's own stack.
  ctx::fiber FiberMain(Fiber& fiber, ctx::fiber&& sink) {
    FinishSwitch(nullptr, &fiber.caller_bottom, &fiber.caller_size);
    fiber.sink = std::move(sink);
    try {
      fiber.body();
    } catch (const ctx::detail::forced_unwind&) {
      // Killed: let Boost finish the unwind; its stack is freed after the switch back.
      StartSwitch(nullptr, fiber.caller_bottom, fiber.caller_size);
      throw;
    } catch (const std::exception& e) {
      DieOfException(fiber, e.what());
    } catch (...) {
      DieOfException(fiber, "(not a std::exception)");
    }
    KEEL_ASSERT_MSG(!fiber.dying, "a fiber body swallowed boost::context forced_unwind");
    fiber.body = nullptr;  // its captures die while the fiber is still current()
    fiber.finished = true;
    // nullptr: this stack is about to go away, so ASan drops its fake stack.
    StartSwitch(nullptr, fiber.caller_bottom, fiber.caller_size);
    return std::move(fiber.sink);
  }

  void Start(Fiber& fiber) {
    FiberStack allocator;
    ctx::stack_context stack = allocator.allocate();
    fiber.stack_bottom = static_cast<char*>(stack.sp) - stack.size;
    fiber.stack_size = stack.size;
    Fiber* const target = &fiber;
    fiber.context = ctx::fiber(
        std::allocator_arg, ctx::preallocated(stack.sp, stack.size, stack), allocator,
        [this, target](ctx::fiber&& sink) { return FiberMain(*target, std::move(sink)); });
  }

  void Resume(Fiber& fiber) {
    if (fiber.state == State::kStarting) Start(fiber);
    fiber.state = State::kRunning;
    SwitchInto(fiber, [&fiber] { fiber.context = std::move(fiber.context).resume(); });
    if (fiber.finished) fibers.erase(fiber.id);
  }

  void Kill(FiberId id) {
    auto it = fibers.find(id);
    if (it == fibers.end()) return;
    KEEL_ASSERT_MSG(!it->second->active, "Kill of the running fiber (or one on its call chain)");
    // Forget it first: during the unwind it is no longer Alive, and Wake/Kill on it are no-ops.
    std::unique_ptr<Fiber> owned = std::move(it->second);
    fibers.erase(it);
    Fiber& fiber = *owned;
    if (!fiber.context) return;  // never started: there is no stack to unwind
    fiber.dying = true;
    SwitchInto(fiber, [&fiber] {
      ctx::fiber doomed = std::move(fiber.context);
      // ~fiber throws forced_unwind on the fiber's stack and returns once it is unwound.
    });
  }

  int64_t now = 0;
  uint64_t next_seq = 0;
  uint64_t events_run = 0;
  FiberId next_id = 1;
  std::vector<Event> queue;                          // a 4-ary heap under Later (min on top)
  std::vector<std::function<void()>> callbacks;      // of queued callback events, by slot
  std::vector<uint64_t> free_slots;
  std::map<FiberId, std::unique_ptr<Fiber>> fibers;  // live (spawned, not finished) fibers
  Fiber* current = nullptr;
  bool in_run = false;
};

Scheduler::Scheduler() : impl_(std::make_unique<Impl>()) {}

Scheduler::~Scheduler() {
  KEEL_ASSERT_MSG(impl_->current == nullptr, "Scheduler destroyed from inside a fiber");
  // Unwinding can spawn or kill fibers and queue events; repeat until all is quiet.
  while (!impl_->fibers.empty()) impl_->Kill(impl_->fibers.begin()->first);
  while (!impl_->queue.empty() || !impl_->callbacks.empty()) {
    impl_->queue.clear();
    impl_->free_slots.clear();
    std::vector<std::function<void()>> doomed = std::move(impl_->callbacks);
    impl_->callbacks.clear();
  }
}

int64_t Scheduler::now() const {
  return impl_->now;
}

FiberId Scheduler::Spawn(std::string name, std::function<void()> body) {
  KEEL_ASSERT(body != nullptr);
  auto fiber = std::make_unique<Impl::Fiber>();
  fiber->id = impl_->next_id++;
  fiber->name = std::move(name);
  fiber->body = std::move(body);
  fiber->token = 1;
  impl_->Push(impl_->now, fiber->id, fiber->token, nullptr);
  const FiberId id = fiber->id;
  impl_->fibers.emplace(id, std::move(fiber));
  return id;
}

void Scheduler::At(int64_t when, std::function<void()> callback) {
  KEEL_ASSERT_MSG(when >= impl_->now, "Scheduler::At in the past");
  KEEL_ASSERT(callback != nullptr);
  impl_->Push(when, kNoFiber, 0, std::move(callback));
}

FiberId Scheduler::current() const {
  return impl_->current == nullptr ? kNoFiber : impl_->current->id;
}

void Scheduler::SleepUntil(int64_t when) {
  // A time already passed still yields, so other due events run first.
  impl_->Block(impl_->RequireCurrent("SleepUntil outside a fiber"), State::kSleeping, when);
}

bool Scheduler::Park(int64_t deadline) {
  Impl::Fiber& fiber = impl_->RequireCurrent("Park outside a fiber");
  if (fiber.wake_pending) {
    fiber.wake_pending = false;
    return true;
  }
  fiber.woken = false;
  impl_->Block(fiber, State::kParked, deadline);
  // Whichever event resumed us, a Wake that came first wins over the deadline.
  return fiber.woken;
}

void Scheduler::Wake(FiberId fiber) {
  Impl::Fiber* target = impl_->Find(fiber);
  if (target == nullptr) return;
  if (target->state != State::kParked) {
    target->wake_pending = true;
  } else if (!target->woken) {
    // Resume through the queue rather than switching now: Wake may be called from a fiber.
    target->woken = true;
    impl_->Push(impl_->now, target->id, target->token, nullptr);
  }
}

void Scheduler::Kill(FiberId fiber) {
  impl_->Kill(fiber);
}

bool Scheduler::Alive(FiberId fiber) const {
  return impl_->Find(fiber) != nullptr;
}

// Events due at `until` run. If the queue empties first the clock stays at the last event (it
// cannot jump to an `until` of INT64_MAX); if the next event lies beyond `until`, the clock
// moves to `until`, since nothing happened before then.
uint64_t Scheduler::Run(int64_t until, const std::function<bool()>& stop) {
  KEEL_ASSERT_MSG(impl_->current == nullptr && !impl_->in_run,
                  "Scheduler::Run from inside a fiber or an event");
  impl_->in_run = true;
  struct Reset {
    bool& flag;
    ~Reset() { flag = false; }
  } reset{impl_->in_run};

  uint64_t ran = 0;
  while (!impl_->queue.empty()) {
    if (impl_->queue.front().time > until) {
      impl_->now = std::max(impl_->now, until);
      break;
    }
    Impl::Event event = impl_->Pop();
    if (event.fiber != kNoFiber) {
      Impl::Fiber* fiber = impl_->Find(event.fiber);
      // Stale: the fiber finished or was killed, or this wait already ended. Skipped without
      // moving the clock or counting as an event.
      if (fiber == nullptr || fiber->state == State::kRunning || fiber->token != event.token) {
        continue;
      }
      ++fiber->token;  // any other event queued for this wait is now stale
      impl_->now = event.time;
      impl_->Resume(*fiber);
    } else {
      impl_->now = event.time;
      impl_->TakeCallback(event)();
    }
    ++ran;
    ++impl_->events_run;
    if (stop && stop()) break;
  }
  return ran;
}

uint64_t Scheduler::events_run() const {
  return impl_->events_run;
}

}  // namespace keel::sim
