// Runs the scenario files in tests/scenarios/ (etcd-io/raft datadriven style). Each file is a
// sequence of blocks:
//
//   command arg key=value ...
//   ----
//   expected output (one or more lines)
//
// separated by blank lines; lines starting with '#' between blocks are comments. Every command
// runs against an in-memory Cluster; after each one the invariants checkers must be clean.
// Set KEEL_REWRITE_SCENARIOS=1 to rewrite the expected outputs from the actual ones (then read
// the diff: a scenario is only as good as the review of its expectations).
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/harness/cluster.h"

namespace keel::testing {
namespace {

struct Block {
  std::string preamble;  // comment lines before the command, kept when rewriting
  std::string command;
  std::string expected;
  int line = 0;
};

std::vector<Block> ParseScenario(const std::string& text, std::string* error) {
  std::vector<Block> blocks;
  std::vector<std::string> lines = absl::StrSplit(text, '\n');
  size_t i = 0;
  std::string preamble;
  while (i < lines.size()) {
    if (lines[i].empty() || lines[i][0] == '#') {
      if (!lines[i].empty()) absl::StrAppend(&preamble, lines[i], "\n");
      ++i;
      continue;
    }
    Block block;
    block.preamble = std::move(preamble);
    preamble.clear();
    block.command = lines[i];
    block.line = static_cast<int>(i) + 1;
    if (i + 1 >= lines.size() || lines[i + 1] != "----") {
      *error = absl::StrCat("line ", i + 1, ": expected '----' after the command");
      return {};
    }
    i += 2;
    while (i < lines.size() && !lines[i].empty()) {
      absl::StrAppend(&block.expected, lines[i], "\n");
      ++i;
    }
    blocks.push_back(std::move(block));
  }
  return blocks;
}

class ScenarioRunner {
 public:
  std::string Run(const std::string& command_line) {
    std::vector<std::string> words = absl::StrSplit(command_line, ' ', absl::SkipEmpty());
    const std::string command = words.front();
    args_.assign(words.begin() + 1, words.end());
    if (command == "cluster") return NewCluster();
    if (!cluster_) return "error: no cluster (start with 'cluster')\n";
    if (command == "campaign") {
      cluster_->raft(Node(0)).Campaign();
      return "ok\n";
    }
    if (command == "stabilize") {
      cluster_->Stabilize();
      return "ok\n";
    }
    if (command == "tick") {  // tick <node> [count]: ticks without processing anything
      const int count = args_.size() > 1 ? Int(1) : 1;
      for (int i = 0; i < count; ++i) cluster_->Tick(Node(0));
      return "ok\n";
    }
    if (command == "tick-all") {  // tick-all [count]: tick everyone, stabilize, repeat
      const int count = args_.empty() ? 1 : Int(0);
      for (int i = 0; i < count; ++i) cluster_->TickAllAndStabilize();
      return "ok\n";
    }
    if (command == "propose") {
      absl::StatusOr<LogPosition> position = cluster_->Propose(Node(0), args_.at(1));
      if (!position.ok()) return absl::StrCat("error: ", position.status().message(), "\n");
      return absl::StrCat("index=", position->index, " term=", position->term, "\n");
    }
    if (command == "status") return cluster_->DescribeNodes();
    if (command == "log") return cluster_->DescribeLog(Node(0));
    if (command == "applied") {
      if (!cluster_->IsUp(Node(0))) return "down\n";
      return absl::StrCat("[", absl::StrJoin(cluster_->applied(Node(0)), ","), "]\n");
    }
    if (command == "peers") {
      std::string out;
      for (const PeerStatus& peer : cluster_->raft(Node(0)).Status().peers) {
        absl::StrAppend(&out, peer.id, ": match=", peer.match, " next=", peer.next,
                        " state=", ToString(peer.state), "\n");
      }
      return out.empty() ? "not leader\n" : out;
    }
    if (command == "partition") {  // partition 1 2 / 3 4 5
      std::vector<std::set<NodeId>> groups(1);
      for (const std::string& word : args_) {
        if (word == "/") {
          groups.emplace_back();
        } else {
          groups.back().insert(ParseNode(word));
        }
      }
      cluster_->Partition(groups);
      return "ok\n";
    }
    if (command == "isolate") {
      cluster_->Isolate(Node(0));
      return "ok\n";
    }
    if (command == "heal") {
      cluster_->Heal();
      return "ok\n";
    }
    if (command == "crash") {
      cluster_->Crash(Node(0));
      return "ok\n";
    }
    if (command == "restart") {
      cluster_->Restart(Node(0));
      return "ok\n";
    }
    if (command == "compact") {
      return cluster_->Compact(Node(0), Int(1)) ? "ok\n" : "not compacted\n";
    }
    if (command == "process-ready") {
      return cluster_->ProcessReady(Node(0)) ? "ok\n" : "no ready\n";
    }
    if (command == "queue") return DescribeQueue();
    if (command == "deliver") {  // deliver [count]: the oldest queued messages
      const int count = args_.empty() ? 1 : Int(0);
      for (int i = 0; i < count && cluster_->DeliverOne(); ++i) {
      }
      return "ok\n";
    }
    if (command == "drop-queue") {
      while (!cluster_->queue().empty()) cluster_->DropAt(0);
      return "ok\n";
    }
    if (command == "read-index") {
      absl::Status status = cluster_->raft(Node(0)).ReadIndex(args_.at(1));
      return status.ok() ? "ok\n" : absl::StrCat("error: ", status.message(), "\n");
    }
    if (command == "read-states") {
      std::string out;
      for (const ReadState& read : cluster_->read_states(Node(0))) {
        absl::StrAppend(&out, read.context, "@", read.index, read.lease ? " lease" : "", "\n");
      }
      cluster_->read_states(Node(0)).clear();
      return out.empty() ? "none\n" : out;
    }
    if (command == "conf-change") {  // conf-change <leader> add-voter 4 [remove 2 ...]
      raftpb::ConfChange change;
      for (size_t i = 1; i + 1 < args_.size(); i += 2) {
        raftpb::ConfChangeSingle* single = change.add_changes();
        if (args_[i] == "add-voter") single->set_type(raftpb::CONF_ADD_VOTER);
        else if (args_[i] == "add-learner") single->set_type(raftpb::CONF_ADD_LEARNER);
        else if (args_[i] == "remove") single->set_type(raftpb::CONF_REMOVE);
        else return absl::StrCat("error: unknown change '", args_[i], "'\n");
        single->set_node(ParseNode(args_[i + 1]));
      }
      absl::StatusOr<LogPosition> position = cluster_->ProposeConfChange(Node(0), change);
      if (!position.ok()) return absl::StrCat("error: ", position.status().message(), "\n");
      return absl::StrCat("index=", position->index, " term=", position->term, "\n");
    }
    if (command == "transfer") {
      absl::Status status = cluster_->raft(Node(0)).TransferLeadership(ParseNode(args_.at(1)));
      return status.ok() ? "ok\n" : absl::StrCat("error: ", status.message(), "\n");
    }
    return absl::StrCat("error: unknown command '", command, "'\n");
  }

  const Cluster* cluster() const { return cluster_.get(); }

 private:
  std::string NewCluster() {
    ClusterOptions options;
    for (const std::string& arg : args_) {
      std::pair<std::string, std::string> kv = absl::StrSplit(arg, '=');
      int64_t value = 0;
      if (kv.second == "true") {
        value = 1;
      } else if (kv.second != "false" && !absl::SimpleAtoi(kv.second, &value)) {
        return absl::StrCat("error: bad value in ", arg, "\n");
      }
      if (kv.first == "nodes") options.nodes = static_cast<int>(value);
      // voters=N: nodes 1..N bootstrap the cluster, the rest start outside it (to be added).
      else if (kv.first == "voters") options.initial_voters = static_cast<int>(value);
      else if (kv.first == "prevote") options.pre_vote = value != 0;
      else if (kv.first == "checkquorum") options.check_quorum = value != 0;
      else if (kv.first == "lease") options.read_only_lease = value != 0;
      else if (kv.first == "drift") options.max_clock_drift_ticks = static_cast<int>(value);
      else if (kv.first == "election") options.election_tick = static_cast<int>(value);
      else if (kv.first == "heartbeat") options.heartbeat_tick = static_cast<int>(value);
      else if (kv.first == "seed") options.seed = value;
      else if (kv.first == "max-msg-bytes") options.max_msg_bytes = value;
      else if (kv.first == "inflight") options.max_inflight_msgs = value;
      else if (kv.first == "chunk") options.max_snapshot_chunk_bytes = value;
      else return absl::StrCat("error: unknown option ", kv.first, "\n");
    }
    cluster_ = std::make_unique<Cluster>(options);
    return "ok\n";
  }

  std::string DescribeQueue() const {
    std::string out;
    for (const raftpb::Message& m : cluster_->queue()) {
      absl::StrAppend(&out, m.from(), "->", m.to(), " ", raftpb::MessageType_Name(m.type()),
                      " term=", m.term());
      switch (m.type()) {
        case raftpb::MSG_APPEND:
          absl::StrAppend(&out, " prev=", m.index(), "/", m.log_term(), " entries=", m.entries_size(),
                          " commit=", m.commit());
          break;
        case raftpb::MSG_APPEND_RESP:
          absl::StrAppend(&out, " index=", m.index());
          if (m.reject()) absl::StrAppend(&out, " reject hint=", m.reject_hint(), "/", m.log_term());
          break;
        case raftpb::MSG_VOTE:
        case raftpb::MSG_PRE_VOTE:
          absl::StrAppend(&out, " last=", m.index(), "/", m.log_term());
          break;
        case raftpb::MSG_VOTE_RESP:
        case raftpb::MSG_PRE_VOTE_RESP:
          absl::StrAppend(&out, m.reject() ? " rejected" : " granted");
          break;
        case raftpb::MSG_SNAPSHOT:
          absl::StrAppend(&out, " snap=", m.snapshot().index(), "/", m.snapshot().term(),
                          " offset=", m.snapshot_offset(), " bytes=", m.snapshot_data().size(),
                          m.snapshot_done() ? " done" : "");
          break;
        case raftpb::MSG_SNAPSHOT_RESP:
          absl::StrAppend(&out, " next=", m.snapshot_offset(), m.reject() ? " rejected" : "");
          break;
        case raftpb::MSG_HEARTBEAT:
          absl::StrAppend(&out, " commit=", m.commit());
          break;
        default:
          break;
      }
      absl::StrAppend(&out, "\n");
    }
    return out.empty() ? "empty\n" : out;
  }

  NodeId ParseNode(const std::string& word) const {
    uint64_t id = 0;
    if (!absl::SimpleAtoi(word, &id) || !cluster_ || id == 0 ||
        id > static_cast<uint64_t>(cluster_->options().nodes)) {
      ADD_FAILURE() << "bad node id '" << word << "'";
      return 1;
    }
    return id;
  }
  NodeId Node(size_t position) const { return ParseNode(args_.at(position)); }
  int Int(size_t position) const {
    int value = 0;
    if (!absl::SimpleAtoi(args_.at(position), &value)) ADD_FAILURE() << "bad number";
    return value;
  }

  std::unique_ptr<Cluster> cluster_;
  std::vector<std::string> args_;
};

std::vector<std::string> ScenarioFiles() {
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(KEEL_SCENARIO_DIR)) {
    if (entry.path().extension() == ".txt") files.push_back(entry.path().filename().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

class ScenarioTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ScenarioTest, MatchesExpectedOutput) {
  const std::string path = std::string(KEEL_SCENARIO_DIR) + "/" + GetParam();
  std::ifstream in(path);
  ASSERT_TRUE(in) << path;
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string error;
  std::vector<Block> blocks = ParseScenario(buffer.str(), &error);
  ASSERT_TRUE(error.empty()) << path << ": " << error;
  ASSERT_FALSE(blocks.empty()) << path << " has no commands";
  const bool rewrite = std::getenv("KEEL_REWRITE_SCENARIOS") != nullptr;
  ScenarioRunner runner;
  std::string rewritten;
  for (Block& block : blocks) {
    const std::string actual = runner.Run(block.command);
    if (runner.cluster() != nullptr) {
      ASSERT_TRUE(runner.cluster()->violation().ok())
          << GetParam() << ":" << block.line << ": " << runner.cluster()->violation();
    }
    if (rewrite) {
      if (!block.preamble.empty()) absl::StrAppend(&rewritten, block.preamble);
      absl::StrAppend(&rewritten, block.command, "\n----\n", actual, "\n");
    } else {
      EXPECT_EQ(block.expected, actual) << GetParam() << ":" << block.line << ": " << block.command;
    }
  }
  if (rewrite) {
    std::ofstream(path) << rewritten;
  }
}

INSTANTIATE_TEST_SUITE_P(Scenarios, ScenarioTest, ::testing::ValuesIn(ScenarioFiles()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param.substr(0, info.param.size() - 4);
                           for (char& c : name) {
                             if (!isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace keel::testing
