#include "net/client.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "engine/assert.h"
#include "net/dealer_set.h"
#include "zmq.hpp"

namespace keel::client {
struct Client::Sockets {
  explicit Sockets(const ClientOptions& options) : dealers(options) {}
  DealerSet dealers;
};

absl::StatusOr<std::vector<std::string>> ParseEndpoints(const std::string& list) {
  std::vector<std::string> endpoints;
  for (absl::string_view part : absl::StrSplit(list, ',', absl::SkipWhitespace())) {
    std::string endpoint(absl::StripAsciiWhitespace(part));
    if (!absl::StartsWith(endpoint, "tcp://") && !absl::StartsWith(endpoint, "ipc://")) {
      endpoint = absl::StrCat("tcp://", endpoint);
    }
    const size_t colon = endpoint.rfind(':');
    if (absl::StartsWith(endpoint, "tcp://") && (colon == std::string::npos || colon < 6 || colon + 1 == endpoint.size())) {
      return absl::InvalidArgumentError(absl::StrCat("endpoint '", part, "' is not host:port"));
    }
    endpoints.push_back(std::move(endpoint));
  }
  if (endpoints.empty()) return absl::InvalidArgumentError("no endpoints given");
  return endpoints;
}

absl::StatusOr<ClientOptions::Curve> LoadClientCurve(const std::string& key_file,
                                                     const std::string& server_keys_file) {
  ClientOptions::Curve curve;
  absl::StatusOr<net::CurveKeyPair> pair = net::ReadCurveKeyPair(key_file);
  if (!pair.ok()) return pair.status();
  curve.client = *pair;
  absl::StatusOr<std::vector<net::NamedKey>> keys = net::ReadCurveKeyList(server_keys_file);
  if (!keys.ok()) return keys.status();
  for (const net::NamedKey& key : *keys) {
    if (key.name.empty()) {
      curve.server_key = key.key;
      continue;
    }
    // The same normal form ParseEndpoints gives, so lookups by endpoint match.
    absl::StatusOr<std::vector<std::string>> endpoint = ParseEndpoints(key.name);
    if (!endpoint.ok() || endpoint->size() != 1) {
      return absl::InvalidArgumentError(absl::StrCat(server_keys_file, ": '", key.name, "' is not host:port"));
    }
    curve.server_keys[endpoint->front()] = key.key;
  }
  return curve;
}

Client::Client(const ClientOptions& options)
    : options_(options), sockets_(std::make_unique<Sockets>(options_)),
      leader_(options_.endpoints.size(), options_.attempt_timeout_nanos) {}

Client::~Client() = default;

absl::Status ValidateClientOptions(const ClientOptions& options) {
  if (options.endpoints.empty()) return absl::InvalidArgumentError("client: no endpoints");
  if (options.attempt_timeout_nanos <= 0 || options.call_timeout_nanos < options.attempt_timeout_nanos) {
    return absl::InvalidArgumentError("client: need 0 < attempt_timeout <= call_timeout");
  }
  if (options.curve) {
    if (!net::IsCurveKey(options.curve->client.public_key) || !net::IsCurveKey(options.curve->client.secret_key)) {
      return absl::InvalidArgumentError("client: the CURVE key pair is not two Z85 keys");
    }
    for (const std::string& endpoint : options.endpoints) {
      auto key = options.curve->server_keys.find(endpoint);
      if (!net::IsCurveKey(key != options.curve->server_keys.end() ? key->second : options.curve->server_key)) {
        return absl::InvalidArgumentError(absl::StrCat("client: no CURVE server key for ", endpoint));
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Client>> Client::Create(const ClientOptions& options) {
  if (absl::Status status = ValidateClientOptions(options); !status.ok()) return status;
  return std::unique_ptr<Client>(new Client(options));
}

absl::StatusOr<Response> Client::CallOnce(size_t index, Request request) {
  size_t answered = index;
  return Attempt(index, std::move(request), {}, &answered);
}

absl::StatusOr<Response> Client::Attempt(size_t index, Request request, const std::vector<TimedOut>& earlier,
                                         size_t* answered) {
  KEEL_ASSERT(index < options_.endpoints.size());
  *answered = index;
  if (request.id() == 0) request.set_id(next_id_++);
  if (request.timeout_nanos() == 0) request.set_timeout_nanos(options_.attempt_timeout_nanos);
  if (request.cluster_id() == 0) request.set_cluster_id(options_.cluster_id);
  zmq::socket_t& socket = sockets_->dealers.For(index);
  ++attempts_;
  const std::string bytes = request.SerializeAsString();
  if (!socket.send(zmq::buffer(bytes), zmq::send_flags::dontwait)) {
    return absl::UnavailableError(absl::StrCat(options_.endpoints[index], ": send queue full"));
  }
  const int64_t give_up = SteadyNowNanos() + request.timeout_nanos() + kAnswerSlackNanos;
  // This attempt's socket, then those of earlier attempts (each endpoint once).
  std::vector<size_t> watched{index};
  for (const TimedOut& attempt : earlier) {
    if (std::find(watched.begin(), watched.end(), attempt.index) == watched.end() &&
        sockets_->dealers.Made(attempt.index) != nullptr) {
      watched.push_back(attempt.index);
    }
  }
  std::vector<zmq::pollitem_t> items;
  while (true) {
    const int64_t left = give_up - SteadyNowNanos();
    if (left <= 0) break;
    items.clear();
    for (size_t watched_index : watched) {
      items.push_back({sockets_->dealers.Made(watched_index)->handle(), 0, ZMQ_POLLIN, 0});
    }
    zmq::poll(items.data(), items.size(), std::chrono::milliseconds(left / 1'000'000 + 1));
    for (size_t i = 0; i < items.size(); ++i) {
      if ((items[i].revents & ZMQ_POLLIN) == 0) continue;
      zmq::message_t frame;
      while (sockets_->dealers.Made(watched[i])->recv(frame, zmq::recv_flags::dontwait)) {
        Response response;
        if (!response.ParseFromArray(frame.data(), static_cast<int>(frame.size()))) continue;
        if (watched[i] == index && response.id() == request.id()) return response;
        // A late answer to an earlier attempt of this call ends it if it is final: every
        // attempt carries the same command (and session and sequence, applied at most once).
        const bool earlier_attempt = std::any_of(earlier.begin(), earlier.end(), [&](const TimedOut& attempt) {
          return attempt.index == watched[i] && attempt.id == response.id();
        });
        if (earlier_attempt && SettlesCall(response)) {
          *answered = watched[i];
          return response;
        }
      }
    }
  }
  return absl::DeadlineExceededError(absl::StrCat(options_.endpoints[index], ": no answer in time"));
}

void Client::LearnEndpointIds() {
  ids_learned_ = true;
  for (size_t i = 0; i < options_.endpoints.size(); ++i) {
    Request request;
    request.mutable_status();
    request.set_timeout_nanos(std::min<int64_t>(options_.attempt_timeout_nanos, 500'000'000));
    leader_.OnProbe(i, CallOnce(i, std::move(request)), SteadyNowNanos());
  }
}

size_t Client::PickEndpoint() {
  if (!ids_learned_ && options_.endpoints.size() > 1) LearnEndpointIds();
  return leader_.Pick(SteadyNowNanos());
}

absl::StatusOr<Response> Client::Call(Request request, bool retry_on_unknown) {
  const int64_t deadline = SteadyNowNanos() + options_.call_timeout_nanos;
  CallProgress progress;
  std::vector<TimedOut> timed_out;
  while (SteadyNowNanos() < deadline) {
    const size_t index = PickEndpoint();
    Request attempt = request;
    const uint64_t id = next_id_++;
    attempt.set_id(id);
    attempt.set_timeout_nanos(std::min(options_.attempt_timeout_nanos, std::max<int64_t>(1, deadline - SteadyNowNanos())));
    size_t answered = index;
    absl::StatusOr<Response> response = Attempt(index, std::move(attempt), timed_out, &answered);
    if (absl::IsDeadlineExceeded(response.status())) timed_out.push_back({index, id});
    switch (JudgeAttempt(response, answered, SteadyNowNanos(), retry_on_unknown, leader_, progress)) {
      case AttemptVerdict::kSettled:
        return response;
      case AttemptVerdict::kUnknown:
        return UnknownStatus(progress);
      case AttemptVerdict::kRetry:
        break;
    }
    std::this_thread::sleep_for(std::chrono::nanoseconds(kBackoffNanos));
  }
  return GiveUpStatus(progress);
}

absl::Status Client::OpenSession() {
  Request request;
  request.mutable_command()->mutable_register_session()->set_timeout_nanos(options_.session_timeout_nanos);
  // A lost answer leaves an orphan session behind, which expires on its own: retrying is safe.
  absl::StatusOr<Response> response = Call(std::move(request), /*retry_on_unknown=*/true);
  if (!response.ok()) return response.status();
  if (response->code() != nodepb::CODE_OK || response->result().code() != kvpb::CODE_OK) {
    return absl::InternalError(absl::StrCat("register session: ", response->error(), response->result().error()));
  }
  session_ = response->result().session();
  sequence_ = 0;
  last_activity_nanos_ = SteadyNowNanos();
  return absl::OkStatus();
}

absl::Status Client::CloseSession() {
  if (session_ == 0) return absl::OkStatus();
  Request request;
  request.mutable_command()->mutable_close_session();
  request.mutable_command()->set_session(session_);
  session_ = 0;
  absl::StatusOr<Response> response = Call(std::move(request), /*retry_on_unknown=*/false);
  return response.ok() ? absl::OkStatus() : response.status();
}

absl::Status Client::KeepAliveIfDue() {
  if (session_ == 0 || SteadyNowNanos() - last_activity_nanos_ < options_.session_timeout_nanos / 3) {
    return absl::OkStatus();
  }
  Request request;
  request.mutable_command()->mutable_keep_alive();
  request.mutable_command()->set_session(session_);
  request.mutable_command()->set_acked_sequence(sequence_);
  absl::StatusOr<Response> response = Call(std::move(request), /*retry_on_unknown=*/true);
  if (!response.ok()) return response.status();
  last_activity_nanos_ = SteadyNowNanos();
  return absl::OkStatus();
}

absl::StatusOr<kvpb::Result> Client::Execute(kvpb::Command command, nodepb::ReadMode read_mode) {
  if (IsMutating(command) && session_ != 0) {
    if (absl::Status status = KeepAliveIfDue(); !status.ok()) return status;
  }
  // One command at a time: every earlier result has been seen.
  absl::StatusOr<CommandPlan> plan = PrepareCommand(command, session_, sequence_ + 1, sequence_);
  if (!plan.ok()) return plan.status();
  if (plan->mutating) ++sequence_;
  Request request;
  *request.mutable_command() = std::move(command);
  request.set_read_mode(read_mode);
  absl::StatusOr<kvpb::Result> result = ToResult(Call(std::move(request), plan->resendable), *plan);
  if (result.ok() && plan->mutating) last_activity_nanos_ = SteadyNowNanos();
  return result;
}

absl::StatusOr<nodepb::NodeStatus> Client::NodeStatus(size_t index) {
  if (index >= options_.endpoints.size()) return absl::InvalidArgumentError("no such endpoint");
  Request request;
  request.mutable_status();
  absl::StatusOr<Response> response = CallOnce(index, std::move(request));
  if (!response.ok()) return response.status();
  if (response->code() != nodepb::CODE_OK) return absl::UnavailableError(response->error());
  return response->status();
}

absl::Status Client::TransferLeader(NodeId target) {
  Request request;
  request.mutable_transfer_leader()->set_target(target);
  absl::StatusOr<Response> response = Call(std::move(request), /*retry_on_unknown=*/true);
  if (!response.ok()) return response.status();
  if (response->code() == nodepb::CODE_OK) {
    leader_.Elected(target);
    return absl::OkStatus();
  }
  if (response->code() == nodepb::CODE_INVALID_ARGUMENT || response->code() == nodepb::CODE_WRONG_CLUSTER) {
    return absl::InvalidArgumentError(response->error());
  }
  return absl::FailedPreconditionError(response->error());
}

absl::StatusOr<nodepb::NodeStatus> Client::ChangeMembers(const nodepb::MemberChange& change) {
  Request request;
  *request.mutable_member_change() = change;
  absl::StatusOr<Response> response = Call(std::move(request), /*retry_on_unknown=*/false);
  if (!response.ok()) return response.status();
  switch (response->code()) {
    case nodepb::CODE_OK:
      return response->status();
    case nodepb::CODE_INVALID_ARGUMENT:
    case nodepb::CODE_WRONG_CLUSTER:
      return absl::InvalidArgumentError(response->error());
    default:
      return absl::FailedPreconditionError(response->error());
  }
}

}  // namespace keel::client
