// keelctl's admin commands: cluster status, leadership transfer and membership. Node requests,
// not state-machine commands: answered by the contacted node (status) or the leader.
#include <algorithm>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "net/curve.h"
#include "tools/keelctl.h"

namespace keel::keelctl {
namespace {

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
  if (leader != nullptr) {
    // The configuration in force, as the leader sees it (keelctl member list has the details).
    std::cout << "members: voters=" << absl::StrJoin(leader->voters(), ",");
    if (!leader->learners().empty()) std::cout << " learners=" << absl::StrJoin(leader->learners(), ",");
    if (!leader->voters_outgoing().empty()) {
      std::cout << " outgoing=" << absl::StrJoin(leader->voters_outgoing(), ",") << " (joint)";
    }
    std::cout << "\n";
  }
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
// member list / add / add-learner / promote / remove.

std::string Ids(const google::protobuf::RepeatedField<uint64_t>& ids) {
  return ids.empty() ? "-" : absl::StrJoin(ids, ",");
}

// "voter", "learner", "voter (outgoing)" (C_old only), "voter (both halves)" while joint.
std::string MemberRole(const nodepb::NodeStatus& status, NodeId id) {
  auto has = [id](const google::protobuf::RepeatedField<uint64_t>& ids) {
    return std::find(ids.begin(), ids.end(), id) != ids.end();
  };
  const bool incoming = has(status.voters()), outgoing = has(status.voters_outgoing());
  if (incoming && outgoing) return "voter (both halves)";
  if (incoming) return status.voters_outgoing().empty() ? "voter" : "voter (incoming)";
  if (outgoing) return "voter (outgoing)";
  return "learner";
}

void PrintMembersText(const nodepb::NodeStatus& status) {
  std::set<NodeId> ids(status.voters().begin(), status.voters().end());
  ids.insert(status.voters_outgoing().begin(), status.voters_outgoing().end());
  ids.insert(status.learners().begin(), status.learners().end());
  std::map<NodeId, const nodepb::PeerProgress*> progress;
  for (const nodepb::PeerProgress& peer : status.peers()) progress[peer.id()] = &peer;
  std::vector<std::vector<std::string>> rows = {{"ID", "ROLE", "MATCH", "RAFT ADDRESS"}};
  for (NodeId id : ids) {
    auto member = status.members().find(id);
    auto peer = progress.find(id);
    rows.push_back({absl::StrCat(id), MemberRole(status, id),
                    peer == progress.end() ? "-" : absl::StrCat(peer->second->match()),
                    member == status.members().end() ? "(from the nodes' flags)" : member->second.raft_address()});
  }
  PrintTable(rows);
  std::cout << "joint: " << (status.voters_outgoing().empty() ? "no" : "yes (C_old,new; the leader leaves it on its own)")
            << "\nremoved ids (never reused): " << Ids(status.removed())
            << "\ninitial voters (a joining node's --initial-voters): " << Ids(status.initial_voters())
            << "\nleader: " << status.id() << " (term " << status.term() << ", last index " << status.last_index()
            << (status.pending_conf_index() != 0 ? absl::StrCat(", change in flight at ", status.pending_conf_index()) : "")
            << ")\n";
}

int RunMemberList(const Globals& globals) {
  absl::StatusOr<std::unique_ptr<client::Client>> connected = Connect(globals);
  if (!connected.ok()) return ReportStatus(globals, connected.status(), "connect");
  std::vector<absl::StatusOr<nodepb::NodeStatus>> answers;
  for (size_t i = 0; i < (*connected)->endpoints().size(); ++i) answers.push_back((*connected)->NodeStatus(i));
  // The leader's view: it holds the configuration in force (and progress of every member).
  const nodepb::NodeStatus* leader = FindLeader(answers);
  if (leader == nullptr) {
    return ReportStatus(globals, absl::UnavailableError("no endpoint is the leader; list the endpoints of every node"),
                        "member list");
  }
  if (globals.json()) {
    std::cout << ToJson(*leader, /*every_field=*/true) << "\n";
  } else {
    PrintMembersText(*leader);
  }
  return kExitOk;
}

// The MemberInfo for an add: the raft address, and the public key file's key if given.
absl::StatusOr<nodepb::MemberInfo> InfoFromArgs(const AdminArgs& args) {
  nodepb::MemberInfo info;
  info.set_raft_address(args.raft_address);
  if (!args.public_key_file.empty()) {
    absl::StatusOr<std::vector<net::NamedKey>> keys = net::ReadCurveKeyList(args.public_key_file);
    if (!keys.ok()) return keys.status();
    if (keys->size() != 1) {
      return absl::InvalidArgumentError(absl::StrCat(args.public_key_file, ": expected one public key (NAME.pub)"));
    }
    info.set_public_key(keys->front().key);
  }
  return info;
}

int RunMemberChange(const Globals& globals, const AdminArgs& args, nodepb::MemberChangeType type, bool with_info) {
  nodepb::MemberChange change;
  nodepb::MemberChange::Change* item = change.add_changes();
  item->set_type(type);
  item->set_node(args.target);
  if (with_info) {
    absl::StatusOr<nodepb::MemberInfo> info = InfoFromArgs(args);
    if (!info.ok()) {
      std::cerr << "keelctl: " << info.status().message() << "\n";
      return kExitUsage;
    }
    *item->mutable_info() = *std::move(info);
  }
  absl::StatusOr<std::unique_ptr<client::Client>> connected = Connect(globals);
  if (!connected.ok()) return ReportStatus(globals, connected.status(), "connect");
  absl::StatusOr<nodepb::NodeStatus> status = (*connected)->ChangeMembers(change);
  if (!status.ok()) {
    const int code = ReportStatus(globals, status.status(), "member change");
    // FailedPrecondition: the cluster answered and refused the change, as for a transfer.
    return status.status().code() == absl::StatusCode::kFailedPrecondition ? kExitFailed : code;
  }
  if (globals.json()) {
    std::cout << ToJson(*status, /*every_field=*/true) << "\n";
    return kExitOk;
  }
  std::cout << "OK: voters=" << Ids(status->voters()) << " learners=" << Ids(status->learners());
  if (!status->voters_outgoing().empty()) std::cout << " outgoing=" << Ids(status->voters_outgoing()) << " (joint)";
  std::cout << "\n";
  if (type != nodepb::MEMBER_REMOVE && with_info) {
    std::cout << "start node " << args.target << " (empty data dir) with: keel --id " << args.target
              << " --bootstrap --initial-voters " << Ids(status->initial_voters())
              << " --raft-addr " << args.raft_address << " --peers <every member's id=host:port> ...\n";
  }
  return kExitOk;
}

void AddMemberCommand(CLI::App* member, const Globals& globals, AdminArgs& args, Actions& actions,
                      const std::string& name, const std::string& help, nodepb::MemberChangeType type,
                      bool with_info) {
  CLI::App* sub = member->add_subcommand(name, help);
  sub->add_option("ID", args.target, "the node id (never one that was removed)")
      ->required()
      ->transform(Unsigned<uint64_t>());
  if (with_info) {
    sub->add_option("--raft-addr", args.raft_address, "the new node's raft address, host:port")->required();
    sub->add_option("--public-key-file", args.public_key_file,
                    "the new node's public key (NAME.pub from keel keygen); required for a CURVE cluster");
  }
  actions.emplace_back(sub, [&globals, &args, type, with_info] { return RunMemberChange(globals, args, type, with_info); });
}

}  // namespace

void AddAdminCommands(CLI::App& app, const Globals& globals, AdminArgs& args, Actions& actions) {
  CLI::App* cluster = app.add_subcommand("cluster", "Cluster administration: status");
  cluster->require_subcommand(1);
  CLI::App* status = cluster->add_subcommand("status", "Every endpoint's own status, as a table");
  actions.emplace_back(status, [&globals] { return RunClusterStatus(globals); });

  CLI::App* leader = app.add_subcommand("leader", "Leadership: transfer");
  leader->require_subcommand(1);
  CLI::App* transfer = leader->add_subcommand("transfer", "Move leadership to a node; returns once it leads");
  transfer->add_option("TARGET_ID", args.target, "the node id (see cluster status)")
      ->required()
      ->transform(Unsigned<uint64_t>());
  actions.emplace_back(transfer, [&globals, &args] { return RunLeaderTransfer(globals, args.target); });

  CLI::App* member = app.add_subcommand("member", "Membership: list, add, add-learner, promote, remove");
  member->require_subcommand(1);
  CLI::App* list = member->add_subcommand("list", "Voters, learners, joint state, removed ids (the leader's view)");
  actions.emplace_back(list, [&globals] { return RunMemberList(globals); });
  AddMemberCommand(member, globals, args, actions, "add-learner",
                   "Add a non-voting member (then start it; promote it once it caught up)", nodepb::MEMBER_ADD_LEARNER, true);
  AddMemberCommand(member, globals, args, actions, "add", "Add a voter directly (add-learner, then promote, is safer)",
                   nodepb::MEMBER_ADD_VOTER, true);
  AddMemberCommand(member, globals, args, actions, "promote",
                   "Make a learner a voter (refused while it lags)", nodepb::MEMBER_ADD_VOTER, false);
  AddMemberCommand(member, globals, args, actions, "remove",
                   "Remove a voter or learner; its id is never reused", nodepb::MEMBER_REMOVE, false);
}

}  // namespace keel::keelctl
