#include "net/client_call.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "engine/assert.h"
#include "kvstate/command_kind.h"
#include "net/client.h"

namespace keel::client {

int64_t SteadyNowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void LeaderTracker::Learn(NodeId id, size_t index, NodeId leader, int64_t now) {
  KEEL_ASSERT(index < endpoints_);
  endpoint_of_[id] = index;
  Answered(index);
  Hint(leader, now);
}

void LeaderTracker::OnProbe(size_t index, const absl::StatusOr<Response>& response, int64_t now) {
  if (response.ok() && response->code() == nodepb::CODE_OK) {
    Learn(response->status().id(), index, response->status().leader(), now);
  } else if (!response.ok() && !absl::IsUnavailable(response.status())) {
    NoAnswer(index, now);
  }
}

bool LeaderTracker::IsSilentNode(NodeId id, int64_t now) const {
  auto it = endpoint_of_.find(id);
  return it != endpoint_of_.end() && silent(it->second, now);
}

void LeaderTracker::Hint(NodeId leader, int64_t now) {
  if (leader != kNoNode && !IsSilentNode(leader, now)) leader_ = leader;
}

void LeaderTracker::Elected(NodeId leader) {
  auto it = endpoint_of_.find(leader);
  if (it != endpoint_of_.end()) Answered(it->second);
  leader_ = leader;
}

void LeaderTracker::Answered(size_t index) {
  KEEL_ASSERT(index < endpoints_);
  silent_until_[index] = 0;
}

void LeaderTracker::NoAnswer(size_t index, int64_t now) {
  KEEL_ASSERT(index < endpoints_);
  silent_until_[index] = now + silence_nanos_;
  if (IsSilentNode(leader_, now)) leader_ = kNoNode;
  if (std::all_of(silent_until_.begin(), silent_until_.end(), [now](int64_t until) { return now < until; })) {
    std::fill(silent_until_.begin(), silent_until_.end(), 0);  // none answers: try them all again
  }
}

size_t LeaderTracker::Pick(int64_t now) {
  auto it = endpoint_of_.find(leader_);
  if (leader_ != kNoNode && it != endpoint_of_.end() && !silent(it->second, now)) return it->second;
  // NoAnswer never leaves every endpoint silent, and silence only lapses: one turn finds one.
  for (size_t tried = 0;; ++tried) {
    KEEL_ASSERT(tried < endpoints_);
    const size_t index = next_endpoint_++ % endpoints_;
    if (!silent(index, now)) return index;
  }
}

bool SettlesCall(const Response& response) {
  switch (response.code()) {
    case nodepb::CODE_OK:
    case nodepb::CODE_INVALID_ARGUMENT:
    case nodepb::CODE_FAILED_PRECONDITION:
    case nodepb::CODE_WRONG_CLUSTER:
      return true;
    default:
      return false;
  }
}

AttemptVerdict JudgeAttempt(const absl::StatusOr<Response>& response, size_t index, int64_t now,
                            bool retry_on_unknown, LeaderTracker& leader, CallProgress& progress) {
  if (!response.ok() && absl::IsUnavailable(response.status())) {
    // Never sent (the socket's queue was full): nothing is known of the node or the command.
    progress.last_error = std::string(response.status().message());
    return AttemptVerdict::kRetry;
  }
  if (response.ok()) {
    leader.Answered(index);
    leader.Hint(response->leader_hint(), now);
  } else {
    leader.NoAnswer(index, now);
  }
  const nodepb::Code code = response.ok() ? response->code() : nodepb::CODE_DEADLINE_EXCEEDED;
  if (response.ok()) progress.last_error = absl::StrCat(nodepb::Code_Name(code), ": ", response->error());
  else progress.last_error = std::string(response.status().message());
  if (response.ok() && SettlesCall(*response)) return AttemptVerdict::kSettled;
  switch (code) {
    case nodepb::CODE_UNAVAILABLE:
      // Not applied. A node that does not know the leader either: try another one.
      if (!response->leader_hint()) leader.Forget();
      return AttemptVerdict::kRetry;
    default:
      // No answer, or an unknown outcome: the same request may be sent again only when that
      // cannot apply it twice. An answering node that could not tell may have lost the
      // leader too: ask around again.
      progress.maybe_applied = true;
      if (response.ok()) leader.Forget();
      return retry_on_unknown ? AttemptVerdict::kRetry : AttemptVerdict::kUnknown;
  }
}

absl::Status UnknownStatus(const CallProgress& progress) {
  return absl::DeadlineExceededError(absl::StrCat("outcome unknown: ", progress.last_error));
}

absl::Status GiveUpStatus(const CallProgress& progress) {
  if (progress.maybe_applied) return UnknownStatus(progress);
  return absl::UnavailableError(absl::StrCat("not applied: ", progress.last_error));
}

bool IsMutating(const kvpb::Command& command) {
  return !kvstate::IsReadCommand(command) && command.op_case() != kvpb::Command::kRegisterSession &&
         command.op_case() != kvpb::Command::OP_NOT_SET;
}

absl::StatusOr<CommandPlan> PrepareCommand(kvpb::Command& command, uint64_t session, uint64_t sequence,
                                           uint64_t acked_sequence) {
  if (command.op_case() == kvpb::Command::OP_NOT_SET) return absl::InvalidArgumentError("command has no op");
  CommandPlan plan;
  plan.read = kvstate::IsReadCommand(command);
  plan.mutating = IsMutating(command);
  if (plan.mutating) {
    if (session == 0) return absl::FailedPreconditionError("a mutating command needs an open session");
    KEEL_ASSERT(acked_sequence < sequence);
    command.set_session(session);
    command.set_sequence(sequence);
    command.set_acked_sequence(acked_sequence);
  }
  // Reads change nothing and a mutating command carries its session: both may be resent. A
  // registration or a close is not deduplicated: resent only if it surely did not apply.
  plan.resendable = plan.read || (plan.mutating && command.op_case() != kvpb::Command::kCloseSession);
  return plan;
}

absl::StatusOr<kvpb::Result> ToResult(absl::StatusOr<Response> response, const CommandPlan& plan) {
  if (!response.ok() && plan.read && absl::IsDeadlineExceeded(response.status())) {
    // A read changes nothing: no answer means not served, never "maybe applied".
    return absl::UnavailableError(response.status().message());
  }
  if (!response.ok()) return response.status();
  if (response->code() == nodepb::CODE_INVALID_ARGUMENT || response->code() == nodepb::CODE_WRONG_CLUSTER) {
    return absl::InvalidArgumentError(response->error());
  }
  if (response->code() != nodepb::CODE_OK) return absl::InternalError(response->error());
  return std::move(*response->mutable_result());
}

}  // namespace keel::client
