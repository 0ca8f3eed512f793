// The segmented WAL (engine/storage/wal.h): one test per recovery branch. Recovery must give
// back exactly what was acknowledged (fsynced), cut away only a torn tail of the last segment,
// and answer anything else that fails verification with DataLoss naming the file and offset.
// All on SimFileSystem, whose Contents/SetContents/CorruptByte craft the damaged disks.
#include <cinttypes>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/storage/storage_test_util.h"
#include "engine/assert.h"
#include "engine/storage/record_format.h"
#include "sim/sim_filesystem.h"
#include "engine/storage/wal.h"
#include "gtest/gtest.h"
#include "tests/harness/status_matchers.h"

namespace keel {
namespace {


using Strings = std::vector<std::string>;
using Entries = std::vector<Entry>;

constexpr char kWalDir[] = "/node/wal";

std::string SegmentName(uint64_t sequence) {
  char name[32];
  std::snprintf(name, sizeof(name), "%016" PRIx64 ".wal", sequence);
  return name;
}
std::string SegmentPath(uint64_t sequence) { return JoinPath(kWalDir, SegmentName(sequence)); }

raftpb::ConfState Conf(const std::vector<NodeId>& voters) {
  raftpb::ConfState conf;
  for (NodeId voter : voters) conf.add_voters(voter);
  return conf;
}

Entry MakeEntry(Index index, Term term, std::string data) {
  Entry entry;
  entry.set_index(index);
  entry.set_term(term);
  entry.set_data(std::move(data));
  return entry;
}
Entry MakeEntry(Index index, Term term) {
  return MakeEntry(index, term, absl::StrCat("entry ", index, " term ", term));
}
// Entries lo..hi (inclusive), all of `term`.
Entries Range(Index lo, Index hi, Term term) {
  Entries entries;
  for (Index index = lo; index <= hi; ++index) entries.push_back(MakeEntry(index, term));
  return entries;
}
Entries Concat(std::initializer_list<Entries> parts) {
  Entries all;
  for (const Entries& part : parts) all.insert(all.end(), part.begin(), part.end());
  return all;
}

using storagetest::Hs;
std::string Show(const raftpb::HardState& hs) {
  return absl::StrCat("term=", hs.term(), " vote=", hs.vote(), " commit=", hs.commit());
}

walpb::LogReset Reset(Index index, Term term) {
  walpb::LogReset reset;
  reset.set_index(index);
  reset.set_term(term);
  return reset;
}

Strings Show(const Entries& entries) {
  Strings out;
  for (const Entry& e : entries) {
    out.push_back(absl::StrCat(e.index(), "/", e.term(), "/", static_cast<int>(e.type()), "/", e.data()));
  }
  return out;
}

absl::Status Write(Wal& wal, const Entries& entries, std::optional<raftpb::HardState> hs = std::nullopt,
                   std::optional<walpb::LogReset> reset = std::nullopt) {
  return wal.Write(reset, entries, hs ? &*hs : nullptr);
}

absl::StatusOr<std::unique_ptr<Wal>> OpenWal(SimFileSystem& fs, WalOptions options = {},
                                             const raftpb::ConfState& conf = Conf({1, 2, 3})) {
  return Wal::Open(fs, kWalDir, options, conf);
}

// Every entry in (base, last], read back through ReadEntries (verified, from disk or cache).
absl::StatusOr<Entries> ReadAll(Wal& wal) {
  Entries out;
  if (wal.last_index() == wal.base_index()) return out;
  absl::Status status = wal.ReadEntries(wal.base_index() + 1, wal.last_index() + 1, UINT64_MAX, &out);
  if (!status.ok()) return status;
  return out;
}

// Asserts that the log of `wal` is exactly `expected` (after its base): indexes, terms through
// TermAt, and contents through ReadEntries.
void ExpectLog(Wal& wal, const Entries& expected) {
  const Index first = expected.empty() ? wal.base_index() + 1 : expected.front().index();
  EXPECT_EQ(wal.base_index() + 1, first);
  EXPECT_EQ(wal.last_index(), first + expected.size() - 1);
  for (const Entry& entry : expected) {
    EXPECT_EQ(wal.TermAt(entry.index()), std::optional<Term>(entry.term())) << "index " << entry.index();
  }
  EXPECT_EQ(wal.TermAt(wal.last_index() + 1), std::nullopt);
  absl::StatusOr<Entries> read = ReadAll(wal);
  ASSERT_OK(read);
  EXPECT_EQ(Show(*read), Show(expected));
}

// Start offsets of the whole records in a segment's bytes, followed by the offset where the
// whole records end.
std::vector<size_t> RecordStarts(const std::string& bytes) {
  std::vector<size_t> starts;
  size_t offset = 0;
  while (offset < bytes.size()) {
    wal::ParsedRecord record;
    if (wal::ParseRecord(absl::string_view(bytes).substr(offset), &record) != wal::ParseStatus::kOk) break;
    starts.push_back(offset);
    offset += record.frame_bytes;
  }
  starts.push_back(offset);
  return starts;
}

// Where the record at `offset` ends (its frame's last byte + 1).
size_t RecordEnd(const std::string& bytes, size_t offset) {
  wal::ParsedRecord record;
  KEEL_ASSERT(wal::ParseRecord(absl::string_view(bytes).substr(offset), &record) == wal::ParseStatus::kOk);
  return offset + record.frame_bytes;
}

// Offset of the (last) entry record holding `index` in a segment's bytes, or npos.
size_t EntryRecordOffset(const std::string& bytes, Index index) {
  size_t found = std::string::npos;
  size_t offset = 0;
  while (offset < bytes.size()) {
    wal::ParsedRecord record;
    if (wal::ParseRecord(absl::string_view(bytes).substr(offset), &record) != wal::ParseStatus::kOk) break;
    raftpb::Entry entry;
    if (record.type == wal::RecordType::kEntry && entry.ParseFromString(std::string(record.payload)) &&
        entry.index() == index) {
      found = offset;
    }
    offset += record.frame_bytes;
  }
  return found;
}

std::vector<wal::RecordType> RecordTypes(const std::string& bytes) {
  std::vector<wal::RecordType> types;
  size_t offset = 0;
  while (offset < bytes.size()) {
    wal::ParsedRecord record;
    if (wal::ParseRecord(absl::string_view(bytes).substr(offset), &record) != wal::ParseStatus::kOk) break;
    types.push_back(record.type);
    offset += record.frame_bytes;
  }
  return types;
}

Strings WalFiles(SimFileSystem& fs) {
  absl::StatusOr<Strings> names = fs.List(kWalDir);
  return names.ok() ? *names : Strings{"<" + names.status().ToString() + ">"};
}

// Every crash keeps a random prefix of the unsynced bytes (possibly all, possibly none).
SimDiskFaults AlwaysTorn() {
  SimDiskFaults faults;
  faults.torn_write_probability = 1;
  return faults;
}

// A batch written with sync == false (Wal::Write: only a hard state alone stays unsynced).
absl::Status WriteNoSync(Wal& wal, const Entries& entries, const raftpb::HardState& hs) {
  return wal.Write(std::nullopt, entries, &hs, /*sync=*/false);
}

SimDiskFaults NoTornWrites() {
  SimDiskFaults faults;
  faults.torn_write_probability = 0;
  return faults;
}

// Every Write() starts a new segment: the active one is always over this size.
WalOptions SegmentPerBatch() {
  WalOptions options;
  options.max_segment_bytes = 1;
  return options;
}

// --- record format ----------------------------------------------------------------------------

TEST(RecordFormatTest, RoundTripsAndRejectsEveryTruncation) {
  std::string buffer;
  wal::AppendRecord(wal::RecordType::kEntry, "payload bytes", &buffer);
  ASSERT_EQ(buffer.size(), wal::kRecordHeaderBytes + 1 + 13);
  wal::ParsedRecord record;
  ASSERT_EQ(wal::ParseRecord(buffer, &record), wal::ParseStatus::kOk);
  EXPECT_EQ(record.type, wal::RecordType::kEntry);
  EXPECT_EQ(record.payload, "payload bytes");
  EXPECT_EQ(record.frame_bytes, buffer.size());
  for (size_t length = 0; length < buffer.size(); ++length) {
    EXPECT_EQ(wal::ParseRecord(absl::string_view(buffer).substr(0, length), &record), wal::ParseStatus::kTruncated)
        << "prefix of " << length << " bytes";
  }
}

TEST(RecordFormatTest, DetectsEverySingleBitFlip) {
  std::string good;
  wal::AppendRecord(wal::RecordType::kHardState, "some hard state", &good);
  for (size_t byte = 0; byte < good.size(); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = good;
      bad[byte] = static_cast<char>(bad[byte] ^ (1 << bit));
      wal::ParsedRecord record;
      EXPECT_NE(wal::ParseRecord(bad, &record), wal::ParseStatus::kOk) << "byte " << byte << " bit " << bit;
    }
  }
}

TEST(RecordFormatTest, RejectsBadHeadersZeroAndAbsurdLengthsAndUnknownTypes) {
  wal::ParsedRecord record;
  const std::string zeros(16, '\0');
  EXPECT_EQ(wal::ParseRecord(zeros, &record), wal::ParseStatus::kBadHeader);
  const std::string garbage = std::string("\xff\xff\xff\xff", 4) + std::string(12, 'x');
  EXPECT_EQ(wal::ParseRecord(garbage, &record), wal::ParseStatus::kBadHeader);
  // Lengths no writer produces, behind a header CRC that matches.
  std::string zero_length;
  wal::AppendRecordHeader(0, 0, &zero_length);
  zero_length += "xxxx";
  EXPECT_EQ(wal::ParseRecord(zero_length, &record), wal::ParseStatus::kBadLength);
  std::string huge;
  wal::AppendRecordHeader(0xffffffffu, 0, &huge);
  huge += std::string(12, 'x');
  EXPECT_EQ(wal::ParseRecord(huge, &record), wal::ParseStatus::kBadLength);
  std::string unknown;
  wal::AppendRecord(static_cast<wal::RecordType>(9), "x", &unknown);
  EXPECT_EQ(wal::ParseRecord(unknown, &record), wal::ParseStatus::kBadType);
  std::string zero_type;
  wal::AppendRecord(static_cast<wal::RecordType>(0), "x", &zero_type);
  EXPECT_EQ(wal::ParseRecord(zero_type, &record), wal::ParseStatus::kBadType);
}

TEST(RecordFormatTest, AWholeRecordWithAFlippedBitIsNeverReportedAsTruncated) {
  // What lets recovery tell a latent bit flip in the last record from a torn append.
  std::string good;
  wal::AppendRecord(wal::RecordType::kEntry, "an acknowledged entry", &good);
  for (size_t byte = 0; byte < good.size(); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = good;
      bad[byte] = static_cast<char>(bad[byte] ^ (1 << bit));
      wal::ParsedRecord record;
      const wal::ParseStatus status = wal::ParseRecord(bad, &record);
      EXPECT_TRUE(status == wal::ParseStatus::kBadHeader || status == wal::ParseStatus::kBadCrc)
          << "byte " << byte << " bit " << bit << ": " << wal::ToString(status);
    }
  }
}

// --- recovery branches -----------------------------------------------------------------------

TEST(WalRecoveryTest, EmptyDirectoryStartsANewWalWithTheBootstrapConf) {
  SimFileSystem fs(1, NoTornWrites());
  {
    absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs, {}, Conf({1, 2, 3}));
    ASSERT_OK(wal);
    EXPECT_EQ((*wal)->segment_count(), 1u);
    EXPECT_EQ(WalFiles(fs), Strings{SegmentName(1)});
    EXPECT_EQ((*wal)->bootstrap_conf().voters_size(), 3);
    EXPECT_EQ((*wal)->hard_state().term(), 0u);
    EXPECT_EQ((*wal)->hard_state().commit(), 0u);
    EXPECT_EQ((*wal)->base_index(), 0u);
    EXPECT_EQ((*wal)->last_index(), 0u);
    EXPECT_EQ((*wal)->TermAt(0), std::optional<Term>(0));
    EXPECT_EQ((*wal)->TermAt(1), std::nullopt);
    EXPECT_OK((*wal)->poisoned());
  }
  // The new segment is durable, and a recovered WAL reports the membership it recorded, not
  // the one passed to this Open.
  fs.Crash();
  absl::StatusOr<std::unique_ptr<Wal>> reopened = OpenWal(fs, {}, Conf({7}));
  ASSERT_OK(reopened);
  EXPECT_EQ(WalFiles(fs), Strings{SegmentName(1)});
  ASSERT_EQ((*reopened)->bootstrap_conf().voters_size(), 3);
  EXPECT_EQ((*reopened)->bootstrap_conf().voters(0), 1u);
  EXPECT_EQ((*reopened)->bootstrap_conf().voters(2), 3u);
}

TEST(WalRecoveryTest, EntriesAndHardStateAreEqualAfterReopen) {
  SimFileSystem fs(1, NoTornWrites());
  Entries written = Concat({Range(1, 3, 1), Range(4, 6, 2)});
  Entry noop = MakeEntry(7, 3, "");
  noop.set_type(raftpb::ENTRY_NOOP);
  Entry big = MakeEntry(8, 3, std::string(10000, 'z'));
  {
    absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs);
    ASSERT_OK(wal);
    ASSERT_OK(Write(**wal, Range(1, 3, 1), Hs(1, 2, 2)));
    ASSERT_OK(Write(**wal, Range(4, 6, 2), Hs(2, 0, 5)));
    ASSERT_OK(Write(**wal, {noop, big}));
    ASSERT_OK(Write(**wal, {}, Hs(3, 3, 7)));  // hard state alone
    written.push_back(noop);
    written.push_back(big);
    ExpectLog(**wal, written);
    EXPECT_EQ(Show((*wal)->hard_state()), Show(Hs(3, 3, 7)));
  }
  fs.Crash();  // everything was acknowledged, so everything survives
  absl::StatusOr<std::unique_ptr<Wal>> reopened = OpenWal(fs);
  ASSERT_OK(reopened);
  ExpectLog(**reopened, written);
  EXPECT_EQ(Show((*reopened)->hard_state()), Show(Hs(3, 3, 7)));
  EXPECT_EQ((*reopened)->TermAt(0), std::optional<Term>(0));
  // And it keeps going where it stopped.
  ASSERT_OK(Write(**reopened, Range(9, 9, 3)));
  EXPECT_EQ((*reopened)->last_index(), 9u);
}

TEST(WalRecoveryTest, ConflictTruncationSurvivesReopen) {
  SimFileSystem fs(1, NoTornWrites());
  const Entries expected = Concat({Range(1, 2, 1), Range(3, 4, 2)});
  {
    absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs);
    ASSERT_OK(wal);
    ASSERT_OK(Write(**wal, Range(1, 5, 1)));
    ASSERT_OK(Write(**wal, Range(3, 4, 2)));
    ExpectLog(**wal, expected);
  }
  absl::StatusOr<std::unique_ptr<Wal>> reopened = OpenWal(fs);
  ASSERT_OK(reopened);
  ExpectLog(**reopened, expected);
  EXPECT_EQ((*reopened)->TermAt(5), std::nullopt) << "entry 5 of term 1 was replaced away";
  // Appending after the truncated suffix survives another reopen.
  ASSERT_OK(Write(**reopened, Range(5, 5, 2)));
  reopened->reset();
  absl::StatusOr<std::unique_ptr<Wal>> again = OpenWal(fs);
  ASSERT_OK(again);
  ExpectLog(**again, Concat({expected, Range(5, 5, 2)}));
}

TEST(WalRecoveryTest, TornTailAtEveryByteOfTheLastBatch) {
  SimFileSystem fs(1, NoTornWrites());
  const Entries batch_a = Range(1, 2, 1);
  const Entries batch_b = Range(3, 4, 1);
  const Entries batch_c = Range(5, 7, 2);
  size_t start_c = 0;
  {
    absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs);
    ASSERT_OK(wal);
    ASSERT_OK(Write(**wal, batch_a, Hs(1, 1, 0)));
    ASSERT_OK(Write(**wal, batch_b, Hs(1, 1, 2)));
    start_c = fs.Contents(SegmentPath(1)).size();
    ASSERT_OK(Write(**wal, batch_c, Hs(2, 2, 4)));
  }
  const std::string full = fs.Contents(SegmentPath(1));
  const std::vector<size_t> starts = RecordStarts(full);
  ASSERT_EQ(starts.back(), full.size());
  // The last batch is three entry records, then a hard state record (the hard state goes
  // after them so that a surviving commit index never covers an entry that did not survive),
  // then the batch's end marker.
  std::vector<size_t> batch_starts;
  for (size_t start : starts) {
    if (start >= start_c) batch_starts.push_back(start);
  }
  ASSERT_EQ(batch_starts.size(), 6u);
  ASSERT_EQ(batch_starts.front(), start_c);

  for (size_t cut = start_c; cut <= full.size(); ++cut) {
    SCOPED_TRACE(absl::StrCat("segment cut at ", cut, " of ", full.size(), " (last batch starts at ", start_c, ")"));
    fs.SetContents(SegmentPath(1), full.substr(0, cut));
    size_t whole_entries = 0;
    for (size_t k = 0; k < 3; ++k) whole_entries += batch_starts[k + 1] <= cut ? 1 : 0;
    const bool hard_state_survived = batch_starts[4] <= cut;
    size_t boundary = 0;
    for (size_t start : starts) {
      if (start <= cut) boundary = start;
    }
    const Entries expected =
        Concat({batch_a, batch_b, Entries(batch_c.begin(), batch_c.begin() + static_cast<long>(whole_entries))});
    {
      absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs);
      ASSERT_OK(wal);
      ExpectLog(**wal, expected);
      // Entries of term 2 without their hard state: the term is adopted, with no vote.
      const raftpb::HardState recovered =
          hard_state_survived ? Hs(2, 2, 4) : (whole_entries > 0 ? Hs(2, 0, 2) : Hs(1, 1, 2));
      EXPECT_EQ(Show((*wal)->hard_state()), Show(recovered));
      EXPECT_LE((*wal)->hard_state().commit(), (*wal)->last_index());
      EXPECT_EQ(fs.Contents(SegmentPath(1)).size(), boundary) << "the torn record must be cut off";
      // The WAL goes on from the boundary, and both the cut and the new batch are durable.
      ASSERT_OK(Write(**wal, {MakeEntry(expected.size() + 1, 3)}, Hs(3, 0, 4)));
    }
    fs.Crash();
    absl::StatusOr<std::unique_ptr<Wal>> again = OpenWal(fs);
    ASSERT_OK(again);
    ExpectLog(**again, Concat({expected, {MakeEntry(expected.size() + 1, 3)}}));
    EXPECT_EQ(Show((*again)->hard_state()), Show(Hs(3, 0, 4)));
  }
}

// Found by keel-sim seed 5983: a follower held entries 1..7 of term 1 (commit 3), received
// entry 4 of term 2 with leader commit 4, and crashed while that batch was being fsynced. With
// the hard state written before the entries, a cut between them kept commit 4 over the stale
// entry 4 of term 1, which the node then applied. Whatever prefix of the batch survives, the
// commit index may only cover what survived of the new batch.
TEST(WalRecoveryTest, ATornOverwriteNeverLeavesTheCommitIndexOnAStaleEntry) {
  SimFileSystem fs(1, NoTornWrites());
  size_t start = 0;
  {
    absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs);
    ASSERT_OK(wal);
    ASSERT_OK(Write(**wal, Range(1, 7, 1), Hs(1, 1, 3)));
    start = fs.Contents(SegmentPath(1)).size();
    ASSERT_OK(Write(**wal, {MakeEntry(4, 2)}, Hs(2, 0, 4)));
  }
  const std::string full = fs.Contents(SegmentPath(1));
  const std::vector<size_t> starts = RecordStarts(full);
  const size_t hard_state_end = starts[starts.size() - 2];  // where the end marker starts
  for (size_t cut = start; cut <= full.size(); ++cut) {
    SCOPED_TRACE(absl::StrCat("cut at ", cut, " of ", full.size(), " (batch starts at ", start, ")"));
    fs.SetContents(SegmentPath(1), full.substr(0, cut));
    absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs);
    ASSERT_OK(wal);
    const Wal& w = **wal;
    ASSERT_LE(w.hard_state().commit(), w.last_index());
    const bool whole = cut >= hard_state_end;
    EXPECT_EQ(w.hard_state().commit(), whole ? 4u : 3u);
    EXPECT_EQ(w.TermAt(4), std::optional<Term>(w.last_index() == 4 ? 2 : 1));
    if (w.hard_state().commit() >= 4) {
      EXPECT_EQ(w.TermAt(4), std::optional<Term>(2));
    }
  }
}

TEST(WalRecoveryTest, TornTailAtEveryByteOfAFreshSegment) {
  // The last batch rolled over into a new segment: cuts inside the new segment's header and
  // carried-over hard state, and inside the batch.
  const Entries batch_a = Range(1, 2, 1);
  const Entries batch_b = Range(3, 4, 2);
  auto build = [&](SimFileSystem& fs) {
    absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs, SegmentPerBatch());
    ASSERT_OK(wal);
    ASSERT_OK(Write(**wal, batch_a, Hs(1, 1, 1)));  // segment 2
    ASSERT_OK(Write(**wal, batch_b, Hs(2, 2, 3)));  // segment 3
    ASSERT_EQ((*wal)->segment_count(), 3u);
  };
  std::string full;
  {
    SimFileSystem fs(1, NoTornWrites());
    build(fs);
    full = fs.Contents(SegmentPath(3));
  }
  const std::vector<size_t> starts = RecordStarts(full);
  // header, carried hard state, end marker; 2 entries, batch hard state, end marker; end
  ASSERT_EQ(starts.size(), 8u);
  for (size_t cut = 0; cut <= full.size(); ++cut) {
    SCOPED_TRACE(absl::StrCat("segment 3 cut at ", cut, " of ", full.size()));
    SimFileSystem fs(1, NoTornWrites());
    build(fs);
    fs.SetContents(SegmentPath(3), full.substr(0, cut));
    const size_t whole_entries = (starts[4] <= cut ? 1 : 0) + (starts[5] <= cut ? 1 : 0);
    const bool hard_state_survived = starts[6] <= cut;
    const Entries expected =
        Concat({batch_a, Entries(batch_b.begin(), batch_b.begin() + static_cast<long>(whole_entries))});
    size_t boundary = 0;
    for (size_t start : starts) {
      if (start <= cut) boundary = start;
    }
    {
      absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs, SegmentPerBatch());
      ASSERT_OK(wal);
      ExpectLog(**wal, expected);
      const raftpb::HardState recovered =
          hard_state_survived ? Hs(2, 2, 3) : (whole_entries > 0 ? Hs(2, 0, 1) : Hs(1, 1, 1));
      EXPECT_EQ(Show((*wal)->hard_state()), Show(recovered));
      if (boundary == 0) {
        // Not even the header survived: the empty segment is dropped.
        EXPECT_EQ(WalFiles(fs), (Strings{SegmentName(1), SegmentName(2)}));
      } else {
        EXPECT_EQ(WalFiles(fs), (Strings{SegmentName(1), SegmentName(2), SegmentName(3)}));
        EXPECT_EQ(fs.Contents(SegmentPath(3)).size(), boundary);
      }
      ASSERT_OK(Write(**wal, {MakeEntry(expected.size() + 1, 3)}));
    }
    fs.Crash();
    absl::StatusOr<std::unique_ptr<Wal>> again = OpenWal(fs, SegmentPerBatch());
    ASSERT_OK(again);
    ExpectLog(**again, Concat({expected, {MakeEntry(expected.size() + 1, 3)}}));
  }
}

TEST(WalRecoveryTest, TrailingZerosAfterTheLastRecordAreATornTail) {
  SimFileSystem fs(1, NoTornWrites());
  {
    absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs);
    ASSERT_OK(wal);
    ASSERT_OK(Write(**wal, Range(1, 3, 1), Hs(1, 0, 3)));
  }
  const std::string good = fs.Contents(SegmentPath(1));
  fs.SetContents(SegmentPath(1), good + std::string(4096, '\0'));  // e.g. preallocated blocks
  absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs);
  ASSERT_OK(wal);
  ExpectLog(**wal, Range(1, 3, 1));
  EXPECT_EQ(fs.Contents(SegmentPath(1)), good);
}

TEST(WalRecoveryTest, GarbageAfterTheLastRecordIsDataLoss) {
  SimFileSystem fs(1, NoTornWrites());
  {
    absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs);
    ASSERT_OK(wal);
    ASSERT_OK(Write(**wal, Range(1, 3, 1)));
  }
  const std::string good = fs.Contents(SegmentPath(1));
  // A length no writer produces: not a torn append of ours.
  fs.SetContents(SegmentPath(1), good + std::string("\xff\xff\xff\xff", 4) + std::string(20, 'g'));
  absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs);
  EXPECT_CODE(wal, absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(wal.status().message(), SegmentName(1))) << wal.status();
  EXPECT_TRUE(absl::StrContains(wal.status().message(), absl::StrCat("offset ", good.size()))) << wal.status();
}

TEST(WalRecoveryTest, CorruptionInsideAnEarlierRecordIsDataLossNamingFileAndOffset) {
  SimFileSystem fs(1, NoTornWrites());
  {
    absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs);
    ASSERT_OK(wal);
    for (Index index = 1; index <= 5; ++index) ASSERT_OK(Write(**wal, Range(index, index, 1), Hs(1, 1, index)));
  }
  const std::string good = fs.Contents(SegmentPath(1));
  const size_t record = EntryRecordOffset(good, 2);
  ASSERT_NE(record, std::string::npos);
  wal::ParsedRecord parsed;
  ASSERT_EQ(wal::ParseRecord(absl::string_view(good).substr(record), &parsed), wal::ParseStatus::kOk);
  // Every byte after the length field: CRC, type, payload. (Length bytes: see below.)
  for (size_t at = record + 4; at < record + parsed.frame_bytes; ++at) {
    SCOPED_TRACE(absl::StrCat("byte ", at, " (record at ", record, ")"));
    fs.SetContents(SegmentPath(1), good);
    fs.CorruptByte(SegmentPath(1), at);
    absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs);
    EXPECT_CODE(wal, absl::StatusCode::kDataLoss);
    EXPECT_TRUE(absl::StrContains(wal.status().message(), SegmentName(1))) << wal.status();
    EXPECT_TRUE(absl::StrContains(wal.status().message(), absl::StrCat("offset ", record))) << wal.status();
    EXPECT_EQ(fs.Contents(SegmentPath(1)).size(), good.size()) << "a failed recovery must not truncate";
  }
}

TEST(WalRecoveryTest, CorruptLengthFieldOfAnEarlierRecordIsDataLossNotATornTail) {
  SimFileSystem fs(1, NoTornWrites());
  {
    absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs);
    ASSERT_OK(wal);
    for (Index index = 1; index <= 5; ++index) ASSERT_OK(Write(**wal, Range(index, index, 1), Hs(1, 1, index)));
  }
  const std::string good = fs.Contents(SegmentPath(1));
  const size_t record = EntryRecordOffset(good, 2);
  ASSERT_NE(record, std::string::npos);
  for (size_t at = record; at < record + 4; ++at) {
    SCOPED_TRACE(absl::StrCat("length byte ", at - record, " of the record at ", record));
    fs.SetContents(SegmentPath(1), good);
    fs.CorruptByte(SegmentPath(1), at);
    absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs);
    if (wal.ok()) {
      ADD_FAILURE() << "recovered with last index " << (*wal)->last_index()
                    << ": acknowledged entries 2..5 were silently dropped";
      continue;
    }
    EXPECT_CODE(wal, absl::StatusCode::kDataLoss);
    EXPECT_TRUE(absl::StrContains(wal.status().message(), SegmentName(1))) << wal.status();
    EXPECT_EQ(fs.Contents(SegmentPath(1)).size(), good.size());
  }
}

// A latent bit flip in the last record of the last segment: the record is whole, so it was
// written completely and may have been acknowledged. Truncating it as a torn tail would lose
// an acknowledged entry (or hard state) silently; recovery must refuse instead.
TEST(WalRecoveryTest, ABitFlipInTheLastRecordIsDataLossNotATornTail) {
  for (bool ends_with_hard_state : {false, true}) {
    SCOPED_TRACE(ends_with_hard_state ? "last record: hard state" : "last record: entry");
    SimFileSystem fs(1, NoTornWrites());
    {
      absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs);
      ASSERT_OK(wal);
      std::optional<raftpb::HardState> hs;
      if (ends_with_hard_state) hs = Hs(1, 1, 3);
      ASSERT_OK(Write(**wal, Range(1, 3, 1), hs));
    }
    const std::string good = fs.Contents(SegmentPath(1));
    const std::vector<size_t> starts = RecordStarts(good);
    ASSERT_EQ(starts.back(), good.size());
    const size_t last_record = starts[starts.size() - 2];
    for (size_t at = last_record; at < good.size(); ++at) {
      SCOPED_TRACE(absl::StrCat("byte ", at, " (last record at ", last_record, ")"));
      fs.SetContents(SegmentPath(1), good);
      fs.CorruptByte(SegmentPath(1), at);
      absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs);
      EXPECT_CODE(wal, absl::StatusCode::kDataLoss);
      EXPECT_TRUE(absl::StrContains(wal.status().message(), absl::StrCat("offset ", last_record))) << wal.status();
      EXPECT_EQ(fs.Contents(SegmentPath(1)).size(), good.size()) << "a failed recovery must not truncate";
    }
  }
}

TEST(WalRecoveryTest, CorruptionInTheLastRecordOfANonLastSegmentIsDataLoss) {
  // Two shapes of segment 2: a batch ending with a hard state record (written after its
  // entries) and one ending with an entry record.
  for (bool with_hard_state : {true, false}) {
    SCOPED_TRACE(with_hard_state ? "segment ends with hard state" : "segment ends with an entry");
    SimFileSystem fs(1, NoTornWrites());
    {
      absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs, SegmentPerBatch());
      ASSERT_OK(wal);
      std::optional<raftpb::HardState> hs;
      if (with_hard_state) hs = Hs(1, 1, 2);
      ASSERT_OK(Write(**wal, Range(1, 2, 1), hs));  // segment 2
      ASSERT_OK(Write(**wal, Range(3, 4, 1)));      // segment 3
    }
    const std::string good = fs.Contents(SegmentPath(2));
    const std::vector<size_t> starts = RecordStarts(good);
    ASSERT_EQ(starts.back(), good.size());
    // The last record before the batch's end marker.
    const size_t last_record = starts[starts.size() - 3];
    const std::vector<wal::RecordType> types = RecordTypes(good);
    ASSERT_EQ(types.back(), wal::RecordType::kBatchEnd);
    ASSERT_EQ(types[types.size() - 2], with_hard_state ? wal::RecordType::kHardState : wal::RecordType::kEntry);
    for (size_t at : {last_record + 4, last_record + wal::kRecordHeaderBytes, RecordEnd(good, last_record) - 1}) {
      SCOPED_TRACE(absl::StrCat("byte ", at));
      fs.SetContents(SegmentPath(2), good);
      fs.CorruptByte(SegmentPath(2), at);
      absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs, SegmentPerBatch());
      EXPECT_CODE(wal, absl::StatusCode::kDataLoss);
      EXPECT_TRUE(absl::StrContains(wal.status().message(), SegmentName(2))) << wal.status();
      EXPECT_TRUE(absl::StrContains(wal.status().message(), absl::StrCat("offset ", last_record))) << wal.status();
    }
    // A non-last segment cut short is not a torn tail either: its writes were acknowledged.
    fs.SetContents(SegmentPath(2), good.substr(0, good.size() - 3));
    EXPECT_CODE(OpenWal(fs, SegmentPerBatch()), absl::StatusCode::kDataLoss);
    EXPECT_EQ(fs.Contents(SegmentPath(2)).size(), good.size() - 3);
  }
}

TEST(WalRecoveryTest, AMissingMiddleSegmentIsDataLossNamingIt) {
  SimFileSystem fs(1, NoTornWrites());
  {
    absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs, SegmentPerBatch());
    ASSERT_OK(wal);
    for (Index index = 1; index <= 4; ++index) ASSERT_OK(Write(**wal, Range(index, index, 1)));
    ASSERT_EQ((*wal)->segment_count(), 5u);
  }
  ASSERT_OK(fs.Remove(SegmentPath(3)));
  absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs, SegmentPerBatch());
  EXPECT_CODE(wal, absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(wal.status().message(), SegmentName(3))) << wal.status();
  EXPECT_TRUE(absl::StrContains(wal.status().message(), "missing")) << wal.status();
  EXPECT_EQ(WalFiles(fs), (Strings{SegmentName(1), SegmentName(2), SegmentName(4), SegmentName(5)}))
      << "a failed recovery must not delete anything";
}

TEST(WalRecoveryTest, ASegmentWhoseHeaderNamesAnotherSequenceIsDataLoss) {
  SimFileSystem fs(1, NoTornWrites());
  {
    absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs, SegmentPerBatch());
    ASSERT_OK(wal);
    for (Index index = 1; index <= 3; ++index) ASSERT_OK(Write(**wal, Range(index, index, 1)));
  }
  fs.SetContents(SegmentPath(2), fs.Contents(SegmentPath(3)));  // a misplaced copy
  absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs, SegmentPerBatch());
  EXPECT_CODE(wal, absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(wal.status().message(), SegmentName(2))) << wal.status();
}

// Crafted segments: valid frames whose contents break the log's rules.
std::string Header(uint64_t sequence, uint32_t version = kWalFormatVersion) {
  walpb::SegmentHeader header;
  header.set_format_version(version);
  header.set_sequence(sequence);
  *header.mutable_bootstrap_conf() = Conf({1, 2, 3});
  std::string out;
  wal::AppendRecord(wal::RecordType::kSegmentHeader, header.SerializeAsString(), &out);
  return out;
}
std::string EntryRecord(Index index, Term term) {
  std::string out;
  wal::AppendRecord(wal::RecordType::kEntry, ToProto(MakeEntry(index, term)).SerializeAsString(), &out);
  return out;
}

// Version 3 segments are preallocated: a torn batch leaves its written prefix followed by
// zeros, never a record cut short by the end of the file. Every cut of the last batch, with
// zeros after it, recovers exactly the records before the cut.
TEST(WalRecoveryTest, TornTailOverPreallocatedZerosAtEveryByteOfTheLastBatch) {
  SimFileSystem fs(1, NoTornWrites());
  size_t start = 0;
  {
    absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs);
    ASSERT_OK(wal);
    ASSERT_OK(Write(**wal, Range(1, 2, 1), Hs(1, 1, 1)));
    start = fs.Contents(SegmentPath(1)).size();
    ASSERT_OK(Write(**wal, Range(3, 5, 2), Hs(2, 2, 4)));
  }
  const std::string full = fs.Contents(SegmentPath(1));
  const std::vector<size_t> starts = RecordStarts(full);
  for (size_t cut = start; cut <= full.size(); ++cut) {
    SCOPED_TRACE(absl::StrCat("cut at ", cut, " of ", full.size()));
    fs.SetContents(SegmentPath(1), full.substr(0, cut) + std::string(4096 + cut % 7, '\0'));
    size_t boundary = 0;
    Index whole_entries = 0;
    for (size_t i = 0; i + 1 < starts.size(); ++i) {
      if (starts[i + 1] <= cut) boundary = starts[i + 1];
    }
    for (Index index = 3; index <= 5; ++index) {
      if (RecordEnd(full, EntryRecordOffset(full, index)) <= cut) ++whole_entries;
    }
    absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs);
    ASSERT_OK(wal);
    ExpectLog(**wal, Concat({Range(1, 2, 1), Range(3, 2 + whole_entries, 2)}));
    EXPECT_EQ(fs.Contents(SegmentPath(1)).size(), boundary) << "the torn record and the zeros must be cut off";
  }
}

// What keeps the rule above from eating acknowledged data: a complete batch ends in a non-zero
// byte (its end marker), so a damaged record of the last complete batch ends before the zeros,
// even one whose own bytes end in zeros. Corruption stays DataLoss.
TEST(WalRecoveryTest, ACorruptLastRecordBeforePreallocatedZerosIsDataLoss) {
  SimFileSystem fs(1, NoTornWrites());
  {
    absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs);
    ASSERT_OK(wal);
    ASSERT_OK(Write(**wal, Range(1, 2, 1)));
    ASSERT_OK(Write(**wal, {MakeEntry(3, 1, std::string("ends in zeros\0\0\0\0", 17))}));
  }
  const std::string good = fs.Contents(SegmentPath(1));
  const size_t record = EntryRecordOffset(good, 3);
  ASSERT_EQ(good[RecordEnd(good, record) - 1], '\0') << "the test needs a record ending in zeros";
  for (size_t at : {record + 2, record + wal::kRecordHeaderBytes + 2, RecordEnd(good, record) - 6}) {
    SCOPED_TRACE(absl::StrCat("corrupt byte ", at));
    fs.SetContents(SegmentPath(1), good + std::string(8192, '\0'));
    fs.CorruptByte(SegmentPath(1), at);
    absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs);
    EXPECT_CODE(wal, absl::StatusCode::kDataLoss);
    EXPECT_TRUE(absl::StrContains(wal.status().message(), absl::StrCat("offset ", record))) << wal.status();
  }
}

// A last segment written by a keel of format version 2 (no end markers, no preallocation) is
// read with version 2's rules and closed as it is; new batches go to a version 3 segment.
TEST(WalRecoveryTest, AVersion2SegmentIsReadAndTheNextBatchStartsAVersion3One) {
  SimFileSystem fs(1, NoTornWrites());
  std::string hard_state;
  wal::AppendRecord(wal::RecordType::kHardState, Hs(1, 1, 2).SerializeAsString(), &hard_state);
  const std::string v2 = Header(1, 2) + hard_state + EntryRecord(1, 1) + EntryRecord(2, 1);
  ASSERT_OK(fs.MakeDirs(kWalDir));
  fs.SetContents(SegmentPath(1), v2);
  {
    absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs);
    ASSERT_OK(wal);
    ExpectLog(**wal, Range(1, 2, 1));
    EXPECT_EQ(Show((*wal)->hard_state()), Show(Hs(1, 1, 2)));
    EXPECT_EQ(WalFiles(fs), (Strings{SegmentName(1), SegmentName(2)}));
    EXPECT_EQ(fs.Contents(SegmentPath(1)), v2) << "the old segment is left as it was";
    ASSERT_OK(Write(**wal, Range(3, 3, 1), Hs(1, 1, 3)));
  }
  EXPECT_EQ(RecordTypes(fs.Contents(SegmentPath(2))).back(), wal::RecordType::kBatchEnd);
  absl::StatusOr<std::unique_ptr<Wal>> reopened = OpenWal(fs);
  ASSERT_OK(reopened);
  ExpectLog(**reopened, Range(1, 3, 1));
  // Version 2's torn-tail rule still applies to a version 2 segment: zeros after its last
  // record are a torn tail, a corrupt last record is DataLoss.
  SimFileSystem old(1, NoTornWrites());
  ASSERT_OK(old.MakeDirs(kWalDir));
  old.SetContents(SegmentPath(1), v2);
  old.CorruptByte(SegmentPath(1), v2.size() - 2);
  EXPECT_CODE(OpenWal(old), absl::StatusCode::kDataLoss);
}

// The older keel may have been killed between writing its last batch and syncing it: the new
// keel syncs that segment before it starts the next one, so a power loss later cannot shorten
// a segment that is no longer the last (recovery would call that corruption, or a gap).
TEST(WalRecoveryTest, AnUnsyncedTailOfAVersion2SegmentIsSyncedBeforeTheNextSegmentStarts) {
  for (uint64_t seed = 1; seed <= 10; ++seed) {
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    SimFileSystem fs(seed, AlwaysTorn());
    std::string hard_state;
    wal::AppendRecord(wal::RecordType::kHardState, Hs(1, 1, 1).SerializeAsString(), &hard_state);
    ASSERT_OK(fs.MakeDirs(kWalDir));
    fs.SetContents(SegmentPath(1), Header(1, 2) + hard_state + EntryRecord(1, 1));
    {
      // The old keel's last write: in the page cache, not synced.
      absl::StatusOr<std::unique_ptr<File>> file = fs.Open(SegmentPath(1), FileSystem::OpenMode::kOpenExisting);
      ASSERT_OK(file);
      ASSERT_OK((*file)->Append(EntryRecord(2, 1) + EntryRecord(3, 1)));
    }
    {
      absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs);
      ASSERT_OK(wal);
      ExpectLog(**wal, Range(1, 3, 1));
      ASSERT_OK(Write(**wal, Range(4, 4, 1), Hs(1, 1, 4)));
    }
    fs.Crash();
    absl::StatusOr<std::unique_ptr<Wal>> reopened = OpenWal(fs);
    ASSERT_OK(reopened);
    ExpectLog(**reopened, Range(1, 4, 1));
  }
}

TEST(WalRecoveryTest, ValidFramesThatBreakTheLogRulesAreDataLoss) {
  struct Case {
    const char* what;
    std::string bytes;
    const char* message;
  };
  std::string undecodable;
  wal::AppendRecord(wal::RecordType::kEntry, std::string("\xff\xff\xff", 3), &undecodable);
  std::string bad_version;
  {
    walpb::SegmentHeader header;
    header.set_format_version(99);
    header.set_sequence(1);
    wal::AppendRecord(wal::RecordType::kSegmentHeader, header.SerializeAsString(), &bad_version);
  }
  const std::vector<Case> cases = {
      {"gap", Header(1) + EntryRecord(1, 1) + EntryRecord(3, 1) + EntryRecord(4, 1), "gap"},
      {"term goes down", Header(1) + EntryRecord(1, 2) + EntryRecord(2, 1) + EntryRecord(3, 2), "term"},
      {"no header", EntryRecord(1, 1) + EntryRecord(2, 1), "header"},
      {"second header", Header(1) + EntryRecord(1, 1) + Header(1) + EntryRecord(2, 1), "header"},
      {"undecodable entry", Header(1) + EntryRecord(1, 1) + undecodable + EntryRecord(2, 1), "entry"},
      {"unknown format version", bad_version + EntryRecord(1, 1), "version"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    SimFileSystem fs(1, NoTornWrites());
    ASSERT_OK(fs.MakeDirs(kWalDir));
    fs.SetContents(SegmentPath(1), c.bytes);
    absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs);
    EXPECT_CODE(wal, absl::StatusCode::kDataLoss);
    EXPECT_TRUE(absl::StrContains(wal.status().message(), SegmentName(1))) << wal.status();
    EXPECT_TRUE(absl::StrContains(wal.status().message(), c.message)) << wal.status();
  }
}

TEST(WalRecoveryTest, RolloverCarriesTheLatestHardStateIntoEverySegment) {
  SimFileSystem fs(1, NoTornWrites());
  WalOptions options;
  options.max_segment_bytes = 200;
  Index last = 0;
  {
    absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs, options);
    ASSERT_OK(wal);
    ASSERT_OK(Write(**wal, Range(1, 2, 1), Hs(7, 3, 2)));
    for (last = 3; last <= 30; ++last) ASSERT_OK(Write(**wal, Range(last, last, 7)));
    ASSERT_OK(Write(**wal, Range(last, last, 8), Hs(8, 0, 25)));  // the latest hard state
    for (++last; last <= 60; ++last) ASSERT_OK(Write(**wal, Range(last, last, 8)));
    --last;
    ASSERT_EQ((*wal)->last_index(), last);
    const size_t before = (*wal)->segment_count();
    ASSERT_GT(before, 5u) << "the test needs many rollovers";
    ASSERT_OK((*wal)->CompactTo(last - 1, 8));
    EXPECT_LT((*wal)->segment_count(), before);
    EXPECT_EQ(Show((*wal)->hard_state()), Show(Hs(8, 0, 25)));
  }
  // Every hard state record left on disk sits right after a segment header: the batch that
  // wrote Hs(8, 0, 25) is gone, so only the carried-over copies can bring it back.
  for (const std::string& name : WalFiles(fs)) {
    const std::vector<wal::RecordType> types = RecordTypes(fs.Contents(JoinPath(kWalDir, name)));
    for (size_t i = 0; i < types.size(); ++i) {
      if (types[i] == wal::RecordType::kHardState) {
        EXPECT_EQ(i, 1u) << name;
      }
    }
  }
  absl::StatusOr<std::unique_ptr<Wal>> reopened = OpenWal(fs, options);
  ASSERT_OK(reopened);
  EXPECT_EQ(Show((*reopened)->hard_state()), Show(Hs(8, 0, 25)));
  EXPECT_EQ((*reopened)->last_index(), last);
  EXPECT_EQ((*reopened)->TermAt(last), std::optional<Term>(8));
}

// A hard state alone written with sync == false (only the commit index moved, engine/ready.h)
// may be lost to a crash, whole or torn, and only it: the entries and the hard state synced
// before it come back, and recovery never calls its torn remains corruption.
TEST(WalRecoveryTest, AnUnsyncedCommitOnlyHardStateIsLostCleanlyToACrash) {
  int lost = 0;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    SimFileSystem fs(seed, AlwaysTorn());
    {
      absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs);
      ASSERT_OK(wal);
      ASSERT_OK(Write(**wal, Range(1, 4, 2), Hs(2, 1, 2)));
      ASSERT_OK(WriteNoSync(**wal, {}, Hs(2, 1, 4)));
      EXPECT_EQ(Show((*wal)->hard_state()), Show(Hs(2, 1, 4))) << "written, so the in-memory view moves";
    }
    fs.Crash();
    absl::StatusOr<std::unique_ptr<Wal>> reopened = OpenWal(fs);
    ASSERT_OK(reopened);
    // Kept whole (the crash kept all of the unsynced bytes) or lost; never anything else.
    const std::string recovered = Show((*reopened)->hard_state());
    EXPECT_TRUE(recovered == Show(Hs(2, 1, 2)) || recovered == Show(Hs(2, 1, 4))) << recovered;
    lost += recovered == Show(Hs(2, 1, 2));
    ExpectLog(**reopened, Range(1, 4, 2));
  }
  EXPECT_GT(lost, 0) << "never lost: was it synced after all?";
}

// The next synced batch makes the unsynced hard state durable with it.
TEST(WalRecoveryTest, AnUnsyncedHardStateIsDurableOnceTheNextBatchIsSynced) {
  SimFileSystem fs(3, AlwaysTorn());
  {
    absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs);
    ASSERT_OK(wal);
    ASSERT_OK(Write(**wal, Range(1, 4, 2), Hs(2, 1, 2)));
    ASSERT_OK(WriteNoSync(**wal, {}, Hs(2, 1, 4)));
    ASSERT_OK(Write(**wal, Range(5, 5, 2)));
  }
  fs.Crash();
  absl::StatusOr<std::unique_ptr<Wal>> reopened = OpenWal(fs);
  ASSERT_OK(reopened);
  EXPECT_EQ(Show((*reopened)->hard_state()), Show(Hs(2, 1, 4)));
  ExpectLog(**reopened, Range(1, 5, 2));
}

// Entries and log resets are always synced, whatever `sync` says: acks promise them.
TEST(WalRecoveryTest, EntriesAreSyncedEvenWhenTheCallerSaysNoSync) {
  SimFileSystem fs(5, AlwaysTorn());
  {
    absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs);
    ASSERT_OK(wal);
    ASSERT_OK(WriteNoSync(**wal, Range(1, 3, 2), Hs(2, 1, 3)));
  }
  fs.Crash();
  absl::StatusOr<std::unique_ptr<Wal>> reopened = OpenWal(fs);
  ASSERT_OK(reopened);
  EXPECT_EQ(Show((*reopened)->hard_state()), Show(Hs(2, 1, 3)));
  ExpectLog(**reopened, Range(1, 3, 2));
}

// A segment with an unsynced tail is synced before the next one starts: only the last segment
// may end torn, a torn end of an older one is corruption (DataLoss) to recovery.
TEST(WalRecoveryTest, RolloverSyncsAnUnsyncedHardStateBeforeStartingTheNextSegment) {
  for (uint64_t seed = 1; seed <= 10; ++seed) {
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    SimFileSystem fs(seed, AlwaysTorn());
    WalOptions options;
    options.max_segment_bytes = 200;
    Index last = 0;
    {
      absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs, options);
      ASSERT_OK(wal);
      for (last = 1; last <= 20; ++last) {
        ASSERT_OK(Write(**wal, Range(last, last, 1)));
        ASSERT_OK(WriteNoSync(**wal, {}, Hs(1, 1, last)));
      }
      --last;
      ASSERT_GT((*wal)->segment_count(), 3u) << "the test needs rollovers";
    }
    fs.Crash();
    absl::StatusOr<std::unique_ptr<Wal>> reopened = OpenWal(fs, options);
    ASSERT_OK(reopened);
    EXPECT_EQ((*reopened)->last_index(), last);
    EXPECT_GE((*reopened)->hard_state().commit(), last - 1) << "at most the last commit-only record is lost";
  }
}

TEST(WalRecoveryTest, CompactToDeletesExactlyTheCoveredSegmentsAndNeverTheActiveOne) {
  SimFileSystem fs(1, NoTornWrites());
  absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs, SegmentPerBatch());
  ASSERT_OK(wal);
  Wal& w = **wal;
  // Segment 1: header only. Segments 2..5: entries 1-3, 4-6, 7-9, 10-12.
  for (Index first = 1; first <= 10; first += 3) ASSERT_OK(Write(w, Range(first, first + 2, 1)));
  ASSERT_EQ(WalFiles(fs), (Strings{SegmentName(1), SegmentName(2), SegmentName(3), SegmentName(4), SegmentName(5)}));

  ASSERT_OK(w.CompactTo(2, 1));  // segment 2 still holds entry 3
  EXPECT_EQ(WalFiles(fs), (Strings{SegmentName(2), SegmentName(3), SegmentName(4), SegmentName(5)}));
  EXPECT_EQ(w.base_index(), 2u);
  EXPECT_EQ(w.base_term(), 1u);
  EXPECT_EQ(w.TermAt(1), std::nullopt);
  ExpectLog(w, Range(3, 12, 1));

  ASSERT_OK(w.CompactTo(6, 1));  // exactly the end of segment 3
  EXPECT_EQ(WalFiles(fs), (Strings{SegmentName(4), SegmentName(5)}));
  ExpectLog(w, Range(7, 12, 1));

  ASSERT_OK(w.CompactTo(5, 1));  // below the base: nothing to do
  EXPECT_EQ(WalFiles(fs), (Strings{SegmentName(4), SegmentName(5)}));
  EXPECT_EQ(w.base_index(), 6u);

  ASSERT_OK(w.CompactTo(12, 1));  // everything, but segment 5 is being written
  EXPECT_EQ(WalFiles(fs), Strings{SegmentName(5)});
  EXPECT_EQ(w.segment_count(), 1u);
  EXPECT_EQ(w.base_index(), 12u);
  EXPECT_EQ(w.last_index(), 12u);

  // The deletions are durable, and the WAL keeps working.
  ASSERT_OK(Write(w, Range(13, 13, 2)));
  wal->reset();
  fs.Crash();
  absl::StatusOr<std::unique_ptr<Wal>> reopened = OpenWal(fs, SegmentPerBatch());
  ASSERT_OK(reopened);
  EXPECT_EQ(WalFiles(fs), (Strings{SegmentName(5), SegmentName(6)}));
  EXPECT_EQ((*reopened)->last_index(), 13u);
  EXPECT_EQ((*reopened)->TermAt(13), std::optional<Term>(2));
  EXPECT_EQ((*reopened)->TermAt(12), std::optional<Term>(1));
}

TEST(WalRecoveryTest, CompactToAfterALogResetDeletesTheReplacedSegments) {
  SimFileSystem fs(1, NoTornWrites());
  absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs, SegmentPerBatch());
  ASSERT_OK(wal);
  for (Index first = 1; first <= 7; first += 3) ASSERT_OK(Write(**wal, Range(first, first + 2, 1)));
  ASSERT_EQ((*wal)->segment_count(), 4u);  // header-only 1, then 1-3, 4-6, 7-9
  // A snapshot at 20 replaces the whole log (segment 5 holds the reset).
  ASSERT_OK(Write(**wal, {}, Hs(2, 0, 20), Reset(20, 2)));
  ASSERT_OK((*wal)->CompactTo(20, 2));
  EXPECT_EQ(WalFiles(fs), Strings{SegmentName(5)}) << "every entry in segments 1..4 is <= 20";
  EXPECT_EQ((*wal)->segment_count(), 1u);
  EXPECT_EQ((*wal)->base_index(), 20u);
}

// Found by the WAL property: entries up to 6 in one segment, 7 in a later one, then 6 of a
// newer term (truncating 7); a snapshot at 6 deletes the first segment. Recovery then sees 7
// first (inferring the base 6) and must still let the later entry 6 truncate it, not drop it
// as if a log reset had voided it: entry 7 of term 2 was replaced before the crash.
TEST(WalRecoveryTest, ATruncationReachingIntoDeletedSegmentsStillTruncates) {
  SimFileSystem fs(1, NoTornWrites());
  {
    absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs, SegmentPerBatch());
    ASSERT_OK(wal);
    ASSERT_OK(Write(**wal, Range(1, 6, 2)));  // segment 2
    ASSERT_OK(Write(**wal, Range(7, 7, 2)));  // segment 3
    ASSERT_OK(Write(**wal, {MakeEntry(6, 3)}, Hs(3, 0, 6)));  // segment 4
    ASSERT_OK((*wal)->CompactTo(6, 3));
    EXPECT_EQ((*wal)->last_index(), 6u);
  }
  absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs, SegmentPerBatch());
  ASSERT_OK(wal);
  ASSERT_OK((*wal)->ReconcileWithSnapshot(6, 3));
  EXPECT_EQ((*wal)->last_index(), 6u) << "entry 7 of term 2 was truncated away before the crash";
  EXPECT_EQ((*wal)->TermAt(7), std::nullopt);
}

TEST(WalRecoveryTest, LogResetVoidsEarlierEntriesAcrossReopen) {
  SimFileSystem fs(1, NoTornWrites());
  {
    absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs);
    ASSERT_OK(wal);
    ASSERT_OK(Write(**wal, Range(1, 5, 1), Hs(1, 1, 3)));
    // A snapshot at 10/3 from the leader replaces the log.
    ASSERT_OK(Write(**wal, Range(11, 12, 3), Hs(3, 2, 11), Reset(10, 3)));
    EXPECT_EQ((*wal)->base_index(), 10u);
    EXPECT_EQ((*wal)->base_term(), 3u);
    EXPECT_EQ((*wal)->TermAt(5), std::nullopt);
    ExpectLog(**wal, Range(11, 12, 3));
  }
  absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs);
  ASSERT_OK(wal);
  EXPECT_EQ((*wal)->base_index(), 10u);
  EXPECT_EQ((*wal)->base_term(), 3u);
  EXPECT_EQ((*wal)->TermAt(10), std::optional<Term>(3));
  EXPECT_EQ((*wal)->TermAt(5), std::nullopt);
  ExpectLog(**wal, Range(11, 12, 3));
  EXPECT_EQ(Show((*wal)->hard_state()), Show(Hs(3, 2, 11)));
}

TEST(WalRecoveryTest, LogResetBelowTheLastIndexVoidsTheOverlappingEntries) {
  SimFileSystem fs(1, NoTornWrites());
  {
    absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs);
    ASSERT_OK(wal);
    ASSERT_OK(Write(**wal, Range(1, 5, 1)));
    ASSERT_OK(Write(**wal, {}, std::nullopt, Reset(2, 1)));  // a reset alone
    ExpectLog(**wal, {});
    EXPECT_EQ((*wal)->last_index(), 2u);
  }
  {
    absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs);
    ASSERT_OK(wal);
    EXPECT_EQ((*wal)->base_index(), 2u);
    EXPECT_EQ((*wal)->base_term(), 1u);
    EXPECT_EQ((*wal)->last_index(), 2u) << "the reset alone voids entries 3..5";
    ASSERT_OK(Write(**wal, Range(3, 3, 2)));
  }
  absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs);
  ASSERT_OK(wal);
  EXPECT_EQ((*wal)->base_index(), 2u);
  ExpectLog(**wal, Range(3, 3, 2));
  EXPECT_EQ((*wal)->TermAt(4), std::nullopt) << "entries 4 and 5 of term 1 were voided";
}

// --- reconciliation with the newest snapshot (Figure 13 rules 6 and 7) ----------------------

TEST(WalReconcileTest, Rule6KeepsTheSuffixWhenTheLogHoldsTheSnapshotsLastEntry) {
  SimFileSystem fs(1, NoTornWrites());
  {
    absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs);
    ASSERT_OK(wal);
    ASSERT_OK(Write(**wal, Concat({Range(1, 5, 1), Range(6, 10, 2)})));
  }
  absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs);
  ASSERT_OK(wal);
  ASSERT_OK((*wal)->ReconcileWithSnapshot(7, 2));
  EXPECT_EQ((*wal)->base_index(), 7u);
  EXPECT_EQ((*wal)->base_term(), 2u);
  EXPECT_EQ((*wal)->TermAt(7), std::optional<Term>(2));
  EXPECT_EQ((*wal)->TermAt(6), std::nullopt);
  ExpectLog(**wal, Range(8, 10, 2));
  ASSERT_OK(Write(**wal, Range(11, 11, 2)));
  ExpectLog(**wal, Range(8, 11, 2));
}

TEST(WalReconcileTest, Rule6AtTheLastEntryLeavesAnEmptyLogAfterTheSnapshot) {
  SimFileSystem fs(1, NoTornWrites());
  {
    absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs);
    ASSERT_OK(wal);
    ASSERT_OK(Write(**wal, Range(1, 4, 1)));
  }
  absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs);
  ASSERT_OK(wal);
  ASSERT_OK((*wal)->ReconcileWithSnapshot(4, 1));
  EXPECT_EQ((*wal)->base_index(), 4u);
  EXPECT_EQ((*wal)->last_index(), 4u);
}

TEST(WalReconcileTest, Rule7DropsEveryEntryWhenTheTermDiffers) {
  SimFileSystem fs(1, NoTornWrites());
  {
    absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs);
    ASSERT_OK(wal);
    ASSERT_OK(Write(**wal, Range(1, 10, 1)));
  }
  absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs);
  ASSERT_OK(wal);
  ASSERT_OK((*wal)->ReconcileWithSnapshot(5, 2));
  EXPECT_EQ((*wal)->base_index(), 5u);
  EXPECT_EQ((*wal)->base_term(), 2u);
  EXPECT_EQ((*wal)->last_index(), 5u);
  EXPECT_EQ((*wal)->TermAt(6), std::nullopt) << "entries after a conflicting snapshot must go";
}

TEST(WalReconcileTest, Rule7DropsEveryEntryWhenTheSnapshotIsPastTheLog) {
  SimFileSystem fs(1, NoTornWrites());
  {
    absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs);
    ASSERT_OK(wal);
    ASSERT_OK(Write(**wal, Range(1, 3, 1)));
  }
  absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs);
  ASSERT_OK(wal);
  ASSERT_OK((*wal)->ReconcileWithSnapshot(10, 2));
  EXPECT_EQ((*wal)->base_index(), 10u);
  EXPECT_EQ((*wal)->base_term(), 2u);
  EXPECT_EQ((*wal)->last_index(), 10u);
}

TEST(WalReconcileTest, AnEmptyLogBecomesTheSnapshot) {
  SimFileSystem fs(1, NoTornWrites());
  absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs);
  ASSERT_OK(wal);
  ASSERT_OK(Write(**wal, {}, Hs(4, 1, 0)));  // hard state but no entries
  ASSERT_OK((*wal)->ReconcileWithSnapshot(20, 4));
  EXPECT_EQ((*wal)->base_index(), 20u);
  EXPECT_EQ((*wal)->base_term(), 4u);
  EXPECT_EQ((*wal)->last_index(), 20u);
  // And without a snapshot, nothing changes.
  SimFileSystem fs2(1, NoTornWrites());
  absl::StatusOr<std::unique_ptr<Wal>> fresh = OpenWal(fs2);
  ASSERT_OK(fresh);
  ASSERT_OK((*fresh)->ReconcileWithSnapshot(0, 0));
  EXPECT_EQ((*fresh)->base_index(), 0u);
  EXPECT_EQ((*fresh)->last_index(), 0u);
}

TEST(WalReconcileTest, ALogResetPastTheSnapshotIsDataLoss) {
  SimFileSystem fs(1, NoTornWrites());
  {
    absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs);
    ASSERT_OK(wal);
    ASSERT_OK(Write(**wal, Range(11, 12, 2), std::nullopt, Reset(10, 2)));
  }
  absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs);
  ASSERT_OK(wal);
  const absl::Status status = (*wal)->ReconcileWithSnapshot(5, 1);
  EXPECT_CODE(status, absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(status.message(), "missing")) << status;
}

TEST(WalReconcileTest, ALogStartingAfterSnapshotPlusOneIsDataLoss) {
  // Older segments were deleted (compaction up to 6); the snapshot that covered them is not
  // the one found at open (say the newest was lost and an older one is used).
  SimFileSystem fs(1, NoTornWrites());
  {
    absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs, SegmentPerBatch());
    ASSERT_OK(wal);
    for (Index first = 1; first <= 7; first += 3) ASSERT_OK(Write(**wal, Range(first, first + 2, 1)));
    ASSERT_OK((*wal)->CompactTo(6, 1));
  }
  {
    absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs, SegmentPerBatch());
    ASSERT_OK(wal);
    EXPECT_EQ((*wal)->base_index(), 6u);
    const absl::Status status = (*wal)->ReconcileWithSnapshot(3, 1);
    EXPECT_CODE(status, absl::StatusCode::kDataLoss);
    EXPECT_TRUE(absl::StrContains(status.message(), "4..6")) << status;
  }
  {
    // With the snapshot that did cover them (index 6 = the recovered base): fine.
    absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs, SegmentPerBatch());
    ASSERT_OK(wal);
    ASSERT_OK((*wal)->ReconcileWithSnapshot(6, 1));
    EXPECT_EQ((*wal)->base_term(), 1u);
    ExpectLog(**wal, Range(7, 9, 1));
  }
}

TEST(WalReconcileTest, ALogResetDisagreeingWithTheSnapshotTermIsDataLoss) {
  SimFileSystem fs(1, NoTornWrites());
  {
    absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs);
    ASSERT_OK(wal);
    ASSERT_OK(Write(**wal, Range(11, 11, 2), std::nullopt, Reset(10, 2)));
  }
  absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs);
  ASSERT_OK(wal);
  EXPECT_CODE((*wal)->ReconcileWithSnapshot(10, 3), absl::StatusCode::kDataLoss);
}

// --- failures while running ------------------------------------------------------------------

TEST(WalFailureTest, EveryWriteAfterAFailedSyncFails) {
  SimFileSystem fs(1, NoTornWrites());
  absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs);
  ASSERT_OK(wal);
  Wal& w = **wal;
  ASSERT_OK(Write(w, Range(1, 2, 1), Hs(1, 1, 1)));
  fs.faults().sync_failure_probability = 1;
  const absl::Status failed = Write(w, Range(3, 3, 1), Hs(1, 1, 2));
  EXPECT_CODE(failed, absl::StatusCode::kDataLoss);
  EXPECT_FALSE(w.poisoned().ok());
  // The batch was not acknowledged, so the in-memory log did not take it.
  EXPECT_EQ(w.last_index(), 2u);
  EXPECT_EQ(Show(w.hard_state()), Show(Hs(1, 1, 1)));
  fs.faults().sync_failure_probability = 0;  // fsync "works" again: still refused
  for (int i = 0; i < 3; ++i) {
    const absl::Status later = Write(w, Range(3, 3, 1));
    EXPECT_FALSE(later.ok());
    EXPECT_EQ(later, w.poisoned());
  }
  EXPECT_EQ(Write(w, {}, Hs(2, 0, 2)), w.poisoned());
  EXPECT_EQ(w.CompactTo(1, 1), w.poisoned());
  EXPECT_EQ(w.last_index(), 2u);
}

TEST(WalFailureTest, AFailedSyncWhileStartingASegmentPoisonsTheWal) {
  // With a new segment per batch, a WAL that did not poison itself would write the next batch
  // to a fresh, healthy file.
  SimFileSystem fs(1, NoTornWrites());
  absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs, SegmentPerBatch());
  ASSERT_OK(wal);
  ASSERT_OK(Write(**wal, Range(1, 1, 1)));
  fs.faults().sync_failure_probability = 1;
  EXPECT_FALSE(Write(**wal, Range(2, 2, 1)).ok());
  fs.faults().sync_failure_probability = 0;
  EXPECT_FALSE((*wal)->poisoned().ok());
  EXPECT_FALSE(Write(**wal, Range(2, 2, 1)).ok());
  EXPECT_EQ((*wal)->last_index(), 1u);
}

// A full disk no longer poisons: tests/storage/disk_full_test.cc.

TEST(WalFailureTest, ReadEntriesOfARecordCorruptedAtRestIsDataLoss) {
  SimFileSystem fs(1, NoTornWrites());
  WalOptions options;
  options.cache_bytes = 1;  // only the newest entry stays in memory: the rest come from disk
  absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs, options);
  ASSERT_OK(wal);
  Wal& w = **wal;
  for (Index index = 1; index <= 5; ++index) ASSERT_OK(Write(w, Range(index, index, 1)));
  ExpectLog(w, Range(1, 5, 1));  // healthy reads first
  const std::string good = fs.Contents(SegmentPath(1));
  const size_t record = EntryRecordOffset(good, 2);
  ASSERT_NE(record, std::string::npos);
  // A byte of the entry's header fields, and the last byte of its data (index and term intact).
  for (size_t at : {record + wal::kRecordHeaderBytes + 3, RecordEnd(good, record) - 1}) {
    SCOPED_TRACE(absl::StrCat("corrupt byte ", at));
    fs.SetContents(SegmentPath(1), good);
    fs.CorruptByte(SegmentPath(1), at);
    Entries out;
    const absl::Status status = w.ReadEntries(2, 3, UINT64_MAX, &out);
    EXPECT_CODE(status, absl::StatusCode::kDataLoss);
    EXPECT_TRUE(absl::StrContains(status.message(), SegmentName(1))) << status;
    EXPECT_TRUE(absl::StrContains(status.message(), absl::StrCat("offset ", record))) << status;
    EXPECT_TRUE(out.empty()) << "no garbage entry may be returned";
  }
  Entries out;
  EXPECT_CODE(w.ReadEntries(1, 6, UINT64_MAX, &out), absl::StatusCode::kDataLoss);
  out.clear();
  ASSERT_OK(w.ReadEntries(3, 6, UINT64_MAX, &out));  // the intact ones still read
  EXPECT_EQ(Show(out), Show(Range(3, 5, 1)));
}

TEST(WalFailureTest, ReadEntriesOfARecordCorruptedInItsLengthIsDataLoss) {
  SimFileSystem fs(1, NoTornWrites());
  WalOptions options;
  options.cache_bytes = 1;
  absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs, options);
  ASSERT_OK(wal);
  for (Index index = 1; index <= 5; ++index) ASSERT_OK(Write(**wal, Range(index, index, 1)));
  const std::string good = fs.Contents(SegmentPath(1));
  const size_t record = EntryRecordOffset(good, 3);
  for (size_t at = record; at < record + 4; ++at) {
    fs.SetContents(SegmentPath(1), good);
    fs.CorruptByte(SegmentPath(1), at);
    Entries out;
    EXPECT_CODE((*wal)->ReadEntries(3, 4, UINT64_MAX, &out), absl::StatusCode::kDataLoss) << "byte " << at;
    EXPECT_TRUE(out.empty());
  }
}

TEST(WalFailureTest, ReadEntriesNoticesAValidRecordOfAnotherEntryInItsPlace) {
  SimFileSystem fs(1, NoTornWrites());
  WalOptions options;
  options.cache_bytes = 1;
  absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs, options);
  ASSERT_OK(wal);
  for (Index index = 1; index <= 5; ++index) ASSERT_OK(Write(**wal, Range(index, index, 1)));
  std::string bytes = fs.Contents(SegmentPath(1));
  const size_t second = EntryRecordOffset(bytes, 2);
  const size_t third = EntryRecordOffset(bytes, 3);
  const size_t size = EntryRecord(2, 1).size();
  ASSERT_EQ(RecordEnd(bytes, second) - second, size);
  ASSERT_EQ(EntryRecord(3, 1).size(), size);
  bytes.replace(second, size, bytes.substr(third, size));  // misdirected write
  fs.SetContents(SegmentPath(1), bytes);
  Entries out;
  const absl::Status status = (*wal)->ReadEntries(2, 3, UINT64_MAX, &out);
  EXPECT_CODE(status, absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(status.message(), "expected 2/1")) << status;
  EXPECT_TRUE(out.empty());
}

TEST(WalFailureTest, ReadEntriesUnderRandomBitFlipsIsRightOrDataLossNeverGarbage) {
  SimFileSystem fs(3, NoTornWrites());
  WalOptions options;
  options.cache_bytes = 1;
  absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs, options);
  ASSERT_OK(wal);
  const Entries written = Range(1, 20, 1);
  ASSERT_OK(Write(**wal, written));
  fs.faults().read_bit_flip_probability = 0.3;
  int right = 0;
  int data_loss = 0;
  for (int round = 0; round < 400; ++round) {
    const Index index = 1 + static_cast<Index>(round % 19);  // 20 is cached
    Entries out;
    const absl::Status status = (*wal)->ReadEntries(index, index + 1, UINT64_MAX, &out);
    if (status.ok()) {
      ASSERT_EQ(Show(out), Show({written[index - 1]})) << "round " << round;
      ++right;
    } else {
      ASSERT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
      ++data_loss;
    }
  }
  // With one retry, a read fails only if both attempts flip (about 9%); most flips heal.
  EXPECT_GT(right, 300);
  EXPECT_GT(data_loss, 0);
  fs.faults().read_bit_flip_probability = 1;
  Entries out;
  EXPECT_CODE((*wal)->ReadEntries(5, 6, UINT64_MAX, &out), absl::StatusCode::kDataLoss);
}

TEST(WalReadTest, ReadEntriesStopsAtMaxBytesButReturnsAtLeastOne) {
  for (uint64_t cache_bytes : {uint64_t{1}, uint64_t{8} << 20}) {
    SCOPED_TRACE(absl::StrCat("cache_bytes ", cache_bytes));
    SimFileSystem fs(1, NoTornWrites());
    WalOptions options;
    options.cache_bytes = cache_bytes;
    absl::StatusOr<std::unique_ptr<Wal>> wal = OpenWal(fs, options);
    ASSERT_OK(wal);
    Entries written;
    for (Index index = 1; index <= 6; ++index) written.push_back(MakeEntry(index, 1, std::string(100, static_cast<char>('a' + index))));
    ASSERT_OK(Write(**wal, written));
    Entries out;
    ASSERT_OK((*wal)->ReadEntries(1, 7, 250, &out));  // 124 bytes each by EntryBytes
    EXPECT_EQ(out.size(), 2u);
    out.clear();
    ASSERT_OK((*wal)->ReadEntries(2, 7, 1, &out));
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].index(), 2u);
    out.clear();
    ASSERT_OK((*wal)->ReadEntries(1, 7, UINT64_MAX, &out));
    EXPECT_EQ(Show(out), Show(written));
  }
}

}  // namespace
}  // namespace keel
