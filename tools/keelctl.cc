// keelctl: the client and admin command line of a keel cluster, over the C++ client library
// (net/client.h). One invocation runs one command: KV, connection pools, load balancers,
// cluster status, leadership transfer. `keelctl --help` lists them all.
//
// Exit status (scripts rely on these; keep kExitCodesHelp below in step):
//   0  success
//   1  the command was answered but failed at the application level (NOT_FOUND, EXHAUSTED,
//      VERSION_MISMATCH, NOT_HELD, ...), or a leadership transfer was refused
//   2  usage error (bad arguments or options)
//   3  unavailable: the command was never applied
//   4  outcome unknown (deadline exceeded): the command may have been applied
//   5  any other error, e.g. an invalid argument (a malformed name) rejected by the cluster
#include <algorithm>
#include <cstdint>
#include <functional>
#include <iostream>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <google/protobuf/util/json_util.h>
#include <CLI/CLI.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "kvstate/command_kind.h"
#include "net/client.h"
#include "tools/cli_endpoints.h"

namespace keel::keelctl {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;
constexpr int kExitUnavailable = 3;
constexpr int kExitUnknown = 4;
constexpr int kExitOther = 5;

constexpr const char* kExitCodesHelp = R"(Exit status:
  0  success
  1  answered, but the command failed (NOT_FOUND, EXHAUSTED, VERSION_MISMATCH, NOT_HELD, ...;
     the code name and the error are printed), or a leadership transfer was refused
  2  usage error
  3  unavailable: the command was never applied
  4  outcome unknown (deadline exceeded): the command may have been applied
  5  other errors (an invalid argument such as a malformed name, ...)
)";

constexpr const char* kCommandsHelp = R"(
Commands (names: key "group/block/key", pool "group/block", load balancer group "group"):
  put KEY VALUE                     set a key; prints OK version=N
  get KEY [--stale]                 print the value (text: the raw value only; json: with the
                                    version, for cas)
  del KEY                           delete a key
  cas KEY EXPECTED_VERSION VALUE    set KEY iff its version is EXPECTED_VERSION (0: absent)
  list PREFIX [--limit N] [--stale] keys starting with PREFIX: KEY VERSION VALUE per line
  pool create POOL CAPACITY         new connection pool
  pool acquire POOL OWNER [--hold S]
                                    take the lowest free slot for OWNER; prints the slot. A
                                    slot lives as long as the session that took it: keelctl
                                    leaves that session open, so the slot is held until
                                    released or until the session expires, S seconds
                                    (default 30) after this command, at the next write
  pool release POOL SLOT OWNER      give a slot back
  pool resize POOL CAPACITY         change the capacity (never below the busy count)
  pool stats POOL [--stale]         capacity, busy, available, slots by owner
  lb create GROUP [--policy P] [--virtual-nodes N]
                                    new load balancer; P: round-robin (default), weighted,
                                    least-connections, consistent-hash
  lb add GROUP BACKEND [--weight W] add a backend (up) or change its weight (1..1000)
  lb remove GROUP BACKEND           remove a backend
  lb next GROUP [--key CLIENT_KEY]  pick a backend by the group's policy; prints it
  lb done GROUP BACKEND             a connection picked earlier finished (least-connections)
  lb up GROUP BACKEND               mark a backend up
  lb down GROUP BACKEND             mark a backend down
  lb show GROUP [--stale]           policy and backends
  cluster status                    every endpoint's own status (ID ROLE TERM COMMIT APPLIED
                                    LAG LEADER ENDPOINT); LAG is the leader's commit index
                                    minus the node's applied index
  leader transfer TARGET_ID         move leadership to node TARGET_ID

Reads are linearizable unless --stale (then the contacted node answers from its own state).
Mutating commands open a client session and close it afterwards, so a retry after a lost
answer is applied at most once. --output json prints one JSON object: a command's kvpb.Result
(proto3 JSON with the .proto field names: bytes in base64, 64-bit integers as strings), or
{"error":{"status":...,"message":...}} when the cluster gave no answer.

)";

// Options shared by every command.
struct Globals {
  std::string endpoints = "tcp://127.0.0.1:7101";
  std::string output = "text";
  double timeout_seconds = 10;
  tools::SecurityFlags security;
  std::optional<client::ClientOptions::Curve> curve;  // from `security`, checked before any command
  bool json() const { return output == "json"; }
};

// Every command's arguments; only those of the command given are used.
struct Args {
  Globals globals;
  std::string key, value, prefix, pool, owner, group, backend, client_key;
  std::string policy = "round-robin";
  uint64_t expected_version = 0, capacity = 0, slot = 0, target = 0;
  uint32_t limit = 0, virtual_nodes = 0, weight = 0;
  bool stale = false;
  double hold_seconds = 30;
};

// ---------------------------------------------------------------------------------------
// Output.

std::string JsonQuote(absl::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      absl::StrAppend(&out, "\\", std::string(1, c));
    } else if (byte < 0x20) {
      absl::StrAppend(&out, absl::StrFormat("\\u%04x", byte));
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
  return out;
}

std::string ToJson(const google::protobuf::Message& message, bool every_field) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = every_field;
  std::string out;
  if (!google::protobuf::util::MessageToJsonString(message, &out, options).ok()) return "null";
  return out;
}

// "CODE_NOT_FOUND" -> "NOT_FOUND": what people read and grep for.
std::string CodeName(kvpb::Code code) {
  return std::string(absl::StripPrefix(kvpb::Code_Name(code), "CODE_"));
}

// Text mode shows values as they are unless that would garble the terminal or the line.
std::string Printable(absl::string_view value) {
  const bool plain = std::all_of(value.begin(), value.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte >= 0x20 && byte != 0x7f;
  });
  return plain ? std::string(value) : absl::StrCat("\"", absl::CHexEscape(value), "\"");
}

// Rows padded to their columns' widths, two spaces apart.
void PrintTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()), 0);
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      absl::StrAppend(&line, row[i]);
      if (i + 1 < row.size()) line.append(widths[i] - row[i].size() + 2, ' ');
    }
    std::cout << line << "\n";
  }
}

int ExitCodeFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return kExitOk;
    case absl::StatusCode::kUnavailable:
      return kExitUnavailable;
    case absl::StatusCode::kDeadlineExceeded:
      return kExitUnknown;
    default:
      return kExitOther;
  }
}

// Reports an error status (the cluster gave no answer to the command) and returns its exit code.
int ReportStatus(const Globals& globals, const absl::Status& status, absl::string_view what) {
  const std::string name = absl::StatusCodeToString(status.code());
  if (globals.json()) {
    std::cout << "{\"error\":{\"status\":" << JsonQuote(name)
              << ",\"message\":" << JsonQuote(absl::StrCat(what, ": ", status.message())) << "}}\n";
  } else {
    std::cerr << "keelctl: " << what << ": " << name << ": " << status.message() << "\n";
  }
  return ExitCodeFor(status);
}

// Reports an answered command: the printer in text mode when it succeeded, its code otherwise.
int ReportResult(const Globals& globals, const kvpb::Result& result,
                 const std::function<void(const kvpb::Result&)>& print) {
  if (globals.json()) {
    std::cout << ToJson(result, /*every_field=*/false) << "\n";
  } else if (result.code() == kvpb::CODE_OK) {
    print(result);
  } else {
    // The error text names the figures that matter (current version, busy count); json
    // mode has them as fields.
    std::cerr << "keelctl: " << CodeName(result.code()) << ": " << result.error() << "\n";
  }
  if (result.code() == kvpb::CODE_OK) return kExitOk;
  // A malformed name is the caller's mistake whichever layer caught it: the same code as the
  // node's own INVALID_ARGUMENT.
  return result.code() == kvpb::CODE_INVALID_ARGUMENT ? kExitOther : kExitFailed;
}

// ---------------------------------------------------------------------------------------
// Running commands.

absl::StatusOr<std::unique_ptr<client::Client>> Connect(const Globals& globals,
                                                        int64_t session_timeout_nanos = 0) {
  absl::StatusOr<std::vector<std::string>> endpoints = client::ParseEndpoints(globals.endpoints);
  if (!endpoints.ok()) return endpoints.status();
  client::ClientOptions options;
  options.endpoints = *std::move(endpoints);
  options.call_timeout_nanos = static_cast<int64_t>(globals.timeout_seconds * 1e9);
  options.attempt_timeout_nanos =
      std::min(options.attempt_timeout_nanos, options.call_timeout_nanos);
  if (session_timeout_nanos > 0) options.session_timeout_nanos = session_timeout_nanos;
  options.curve = globals.curve;
  return client::Client::Create(options);
}


struct CommandRun {
  kvpb::Command command{};
  nodepb::ReadMode read_mode = nodepb::READ_LINEARIZABLE;
  std::function<void(const kvpb::Result&)> print = [](const kvpb::Result&) { std::cout << "OK\n"; };
  // Leave the session open when the command succeeded (a pool slot lives as long as the
  // session that acquired it), with this timeout.
  bool keep_session = false;
  int64_t session_timeout_nanos = 0;
};

int Run(const Globals& globals, CommandRun run) {
  absl::StatusOr<std::unique_ptr<client::Client>> connected =
      Connect(globals, run.session_timeout_nanos);
  if (!connected.ok()) return ReportStatus(globals, connected.status(), "connect");
  client::Client& client = **connected;
  const bool mutating = !kvstate::IsReadCommand(run.command);
  if (mutating) {
    if (absl::Status status = client.OpenSession(); !status.ok()) {
      ReportStatus(globals, status, "open session");
      // The command itself was never sent: whatever became of the registration, it is not applied.
      const bool no_answer = status.code() == absl::StatusCode::kUnavailable ||
                             status.code() == absl::StatusCode::kDeadlineExceeded;
      return no_answer ? kExitUnavailable : kExitOther;
    }
  }
  absl::StatusOr<kvpb::Result> result = client.Execute(run.command, run.read_mode);
  const bool cluster_answers =
      result.ok() || result.status().code() == absl::StatusCode::kInvalidArgument;
  const bool keep = run.keep_session && result.ok() && result->code() == kvpb::CODE_OK;
  // Best effort: when the cluster does not answer, closing would only wait out another
  // timeout; the session expires on its own.
  if (mutating && cluster_answers && !keep) client.CloseSession().IgnoreError();
  if (!result.ok()) return ReportStatus(globals, result.status(), "command");
  return ReportResult(globals, *result, run.print);
}

nodepb::ReadMode ReadModeOf(const Args& args) {
  return args.stale ? nodepb::READ_STALE : nodepb::READ_LINEARIZABLE;
}

void PrintVersion(const kvpb::Result& result) {
  std::cout << "OK version=" << result.version() << "\n";
}

void PrintList(const kvpb::Result& result) {
  std::vector<std::vector<std::string>> rows;
  for (const kvpb::KeyValue& entry : result.entries()) {
    rows.push_back({entry.key(), absl::StrCat(entry.version()), Printable(entry.value())});
  }
  PrintTable(rows);
  if (result.truncated()) std::cerr << "keelctl: more keys match; raise --limit (at most 1000)\n";
}

void PrintPoolStats(const kvpb::Result& result) {
  const kvpb::PoolStats& pool = result.pool();
  std::cout << "capacity=" << pool.capacity() << " busy=" << pool.busy()
            << " available=" << pool.available() << "\n";
  if (pool.owners().empty()) return;
  std::vector<std::vector<std::string>> rows = {{"OWNER", "SLOTS"}};
  for (const kvpb::OwnerSlots& owner : pool.owners()) {
    rows.push_back({owner.owner(), absl::StrJoin(owner.slots(), ",")});
  }
  PrintTable(rows);
}

std::string PolicyName(kvpb::Policy policy) {
  switch (policy) {
    case kvpb::POLICY_ROUND_ROBIN:
      return "round-robin";
    case kvpb::POLICY_WEIGHTED_ROUND_ROBIN:
      return "weighted";
    case kvpb::POLICY_LEAST_CONNECTIONS:
      return "least-connections";
    case kvpb::POLICY_CONSISTENT_HASH:
      return "consistent-hash";
    default:
      return absl::StrCat(static_cast<int>(policy));
  }
}

kvpb::Policy PolicyOf(absl::string_view name) {
  for (kvpb::Policy policy : {kvpb::POLICY_ROUND_ROBIN, kvpb::POLICY_WEIGHTED_ROUND_ROBIN,
                              kvpb::POLICY_LEAST_CONNECTIONS, kvpb::POLICY_CONSISTENT_HASH}) {
    if (PolicyName(policy) == name) return policy;
  }
  return kvpb::POLICY_UNSPECIFIED;  // CLI11 checked the name already
}

void PrintLbStats(const kvpb::Result& result) {
  const kvpb::LbStats& lb = result.lb();
  std::cout << "policy=" << PolicyName(lb.policy()) << " virtual_nodes=" << lb.virtual_nodes()
            << " last_picked=" << (lb.last_picked().empty() ? "-" : lb.last_picked()) << "\n";
  if (lb.backends().empty()) return;
  std::vector<std::vector<std::string>> rows = {
      {"BACKEND", "WEIGHT", "UP", "ACTIVE", "CURRENT_WEIGHT"}};
  for (const kvpb::BackendState& backend : lb.backends()) {
    rows.push_back({backend.name(), absl::StrCat(backend.weight()), backend.up() ? "up" : "down",
                    absl::StrCat(backend.active()), absl::StrCat(backend.current_weight())});
  }
  PrintTable(rows);
}

// ---------------------------------------------------------------------------------------
// cluster status and leader transfer: node requests, not commands.

// The node that leads in the highest term among those that answered, if any.
const nodepb::NodeStatus* FindLeader(
    const std::vector<absl::StatusOr<nodepb::NodeStatus>>& answers) {
  const nodepb::NodeStatus* leader = nullptr;
  for (const auto& answer : answers) {
    if (!answer.ok() || answer->role() != "leader" || !answer->failure().empty()) continue;
    if (leader == nullptr || answer->term() > leader->term()) leader = &*answer;
  }
  return leader;
}

std::string Lag(const nodepb::NodeStatus* leader, const nodepb::NodeStatus& node) {
  if (leader == nullptr) return "-";
  return absl::StrCat(leader->commit() > node.applied() ? leader->commit() - node.applied() : 0);
}

void PrintStatusJson(const std::vector<std::string>& endpoints,
                     const std::vector<absl::StatusOr<nodepb::NodeStatus>>& answers,
                     const nodepb::NodeStatus* leader) {
  std::vector<std::string> nodes;
  for (size_t i = 0; i < answers.size(); ++i) {
    std::string node = absl::StrCat("{\"endpoint\":", JsonQuote(endpoints[i]));
    if (answers[i].ok()) {
      absl::StrAppend(&node, ",\"status\":", ToJson(*answers[i], /*every_field=*/true));
      if (leader != nullptr) absl::StrAppend(&node, ",\"lag\":", Lag(leader, *answers[i]));
    } else {
      absl::StrAppend(&node, ",\"error\":", JsonQuote(answers[i].status().ToString()));
    }
    nodes.push_back(node + "}");
  }
  std::cout << "{\"leader\":"
            << (leader == nullptr ? "null" : JsonQuote(absl::StrCat(leader->id())))
            << ",\"nodes\":[" << absl::StrJoin(nodes, ",") << "]}\n";
}

void PrintStatusText(const std::vector<std::string>& endpoints,
                     const std::vector<absl::StatusOr<nodepb::NodeStatus>>& answers,
                     const nodepb::NodeStatus* leader) {
  std::vector<std::vector<std::string>> rows = {
      {"ID", "ROLE", "TERM", "COMMIT", "APPLIED", "LAG", "LEADER", "ENDPOINT"}};
  std::vector<std::string> notes;
  for (size_t i = 0; i < answers.size(); ++i) {
    if (!answers[i].ok()) {
      rows.push_back({"-", "unreachable", "-", "-", "-", "-", "-", endpoints[i]});
      const absl::string_view why = answers[i].status().message();
      notes.push_back(absl::StrContains(why, endpoints[i]) ? std::string(why)
                                                           : absl::StrCat(endpoints[i], ": ", why));
      continue;
    }
    const nodepb::NodeStatus& node = *answers[i];
    std::string role = node.role();
    if (!node.failure().empty()) role += "(failed)";
    if (!node.storage_stalled().empty()) role += "(disk-full)";
    rows.push_back({absl::StrCat(node.id()), role, absl::StrCat(node.term()),
                    absl::StrCat(node.commit()), absl::StrCat(node.applied()), Lag(leader, node),
                    node.leader() == kNoNode ? "-" : absl::StrCat(node.leader()), endpoints[i]});
    if (!node.failure().empty())
      notes.push_back(absl::StrCat("node ", node.id(), ": storage failed: ", node.failure()));
    if (!node.storage_stalled().empty()) notes.push_back(absl::StrCat("node ", node.id(), ": ", node.storage_stalled()));
  }
  PrintTable(rows);
  for (const std::string& note : notes) std::cout << note << "\n";
}

int RunClusterStatus(const Globals& globals) {
  absl::StatusOr<std::unique_ptr<client::Client>> connected = Connect(globals);
  if (!connected.ok()) return ReportStatus(globals, connected.status(), "connect");
  client::Client& client = **connected;
  std::vector<absl::StatusOr<nodepb::NodeStatus>> answers;
  bool any = false;
  for (size_t i = 0; i < client.endpoints().size(); ++i) {
    answers.push_back(client.NodeStatus(i));
    any = any || answers.back().ok();
  }
  const nodepb::NodeStatus* leader = FindLeader(answers);
  if (globals.json()) {
    PrintStatusJson(client.endpoints(), answers, leader);
  } else {
    PrintStatusText(client.endpoints(), answers, leader);
  }
  if (!any) {
    if (!globals.json()) std::cerr << "keelctl: no endpoint answered\n";
    return kExitUnavailable;
  }
  return kExitOk;
}

int RunLeaderTransfer(const Globals& globals, NodeId target) {
  absl::StatusOr<std::unique_ptr<client::Client>> connected = Connect(globals);
  if (!connected.ok()) return ReportStatus(globals, connected.status(), "connect");
  const absl::Status status = (*connected)->TransferLeader(target);
  if (!status.ok()) {
    const int code = ReportStatus(globals, status, "leader transfer");
    // FailedPrecondition: the cluster answered and refused (or abandoned) the transfer.
    return status.code() == absl::StatusCode::kFailedPrecondition ? kExitFailed : code;
  }
  if (globals.json()) {
    std::cout << "{\"leader\":" << JsonQuote(absl::StrCat(target)) << "}\n";
  } else {
    std::cout << "OK: node " << target << " leads\n";
  }
  return kExitOk;
}

// ---------------------------------------------------------------------------------------
// Command line.

// A non-negative integer that fits in T. Decimal only: CLI11 itself would read "010" as octal,
// so the text is rewritten in canonical form before CLI11 converts it.
template <typename T>
CLI::Validator Unsigned() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        T value = 0;
        if (text.empty() || text[0] == '-' || !absl::SimpleAtoi(text, &value)) {
          return absl::StrCat("'", text, "' is not a non-negative integer up to ",
                              std::numeric_limits<T>::max());
        }
        text = absl::StrCat(value);
        return "";
      },
      "");
}

// Where the chosen command's code goes: the leaf subcommands and what each runs.
using Actions = std::vector<std::pair<CLI::App*, std::function<int()>>>;

void AddKvCommands(CLI::App& app, Args& args, Actions& actions) {
  CLI::App* put = app.add_subcommand("put", "Set a key");
  put->add_option("KEY", args.key, "group/block/key")->required();
  put->add_option("VALUE", args.value, "the value (at most 64 KiB)")->required();
  actions.emplace_back(put, [&args] {
    CommandRun run{.print = PrintVersion};
    run.command.mutable_kv_put()->set_key(args.key);
    run.command.mutable_kv_put()->set_value(args.value);
    return Run(args.globals, std::move(run));
  });

  CLI::App* get = app.add_subcommand("get", "Print a key's value");
  get->add_option("KEY", args.key, "group/block/key")->required();
  get->add_flag("--stale", args.stale, "answer from the contacted node's state, possibly stale");
  actions.emplace_back(get, [&args] {
    CommandRun run{.read_mode = ReadModeOf(args), .print = [](const kvpb::Result& result) {
                     std::cout << result.value() << "\n";
                   }};
    run.command.mutable_kv_get()->set_key(args.key);
    return Run(args.globals, std::move(run));
  });

  CLI::App* del = app.add_subcommand("del", "Delete a key");
  del->add_option("KEY", args.key, "group/block/key")->required();
  actions.emplace_back(del, [&args] {
    CommandRun run{.print = PrintVersion};
    run.command.mutable_kv_delete()->set_key(args.key);
    return Run(args.globals, std::move(run));
  });

  CLI::App* cas = app.add_subcommand("cas", "Set a key iff its version is EXPECTED_VERSION");
  cas->add_option("KEY", args.key, "group/block/key")->required();
  cas->add_option("EXPECTED_VERSION", args.expected_version,
                  "the key's current version (0: absent)")
      ->required()
      ->transform(Unsigned<uint64_t>());
  cas->add_option("VALUE", args.value, "the new value")->required();
  actions.emplace_back(cas, [&args] {
    CommandRun run{.print = PrintVersion};
    kvpb::KvCas* op = run.command.mutable_kv_cas();
    op->set_key(args.key);
    op->set_expected_version(args.expected_version);
    op->set_value(args.value);
    return Run(args.globals, std::move(run));
  });

  CLI::App* list = app.add_subcommand("list", "List keys starting with PREFIX");
  list->add_option("PREFIX", args.prefix, "key prefix, e.g. group/block/")->required();
  list->add_option("--limit", args.limit, "at most this many keys (0: 100; at most 1000)")
      ->transform(Unsigned<uint32_t>());
  list->add_flag("--stale", args.stale, "answer from the contacted node's state, possibly stale");
  actions.emplace_back(list, [&args] {
    CommandRun run{.read_mode = ReadModeOf(args), .print = PrintList};
    run.command.mutable_kv_list()->set_prefix(args.prefix);
    run.command.mutable_kv_list()->set_limit(args.limit);
    return Run(args.globals, std::move(run));
  });
}

void AddPoolCommands(CLI::App& app, Args& args, Actions& actions) {
  CLI::App* pool =
      app.add_subcommand("pool", "Connection pools: create, acquire, release, resize, stats");
  pool->require_subcommand(1);
  CLI::App* create = pool->add_subcommand("create", "Create a pool");
  create->add_option("POOL", args.pool, "group/block")->required();
  create->add_option("CAPACITY", args.capacity, "slots (at most 1000000)")
      ->required()
      ->transform(Unsigned<uint64_t>());
  actions.emplace_back(create, [&args] {
    CommandRun run;
    run.command.mutable_pool_create()->set_pool(args.pool);
    run.command.mutable_pool_create()->set_capacity(args.capacity);
    return Run(args.globals, std::move(run));
  });

  CLI::App* acquire = pool->add_subcommand("acquire", "Take the lowest free slot; prints it");
  acquire->add_option("POOL", args.pool, "group/block")->required();
  acquire->add_option("OWNER", args.owner, "owner name")->required();
  acquire
      ->add_option("--hold", args.hold_seconds,
                   "session timeout: unless released, the slot is freed when the session expires")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 3600.0));
  actions.emplace_back(acquire, [&args] {
    CommandRun run{.print = [](const kvpb::Result& result) { std::cout << result.slot() << "\n"; },
                   .keep_session = true,
                   .session_timeout_nanos = static_cast<int64_t>(args.hold_seconds * 1e9)};
    run.command.mutable_pool_acquire()->set_pool(args.pool);
    run.command.mutable_pool_acquire()->set_owner(args.owner);
    return Run(args.globals, std::move(run));
  });

  CLI::App* release = pool->add_subcommand("release", "Give a slot back");
  release->add_option("POOL", args.pool, "group/block")->required();
  release->add_option("SLOT", args.slot, "the slot acquire printed")
      ->required()
      ->transform(Unsigned<uint64_t>());
  release->add_option("OWNER", args.owner, "the owner that acquired it")->required();
  actions.emplace_back(release, [&args] {
    CommandRun run;
    kvpb::PoolRelease* op = run.command.mutable_pool_release();
    op->set_pool(args.pool);
    op->set_slot(args.slot);
    op->set_owner(args.owner);
    return Run(args.globals, std::move(run));
  });

  CLI::App* resize = pool->add_subcommand("resize", "Change a pool's capacity");
  resize->add_option("POOL", args.pool, "group/block")->required();
  resize->add_option("CAPACITY", args.capacity, "slots (not below the busy count)")
      ->required()
      ->transform(Unsigned<uint64_t>());
  actions.emplace_back(resize, [&args] {
    CommandRun run;
    run.command.mutable_pool_resize()->set_pool(args.pool);
    run.command.mutable_pool_resize()->set_capacity(args.capacity);
    return Run(args.globals, std::move(run));
  });

  CLI::App* stats =
      pool->add_subcommand("stats", "Capacity, busy and available slots, slots by owner");
  stats->add_option("POOL", args.pool, "group/block")->required();
  stats->add_flag("--stale", args.stale, "answer from the contacted node's state, possibly stale");
  actions.emplace_back(stats, [&args] {
    CommandRun run{.read_mode = ReadModeOf(args), .print = PrintPoolStats};
    run.command.mutable_pool_stats()->set_pool(args.pool);
    return Run(args.globals, std::move(run));
  });
}

// lb add/remove/done/up/down: GROUP BACKEND, and a command built from them.
void AddBackendCommand(CLI::App* lb, Args& args, Actions& actions, const std::string& name,
                       const std::string& help,
                       std::function<void(const Args&, kvpb::Command&)> build) {
  CLI::App* sub = lb->add_subcommand(name, help);
  sub->add_option("GROUP", args.group, "load balancer group")->required();
  sub->add_option("BACKEND", args.backend, "backend name")->required();
  if (name == "add") {
    sub->add_option("--weight", args.weight, "weight for weighted round robin (1..1000; 0: 1)")
        ->transform(Unsigned<uint32_t>());
  }
  actions.emplace_back(sub, [&args, build = std::move(build)] {
    CommandRun run;
    build(args, run.command);
    return Run(args.globals, std::move(run));
  });
}

// lb next and lb show: the two that print something other than OK.
void AddLbReadCommands(CLI::App* lb, Args& args, Actions& actions) {
  CLI::App* next = lb->add_subcommand("next", "Pick a backend by the group's policy; prints it");
  next->add_option("GROUP", args.group, "load balancer group")->required();
  next->add_option("--key", args.client_key, "client key (consistent-hash only)");
  actions.emplace_back(next, [&args] {
    CommandRun run{
        .print = [](const kvpb::Result& result) { std::cout << result.backend() << "\n"; }};
    run.command.mutable_lb_pick()->set_group(args.group);
    run.command.mutable_lb_pick()->set_client_key(args.client_key);
    return Run(args.globals, std::move(run));
  });

  CLI::App* show = lb->add_subcommand("show", "Policy and backends of a group");
  show->add_option("GROUP", args.group, "load balancer group")->required();
  show->add_flag("--stale", args.stale, "answer from the contacted node's state, possibly stale");
  actions.emplace_back(show, [&args] {
    CommandRun run{.read_mode = ReadModeOf(args), .print = PrintLbStats};
    run.command.mutable_lb_stats()->set_group(args.group);
    return Run(args.globals, std::move(run));
  });
}

void AddLbCommands(CLI::App& app, Args& args, Actions& actions) {
  CLI::App* lb =
      app.add_subcommand("lb", "Load balancers: create, add, remove, next, done, up, down, show");
  lb->require_subcommand(1);
  CLI::App* create = lb->add_subcommand("create", "Create a load balancer group");
  create->add_option("GROUP", args.group, "load balancer group (no '/')")->required();
  create->add_option("--policy", args.policy, "how next picks a backend")
      ->capture_default_str()
      ->check(CLI::IsMember({"round-robin", "weighted", "least-connections", "consistent-hash"}));
  create
      ->add_option("--virtual-nodes", args.virtual_nodes,
                   "consistent-hash ring points per backend (0: 64; at most 1024)")
      ->transform(Unsigned<uint32_t>());
  actions.emplace_back(create, [&args] {
    CommandRun run;
    kvpb::LbCreate* op = run.command.mutable_lb_create();
    op->set_group(args.group);
    op->set_policy(PolicyOf(args.policy));
    op->set_virtual_nodes(args.virtual_nodes);
    return Run(args.globals, std::move(run));
  });

  AddBackendCommand(lb, args, actions, "add", "Add a backend (up) or change its weight",
                    [](const Args& a, kvpb::Command& command) {
                      kvpb::LbSetBackend* op = command.mutable_lb_set_backend();
                      op->set_group(a.group);
                      op->set_backend(a.backend);
                      op->set_weight(a.weight);
                    });
  AddBackendCommand(lb, args, actions, "remove", "Remove a backend",
                    [](const Args& a, kvpb::Command& command) {
                      command.mutable_lb_remove_backend()->set_group(a.group);
                      command.mutable_lb_remove_backend()->set_backend(a.backend);
                    });
  AddBackendCommand(lb, args, actions, "done", "A connection picked earlier finished",
                    [](const Args& a, kvpb::Command& command) {
                      command.mutable_lb_done()->set_group(a.group);
                      command.mutable_lb_done()->set_backend(a.backend);
                    });
  for (const bool up : {true, false}) {
    AddBackendCommand(lb, args, actions, up ? "up" : "down",
                      up ? "Mark a backend up" : "Mark a backend down",
                      [up](const Args& a, kvpb::Command& command) {
                        kvpb::LbMark* op = command.mutable_lb_mark();
                        op->set_group(a.group);
                        op->set_backend(a.backend);
                        op->set_up(up);
                      });
  }
  AddLbReadCommands(lb, args, actions);
}

void AddClusterCommands(CLI::App& app, Args& args, Actions& actions) {
  CLI::App* cluster = app.add_subcommand("cluster", "Cluster administration: status");
  cluster->require_subcommand(1);
  CLI::App* status = cluster->add_subcommand("status", "Every endpoint's own status, as a table");
  actions.emplace_back(status, [&args] { return RunClusterStatus(args.globals); });

  CLI::App* leader = app.add_subcommand("leader", "Leadership: transfer");
  leader->require_subcommand(1);
  CLI::App* transfer =
      leader->add_subcommand("transfer", "Move leadership to a node; returns once it leads");
  transfer->add_option("TARGET_ID", args.target, "the node id (see cluster status)")
      ->required()
      ->transform(Unsigned<uint64_t>());
  actions.emplace_back(transfer, [&args] { return RunLeaderTransfer(args.globals, args.target); });
}

void AddGlobalOptions(CLI::App& app, Globals& globals) {
  tools::AddEndpointsOption(app, globals.endpoints);
  tools::AddSecurityOptions(app, globals.security);
  app.add_option("--output", globals.output, "text or json")
      ->capture_default_str()
      ->check(CLI::IsMember({"text", "json"}));
  app.add_option("--timeout", globals.timeout_seconds,
                 "seconds a command may take, retries included")
      ->capture_default_str()
      ->check(CLI::Range(0.001, 3600.0));
}

int Main(int argc, char** argv) {
  CLI::App app("keelctl: client and admin command line of a keel cluster", "keelctl");
  Args args;
  Actions actions;
  // Set before the subcommands are added, which inherit them: global options may follow the
  // command, and every command's help ends with the exit codes.
  app.fallthrough();
  app.footer(kExitCodesHelp);
  app.require_subcommand(1);
  AddGlobalOptions(app, args.globals);
  AddKvCommands(app, args, actions);
  AddPoolCommands(app, args, actions);
  AddLbCommands(app, args, actions);
  AddClusterCommands(app, args, actions);
  app.footer(absl::StrCat(kCommandsHelp, kExitCodesHelp));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help is a ParseError too, with exit code 0.
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }
  client::ClientOptions security;
  if (absl::Status status = tools::ApplySecurity(args.globals.security, security); !status.ok()) {
    std::cerr << "keelctl: " << status.message() << "\n";
    return kExitUsage;
  }
  args.globals.curve = security.curve;
  for (const auto& [command, action] : actions) {
    if (command->parsed()) return action();
  }
  std::cerr << "keelctl: no command given; see keelctl --help\n";
  return kExitUsage;
}

}  // namespace
}  // namespace keel::keelctl

int main(int argc, char** argv) {
  return keel::keelctl::Main(argc, argv);
}
