#include "tests/harness/cluster.h"

#include "absl/strings/str_cat.h"
#include "absl/container/btree_set.h"
#include "engine/assert.h"
#include "engine/membership.h"

namespace keel::testing {

Cluster::Cluster(const ClusterOptions& options) : options_(options) {
  // Nodes past `initial_voters` start outside the configuration (spares to add later), from
  // the same bootstrap configuration as everyone else.
  const int initial = options_.initial_voters > 0 ? options_.initial_voters : options_.nodes;
  KEEL_ASSERT(initial <= options_.nodes);
  std::vector<NodeId> voters;
  for (int i = 1; i <= initial; ++i) voters.push_back(i);
  for (int i = 1; i <= options_.nodes; ++i) {
    nodes_[i].storage = std::make_unique<MemoryStorage>(voters);
    StartNode(i);
  }
}

std::vector<NodeId> Cluster::ids() const {
  std::vector<NodeId> out;
  for (const auto& [id, node] : nodes_) out.push_back(id);
  return out;
}

Raft& Cluster::raft(NodeId id) {
  KEEL_ASSERT(IsUp(id));
  return *nodes_.at(id).raft;
}

void Cluster::StartNode(NodeId id) {
  Node& node = nodes_.at(id);
  Config config;
  config.id = id;
  config.election_tick = options_.election_tick;
  config.heartbeat_tick = options_.heartbeat_tick;
  config.pre_vote = options_.pre_vote;
  config.check_quorum = options_.check_quorum;
  config.read_only_lease = options_.read_only_lease;
  config.max_clock_drift_ticks = options_.max_clock_drift_ticks;
  config.max_msg_bytes = options_.max_msg_bytes;
  config.max_inflight_msgs = options_.max_inflight_msgs;
  config.max_snapshot_chunk_bytes = options_.max_snapshot_chunk_bytes;
  config.seed = options_.seed * 1000 + id;
  config.planted_bugs = options_.planted_bugs;
  absl::StatusOr<std::unique_ptr<Raft>> raft = Raft::Create(config, *node.storage);
  // A node whose snapshot records its removal refuses to start: it stays down.
  if (raft.status().code() == absl::StatusCode::kFailedPrecondition) return;
  KEEL_ASSERT_MSG(raft.ok(), raft.status().ToString().c_str());
  node.raft = std::move(*raft);
  node.state = DecodeState(node.storage->snapshot_data());
  node.read_states.clear();
  if (absl::Status status = checker_.OnRestart(id, node.storage->SnapshotMetadata().index());
      !status.ok() && violation_.ok()) {
    violation_ = status;
  }
}

std::string Cluster::EncodeState(const std::vector<std::string>& state) {
  std::string out;
  for (const std::string& command : state) absl::StrAppend(&out, command.size(), ":", command);
  return out;
}

std::vector<std::string> Cluster::DecodeState(const std::string& data) {
  std::vector<std::string> state;
  size_t pos = 0;
  while (pos < data.size()) {
    const size_t colon = data.find(':', pos);
    KEEL_ASSERT(colon != std::string::npos);
    const size_t length = std::stoul(data.substr(pos, colon - pos));
    state.push_back(data.substr(colon + 1, length));
    pos = colon + 1 + length;
  }
  return state;
}

void Cluster::Check() {
  if (!violation_.ok()) return;
  std::vector<const Raft*> live;
  for (const auto& [id, node] : nodes_) {
    if (node.raft) live.push_back(node.raft.get());
  }
  violation_ = checker_.Observe(live);
  if (violation_.ok()) violation_ = CheckDurableQuorum();
}

absl::Status Cluster::CheckDurableQuorum() const {
  // Every committed entry must be durable on a quorum (crashed nodes' disks count): otherwise a
  // crash could lose an acknowledged write.
  Index commit = 0;
  Term commit_term = 0;
  NodeId committer_id = kNoNode;
  for (const auto& [id, node] : nodes_) {
    if (node.raft && node.raft->log().committed() > commit) {
      commit = node.raft->log().committed();
      commit_term = node.raft->log().TermAt(commit).value_or(0);
      committer_id = id;
    }
  }
  if (commit == 0) return absl::OkStatus();
  absl::btree_set<NodeId> durable;
  for (const auto& [id, node] : nodes_) {
    const MemoryStorage& storage = *node.storage;
    if (storage.FirstIndex() > commit) {
      durable.insert(id);  // compacted into a snapshot, which only covers committed entries
    } else if (storage.LastIndex() >= commit && storage.TermAt(commit).value_or(0) == commit_term) {
      durable.insert(id);
    }
  }
  // A quorum of the configuration the entry was committed under. A leader decides with the
  // latest config in its log, which may come after the entry and may have been known only to
  // that leader (its entry lost in a crash before it was durable anywhere): accept a quorum of
  // any configuration some node holds and, with membership changes, of one single-voter
  // change past one (one change in flight at a time; entries before a config entry may
  // commit under it).
  const Raft& committer = *nodes_.at(committer_id).raft;
  bool quorum = false;
  for (const KnownConfig& known : KnownConfigs()) {
    const raftpb::ConfState& conf = known.conf;
    quorum = quorum || QuorumOf(conf).HasQuorum(durable);
    // A committed joint entry may be followed by a leave entry that only its leader held: the
    // entries before it commit under C_new alone (safe: the joint config left behind still
    // needs C_new's majority to elect anyone). Only if the joint entry itself committed on
    // both halves, which is what the planted joint-single-quorum bug skips.
    if (!quorum && IsJoint(conf) && known.index != 0 && QuorumOf(conf).HasQuorum(DurableAt(known.index, known.term))) {
      quorum = MajorityConfig({conf.voters().begin(), conf.voters().end()}).HasQuorum(durable);
    }
    // From a joint config the only next change is leaving it, and entries committed under
    // C_new alone follow the (then durable) leave entry: no allowance needed there.
    if (quorum || options_.initial_voters == 0 || IsJoint(conf)) continue;
    std::vector<NodeId> voters(conf.voters().begin(), conf.voters().end());
    for (const auto& [id, node] : nodes_) {
      std::vector<NodeId> changed = voters;
      auto it = std::lower_bound(changed.begin(), changed.end(), id);
      if (it != changed.end() && *it == id) {
        changed.erase(it);
      } else {
        changed.insert(it, id);
      }
      quorum = quorum || (!changed.empty() && MajorityConfig(changed).HasQuorum(durable));
    }
  }
  if (!quorum) {
    std::string logs;
    if (getenv("KEEL_HARNESS_LOGS") != nullptr) {
      for (const auto& [id, node] : nodes_) absl::StrAppend(&logs, "--- node ", id, "\n", DescribeLog(id));
    }
    return absl::InternalError(absl::StrCat("durability violated: commit index ", commit, " is durable on only ",
                                            durable.size(), " of ", nodes_.size(), " nodes (config ",
                                            DescribeConfState(committer.conf_state()), ")\n", DescribeNodes(), logs));
  }
  return absl::OkStatus();
}

absl::btree_set<NodeId> Cluster::DurableAt(Index index, Term term) const {
  absl::btree_set<NodeId> durable;
  for (const auto& [id, node] : nodes_) {
    const MemoryStorage& storage = *node.storage;
    if (storage.FirstIndex() > index ||
        (storage.LastIndex() >= index && storage.TermAt(index).value_or(0) == term)) {
      durable.insert(id);
    }
  }
  return durable;
}

std::vector<Cluster::KnownConfig> Cluster::KnownConfigs() const {
  std::vector<KnownConfig> configs;
  for (const auto& [id, node] : nodes_) {
    const MemoryStorage& storage = *node.storage;
    raftpb::ConfState conf = storage.InitialConfState();
    // A snapshot's configuration is committed (snapshots hold only applied entries): it counts
    // as a configuration entry at the snapshot's index, so that a joint configuration compacted
    // into a snapshot still gets the leave-entry allowance below (found by
    // MembershipChangesPlainRaftThreeOfFive, RapidCheck seed 3818998420326993822).
    const Index snapshot_index = storage.FirstIndex() - 1;
    configs.push_back(KnownConfig{conf, snapshot_index,
                                  snapshot_index == 0 ? 0 : storage.TermAt(snapshot_index).value_or(0)});
    std::vector<Entry> entries;
    if (storage.FirstIndex() <= storage.LastIndex() &&
        storage.Entries(storage.FirstIndex(), storage.LastIndex() + 1, UINT64_MAX, &entries).ok()) {
      for (const Entry& entry : entries) {
        raftpb::ConfChange change;
        if (entry.type() != raftpb::ENTRY_CONF_CHANGE || !change.ParseFromString(entry.data())) continue;
        if (absl::StatusOr<raftpb::ConfState> next = ApplyConfChange(conf, change); next.ok()) {
          conf = *next;
          configs.push_back(KnownConfig{conf, entry.index(), entry.term()});
        }
      }
    }
    if (node.raft) configs.push_back(KnownConfig{node.raft->conf_state(), 0, 0});
  }
  return configs;
}

void Cluster::Tick(NodeId id) {
  if (!IsUp(id)) return;
  raft(id).Tick();
  Check();
}

void Cluster::Enqueue(std::vector<Message>& messages) {
  // Tests inspect and mutate queued messages as protobuf.
  for (const Message& message : messages) queue_.push_back(ToProto(message));
}

bool Cluster::ProcessReady(NodeId id) {
  if (!IsUp(id) || !raft(id).HasReady()) return false;
  Node& node = nodes_.at(id);
  Ready ready = node.raft->GetReady();
  Enqueue(ready.messages);
  if (ready.snapshot) {
    node.storage->ApplySnapshot(ready.snapshot->meta, ready.snapshot->data);
    node.state = DecodeState(ready.snapshot->data);
    if (absl::Status status = checker_.OnRestart(id, ready.snapshot->meta.index());
        !status.ok() && violation_.ok()) {
      violation_ = status;
    }
  }
  node.storage->Append(ready.entries);
  if (ready.hard_state) node.storage->SetHardState(*ready.hard_state);
  Enqueue(ready.messages_after_persist);
  for (const Entry& entry : ready.committed_entries) {
    if (entry.type() == raftpb::ENTRY_NORMAL) node.state.push_back(entry.data());
    if (absl::Status status = checker_.OnApplied(id, entry, node.raft->term()); !status.ok() && violation_.ok()) {
      violation_ = status;
    }
  }
  for (ReadState& read : ready.read_states) node.read_states.push_back(std::move(read));
  node.raft->Advance(ready);
  node.raft->Recycle(std::move(ready));  // as the node's replica does: later Readys reuse its vectors
  Check();
  return true;
}

void Cluster::ProcessReadyThenCrashBeforePersist(NodeId id) {
  if (!IsUp(id)) return;
  Node& node = nodes_.at(id);
  if (node.raft->HasReady()) {
    Ready ready = node.raft->GetReady();
    Enqueue(ready.messages);
  }
  Crash(id);
}

bool Cluster::DeliverOne() {
  if (queue_.empty()) return false;
  DeliverAt(0);
  return true;
}

void Cluster::DeliverAt(size_t position) {
  KEEL_ASSERT(position < queue_.size());
  raftpb::Message message = std::move(queue_[position]);
  queue_.erase(queue_.begin() + position);
  if (!LinkUp(message.from(), message.to()) || !nodes_.contains(message.to()) || !IsUp(message.to())) {
    return;
  }
  const absl::Status status = raft(message.to()).Step(message);
  // Messages from correct peers are always valid; a rejection here is a bug.
  if (!status.ok() && violation_.ok()) violation_ = status;
  Check();
}

void Cluster::DropAt(size_t position) {
  KEEL_ASSERT(position < queue_.size());
  queue_.erase(queue_.begin() + position);
}

void Cluster::DuplicateAt(size_t position) {
  KEEL_ASSERT(position < queue_.size());
  queue_.push_back(queue_[position]);
}

void Cluster::Stabilize() {
  for (int round = 0; round < 10000; ++round) {
    bool progress = false;
    for (NodeId id : ids()) progress |= ProcessReady(id);
    while (DeliverOne()) progress = true;
    if (!progress) return;
  }
  if (violation_.ok()) {
    violation_ = absl::InternalError(absl::StrCat("cluster did not quiesce in 10000 rounds; queue: ",
                                                  queue_.size(), "\n", DescribeNodes()));
  }
}

void Cluster::TickAllAndStabilize() {
  for (NodeId id : ids()) Tick(id);
  Stabilize();
}

void Cluster::Partition(const std::vector<std::set<NodeId>>& groups) {
  Heal();
  std::map<NodeId, int> group_of;
  for (size_t g = 0; g < groups.size(); ++g) {
    for (NodeId id : groups[g]) group_of[id] = static_cast<int>(g);
  }
  for (NodeId a : ids()) {
    for (NodeId b : ids()) {
      if (a == b) continue;
      const auto ga = group_of.find(a);
      const auto gb = group_of.find(b);
      if (ga == group_of.end() || gb == group_of.end() || ga->second != gb->second) Cut(a, b);
    }
  }
}

void Cluster::Isolate(NodeId id) {
  for (NodeId other : ids()) {
    if (other == id) continue;
    Cut(id, other);
    Cut(other, id);
  }
}

void Cluster::Heal() { cut_.clear(); }

void Cluster::Crash(NodeId id) {
  Node& node = nodes_.at(id);
  node.raft.reset();
  node.state.clear();
  node.read_states.clear();
}

void Cluster::Restart(NodeId id) {
  KEEL_ASSERT(!IsUp(id));
  StartNode(id);
  Check();
}

absl::StatusOr<LogPosition> Cluster::Propose(NodeId id, std::string data) {
  if (!IsUp(id)) return absl::UnavailableError("node is down");
  absl::StatusOr<LogPosition> result = raft(id).Propose(std::move(data));
  Check();
  return result;
}

absl::StatusOr<LogPosition> Cluster::ProposeConfChange(NodeId id, const raftpb::ConfChange& change) {
  if (!IsUp(id)) return absl::UnavailableError("node is down");
  absl::StatusOr<LogPosition> result = raft(id).ProposeConfChange(change);
  Check();
  return result;
}

bool Cluster::Compact(NodeId id, Index index) {
  Node& node = nodes_.at(id);
  KEEL_ASSERT(IsUp(id));
  if (index > node.raft->log().applied()) return false;
  // The state machine's state at `index`: the commands applied up to it. The harness applies
  // every normal entry, so count back from the applied tail.
  std::vector<std::string> state = node.state;
  for (Index i = node.raft->log().applied(); i > index; --i) {
    std::vector<Entry> entry;
    if (!node.raft->log().Slice(i, i + 1, UINT64_MAX, &entry).ok()) return false;
    if (entry.front().type() == raftpb::ENTRY_NORMAL) state.pop_back();
  }
  return node.storage->CreateSnapshot(index, node.raft->ConfStateAt(index), EncodeState(state));
}

NodeId Cluster::Leader() const {
  NodeId leader = kNoNode;
  Term best = 0;
  for (const auto& [id, node] : nodes_) {
    if (node.raft && node.raft->role() == Role::kLeader && node.raft->term() >= best) {
      best = node.raft->term();
      leader = id;
    }
  }
  return leader;
}

std::string Cluster::DescribeNodes() const {
  std::string out;
  for (const auto& [id, node] : nodes_) {
    if (!node.raft) {
      absl::StrAppend(&out, id, ": down\n");
      continue;
    }
    const Raft& r = *node.raft;
    absl::StrAppend(&out, id, ": term=", r.term(), " vote=", r.vote(), " role=", ToString(r.role()),
                    " leader=", r.leader(), " log=", r.log().FirstIndex(), "..", r.log().LastIndex(),
                    " commit=", r.log().committed(), " applied=", r.log().applied(),
                    options_.initial_voters > 0 ? absl::StrCat(" conf[", DescribeConfState(r.conf_state()), "]") : "",
                    "\n");
  }
  return out;
}

std::string Cluster::DescribeLog(NodeId id) const {
  const Node& node = nodes_.at(id);
  if (!node.raft) return "down\n";
  const RaftLog& log = node.raft->log();
  std::string out;
  if (log.FirstIndex() > 1) {
    absl::StrAppend(&out, "snapshot ", log.FirstIndex() - 1, "/", log.TermAt(log.FirstIndex() - 1).value_or(0), "\n");
  }
  if (log.FirstIndex() <= log.LastIndex()) {
    std::vector<Entry> entries;
    KEEL_ASSERT(log.Slice(log.FirstIndex(), log.LastIndex() + 1, UINT64_MAX, &entries).ok());
    for (const Entry& entry : entries) {
      std::string what = entry.data();
      if (entry.type() == raftpb::ENTRY_NOOP) what = "noop";
      if (entry.type() == raftpb::ENTRY_CONF_CHANGE) {
        raftpb::ConfChange change;
        what = change.ParseFromString(entry.data()) ? absl::StrCat("conf: ", DescribeConfChange(change)) : "conf: ?";
      }
      absl::StrAppend(&out, entry.index(), "/", entry.term(), " ", what, "\n");
    }
  }
  if (out.empty()) out = "empty\n";
  return out;
}

}  // namespace keel::testing
