// The whole state machine's sequential model: time, sessions and dispatch to the objects,
// following kvstate/README.md "Semantics" step by step.
#include <algorithm>
#include <vector>

#include "kvstate/model/models.h"

namespace keel::kvstate::model {
namespace {

constexpr int64_t kSecond = 1'000'000'000;
constexpr size_t kMaxCached = 4096;

bool IsPoolCommand(const kvpb::Command& command) {
  return command.has_pool_create() || command.has_pool_acquire() || command.has_pool_release() ||
         command.has_pool_resize() || command.has_pool_stats();
}

// The pool or load balancer a command names ("" for other commands).
std::string PoolOf(const kvpb::Command& command) {
  switch (command.op_case()) {
    case kvpb::Command::kPoolCreate: return command.pool_create().pool();
    case kvpb::Command::kPoolAcquire: return command.pool_acquire().pool();
    case kvpb::Command::kPoolRelease: return command.pool_release().pool();
    case kvpb::Command::kPoolResize: return command.pool_resize().pool();
    case kvpb::Command::kPoolStats: return command.pool_stats().pool();
    default: return "";
  }
}

std::string GroupOf(const kvpb::Command& command) {
  switch (command.op_case()) {
    case kvpb::Command::kLbCreate: return command.lb_create().group();
    case kvpb::Command::kLbSetBackend: return command.lb_set_backend().group();
    case kvpb::Command::kLbRemoveBackend: return command.lb_remove_backend().group();
    case kvpb::Command::kLbMark: return command.lb_mark().group();
    case kvpb::Command::kLbPick: return command.lb_pick().group();
    case kvpb::Command::kLbDone: return command.lb_done().group();
    case kvpb::Command::kLbStats: return command.lb_stats().group();
    default: return "";
  }
}

}  // namespace

kvpb::Result StateModel::Apply(uint64_t index, const std::string& data) {
  kvpb::Command command;
  if (!command.ParseFromString(data) || command.op_case() == kvpb::Command::OP_NOT_SET) {
    return Code(kvpb::CODE_INVALID_ARGUMENT);
  }
  time_nanos = std::max(time_nanos, command.leader_time_nanos());
  // Expire sessions, releasing their slots.
  std::vector<uint64_t> expired;
  for (const auto& [id, session] : sessions) {
    // last_active + timeout < time, without overflowing near INT64_MAX.
    if (session.last_active_nanos < time_nanos - session.timeout_nanos) expired.push_back(id);
  }
  for (uint64_t id : expired) {
    sessions.erase(id);
    for (auto& [name, pool] : pools) pool.ReleaseSession(id);
  }

  if (command.has_register_session()) {
    int64_t timeout = command.register_session().timeout_nanos();
    if (timeout == 0) timeout = 30 * kSecond;
    timeout = std::clamp<int64_t>(timeout, kSecond, 3600 * kSecond);
    sessions[index] = Session{timeout, time_nanos, 0, {}};
    kvpb::Result result = Code(kvpb::CODE_OK);
    result.set_session(index);
    return result;
  }
  if (command.has_kv_get() || command.has_kv_list()) return kv.Apply(command, index);
  if (command.has_pool_stats()) {
    if (!IsPoolName(PoolOf(command))) return Code(kvpb::CODE_INVALID_ARGUMENT);
    if (!pools.contains(PoolOf(command))) return Code(kvpb::CODE_NOT_FOUND);
    return pools[PoolOf(command)].Apply(command);
  }
  if (command.has_lb_stats()) {
    if (!IsGroupName(GroupOf(command))) return Code(kvpb::CODE_INVALID_ARGUMENT);
    if (!lbs.contains(GroupOf(command))) return Code(kvpb::CODE_NOT_FOUND);
    return lbs[GroupOf(command)].Apply(command);
  }

  if (command.has_keep_alive() || command.has_close_session()) {
    if (!sessions.contains(command.session())) return Code(kvpb::CODE_SESSION_UNKNOWN);
    Session& session = sessions[command.session()];
    if (command.has_close_session()) {
      sessions.erase(command.session());
      for (auto& [name, pool] : pools) pool.ReleaseSession(command.session());
      return Code(kvpb::CODE_OK);
    }
    session.last_active_nanos = time_nanos;
    session.acked = std::max(session.acked, command.acked_sequence());
    std::map<uint64_t, kvpb::Result> kept;
    for (const auto& [sequence, result] : session.cached) {
      if (sequence > session.acked) kept[sequence] = result;
    }
    session.cached = kept;
    return Code(kvpb::CODE_OK);
  }

  // A mutating command: deduplicated by (session, sequence).
  if (command.session() == 0 || command.sequence() == 0 ||
      command.acked_sequence() >= command.sequence()) {
    return Code(kvpb::CODE_INVALID_ARGUMENT);
  }
  if (!sessions.contains(command.session())) return Code(kvpb::CODE_SESSION_UNKNOWN);
  Session& session = sessions[command.session()];
  session.last_active_nanos = time_nanos;
  session.acked = std::max(session.acked, command.acked_sequence());
  std::map<uint64_t, kvpb::Result> kept;
  for (const auto& [sequence, result] : session.cached) {
    if (sequence > session.acked) kept[sequence] = result;
  }
  session.cached = kept;
  if (command.sequence() <= session.acked) return Code(kvpb::CODE_STALE_SEQUENCE);
  if (!apply_twice && session.cached.contains(command.sequence())) {
    return session.cached[command.sequence()];
  }

  kvpb::Result result;
  if (command.has_kv_put() || command.has_kv_delete() || command.has_kv_cas()) {
    result = kv.Apply(command, index);
  } else if (IsPoolCommand(command)) {
    const std::string name = PoolOf(command);
    if (!IsPoolName(name)) {
      result = Code(kvpb::CODE_INVALID_ARGUMENT);
    } else if (command.has_pool_create()) {
      result = pools[name].Apply(command);
      if (!pools[name].exists) pools.erase(name);  // an invalid create leaves no trace
    } else if (!pools.contains(name)) {
      // Validate the rest of the command before saying NOT_FOUND, as the pool would.
      result = PoolModel().Apply(command);
    } else {
      result = pools[name].Apply(command);
    }
  } else {
    const std::string group = GroupOf(command);
    if (!IsGroupName(group)) {
      result = Code(kvpb::CODE_INVALID_ARGUMENT);
    } else if (command.has_lb_create()) {
      result = lbs[group].Apply(command);
      if (!lbs[group].exists) lbs.erase(group);
    } else if (!lbs.contains(group)) {
      result = LbModel().Apply(command);
    } else {
      result = lbs[group].Apply(command);
    }
  }
  session.cached[command.sequence()] = result;
  if (session.cached.size() > kMaxCached) {
    session.acked = session.cached.begin()->first;
    session.cached.erase(session.cached.begin());
  }
  return result;
}

}  // namespace keel::kvstate::model
