// The C++ client library of keel (net/client.proto is the contract it implements): a list of
// endpoints, a client session with keep-alive, retries that reuse the command's (session,
// sequence) so a retried write is applied once, and the leader hint cached so requests go
// straight to the leader once it is known. Blocking and single-threaded: one request
// outstanding per Client; use one Client per thread (or per closed-loop driver).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/types.h"
#include "kvstate/kv.pb.h"
#include "net/client.pb.h"
#include "net/client_call.h"
#include "net/curve.h"

namespace keel::client {

struct ClientOptions {
  std::vector<std::string> endpoints;  // ZeroMQ endpoints of nodes' client ports, tcp://host:port
  // Each attempt's timeout (sent as Request.timeout_nanos; the client waits a little longer).
  int64_t attempt_timeout_nanos = 2'000'000'000;
  // A call gives up after this long in all, retries included.
  int64_t call_timeout_nanos = 10'000'000'000;
  int64_t session_timeout_nanos = 30'000'000'000;
  // If not 0, every request names this cluster; nodes of another answer CODE_WRONG_CLUSTER.
  uint64_t cluster_id = 0;
  // CURVE (the default for keel nodes): this client's key pair and the public key of each
  // node's client port, by endpoint (as given in `endpoints`), or one for all in
  // `server_key`. Without `curve` the client speaks plaintext (nodes run with --insecure).
  struct Curve {
    net::CurveKeyPair client;
    std::map<std::string, std::string> server_keys;  // endpoint -> Z85 public key
    std::string server_key;                          // for endpoints not in server_keys
  };
  std::optional<Curve> curve;
};

class Client {
 public:
  // Validates the options and prepares sockets (connections are made lazily by ZeroMQ, so an
  // unreachable node is not an error here). InvalidArgument for an empty or malformed list.
  static absl::StatusOr<std::unique_ptr<Client>> Create(const ClientOptions& options);
  ~Client();

  // Registers a client session (needed before any mutating command). Retries until the call
  // timeout; a registration whose answer was lost leaves an orphan session that expires.
  absl::Status OpenSession();
  // Closes the session (its pool slots are released). Best effort.
  absl::Status CloseSession();
  uint64_t session() const { return session_; }

  // Runs a command. Mutating commands get the session, the next sequence number and the
  // acknowledged watermark filled in, and every retry resends the same numbers, so the
  // command is applied at most once. Returns the command's Result (its code may be any
  // kvpb.Code); an error status means consensus gave no answer:
  //   Unavailable       never applied (every attempt was refused; or a read got no answer)
  //   DeadlineExceeded  may have been applied (some attempt's fate is unknown). The next
  //                     Execute acknowledges that sequence, so its outcome can no longer be
  //                     asked for; read the object to find out.
  //   InvalidArgument   the request is malformed
  //   FailedPrecondition a mutating command without an open session
  absl::StatusOr<kvpb::Result> Execute(kvpb::Command command,
                                       nodepb::ReadMode read_mode = nodepb::READ_LINEARIZABLE);
  // Sends a keep-alive if the session was idle for a third of its timeout. Execute calls it.
  absl::Status KeepAliveIfDue();

  // The status of the node at endpoint `index` (never proxied).
  absl::StatusOr<nodepb::NodeStatus> NodeStatus(size_t index);
  // Moves leadership to `target`; returns once it leads (or the call times out).
  absl::Status TransferLeader(NodeId target);
  // Changes the membership (nodepb::MemberChange); returns the leader's status once the change
  // committed. FailedPrecondition: refused, with the reason (another change in flight, a
  // lagging learner, a removed id, ...); InvalidArgument: malformed. Not retried once it may
  // have been proposed (a second copy would be refused as already done): DeadlineExceeded
  // then means "look at the member list".
  absl::StatusOr<nodepb::NodeStatus> ChangeMembers(const nodepb::MemberChange& change);

  // Sends one request as is (id and timeout filled in if zero) to endpoint `index`, waits for
  // its answer up to the attempt timeout. No retry. For tools and tests.
  absl::StatusOr<Response> CallOnce(size_t index, Request request);

  const std::vector<std::string>& endpoints() const { return options_.endpoints; }
  // Attempts made in all (retries included), for tests and benchmarks.
  uint64_t attempts() const { return attempts_; }

 private:
  struct Sockets;
  // An attempt of the current call that timed out: its answer may still come.
  struct TimedOut {
    size_t index;  // endpoint it went to
    uint64_t id;   // its request id
  };
  explicit Client(const ClientOptions& options);
  // CallOnce, also taking a final answer (SettlesCall) to one of `earlier` attempts of the same
  // call while it waits; *answered is the endpoint whose answer is returned.
  absl::StatusOr<Response> Attempt(size_t index, Request request, const std::vector<TimedOut>& earlier,
                                   size_t* answered);
  // Sends `request` with retries until an answer that settles it or the call timeout.
  absl::StatusOr<Response> Call(Request request, bool retry_on_unknown);
  // The endpoint to try next: the cached leader's if known, else the next in turn.
  size_t PickEndpoint();
  void LearnEndpointIds();

  ClientOptions options_;
  std::unique_ptr<Sockets> sockets_;
  uint64_t next_id_ = 1;
  uint64_t session_ = 0;
  uint64_t sequence_ = 0;
  int64_t last_activity_nanos_ = 0;
  LeaderTracker leader_;
  bool ids_learned_ = false;
  uint64_t attempts_ = 0;
};

// OK if `options` are usable: endpoints given, 0 < attempt timeout <= call timeout, and with
// CURVE, a key pair and a server key for every endpoint. Else InvalidArgument saying which.
absl::Status ValidateClientOptions(const ClientOptions& options);

// Parses "tcp://h:p,tcp://h:p" or "h:p,h:p" into endpoints.
absl::StatusOr<std::vector<std::string>> ParseEndpoints(const std::string& list);

// The CURVE settings of a client from files: its key pair (`keel keygen`) and a key list of
// the nodes' client-port public keys (lines `host:port=<key>`, or one `<key>` for every node).
absl::StatusOr<ClientOptions::Curve> LoadClientCurve(const std::string& key_file, const std::string& server_keys_file);

}  // namespace keel::client
