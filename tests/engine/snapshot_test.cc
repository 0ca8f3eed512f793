// Raft §7 / Figure 13 InstallSnapshot, sent in resumable, checksummed chunks.
#include <set>

#include "gtest/gtest.h"
#include "tests/engine/test_util.h"

namespace keel::testing {
namespace {

constexpr uint64_t kChunk = 8;

// Node 3 misses ten commands while down; the leader then compacts its log past them, so node 3
// can only catch up through a snapshot. Returns the snapshot's index.
Index SetUpFollowerThatNeedsASnapshot(Cluster& cluster) {
  ElectLeader(cluster, 1);
  cluster.Crash(3);
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(cluster.Propose(1, "cmd" + std::to_string(i)).ok());
  cluster.Stabilize();
  const Index applied = cluster.raft(1).log().applied();
  EXPECT_EQ(applied, 11u);
  EXPECT_TRUE(cluster.Compact(1, applied));
  EXPECT_EQ(cluster.raft(1).log().FirstIndex(), applied + 1);
  cluster.Restart(3);
  return applied;
}

ClusterOptions SmallChunks() {
  ClusterOptions options;
  options.max_snapshot_chunk_bytes = kChunk;
  return options;
}

TEST(SnapshotTest, LaggingFollowerCatchesUpThroughChunkedSnapshot) {
  Cluster cluster(SmallChunks());
  const Index snapshot_index = SetUpFollowerThatNeedsASnapshot(cluster);
  const uint64_t size = cluster.storage(1).SnapshotMetadata().size();
  ASSERT_GT(size, 3 * kChunk);
  uint64_t expected_offset = 0;
  size_t chunks = 0;
  for (int i = 0; i < 3; ++i) {
    cluster.Tick(1);
    StabilizeWhere(cluster, [&](const raftpb::Message& m) {
      if (m.type() == raftpb::MSG_SNAPSHOT) {
        ++chunks;
        EXPECT_LE(m.snapshot_data().size(), kChunk);
        EXPECT_EQ(m.snapshot_offset(), expected_offset) << "chunks go out in order, none repeated";
        expected_offset += m.snapshot_data().size();
        EXPECT_EQ(m.snapshot_done(), expected_offset == size);
      }
      return true;
    });
  }
  EXPECT_EQ(chunks, (size + kChunk - 1) / kChunk);
  EXPECT_EQ(cluster.storage(3).SnapshotMetadata().index(), snapshot_index);
  EXPECT_EQ(cluster.raft(3).log().FirstIndex(), snapshot_index + 1);
  EXPECT_EQ(cluster.applied(3), cluster.applied(1));
  EXPECT_EQ(cluster.applied(3).size(), 10u);
  // The follower is back to normal replication afterwards.
  for (const PeerStatus& peer : cluster.raft(1).Status().peers) {
    if (peer.id == 3) {
      EXPECT_EQ(peer.state, ProgressState::kReplicate);
      EXPECT_EQ(peer.match, snapshot_index);
    }
  }
  ASSERT_TRUE(cluster.Propose(1, "after").ok());
  cluster.Stabilize();
  EXPECT_EQ(cluster.applied(3).back(), "after");
  EXPECT_TRUE(cluster.violation().ok()) << cluster.violation();
}

// A chunk is lost: after an election timeout without an answer the leader resends, from the
// offset the follower acknowledged (it keeps what it has), and the transfer completes.
TEST(SnapshotTest, LostChunkIsResentFromAckedOffsetNotZero) {
  Cluster cluster(SmallChunks());
  SetUpFollowerThatNeedsASnapshot(cluster);
  size_t chunks_seen = 0;
  cluster.Tick(1);
  StabilizeWhere(cluster, [&](const raftpb::Message& m) {
    if (m.type() != raftpb::MSG_SNAPSHOT) return true;
    return ++chunks_seen < 3;  // chunks 1 and 2 arrive; chunk 3 is held
  });
  ASSERT_EQ(DropWhere(cluster, [](const raftpb::Message& m) { return m.type() == raftpb::MSG_SNAPSHOT; }),
            1u);
  // Only the leader ticks: after an election timeout without an answer it resends.
  std::vector<uint64_t> offsets;
  for (int i = 0; i < cluster.options().election_tick + 1 && offsets.empty(); ++i) {
    cluster.Tick(1);
    cluster.ProcessReady(1);
    for (const raftpb::Message& m : cluster.queue()) {
      if (m.type() == raftpb::MSG_SNAPSHOT) offsets.push_back(m.snapshot_offset());
    }
    StabilizeWhere(cluster, [](const raftpb::Message& m) { return m.type() != raftpb::MSG_SNAPSHOT; });
  }
  ASSERT_FALSE(offsets.empty()) << "the lost chunk was never resent";
  EXPECT_EQ(offsets.front(), 2 * kChunk) << "resume from what the follower acknowledged";
  cluster.Stabilize();
  EXPECT_EQ(cluster.applied(3), cluster.applied(1));
  EXPECT_TRUE(cluster.violation().ok()) << cluster.violation();
}

TEST(SnapshotTest, CorruptedChunkMakesTheLeaderRestartTheStream) {
  Cluster cluster(SmallChunks());
  SetUpFollowerThatNeedsASnapshot(cluster);
  cluster.Tick(1);
  bool corrupted = false;
  size_t restarts = 0;
  for (int round = 0; round < 1000 && cluster.storage(3).SnapshotMetadata().index() == 0; ++round) {
    bool progress = false;
    for (NodeId id : cluster.ids()) progress |= cluster.ProcessReady(id);
    if (cluster.queue().empty()) break;
    raftpb::Message m = cluster.queue().front();
    cluster.DropAt(0);
    if (m.type() == raftpb::MSG_SNAPSHOT && m.snapshot_offset() == 0 && corrupted) ++restarts;
    if (m.type() == raftpb::MSG_SNAPSHOT && m.snapshot_offset() == kChunk && !corrupted) {
      std::string data = m.snapshot_data();
      data[0] = static_cast<char>(data[0] ^ 0x5A);  // same length, different bytes
      m.set_snapshot_data(data);
      corrupted = true;
    }
    ASSERT_TRUE(cluster.raft(m.to()).Step(m).ok());
    (void)progress;
  }
  EXPECT_TRUE(corrupted);
  EXPECT_EQ(restarts, 1u) << "after the checksum failure the leader starts over from offset 0";
  cluster.Stabilize();
  EXPECT_EQ(cluster.applied(3), cluster.applied(1));
  EXPECT_TRUE(cluster.violation().ok()) << cluster.violation();
}

// The leader takes a newer snapshot while streaming an older one: the old one can no longer be
// read, so the leader starts over with the newest and the follower ends up with it.
TEST(SnapshotTest, LeaderSwitchesToNewerSnapshotMidTransfer) {
  Cluster cluster(SmallChunks());
  const Index first_snapshot = SetUpFollowerThatNeedsASnapshot(cluster);
  cluster.Tick(1);
  size_t chunks = 0;
  auto hold_after_first_chunk = [&chunks](const raftpb::Message& m) {
    if (m.type() != raftpb::MSG_SNAPSHOT) return true;
    if (m.snapshot_offset() == 0 && chunks == 0) {
      ++chunks;
      return true;
    }
    return false;
  };
  StabilizeWhere(cluster, hold_after_first_chunk);
  ASSERT_EQ(CountQueued(cluster, [](const raftpb::Message& m) { return m.type() == raftpb::MSG_SNAPSHOT; }), 1u);
  ASSERT_TRUE(cluster.Propose(1, "late1").ok());
  ASSERT_TRUE(cluster.Propose(1, "late2").ok());
  StabilizeWhere(cluster, hold_after_first_chunk);
  const Index second_snapshot = cluster.raft(1).log().applied();
  ASSERT_GT(second_snapshot, first_snapshot);
  ASSERT_TRUE(cluster.Compact(1, second_snapshot));
  std::set<Index> streamed;
  StabilizeWhere(cluster, [&streamed](const raftpb::Message& m) {
    if (m.type() == raftpb::MSG_SNAPSHOT) streamed.insert(m.snapshot().index());
    return true;
  });
  for (int i = 0; i < 3; ++i) cluster.TickAllAndStabilize();
  EXPECT_TRUE(streamed.contains(second_snapshot)) << "the newest snapshot is streamed";
  EXPECT_EQ(cluster.storage(3).SnapshotMetadata().index(), second_snapshot);
  EXPECT_EQ(cluster.applied(3), cluster.applied(1));
  EXPECT_EQ(cluster.applied(3).back(), "late2");
  EXPECT_TRUE(cluster.violation().ok()) << cluster.violation();
}

// --- Receiver side, hand-crafted chunks ---

const std::vector<NodeId> kVoters = {1, 2, 3};

TEST(SnapshotTest, Figure13Rule6FollowerWithSnapshotLastEntryKeepsItsSuffix) {
  NodeOptions options;
  options.entries = EntriesWithTerms({1, 1, 1, 1, 1});
  options.term = 1;
  options.commit = 2;
  TestNode node(1, options);
  const std::string data = "state-at-3";
  const raftpb::SnapshotMeta meta = MakeSnapshotMeta(3, 1, kVoters, data);
  ASSERT_TRUE(node.Step(MakeSnapshotChunk(2, 1, 1, meta, 0, data)).ok());
  EXPECT_EQ(node->log().LastIndex(), 5u) << "entries 4 and 5 follow the snapshot and match it";
  EXPECT_EQ(node->log().committed(), 3u);
  const Ready ready = node.Process();
  EXPECT_FALSE(ready.snapshot.has_value()) << "the log already covers the snapshot";
  const std::vector<raftpb::Message> acks = Filter(ready.messages_after_persist, raftpb::MSG_APPEND_RESP);
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_FALSE(acks[0].reject());
  EXPECT_EQ(acks[0].index(), 3u);
  EXPECT_EQ(node.storage().LastIndex(), 5u);
  EXPECT_EQ(node.storage().FirstIndex(), 1u);
}

TEST(SnapshotTest, Figure13Rule7ConflictingLogIsDiscardedEntirely) {
  NodeOptions options;
  options.entries = EntriesWithTerms({1, 1, 1, 1, 1});
  options.term = 1;
  options.commit = 2;
  TestNode node(1, options);
  const std::string data = "state-at-3-term-2";
  const raftpb::SnapshotMeta meta = MakeSnapshotMeta(3, 2, kVoters, data);
  ASSERT_TRUE(node.Step(MakeSnapshotChunk(2, 1, 2, meta, 0, data)).ok());
  EXPECT_EQ(node->log().LastIndex(), 3u) << "entries 4..5 of term 1 may conflict: gone";
  EXPECT_EQ(node->log().FirstIndex(), 4u);
  EXPECT_EQ(node->log().committed(), 3u);
  Ready ready = node->GetReady();
  ASSERT_TRUE(ready.snapshot.has_value());
  EXPECT_EQ(ready.snapshot->meta.index(), 3u);
  EXPECT_EQ(ready.snapshot->data, data);
  EXPECT_TRUE(ready.committed_entries.empty()) << "the snapshot replaces entries 1..3";
  EXPECT_FALSE(Contains(ready.messages, raftpb::MSG_APPEND_RESP));
  const std::vector<raftpb::Message> acks = Filter(ready.messages_after_persist, raftpb::MSG_APPEND_RESP);
  ASSERT_EQ(acks.size(), 1u) << "the ack promises the snapshot is durable: it waits";
  EXPECT_EQ(acks[0].index(), 3u);
  node.storage().ApplySnapshot(ready.snapshot->meta, ready.snapshot->data);
  if (ready.hard_state) node.storage().SetHardState(*ready.hard_state);
  node->Advance(ready);
  EXPECT_EQ(node->log().applied(), 3u);
  EXPECT_EQ(node.storage().snapshot_data(), data);
  // Replication continues after the snapshot.
  ASSERT_TRUE(node.Step(MakeAppend(2, 1, 2, 3, 2, 4, {MakeEntry(4, 2, "next")})).ok());
  const Ready after = node.Process();
  ASSERT_EQ(after.committed_entries.size(), 1u);
  EXPECT_EQ(after.committed_entries[0].data(), "next");
}

TEST(SnapshotTest, CorruptedSnapshotIsRejectedViaChecksum) {
  NodeOptions options;
  options.entries = EntriesWithTerms({1});
  options.term = 1;
  options.commit = 1;
  TestNode node(1, options);
  node.Drain();
  const std::string data = "0123456789ab";
  const raftpb::SnapshotMeta meta = MakeSnapshotMeta(8, 1, kVoters, data);
  ASSERT_TRUE(node.Step(MakeSnapshotChunk(2, 1, 1, meta, 0, data.substr(0, 6))).ok());
  ASSERT_TRUE(node.Step(MakeSnapshotChunk(2, 1, 1, meta, 6, "6789aX")).ok());
  EXPECT_EQ(node->log().LastIndex(), 1u);
  EXPECT_EQ(node->log().committed(), 1u);
  Ready ready = node.Process();
  EXPECT_FALSE(ready.snapshot.has_value()) << "corrupt data must never be installed";
  const std::vector<raftpb::Message> replies = Filter(ready.messages_after_persist, raftpb::MSG_SNAPSHOT_RESP);
  ASSERT_EQ(replies.size(), 2u);
  EXPECT_FALSE(replies[0].reject());
  EXPECT_EQ(replies[0].snapshot_offset(), 6u);
  EXPECT_TRUE(replies[1].reject());
  EXPECT_EQ(replies[1].snapshot_offset(), 0u) << "start over";
  // A clean resend from the start installs it.
  ASSERT_TRUE(node.Step(MakeSnapshotChunk(2, 1, 1, meta, 0, data.substr(0, 6))).ok());
  ASSERT_TRUE(node.Step(MakeSnapshotChunk(2, 1, 1, meta, 6, data.substr(6))).ok());
  ready = node.Process();
  ASSERT_TRUE(ready.snapshot.has_value());
  EXPECT_EQ(ready.snapshot->data, data);
  EXPECT_EQ(node.storage().SnapshotMetadata().index(), 8u);
}

TEST(SnapshotTest, OutOfOrderAndDuplicateChunksAskForTheNextExpectedOffset) {
  NodeOptions options;
  options.term = 1;
  TestNode node(1, options);
  const std::string data = "aaaabbbbcccc";
  const raftpb::SnapshotMeta meta = MakeSnapshotMeta(5, 1, kVoters, data);
  auto offer = [&](uint64_t offset) {
    EXPECT_TRUE(node.Step(MakeSnapshotChunk(2, 1, 1, meta, offset, data.substr(offset, 4))).ok());
    const std::vector<raftpb::Message> replies = Filter(node.Drain(), raftpb::MSG_SNAPSHOT_RESP);
    EXPECT_LE(replies.size(), 1u);
    return replies.empty() ? UINT64_MAX : replies[0].snapshot_offset();
  };
  EXPECT_EQ(offer(0), 4u);
  EXPECT_EQ(offer(8), 4u) << "a gap: keep what we have, ask for 4";
  EXPECT_EQ(offer(0), 4u) << "a duplicate: still 4";
  EXPECT_EQ(offer(4), 8u);
  EXPECT_EQ(node.storage().SnapshotMetadata().index(), 0u);
  EXPECT_TRUE(node.Step(MakeSnapshotChunk(2, 1, 1, meta, 8, data.substr(8))).ok());
  node.Drain();
  EXPECT_EQ(node.storage().SnapshotMetadata().index(), 5u);
  EXPECT_EQ(node.storage().snapshot_data(), data);
}

TEST(SnapshotTest, NewLeaderTermRestartsReassembly) {
  NodeOptions options;
  options.term = 1;
  TestNode node(1, options);
  const std::string data = "aaaabbbbcccc";
  const raftpb::SnapshotMeta meta = MakeSnapshotMeta(5, 1, kVoters, data);
  ASSERT_TRUE(node.Step(MakeSnapshotChunk(2, 1, 1, meta, 0, "aaaa")).ok());
  node.Drain();
  // Leader 3 of term 2 continues "the same" snapshot mid-stream: that is not our transfer.
  ASSERT_TRUE(node.Step(MakeSnapshotChunk(3, 1, 2, meta, 4, "bbbb")).ok());
  const std::vector<raftpb::Message> replies = Filter(node.Drain(), raftpb::MSG_SNAPSHOT_RESP);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].to(), 3u);
  EXPECT_EQ(replies[0].snapshot_offset(), 0u);
}

TEST(SnapshotTest, SnapshotAlreadyCoveredByCommitIsAnsweredWithCommitIndex) {
  NodeOptions options;
  options.entries = EntriesWithTerms({1, 1, 1, 1, 1});
  options.term = 1;
  options.commit = 5;
  TestNode node(1, options);
  node.Drain();
  const std::string data = "old";
  ASSERT_TRUE(node.Step(MakeSnapshotChunk(2, 1, 1, MakeSnapshotMeta(4, 1, kVoters, data), 0, data)).ok());
  const Ready ready = node.Process();
  EXPECT_FALSE(ready.snapshot.has_value());
  const std::vector<raftpb::Message> acks = Filter(ready.messages_after_persist, raftpb::MSG_APPEND_RESP);
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_FALSE(acks[0].reject());
  EXPECT_EQ(acks[0].index(), 5u);
  EXPECT_EQ(node->log().LastIndex(), 5u);
}

// Entries that arrive right after a snapshot, before the application handled the Ready that
// installs it, are applied exactly once and only after the snapshot.
TEST(SnapshotTest, EntriesFollowingAnUninstalledSnapshotApplyAfterIt) {
  NodeOptions options;
  options.entries = EntriesWithTerms({1, 1});
  options.term = 1;
  options.commit = 1;
  TestNode node(1, options);
  node.Drain();
  ASSERT_EQ(node.applied().size(), 1u);
  const std::string data = "snap5";
  ASSERT_TRUE(node.Step(MakeSnapshotChunk(2, 1, 2, MakeSnapshotMeta(5, 2, kVoters, data), 0, data)).ok());
  ASSERT_TRUE(node.Step(MakeAppend(2, 1, 2, 5, 2, 6, {MakeEntry(6, 2, "six")})).ok());
  bool installed = false;
  std::vector<Index> applied_after_snapshot;
  while (node->HasReady()) {
    const Ready ready = node.Process();
    if (ready.snapshot) {
      EXPECT_FALSE(installed);
      EXPECT_TRUE(applied_after_snapshot.empty());
      installed = true;
    }
    for (const Entry& entry : ready.committed_entries) {
      EXPECT_TRUE(installed) << "entry " << entry.index() << " applied before the snapshot under it";
      applied_after_snapshot.push_back(entry.index());
    }
  }
  EXPECT_TRUE(installed);
  EXPECT_EQ(applied_after_snapshot, std::vector<Index>{6});
  EXPECT_EQ(node->log().applied(), 6u);
  EXPECT_EQ(node.storage().FirstIndex(), 6u);
  EXPECT_EQ(node.storage().LastIndex(), 6u);
  EXPECT_EQ(*node.storage().TermAt(6), 2u);
}

TEST(SnapshotTest, RestartAfterInstallingSnapshotResumesFromIt) {
  NodeOptions options;
  options.term = 1;
  TestNode node(1, options);
  const std::string data = "snap";
  ASSERT_TRUE(node.Step(MakeSnapshotChunk(2, 1, 1, MakeSnapshotMeta(7, 1, kVoters, data), 0, data)).ok());
  node.Drain();
  node.Restart();
  EXPECT_EQ(node->log().FirstIndex(), 8u);
  EXPECT_EQ(node->log().LastIndex(), 7u);
  EXPECT_EQ(node->log().committed(), 7u);
  EXPECT_EQ(node->log().applied(), 7u);
  EXPECT_EQ(node->log().TermAt(7), 1u);
  ASSERT_TRUE(node.Step(MakeAppend(2, 1, 1, 7, 1, 8, {MakeEntry(8, 1, "x")})).ok());
  const Ready ready = node.Process();
  ASSERT_EQ(ready.committed_entries.size(), 1u);
  EXPECT_EQ(ready.committed_entries[0].index(), 8u);
}

}  // namespace
}  // namespace keel::testing
