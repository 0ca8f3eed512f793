// The pipelined client (net/pipeline.h) against scripted nodes: ROUTER sockets on loopback
// whose answers each test decides (held, reordered, dropped, redirected), on a thread of
// their own while the test thread polls the Pipeline.
#include "net/pipeline.h"

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kvstate/sessions.h"
#include "net/dealer_set.h"

namespace keel::client {
namespace {

constexpr uint64_t kSession = 7;

// A node's client port, answering with `handler` on its own thread. Status requests and
// session registrations are answered by default (node `id`, leader `leader`) unless the handler
// takes them (returns true).
class FakeNode {
 public:
  struct Held {
    std::string peer;
    Request request;
  };
  // Returns true if it dealt with the request (answered it now, held it, or dropped it).
  using Handler = std::function<bool(FakeNode&, const std::string& peer, const Request&)>;

  FakeNode(NodeId id, NodeId leader, Handler handler)
      : id_(id), leader_(leader), handler_(std::move(handler)), socket_(SharedContext(), zmq::socket_type::router) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.bind("tcp://127.0.0.1:*");
    endpoint_ = socket_.get(zmq::sockopt::last_endpoint);
    thread_ = std::thread([this] { Loop(); });
  }
  ~FakeNode() {
    stop_ = true;
    thread_.join();
  }

  const std::string& endpoint() const { return endpoint_; }
  // Every request this node received, in order (copied under the lock).
  std::vector<Request> received() {
    std::lock_guard<std::mutex> lock(mutex_);
    return received_;
  }
  // On the node's thread only (inside the handler).
  void Reply(const std::string& peer, const Response& response) {
    socket_.send(zmq::buffer(peer), zmq::send_flags::sndmore);
    socket_.send(zmq::buffer(response.SerializeAsString()), zmq::send_flags::none);
  }
  static Response Ok(const Request& request) {
    Response response;
    response.set_id(request.id());
    response.set_code(nodepb::CODE_OK);
    response.mutable_result()->set_code(kvpb::CODE_OK);
    return response;
  }
  std::vector<Held> held;  // the handler's, on the node's thread

 private:
  void Loop() {
    while (!stop_) {
      zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, std::chrono::milliseconds(10));
      zmq::message_t peer, body;
      while (socket_.recv(peer, zmq::recv_flags::dontwait)) {
        ASSERT_TRUE(socket_.recv(body, zmq::recv_flags::none));
        Request request;
        ASSERT_TRUE(request.ParseFromArray(body.data(), static_cast<int>(body.size())));
        {
          std::lock_guard<std::mutex> lock(mutex_);
          received_.push_back(request);
        }
        const std::string from = peer.to_string();
        if (handler_ && handler_(*this, from, request)) continue;
        Response response = Ok(request);
        if (request.has_status()) {
          response.mutable_status()->set_id(id_);
          response.mutable_status()->set_leader(leader_);
        } else if (request.command().has_register_session()) {
          response.mutable_result()->set_session(kSession);
        }
        Reply(from, response);
      }
    }
  }

  const NodeId id_;
  const NodeId leader_;
  Handler handler_;
  zmq::socket_t socket_;
  std::string endpoint_;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::vector<Request> received_;
  std::thread thread_;
};

ClientOptions Options(std::vector<std::string> endpoints, int64_t attempt_ms = 2000, int64_t call_ms = 10000) {
  ClientOptions options;
  options.endpoints = std::move(endpoints);
  options.attempt_timeout_nanos = attempt_ms * 1'000'000;
  options.call_timeout_nanos = call_ms * 1'000'000;
  return options;
}

kvpb::Command Put(const std::string& key) {
  kvpb::Command command;
  command.mutable_kv_put()->set_key(key);
  command.mutable_kv_put()->set_value("v");
  return command;
}

// Polls until `done` or 10 s.
void PollUntil(Pipeline& pipeline, const std::function<bool()>& done) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done() && std::chrono::steady_clock::now() < give_up) pipeline.Poll(5'000'000);
  ASSERT_TRUE(done()) << "timed out";
}

std::vector<Request> Commands(FakeNode& node, kvpb::Command::OpCase op) {
  std::vector<Request> out;
  for (const Request& request : node.received()) {
    if (request.has_command() && request.command().op_case() == op) out.push_back(request);
  }
  return out;
}

TEST(PipelineTest, ManyCommandsInFlightAnsweredOutOfOrderReachTheirCallers) {
  constexpr int kCommands = 50;
  // Holds every put until all arrived, then answers them last to first, each with its key.
  FakeNode node(1, 1, [](FakeNode& self, const std::string& peer, const Request& request) {
    if (!request.command().has_kv_put()) return false;
    self.held.push_back({peer, request});
    if (self.held.size() < kCommands) return true;
    for (auto it = self.held.rbegin(); it != self.held.rend(); ++it) {
      Response response = FakeNode::Ok(it->request);
      response.mutable_result()->set_value(it->request.command().kv_put().key());
      self.Reply(it->peer, response);
    }
    self.held.clear();
    return true;
  });
  auto pipeline = Pipeline::Create(Options({node.endpoint()}));
  ASSERT_TRUE(pipeline.ok());
  ASSERT_TRUE((*pipeline)->OpenSession().ok());
  EXPECT_EQ((*pipeline)->session(), kSession);
  std::vector<std::string> answers(kCommands);
  int settled = 0;
  for (int i = 0; i < kCommands; ++i) {
    (*pipeline)->Submit(Put(absl::StrCat("k", i)), [&, i](absl::StatusOr<kvpb::Result> result) {
      ASSERT_TRUE(result.ok()) << result.status();
      answers[i] = result->value();
      ++settled;
    });
  }
  EXPECT_EQ((*pipeline)->open_calls(), static_cast<size_t>(kCommands));
  PollUntil(**pipeline, [&] { return settled == kCommands; });
  for (int i = 0; i < kCommands; ++i) EXPECT_EQ(answers[i], absl::StrCat("k", i));
  EXPECT_EQ((*pipeline)->open_calls(), 0u);
  // Distinct sequences 1..n; none acknowledged another (all were open together).
  std::vector<Request> puts = Commands(node, kvpb::Command::kKvPut);
  ASSERT_EQ(puts.size(), static_cast<size_t>(kCommands));
  for (int i = 0; i < kCommands; ++i) {
    EXPECT_EQ(puts[i].command().session(), kSession);
    EXPECT_EQ(puts[i].command().sequence(), static_cast<uint64_t>(i + 1));
    EXPECT_EQ(puts[i].command().acked_sequence(), 0u);
  }
  // Once all are answered, the next command acknowledges every one of them.
  bool done = false;
  (*pipeline)->Submit(Put("after"), [&](absl::StatusOr<kvpb::Result>) { done = true; });
  // The node holds puts until it has kCommands of them: this one is never answered here; the
  // test only reads what was sent.
  PollUntil(**pipeline, [&] { return Commands(node, kvpb::Command::kKvPut).size() == kCommands + 1; });
  const Request last = Commands(node, kvpb::Command::kKvPut).back();
  EXPECT_EQ(last.command().sequence(), static_cast<uint64_t>(kCommands + 1));
  EXPECT_EQ(last.command().acked_sequence(), static_cast<uint64_t>(kCommands));
  EXPECT_FALSE(done);
}

TEST(PipelineTest, TheWatermarkStaysBelowTheOldestOpenCall) {
  // Answers every put but the first at once.
  FakeNode node(1, 1, [](FakeNode& self, const std::string&, const Request& request) {
    return request.command().has_kv_put() && request.command().sequence() == 1;
  });
  auto pipeline = Pipeline::Create(Options({node.endpoint()}));
  ASSERT_TRUE(pipeline.ok());
  ASSERT_TRUE((*pipeline)->OpenSession().ok());
  int settled = 0;
  for (int i = 0; i < 3; ++i) {
    (*pipeline)->Submit(Put("k"), [&](absl::StatusOr<kvpb::Result> result) {
      EXPECT_TRUE(result.ok());
      ++settled;
    });
  }
  PollUntil(**pipeline, [&] { return settled == 2; });
  (*pipeline)->Submit(Put("k"), [&](absl::StatusOr<kvpb::Result>) { ++settled; });
  PollUntil(**pipeline, [&] { return settled == 3; });
  const std::vector<Request> puts = Commands(node, kvpb::Command::kKvPut);
  ASSERT_EQ(puts.size(), 4u);
  EXPECT_EQ(puts[3].command().sequence(), 4u);
  EXPECT_EQ(puts[3].command().acked_sequence(), 0u);  // sequence 1 is still open
}

TEST(PipelineTest, AnUnavailableFollowerRedirectsToTheHintedLeader) {
  FakeNode follower(1, 0, [](FakeNode& self, const std::string& peer, const Request& request) {
    if (!request.command().has_kv_put()) return false;
    Response response;
    response.set_id(request.id());
    response.set_code(nodepb::CODE_UNAVAILABLE);
    response.set_leader_hint(2);
    self.Reply(peer, response);
    return true;
  });
  FakeNode leader(2, 0, nullptr);  // neither knows the leader when probed
  auto pipeline = Pipeline::Create(Options({follower.endpoint(), leader.endpoint()}));
  ASSERT_TRUE(pipeline.ok());
  ASSERT_TRUE((*pipeline)->OpenSession().ok());
  // Both probed; the registration went to one of them round-robin.
  EXPECT_EQ(Commands(follower, kvpb::Command::kRegisterSession).size() +
                Commands(leader, kvpb::Command::kRegisterSession).size(),
            1u);
  int ok = 0;
  for (int i = 0; i < 4; ++i) {
    (*pipeline)->Submit(Put("k"), [&](absl::StatusOr<kvpb::Result> result) {
      ASSERT_TRUE(result.ok()) << result.status();
      ++ok;
    });
  }
  PollUntil(**pipeline, [&] { return ok == 4; });
  // Every put reached the leader once, with the numbers it first carried.
  const std::vector<Request> at_leader = Commands(leader, kvpb::Command::kKvPut);
  ASSERT_EQ(at_leader.size(), 4u);
  for (const Request& request : Commands(follower, kvpb::Command::kKvPut)) {
    EXPECT_TRUE(std::any_of(at_leader.begin(), at_leader.end(), [&](const Request& r) {
      return r.command().sequence() == request.command().sequence() && r.id() != request.id();
    }));
  }
  // Once the hint is known, the next put goes straight to the leader.
  const size_t follower_puts = Commands(follower, kvpb::Command::kKvPut).size();
  (*pipeline)->Submit(Put("k"), [&](absl::StatusOr<kvpb::Result>) { ++ok; });
  PollUntil(**pipeline, [&] { return ok == 5; });
  EXPECT_EQ(Commands(follower, kvpb::Command::kKvPut).size(), follower_puts);
}

TEST(PipelineTest, ALostAnswerIsResentWithTheSameSequence) {
  std::atomic<int> dropped{0};
  FakeNode node(1, 1, [&](FakeNode&, const std::string&, const Request& request) {
    return request.command().has_kv_put() && dropped.fetch_add(1) == 0;  // drop the first copy
  });
  auto pipeline = Pipeline::Create(Options({node.endpoint()}, /*attempt_ms=*/100, /*call_ms=*/5000));
  ASSERT_TRUE(pipeline.ok());
  ASSERT_TRUE((*pipeline)->OpenSession().ok());
  std::optional<absl::StatusOr<kvpb::Result>> result;
  (*pipeline)->Submit(Put("k"), [&](absl::StatusOr<kvpb::Result> r) { result = std::move(r); });
  PollUntil(**pipeline, [&] { return result.has_value(); });
  ASSERT_TRUE(result->ok()) << result->status();
  const std::vector<Request> puts = Commands(node, kvpb::Command::kKvPut);
  ASSERT_EQ(puts.size(), 2u);
  EXPECT_NE(puts[0].id(), puts[1].id());
  EXPECT_EQ(puts[0].command().sequence(), puts[1].command().sequence());
  EXPECT_EQ(puts[0].command().session(), puts[1].command().session());
}

// The first put is held and answered only when its retry arrives; the retries never are.
FakeNode::Handler AnswerTheFirstPutOnlyWhenItsRetryArrives() {
  auto puts = std::make_shared<int>(0);  // on the node's thread only
  return [puts](FakeNode& self, const std::string& peer, const Request& request) {
    if (!request.command().has_kv_put()) return false;
    if ((*puts)++ == 0) {
      self.held.push_back({peer, request});
    } else if (!self.held.empty()) {
      self.Reply(self.held.front().peer, FakeNode::Ok(self.held.front().request));
      self.held.clear();
    }
    return true;
  };
}

TEST(PipelineTest, ALateFinalAnswerEndsACallThatIsRetrying) {
  // The first put is answered only once its retry arrives, and the retries never: the call
  // must end with that late answer rather than run out its deadline as "outcome unknown".
  FakeNode node(1, 1, AnswerTheFirstPutOnlyWhenItsRetryArrives());
  auto pipeline = Pipeline::Create(Options({node.endpoint()}, /*attempt_ms=*/100, /*call_ms=*/4000));
  ASSERT_TRUE(pipeline.ok());
  ASSERT_TRUE((*pipeline)->OpenSession().ok());
  std::optional<absl::StatusOr<kvpb::Result>> result;
  const auto start = std::chrono::steady_clock::now();
  (*pipeline)->Submit(Put("k"), [&](absl::StatusOr<kvpb::Result> r) { result = std::move(r); });
  PollUntil(**pipeline, [&] { return result.has_value(); });
  ASSERT_TRUE(result->ok()) << result->status();
  // Well before the call deadline (4 s); the first attempt expires at 100 ms + kAnswerSlackNanos.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(3000));
  EXPECT_EQ((*pipeline)->open_calls(), 0u);
  const std::vector<Request> sent = Commands(node, kvpb::Command::kKvPut);
  ASSERT_GE(sent.size(), 2u);
  EXPECT_EQ(sent[0].command().sequence(), sent[1].command().sequence());
  // Nothing more is sent for the call once it ended.
  const size_t attempts = (*pipeline)->attempts();
  (*pipeline)->Poll(300'000'000);
  EXPECT_EQ((*pipeline)->attempts(), attempts);
}

TEST(ClientTest, ALateFinalAnswerEndsACallThatIsRetrying) {
  // The blocking Client under the same script as the Pipeline test above.
  FakeNode node(1, 1, AnswerTheFirstPutOnlyWhenItsRetryArrives());
  auto client = Client::Create(Options({node.endpoint()}, /*attempt_ms=*/100, /*call_ms=*/4000));
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE((*client)->OpenSession().ok());
  const auto start = std::chrono::steady_clock::now();
  const absl::StatusOr<kvpb::Result> result = (*client)->Execute(Put("k"));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(3000));
  const std::vector<Request> sent = Commands(node, kvpb::Command::kKvPut);
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].command().sequence(), sent[1].command().sequence());
}

TEST(PipelineTest, AnUnansweredCloseIsNotResent) {
  FakeNode node(1, 1, [](FakeNode&, const std::string&, const Request& request) {
    return request.command().has_close_session();  // never answered
  });
  auto pipeline = Pipeline::Create(Options({node.endpoint()}, /*attempt_ms=*/100, /*call_ms=*/5000));
  ASSERT_TRUE(pipeline.ok());
  ASSERT_TRUE((*pipeline)->OpenSession().ok());
  const absl::Status closed = (*pipeline)->CloseSession();
  EXPECT_TRUE(absl::IsDeadlineExceeded(closed)) << closed;
  EXPECT_EQ(Commands(node, kvpb::Command::kCloseSession).size(), 1u);
}

TEST(PipelineTest, BadCommandsFailThroughTheirCallbackAtTheNextPoll) {
  FakeNode node(1, 1, nullptr);
  auto pipeline = Pipeline::Create(Options({node.endpoint()}));
  ASSERT_TRUE(pipeline.ok());
  std::vector<absl::Status> statuses;
  auto record = [&](absl::StatusOr<kvpb::Result> result) { statuses.push_back(result.status()); };
  (*pipeline)->Submit(kvpb::Command(), record);  // no op
  (*pipeline)->Submit(Put("k"), record);         // no session
  EXPECT_TRUE(statuses.empty());                 // never inside Submit
  EXPECT_EQ((*pipeline)->Poll(0), 2u);
  ASSERT_EQ(statuses.size(), 2u);
  EXPECT_TRUE(absl::IsInvalidArgument(statuses[0])) << statuses[0];
  EXPECT_TRUE(absl::IsFailedPrecondition(statuses[1])) << statuses[1];
  EXPECT_TRUE(node.received().empty());
}

TEST(PipelineTest, CallsPastTheOpenLimitAreRefused) {
  FakeNode node(1, 1, [](FakeNode&, const std::string&, const Request& request) {
    return request.command().has_kv_get();  // held forever
  });
  auto pipeline = Pipeline::Create(Options({node.endpoint()}));
  ASSERT_TRUE(pipeline.ok());
  int refused = 0;
  for (size_t i = 0; i <= Pipeline::kMaxOpenCalls; ++i) {
    kvpb::Command get;
    get.mutable_kv_get()->set_key("k");
    (*pipeline)->Submit(get, [&](absl::StatusOr<kvpb::Result> result) {
      if (absl::IsResourceExhausted(result.status())) ++refused;
    });
  }
  EXPECT_EQ((*pipeline)->open_calls(), Pipeline::kMaxOpenCalls);
  (*pipeline)->Poll(0);
  EXPECT_EQ(refused, 1);
}

TEST(ClientCallTest, VerdictsOfEachAnswer) {
  LeaderTracker leader(3, 1000);
  auto judge = [&](nodepb::Code code, bool resendable, NodeId hint = kNoNode) {
    Response response;
    response.set_code(code);
    response.set_leader_hint(hint);
    CallProgress progress;
    const AttemptVerdict verdict = JudgeAttempt(response, 0, 0, resendable, leader, progress);
    return std::make_pair(verdict, progress.maybe_applied);
  };
  EXPECT_EQ(judge(nodepb::CODE_OK, false).first, AttemptVerdict::kSettled);
  EXPECT_EQ(judge(nodepb::CODE_INVALID_ARGUMENT, true).first, AttemptVerdict::kSettled);
  EXPECT_EQ(judge(nodepb::CODE_UNAVAILABLE, false, 2), std::make_pair(AttemptVerdict::kRetry, false));
  EXPECT_EQ(leader.leader(), 2u);
  EXPECT_EQ(judge(nodepb::CODE_DEADLINE_EXCEEDED, true), std::make_pair(AttemptVerdict::kRetry, true));
  EXPECT_EQ(leader.leader(), kNoNode);  // an unknown outcome forgets the leader
  EXPECT_EQ(judge(nodepb::CODE_DEADLINE_EXCEEDED, false), std::make_pair(AttemptVerdict::kUnknown, true));
  CallProgress progress;
  EXPECT_EQ(JudgeAttempt(absl::DeadlineExceededError("no answer"), 0, 0, false, leader, progress),
            AttemptVerdict::kUnknown);
  // A request that could not even be queued was never sent: retried, not "maybe applied".
  CallProgress unsent;
  EXPECT_EQ(JudgeAttempt(absl::UnavailableError("send queue full"), 1, 0, false, leader, unsent),
            AttemptVerdict::kRetry);
  EXPECT_FALSE(unsent.maybe_applied);
  EXPECT_FALSE(leader.silent(1, 0));
  EXPECT_TRUE(absl::IsDeadlineExceeded(GiveUpStatus(progress)));
  EXPECT_TRUE(absl::IsUnavailable(GiveUpStatus(CallProgress{})));
}

TEST(ClientCallTest, ASilentEndpointIsSkippedAndItsNodeNotBelievedLeader) {
  constexpr int64_t kSilence = 1000;
  LeaderTracker tracker(3, kSilence);
  tracker.Learn(1, 0, kNoNode, 0);
  tracker.Learn(2, 1, kNoNode, 0);
  tracker.Learn(3, 2, 1, 0);
  EXPECT_EQ(tracker.Pick(0), 0u);  // node 1 leads
  // Node 1 dies: its attempt gets no answer at t=10; the followers still name it for a while.
  CallProgress progress;
  EXPECT_EQ(JudgeAttempt(absl::DeadlineExceededError("no answer"), 0, 10, true, tracker, progress),
            AttemptVerdict::kRetry);
  EXPECT_EQ(tracker.leader(), kNoNode);
  Response stale;
  stale.set_code(nodepb::CODE_UNAVAILABLE);
  stale.set_leader_hint(1);
  EXPECT_EQ(JudgeAttempt(stale, 1, 20, true, tracker, progress), AttemptVerdict::kRetry);
  EXPECT_EQ(tracker.leader(), kNoNode);  // the hint names a silent node
  for (int i = 0; i < 6; ++i) EXPECT_NE(tracker.Pick(30), 0u);
  // Node 3 is elected and named: picked.
  Response fresh;
  fresh.set_code(nodepb::CODE_UNAVAILABLE);
  fresh.set_leader_hint(3);
  JudgeAttempt(fresh, 1, 40, true, tracker, progress);
  EXPECT_EQ(tracker.Pick(50), 2u);
  // Silence lapses: a hint naming node 1 is believed again once it is over.
  tracker.Hint(1, 10 + kSilence - 1);
  EXPECT_EQ(tracker.leader(), 3u);
  tracker.Hint(1, 10 + kSilence);
  EXPECT_EQ(tracker.leader(), 1u);
  EXPECT_EQ(tracker.Pick(10 + kSilence), 0u);
  // An answer ends silence at once; so does a transfer to the node.
  tracker.NoAnswer(0, 2000);
  EXPECT_TRUE(tracker.silent(0, 2000));
  tracker.Answered(0);
  EXPECT_FALSE(tracker.silent(0, 2000));
  tracker.NoAnswer(0, 2000);
  tracker.Elected(1);
  EXPECT_EQ(tracker.Pick(2001), 0u);
  tracker.Forget();
  std::set<size_t> picked;
  for (int i = 0; i < 3; ++i) picked.insert(tracker.Pick(2001));
  EXPECT_EQ(picked.size(), 3u);
  // When every endpoint went silent, all are tried again rather than none.
  tracker.NoAnswer(0, 3000);
  tracker.NoAnswer(1, 3000);
  tracker.NoAnswer(2, 3000);
  picked.clear();
  for (int i = 0; i < 3; ++i) picked.insert(tracker.Pick(3000));
  EXPECT_EQ(picked.size(), 3u);
}

TEST(PipelineTest, TheSessionWindowMatchesWhatANodeCaches) {
  static_assert(Pipeline::kMaxSessionWindow == kvstate::kMaxCachedResults);
  static_assert(Pipeline::kMaxOpenCalls <= Pipeline::kMaxSessionWindow);
}

TEST(PipelineTest, AMutatingCommandTooFarAheadOfTheOldestOpenOneIsRefused) {
  // Holds sequence 1 forever and answers every other put at once.
  FakeNode node(1, 1, [](FakeNode&, const std::string&, const Request& request) {
    return request.command().has_kv_put() && request.command().sequence() == 1;
  });
  auto pipeline = Pipeline::Create(Options({node.endpoint()}, /*attempt_ms=*/60000, /*call_ms=*/60000));
  ASSERT_TRUE(pipeline.ok());
  ASSERT_TRUE((*pipeline)->OpenSession().ok());
  int ok = 0, refused = 0;
  auto count = [&](absl::StatusOr<kvpb::Result> result) {
    if (result.ok()) ++ok;
    else if (absl::IsResourceExhausted(result.status())) ++refused;
  };
  (*pipeline)->Submit(Put("held"), count);
  // Submitted a batch at a time, so the open calls stay far below kMaxOpenCalls.
  for (uint64_t submitted = 1; submitted < Pipeline::kMaxSessionWindow; ) {
    for (int i = 0; i < 256 && submitted < Pipeline::kMaxSessionWindow; ++i, ++submitted) (*pipeline)->Submit(Put("k"), count);
    const int target = static_cast<int>(submitted) - 1;
    PollUntil(**pipeline, [&] { return ok == target; });
  }
  EXPECT_EQ(refused, 0);
  (*pipeline)->Submit(Put("one too many"), count);
  (*pipeline)->Poll(0);
  EXPECT_EQ(refused, 1);
  EXPECT_EQ(Commands(node, kvpb::Command::kKvPut).back().command().sequence(), Pipeline::kMaxSessionWindow);
}

}  // namespace
}  // namespace keel::client
