#include "net/pipeline.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "engine/assert.h"
#include "net/dealer_set.h"

namespace keel::client {
namespace {

// Status probes (learning which endpoint is which node) wait at most this long per node.
constexpr int64_t kProbeTimeoutNanos = 500'000'000;

}  // namespace

Pipeline::Pipeline(const ClientOptions& options)
    : options_(options), dealers_(std::make_unique<DealerSet>(options_)),
      leader_(options_.endpoints.size(), options_.attempt_timeout_nanos) {}

Pipeline::~Pipeline() = default;

absl::StatusOr<std::unique_ptr<Pipeline>> Pipeline::Create(const ClientOptions& options) {
  if (absl::Status status = ValidateClientOptions(options); !status.ok()) return status;
  return std::unique_ptr<Pipeline>(new Pipeline(options));
}

uint64_t Pipeline::AckedSequence() const {
  // Every result below the lowest open sequence was seen (or its call gave up).
  return open_sequences_.empty() ? sequence_ : *open_sequences_.begin() - 1;
}

uint64_t Pipeline::Open(Request request, CommandPlan plan, Done done) {
  const uint64_t key = next_key_++;
  Call& call = calls_[key];
  call.request = std::move(request);
  call.plan = plan;
  call.done = std::move(done);
  call.deadline = SteadyNowNanos() + options_.call_timeout_nanos;
  to_send_.push_back(key);
  return key;
}

void Pipeline::Submit(kvpb::Command command, Done done, nodepb::ReadMode read_mode) {
  if (calls_.size() >= kMaxOpenCalls) {
    settled_.push_back({std::move(done), absl::ResourceExhaustedError(absl::StrCat(
                                             "client: more than ", kMaxOpenCalls, " calls open"))});
    return;
  }
  const bool mutating = IsMutating(command);
  if (mutating && sequence_ + 1 - AckedSequence() > kMaxSessionWindow) {
    // The node keeps the results of at most kMaxSessionWindow sequences above the watermark:
    // one more would drop the oldest open call's, and its retry would get STALE_SEQUENCE.
    settled_.push_back({std::move(done), absl::ResourceExhaustedError(absl::StrCat(
                                             "client: sequence ", AckedSequence() + 1, " is still open, ",
                                             kMaxSessionWindow, " sequences ago"))});
    return;
  }
  absl::StatusOr<CommandPlan> plan =
      PrepareCommand(command, session_, mutating ? sequence_ + 1 : 0, mutating ? AckedSequence() : 0);
  if (!plan.ok()) {
    settled_.push_back({std::move(done), plan.status()});
    return;
  }
  if (plan->mutating) {
    ++sequence_;
    open_sequences_.insert(sequence_);
  }
  Request request;
  *request.mutable_command() = std::move(command);
  request.set_read_mode(read_mode);
  Open(std::move(request), *plan, std::move(done));
}

void Pipeline::Send(uint64_t key, int64_t now) {
  auto it = calls_.find(key);
  KEEL_ASSERT(it != calls_.end() && it->second.attempt == 0);
  Call& call = it->second;
  const size_t index = call.probe_endpoint >= 0 ? static_cast<size_t>(call.probe_endpoint) : leader_.Pick(now);
  const uint64_t id = next_id_++;
  const int64_t timeout = std::min(options_.attempt_timeout_nanos, std::max<int64_t>(1, call.deadline - now));
  call.request.set_id(id);
  call.request.set_timeout_nanos(timeout);
  call.request.set_cluster_id(options_.cluster_id);
  const std::string bytes = call.request.SerializeAsString();
  ++attempts_;
  call.endpoint = index;
  if (!dealers_->For(index).send(zmq::buffer(bytes), zmq::send_flags::dontwait)) {
    OnOutcome(key, absl::UnavailableError(absl::StrCat(options_.endpoints[index], ": send queue full")), now);
    return;
  }
  call.attempt = id;
  by_attempt_[id] = key;
  attempt_deadlines_.emplace(now + timeout + kAnswerSlackNanos, id);
}

void Pipeline::OnOutcome(uint64_t key, absl::StatusOr<Response> outcome, int64_t now) {
  Call& call = calls_.at(key);
  if (call.attempt != 0) by_attempt_.erase(call.attempt);
  call.attempt = 0;
  if (call.probe_endpoint >= 0) {
    leader_.OnProbe(static_cast<size_t>(call.probe_endpoint), outcome, now);
    Finish(key, std::move(outcome));
    return;
  }
  switch (JudgeAttempt(outcome, call.endpoint, now, call.plan.resendable, leader_, call.progress)) {
    case AttemptVerdict::kSettled:
      Finish(key, std::move(outcome));
      return;
    case AttemptVerdict::kUnknown:
      Finish(key, UnknownStatus(call.progress));
      return;
    case AttemptVerdict::kRetry:
      if (now + kBackoffNanos >= call.deadline) {
        Finish(key, GiveUpStatus(call.progress));
      } else {
        retry_at_.emplace(now + kBackoffNanos, key);
      }
      return;
  }
}

void Pipeline::Finish(uint64_t key, absl::StatusOr<Response> outcome) {
  auto node = calls_.extract(key);
  KEEL_ASSERT(!node.empty() && node.mapped().attempt == 0);
  Call& call = node.mapped();
  for (uint64_t id : call.timed_out) late_attempts_.erase(id);
  if (call.plan.mutating) {
    KEEL_ASSERT(open_sequences_.erase(call.request.command().sequence()) == 1);
    if (outcome.ok() && outcome->code() == nodepb::CODE_OK) last_activity_nanos_ = SteadyNowNanos();
  }
  if (call.probe_endpoint >= 0) return;  // probes have no caller
  settled_.push_back({std::move(call.done), ToResult(std::move(outcome), call.plan)});
}

void Pipeline::OnLateAnswer(uint64_t key, Response response, int64_t now) {
  Call& call = calls_.at(key);
  // A probe asks one endpoint once; an answer that is not final leaves the decision to the
  // attempt in flight (or the retry about to be sent).
  if (call.probe_endpoint >= 0 || !SettlesCall(response)) return;
  leader_.Hint(response.leader_hint(), now);
  if (call.attempt != 0) {
    by_attempt_.erase(call.attempt);  // its answer, if one comes, finds no call
    call.attempt = 0;
  }
  Finish(key, std::move(response));  // a pending retry of this key is skipped (SendDue)
}

void Pipeline::Receive(int64_t now) {
  for (size_t index = 0; index < dealers_->size(); ++index) {
    zmq::socket_t* socket = dealers_->Made(index);
    if (socket == nullptr) continue;
    zmq::message_t frame;
    while (socket->recv(frame, zmq::recv_flags::dontwait)) {
      Response response;
      if (!response.ParseFromArray(frame.data(), static_cast<int>(frame.size()))) continue;
      leader_.Answered(index);  // even a late answer shows the node is back
      if (auto it = by_attempt_.find(response.id()); it != by_attempt_.end()) {
        OnOutcome(it->second, std::move(response), now);
      } else if (auto late = late_attempts_.find(response.id()); late != late_attempts_.end()) {
        OnLateAnswer(late->second, std::move(response), now);
      }  // else: the call ended already

    }
  }
}

void Pipeline::ExpireAttempts(int64_t now) {
  while (!attempt_deadlines_.empty() && attempt_deadlines_.top().first <= now) {
    const uint64_t id = attempt_deadlines_.top().second;
    attempt_deadlines_.pop();
    auto it = by_attempt_.find(id);
    if (it == by_attempt_.end()) continue;  // answered already
    const uint64_t key = it->second;
    // Its answer may still come while the call retries (OnLateAnswer); Finish forgets it.
    late_attempts_[id] = key;
    calls_.at(key).timed_out.push_back(id);
    OnOutcome(key, absl::DeadlineExceededError("no answer in time"), now);
  }
}

void Pipeline::SendDue(int64_t now) {
  while (!retry_at_.empty() && retry_at_.begin()->first <= now) {
    to_send_.push_back(retry_at_.begin()->second);
    retry_at_.erase(retry_at_.begin());
  }
  std::vector<uint64_t> keys;
  keys.swap(to_send_);
  for (uint64_t key : keys) {
    // A late answer may have ended a call waiting for its retry.
    if (calls_.contains(key)) Send(key, now);
  }
}

void Pipeline::KeepAliveIfDue(int64_t now) {
  if (session_ == 0 || keep_alive_open_ || now - last_activity_nanos_ < options_.session_timeout_nanos / 3) return;
  Request request;
  request.mutable_command()->mutable_keep_alive();
  request.mutable_command()->set_session(session_);
  request.mutable_command()->set_acked_sequence(AckedSequence());
  keep_alive_open_ = true;
  // A keep-alive does nothing twice that it did not do once: resendable.
  Open(std::move(request), CommandPlan{.resendable = true}, [this](absl::StatusOr<kvpb::Result> result) {
    keep_alive_open_ = false;
    if (result.ok()) last_activity_nanos_ = SteadyNowNanos();
  });
}

size_t Pipeline::Poll(int64_t wait_nanos) {
  int64_t now = SteadyNowNanos();
  KeepAliveIfDue(now);
  SendDue(now);
  if (settled_.empty() && wait_nanos > 0) {
    int64_t until = now + wait_nanos;
    if (!attempt_deadlines_.empty()) until = std::min(until, attempt_deadlines_.top().first);
    if (!retry_at_.empty()) until = std::min(until, retry_at_.begin()->first);
    const auto wait = std::chrono::milliseconds((std::max<int64_t>(0, until - now) + 999'999) / 1'000'000);
    std::vector<zmq::pollitem_t> items;
    for (size_t index = 0; index < dealers_->size(); ++index) {
      if (zmq::socket_t* socket = dealers_->Made(index)) items.push_back({socket->handle(), 0, ZMQ_POLLIN, 0});
    }
    if (items.empty()) std::this_thread::sleep_for(wait);
    else zmq::poll(items.data(), items.size(), wait);
    now = SteadyNowNanos();
  }
  Receive(now);
  ExpireAttempts(now);
  std::deque<Settled> settled;
  settled.swap(settled_);
  for (Settled& one : settled) one.done(std::move(one.result));
  return settled.size();
}

absl::StatusOr<kvpb::Result> Pipeline::CallAndWait(Request request, CommandPlan plan) {
  std::optional<absl::StatusOr<kvpb::Result>> result;
  Open(std::move(request), plan, [&result](absl::StatusOr<kvpb::Result> r) { result = std::move(r); });
  while (!result.has_value()) Poll(options_.attempt_timeout_nanos);
  return *std::move(result);
}

absl::Status Pipeline::OpenSession() {
  // Which endpoint is which node, so requests go to the leader's endpoint from the start.
  if (options_.endpoints.size() > 1) {
    for (size_t index = 0; index < options_.endpoints.size(); ++index) {
      Request probe;
      probe.mutable_status();
      const uint64_t key = Open(std::move(probe), CommandPlan{}, nullptr);
      calls_.at(key).probe_endpoint = static_cast<int64_t>(index);
      calls_.at(key).deadline = SteadyNowNanos() + kProbeTimeoutNanos;
    }
    while (std::any_of(calls_.begin(), calls_.end(), [](const auto& c) { return c.second.probe_endpoint >= 0; })) {
      Poll(kProbeTimeoutNanos);
    }
  }
  Request request;
  request.mutable_command()->mutable_register_session()->set_timeout_nanos(options_.session_timeout_nanos);
  // A lost answer leaves an orphan session behind, which expires on its own: retrying is safe.
  const absl::StatusOr<kvpb::Result> result = CallAndWait(std::move(request), CommandPlan{.resendable = true});
  if (!result.ok()) return result.status();
  if (result->code() != kvpb::CODE_OK) {
    return absl::InternalError(absl::StrCat("register session: ", kvpb::Code_Name(result->code()), ": ", result->error()));
  }
  session_ = result->session();
  sequence_ = 0;
  last_activity_nanos_ = SteadyNowNanos();
  return absl::OkStatus();
}

absl::Status Pipeline::CloseSession() {
  if (session_ == 0) return absl::OkStatus();
  KEEL_ASSERT(open_sequences_.empty());
  Request request;
  request.mutable_command()->mutable_close_session();
  request.mutable_command()->set_session(session_);
  session_ = 0;
  return CallAndWait(std::move(request), CommandPlan{}).status();
}

}  // namespace keel::client
