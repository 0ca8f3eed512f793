#include "kvstate/kv_state.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/assert.h"
#include "engine/planted_bugs.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "kvstate/command_kind.h"
#include "kvstate/results.h"

namespace keel::kvstate {
namespace {

// Deterministic serialization: kv.proto has no map fields today, but replicas must agree on
// bytes even if one is added, so never rely on the default.
std::string SerializeDeterministically(const google::protobuf::MessageLite& message) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    const bool ok = message.SerializeToCodedStream(&coded);
    KEEL_ASSERT(ok);
  }
  return bytes;
}

// Parses a log entry's or a client's command bytes; false if they are not a Command.
bool ParseCommand(absl::string_view data, kvpb::Command* command) {
  return data.size() <= static_cast<size_t>(std::numeric_limits<int>::max()) &&
         command->ParseFromArray(data.data(), static_cast<int>(data.size()));
}

}  // namespace

CommandInfo KvState::Inspect(absl::string_view data) const {
  CommandInfo info;
  kvpb::Command command;
  if (!ParseCommand(data, &command)) {
    info.error = "command is not a kvpb.Command";
    return info;
  }
  if (command.op_case() == kvpb::Command::OP_NOT_SET) {
    info.error = "command has no op";
    return info;
  }
  info.valid = true;
  info.kind = command.GetDescriptor()->FindFieldByNumber(command.op_case())->name();
  info.read_only = IsReadOp(command.op_case());
  info.session = command.session();
  info.sequence = command.sequence();
  // Session commands themselves skip the result cache: a resent register creates a second
  // session and a resent close answers SESSION_UNKNOWN. A keep-alive is harmless twice.
  const kvpb::Command::OpCase op = command.op_case();
  const bool session_op = op == kvpb::Command::kRegisterSession || op == kvpb::Command::kCloseSession ||
                          op == kvpb::Command::kKeepAlive;
  const bool deduplicated = !session_op && command.session() != 0 && command.sequence() != 0;
  info.retry_safe = info.read_only || deduplicated || op == kvpb::Command::kKeepAlive;
  return info;
}

std::string KvState::StampLeaderTime(absl::string_view data, int64_t leader_time_nanos) const {
  kvpb::Command command;
  const bool parsed = ParseCommand(data, &command);
  KEEL_ASSERT_MSG(parsed, "StampLeaderTime needs a command Inspect accepted");
  command.set_leader_time_nanos(leader_time_nanos);
  return SerializeDeterministically(command);
}

std::string KvState::Query(absl::string_view data) const {
  kvpb::Command command;
  const bool parsed = ParseCommand(data, &command);
  KEEL_ASSERT_MSG(parsed && IsReadOp(command.op_case()), "Query needs a read command Inspect accepted");
  return SerializeDeterministically(Read(command));
}

kvpb::Result KvState::Read(const kvpb::Command& command) const {
  switch (command.op_case()) {
    case kvpb::Command::kKvGet: return kv_.Get(command.kv_get());
    case kvpb::Command::kKvList: return kv_.List(command.kv_list());
    case kvpb::Command::kPoolStats: return pools_.Stats(command.pool_stats());
    case kvpb::Command::kLbStats: return load_balancers_.Stats(command.lb_stats());
    default: break;
  }
  KEEL_ASSERT_MSG(false, "Read needs a read command");
  return kvpb::Result();
}

std::string KvState::WithSequence(absl::string_view data, uint64_t sequence) const {
  kvpb::Command command;
  const bool parsed = ParseCommand(data, &command);
  KEEL_ASSERT(parsed);
  command.set_sequence(sequence);
  return SerializeDeterministically(command);
}

KvState::KvState(KvStateOptions options)
    : apply_twice_(kPlantedBugsCompiledIn && (options.planted_bugs & kBugApplyTwice) != 0) {}

std::string KvState::Apply(Index index, absl::string_view data) {
  kvpb::Command command;
  kvpb::Result result;
  if (!ParseCommand(data, &command)) {
    KEEL_ASSERT(index > applied_index_);
    applied_index_ = index;
    result = InvalidArgument("entry data is not a kvpb.Command");
  } else {
    result = ApplyCommand(index, command);
  }
  return SerializeDeterministically(result);
}

kvpb::Result KvState::ApplyCommand(Index index, const kvpb::Command& command) {
  KEEL_ASSERT(index > applied_index_);
  applied_index_ = index;
  if (command.op_case() == kvpb::Command::OP_NOT_SET) return InvalidArgument("command has no op");
  AdvanceTime(command.leader_time_nanos());
  kvpb::Result result = ApplyOp(index, command);
  KEEL_ASSERT(result.code() != kvpb::CODE_UNSPECIFIED);
  return result;
}

void KvState::AdvanceTime(int64_t leader_time_nanos) {
  // A new leader's clock may be behind the old one's: log time only moves forward.
  time_nanos_ = std::max(time_nanos_, leader_time_nanos);
  for (const uint64_t id : sessions_.ExpireBefore(time_nanos_)) pools_.ReleaseSession(id);
}

void KvState::EndSession(uint64_t id) {
  pools_.ReleaseSession(id);
  sessions_.Remove(id);
}

kvpb::Result KvState::ApplyOp(Index index, const kvpb::Command& command) {
  switch (command.op_case()) {
    case kvpb::Command::kRegisterSession: {
      // The entry's index is unique and never reused, so it is the id.
      sessions_.Register(index, command.register_session().timeout_nanos(), time_nanos_);
      kvpb::Result result = OkResult();
      result.set_session(index);
      return result;
    }
    case kvpb::Command::kKeepAlive: return KeepAlive(command);
    case kvpb::Command::kCloseSession: return CloseSession(command);
    case kvpb::Command::kKvGet:
    case kvpb::Command::kKvList:
    case kvpb::Command::kPoolStats:
    case kvpb::Command::kLbStats: return Read(command);
    default: return ApplyDeduplicated(index, command);
  }
}

kvpb::Result KvState::KeepAlive(const kvpb::Command& command) {
  if (!sessions_.Contains(command.session())) return ErrorResult(kvpb::CODE_SESSION_UNKNOWN, "no such session");
  sessions_.Touch(command.session(), command.acked_sequence(), time_nanos_);
  return OkResult();
}

kvpb::Result KvState::CloseSession(const kvpb::Command& command) {
  if (!sessions_.Contains(command.session())) return ErrorResult(kvpb::CODE_SESSION_UNKNOWN, "no such session");
  EndSession(command.session());
  return OkResult();
}

kvpb::Result KvState::ApplyDeduplicated(Index index, const kvpb::Command& command) {
  KEEL_ASSERT(!IsReadOp(command.op_case()));
  const uint64_t session = command.session();
  const uint64_t sequence = command.sequence();
  if (session == 0 || sequence == 0) return InvalidArgument("a mutating command needs a session and a sequence");
  if (command.acked_sequence() >= sequence) return InvalidArgument("acked_sequence must be below sequence");
  if (!sessions_.Contains(session)) return ErrorResult(kvpb::CODE_SESSION_UNKNOWN, "no such session");
  sessions_.Touch(session, command.acked_sequence(), time_nanos_);
  if (sequence <= sessions_.acked(session)) {
    return ErrorResult(kvpb::CODE_STALE_SEQUENCE, absl::StrCat("sequence ", sequence, " was acknowledged"));
  }
  if (!apply_twice_) {
    if (const kvpb::Result* cached = sessions_.FindCached(session, sequence)) return *cached;
  }
  kvpb::Result result = Mutate(index, command);
  sessions_.Cache(session, sequence, result);
  return result;
}

kvpb::Result KvState::Mutate(Index index, const kvpb::Command& command) {
  switch (command.op_case()) {
    case kvpb::Command::kKvPut: return kv_.Put(command.kv_put(), index);
    case kvpb::Command::kKvDelete: return kv_.Delete(command.kv_delete());
    case kvpb::Command::kKvCas: return kv_.Cas(command.kv_cas(), index);
    case kvpb::Command::kPoolCreate: return pools_.Create(command.pool_create());
    case kvpb::Command::kPoolAcquire: return pools_.Acquire(command.pool_acquire(), command.session());
    case kvpb::Command::kPoolRelease: return pools_.Release(command.pool_release());
    case kvpb::Command::kPoolResize: return pools_.Resize(command.pool_resize());
    case kvpb::Command::kLbCreate: return load_balancers_.Create(command.lb_create());
    case kvpb::Command::kLbSetBackend: return load_balancers_.SetBackend(command.lb_set_backend());
    case kvpb::Command::kLbRemoveBackend: return load_balancers_.RemoveBackend(command.lb_remove_backend());
    case kvpb::Command::kLbMark: return load_balancers_.Mark(command.lb_mark());
    case kvpb::Command::kLbPick: return load_balancers_.Pick(command.lb_pick());
    case kvpb::Command::kLbDone: return load_balancers_.Done(command.lb_done());
    default:
      // ApplyOp handles every other op; a new op in kv.proto must be added here or there.
      KEEL_ASSERT_MSG(false, "unhandled mutating op");
      return InvalidArgument("unknown op");
  }
}

kvpb::StateSnapshot KvState::ToSnapshot() const {
  kvpb::StateSnapshot snapshot;
  snapshot.set_format(kSnapshotFormat);
  snapshot.set_applied_index(applied_index_);
  snapshot.set_time_nanos(time_nanos_);
  sessions_.AppendTo(&snapshot);
  kv_.AppendTo(&snapshot);
  pools_.AppendTo(&snapshot);
  load_balancers_.AppendTo(&snapshot);
  return snapshot;
}

std::string KvState::Snapshot() const { return SerializeDeterministically(ToSnapshot()); }

absl::Status KvState::Restore(absl::string_view data) {
  kvpb::StateSnapshot snapshot;
  if (data.size() > static_cast<size_t>(std::numeric_limits<int>::max()) ||
      !snapshot.ParseFromArray(data.data(), static_cast<int>(data.size()))) {
    return absl::DataLossError("kvstate snapshot does not parse");
  }
  // Unknown fields would be carried into cached results and out again by Snapshot(); they are
  // no part of the state.
  snapshot.DiscardUnknownFields();
  if (snapshot.format() != kSnapshotFormat) {
    return absl::InvalidArgumentError(absl::StrCat("kvstate snapshot format ", snapshot.format(), ", want 1"));
  }
  if (snapshot.time_nanos() < 0) return absl::InvalidArgumentError("kvstate snapshot time is negative");
  // Decode everything before touching *this, so a refusal changes nothing.
  absl::StatusOr<Sessions> sessions = Sessions::FromSnapshot(snapshot);
  if (!sessions.ok()) return sessions.status();
  absl::StatusOr<KvStore> kv = KvStore::FromSnapshot(snapshot);
  if (!kv.ok()) return kv.status();
  absl::StatusOr<Pools> pools = Pools::FromSnapshot(snapshot, *sessions);
  if (!pools.ok()) return pools.status();
  absl::StatusOr<LoadBalancers> load_balancers = LoadBalancers::FromSnapshot(snapshot);
  if (!load_balancers.ok()) return load_balancers.status();
  applied_index_ = snapshot.applied_index();
  time_nanos_ = snapshot.time_nanos();
  sessions_ = *std::move(sessions);
  kv_ = *std::move(kv);
  pools_ = *std::move(pools);
  load_balancers_ = *std::move(load_balancers);
  return absl::OkStatus();
}

absl::Status KvState::CheckIndexes() const {
  if (time_nanos_ < 0) return absl::InternalError("negative time");
  if (absl::Status status = sessions_.CheckConsistency(time_nanos_); !status.ok()) return status;
  if (absl::Status status = pools_.CheckConsistency(); !status.ok()) return status;
  return load_balancers_.CheckConsistency();
}

absl::Status KvState::CheckInvariants() const {
  if (absl::Status status = CheckIndexes(); !status.ok()) return status;
  // Every reachable state must be one Restore accepts, or a replica could not catch up from
  // it; and the restored copy must rebuild the same indexes and the same bytes.
  const std::string bytes = Snapshot();
  KvState copy;
  if (absl::Status status = copy.Restore(bytes); !status.ok()) return status;
  if (absl::Status status = copy.CheckIndexes(); !status.ok()) {
    return absl::InternalError(absl::StrCat("after restore: ", status.message()));
  }
  if (copy.Snapshot() != bytes) return absl::InternalError("snapshot -> restore -> snapshot changed the bytes");
  return absl::OkStatus();
}

KvStateGauges KvState::Gauges() const {
  KvStateGauges gauges;
  gauges.sessions = sessions_.size();
  gauges.kv_keys = kv_.size();
  gauges.pools = pools_.size();
  gauges.pool_capacity = pools_.TotalCapacity();
  gauges.pool_busy = pools_.TotalBusy();
  gauges.lb_groups = load_balancers_.size();
  gauges.lb_backends = load_balancers_.TotalBackends();
  gauges.lb_backends_up = load_balancers_.TotalUp();
  return gauges;
}

}  // namespace keel::kvstate
