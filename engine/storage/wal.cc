#include "engine/storage/wal.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/assert.h"
#include "engine/storage/record_format.h"

namespace keel {
namespace {

constexpr absl::string_view kSegmentSuffix = ".wal";

std::string SegmentName(uint64_t sequence) {
  char name[32];
  std::snprintf(name, sizeof(name), "%016" PRIx64 ".wal", sequence);
  return name;
}

std::optional<uint64_t> ParseSegmentName(absl::string_view name) {
  if (name.size() != 16 + kSegmentSuffix.size() || !absl::EndsWith(name, kSegmentSuffix)) {
    return std::nullopt;
  }
  uint64_t sequence = 0;
  if (!absl::SimpleHexAtoi(name.substr(0, 16), &sequence)) return std::nullopt;
  return sequence;
}

// How far past a bad record recovery looks for an intact one before calling it a torn tail.
constexpr size_t kTornTailScanBytes = 1 << 20;

// Whether a record that failed to parse at `offset` is a torn final write rather than
// corruption. Writes tear as a prefix, so a torn write is a record whose frame runs past the
// end of the file (record_format.h), with no intact record after it, or a tail of zeros (e.g.
// preallocated blocks). A record that is all there but fails a CRC was damaged after it was
// written (it may have been acknowledged): that is corruption, never a torn tail. The scan for
// an intact record behind a cut-short one guards against the one way corruption could pass as
// a cut (a damaged length whose header CRC still matches).
bool IsTornTail(absl::string_view buffer, size_t offset, wal::ParseStatus status) {
  absl::string_view rest = buffer.substr(offset);
  if (std::all_of(rest.begin(), rest.end(), [](char c) { return c == 0; })) return true;
  if (status != wal::ParseStatus::kTruncated) return false;
  const size_t limit = std::min(rest.size(), kTornTailScanBytes);
  for (size_t skip = 1; skip < limit; ++skip) {
    wal::ParsedRecord record;
    if (wal::ParseRecord(rest.substr(skip), &record) == wal::ParseStatus::kOk) return false;
  }
  return true;
}

// The same for a version 3 segment (wal.h), whose zeros after the last non-zero byte are
// preallocated space rather than data: read without them, a torn batch is a record cut short
// again. Every complete batch ends in a non-zero byte (kBatchEnd), so a damaged record of the
// last complete batch ends before the zeros and stays corruption.
bool IsTornTailOverZeros(absl::string_view buffer, size_t offset) {
  size_t end = buffer.size();
  while (end > offset && buffer[end - 1] == '\0') --end;
  if (end == offset) return true;
  const absl::string_view written = buffer.substr(0, end);
  wal::ParsedRecord record;
  const wal::ParseStatus status = wal::ParseRecord(written.substr(offset), &record);
  return status == wal::ParseStatus::kTruncated && IsTornTail(written, offset, status);
}

// kBatchEnd's payload: its last byte must not be zero.
constexpr absl::string_view kBatchEndPayload = "\x01";

}  // namespace

Wal::Wal(FileSystem& fs, std::string dir, const WalOptions& options)
    : fs_(fs), dir_(std::move(dir)), options_(options) {}

Wal::~Wal() = default;

absl::StatusOr<std::unique_ptr<Wal>> Wal::Open(FileSystem& fs, const std::string& dir,
                                               const WalOptions& options,
                                               const raftpb::ConfState& bootstrap_conf) {
  std::unique_ptr<Wal> wal(new Wal(fs, dir, options));
  if (absl::Status status = wal->Recover(bootstrap_conf); !status.ok()) return status;
  return wal;
}

absl::Status Wal::Recover(const raftpb::ConfState& bootstrap_conf) {
  if (absl::Status status = fs_.MakeDirs(dir_); !status.ok()) return status;
  absl::StatusOr<std::vector<std::string>> names = fs_.List(dir_);
  if (!names.ok()) return names.status();
  std::vector<uint64_t> sequences;
  for (const std::string& name : *names) {
    if (std::optional<uint64_t> sequence = ParseSegmentName(name)) sequences.push_back(*sequence);
  }
  std::sort(sequences.begin(), sequences.end());
  for (size_t i = 1; i < sequences.size(); ++i) {
    if (sequences[i] != sequences[i - 1] + 1) {
      return absl::DataLossError(absl::StrCat("wal ", dir_, ": segment ",
                                              SegmentName(sequences[i - 1] + 1),
                                              " is missing (found ", SegmentName(sequences[i]), ")"));
    }
  }
  bootstrap_conf_ = bootstrap_conf;
  for (size_t i = 0; i < sequences.size(); ++i) {
    segments_[sequences[i]].path = JoinPath(dir_, SegmentName(sequences[i]));
    if (absl::Status status = RecoverSegment(sequences[i], i + 1 == sequences.size()); !status.ok()) {
      return status;
    }
  }
  // A crash while starting a segment can leave it empty (its header torn away): drop it.
  if (!segments_.empty() && segments_.rbegin()->second.file &&
      segments_.rbegin()->second.file->Size() == 0) {
    const std::string path = segments_.rbegin()->second.path;
    segments_.erase(std::prev(segments_.end()));
    if (absl::Status status = fs_.Remove(path); !status.ok()) return status;
    if (absl::Status status = fs_.SyncDir(dir_); !status.ok()) return status;
  }
  if (segments_.empty()) return StartSegment(sequences.empty() ? 1 : sequences.back());
  if (segments_.rbegin()->second.version < kWalFormatVersion) {
    // Written by an older keel: close it as it is and write new batches in the current format.
    // Synced first: its tail may still be only in the page cache (that keel killed between its
    // write and its fsync), and an older segment must never be the one a crash shortens.
    if (absl::Status status = segments_.rbegin()->second.file->Sync(); !status.ok()) return status;
    if (absl::Status status = StartSegment(segments_.rbegin()->first + 1); !status.ok()) return status;
  } else {
    segments_.rbegin()->second.file->set_preallocation(options_.preallocate_bytes);
  }
  AdoptLastTerm();
  return absl::OkStatus();
}

absl::Status Wal::RecoverSegment(uint64_t sequence, bool last) {
  Segment& segment = segments_.at(sequence);
  absl::StatusOr<std::unique_ptr<File>> file = fs_.Open(segment.path, FileSystem::OpenMode::kOpenExisting);
  if (!file.ok()) return file.status();
  absl::StatusOr<std::string> contents = (*file)->Read(0, (*file)->Size());
  if (!contents.ok()) return contents.status();
  const std::string& buffer = *contents;
  size_t offset = 0;
  bool saw_header = false;
  while (offset < buffer.size()) {
    const std::string where = absl::StrCat("wal segment ", segment.path, " offset ", offset);
    wal::ParsedRecord record;
    const wal::ParseStatus status = wal::ParseRecord(absl::string_view(buffer).substr(offset), &record);
    if (status != wal::ParseStatus::kOk) {
      // Before its header is read, a segment is taken for the current version: a fresh one
      // torn inside its header may have zeros after it.
      const bool torn = segment.version >= 3 ? IsTornTailOverZeros(buffer, offset)
                                             : IsTornTail(buffer, offset, status);
      if (last && torn) {
        // Never acknowledged: its fsync did not return. Cut it off durably.
        if (absl::Status s = (*file)->Truncate(offset); !s.ok()) return s;
        if (absl::Status s = (*file)->Sync(); !s.ok()) return s;
        break;
      }
      return absl::DataLossError(absl::StrCat(where, ": ", wal::ToString(status),
                                              last ? " (not at the tail: corruption)" : ""));
    }
    if (!saw_header) {
      walpb::SegmentHeader header;
      if (record.type != wal::RecordType::kSegmentHeader || !header.ParseFromString(std::string(record.payload))) {
        return absl::DataLossError(absl::StrCat(where, ": segment does not start with a header"));
      }
      if (header.format_version() < kOldestReadableWalFormatVersion || header.format_version() > kWalFormatVersion ||
          header.sequence() != sequence) {
        return absl::DataLossError(absl::StrCat(where, ": header says version ", header.format_version(),
                                                " sequence ", header.sequence(), " (this keel reads versions ",
                                                kOldestReadableWalFormatVersion, " to ", kWalFormatVersion, ")"));
      }
      segment.version = header.format_version();
      bootstrap_conf_ = header.bootstrap_conf();
      saw_header = true;
      offset += record.frame_bytes;
      continue;
    }
    switch (record.type) {
      case wal::RecordType::kSegmentHeader:
        return absl::DataLossError(absl::StrCat(where, ": unexpected segment header"));
      case wal::RecordType::kEntry: {
        raftpb::Entry entry;
        if (!entry.ParseFromString(std::string(record.payload))) {
          return absl::DataLossError(absl::StrCat(where, ": undecodable entry"));
        }
        if (absl::Status s = ApplyEntry(entry, sequence, offset, static_cast<uint32_t>(record.frame_bytes), where);
            !s.ok()) {
          return s;
        }
        break;
      }
      case wal::RecordType::kHardState:
        if (!hard_state_.ParseFromString(std::string(record.payload))) {
          return absl::DataLossError(absl::StrCat(where, ": undecodable hard state"));
        }
        break;
      case wal::RecordType::kBatchEnd:
        break;
      case wal::RecordType::kLogReset: {
        walpb::LogReset reset;
        if (!reset.ParseFromString(std::string(record.payload))) {
          return absl::DataLossError(absl::StrCat(where, ": undecodable log reset"));
        }
        entries_.clear();
        base_index_ = reset.index();
        base_term_ = reset.term();
        base_known_ = true;
        base_inferred_ = false;
        break;
      }
    }
    offset += record.frame_bytes;
  }
  segment.file = std::move(*file);
  return absl::OkStatus();
}

absl::Status Wal::ApplyEntry(const raftpb::Entry& entry, uint64_t segment, uint64_t offset,
                             uint32_t frame_bytes, const std::string& where) {
  if (!base_known_ || (base_inferred_ && entry.index() <= base_index_)) {
    // Older segments were deleted after a snapshot: the first entry seen fixes the base. A
    // later entry at or below that base is a conflict truncation reaching into the deleted
    // segments (they held the entries it replaced): it replaces everything recovered so far,
    // and the base moves down to it.
    entries_.clear();
    base_index_ = entry.index() - 1;
    base_term_ = 0;  // unknown; ReconcileWithSnapshot checks it against the snapshot
    base_known_ = true;
    base_inferred_ = true;
  }
  if (entry.index() <= base_index_) return absl::OkStatus();  // voided by a reset
  if (entry.index() > last_index() + 1) {
    return absl::DataLossError(absl::StrCat(where, ": entry ", entry.index(), " follows entry ",
                                            last_index(), " (gap)"));
  }
  entries_.resize(entry.index() - base_index_ - 1);
  if (!entries_.empty() && entries_.back().term > entry.term()) {
    return absl::DataLossError(absl::StrCat(where, ": entry ", entry.index(), " has term ",
                                            entry.term(), " below its predecessor's"));
  }
  entries_.push_back(Location{entry.term(), segment, offset, frame_bytes});
  Segment& seg = segments_.at(segment);
  seg.max_index = std::max(seg.max_index, entry.index());
  return absl::OkStatus();
}

absl::Status Wal::StartSegment(uint64_t sequence) {
  const std::string path = JoinPath(dir_, SegmentName(sequence));
  absl::StatusOr<std::unique_ptr<File>> file = fs_.Open(path, FileSystem::OpenMode::kCreateNew);
  if (!file.ok()) {
    // open(O_CREAT | O_EXCL) that fails created nothing: a full disk leaves the WAL as it was.
    if (!absl::IsResourceExhausted(file.status())) Poison(file.status());
    return poisoned_.ok() ? file.status() : poisoned_;
  }
  walpb::SegmentHeader header;
  header.set_format_version(kWalFormatVersion);
  header.set_sequence(sequence);
  *header.mutable_bootstrap_conf() = bootstrap_conf_;
  std::string buffer;
  wal::AppendRecord(wal::RecordType::kSegmentHeader, header.SerializeAsString(), &buffer);
  // Carry the latest hard state forward so that older segments can be deleted.
  wal::AppendRecord(wal::RecordType::kHardState, hard_state_.SerializeAsString(), &buffer);
  wal::AppendRecord(wal::RecordType::kBatchEnd, kBatchEndPayload, &buffer);
  (*file)->set_preallocation(options_.preallocate_bytes);
  if (absl::Status status = (*file)->Append(buffer); !status.ok()) {
    if (!absl::IsResourceExhausted(status)) {
      Poison(status);
      return poisoned_;
    }
    // Never synced, never named in a SyncDir: removing it restores the WAL exactly (a crash
    // before the removal leaves an empty or torn last segment, which recovery drops).
    file->reset();
    if (absl::Status removed = fs_.Remove(path); !removed.ok()) {
      Poison(removed);
      return poisoned_;
    }
    return status;
  }
  if (absl::Status status = (*file)->Sync(); !status.ok()) {
    Poison(status);
    return poisoned_;
  }
  if (absl::Status status = fs_.SyncDir(dir_); !status.ok()) {
    Poison(status);
    return poisoned_;
  }
  Segment& segment = segments_[sequence];
  segment.path = path;
  segment.file = std::move(*file);
  segment.version = kWalFormatVersion;
  return absl::OkStatus();
}

void Wal::Poison(const absl::Status& status) {
  if (poisoned_.ok()) {
    // Never kResourceExhausted: callers read that code as "nothing was written, retry".
    const absl::StatusCode code =
        absl::IsResourceExhausted(status) ? absl::StatusCode::kInternal : status.code();
    poisoned_ = absl::Status(code, absl::StrCat("wal ", dir_, " is unusable after a failed write: ",
                                                status.message()));
  }
}

absl::Status Wal::UndoAppend(File& file, uint64_t start, const absl::Status& cause) {
  KEEL_ASSERT(absl::IsResourceExhausted(cause));
  // The disk filled up mid-batch: a prefix of it may be in the file. ftruncate needs no space;
  // the fsync makes the cut durable before anything is appended behind it again. If either
  // fails, what the file holds is unknown (fsyncgate): poison.
  if (absl::Status status = file.Truncate(start); !status.ok()) {
    Poison(status);
    return poisoned_;
  }
  if (absl::Status status = file.Sync(); !status.ok()) {
    Poison(status);
    return poisoned_;
  }
  KEEL_ASSERT(file.Size() == start);
  return absl::ResourceExhaustedError(absl::StrCat("wal ", dir_, ": disk full, batch not written (",
                                                   cause.message(), ")"));
}

absl::Status Wal::Write(const std::optional<walpb::LogReset>& reset,
                        const std::vector<Entry>& entries, const raftpb::HardState* hard_state,
                        bool sync) {
  if (!poisoned_.ok()) return poisoned_;
  KEEL_ASSERT(!segments_.empty());
  // Only a hard state alone may go unsynced: entries and resets are what acks promise.
  sync = sync || reset.has_value() || !entries.empty();
  // Roll over once the active segment is full; a batch is never split across segments.
  {
    Segment& active = segments_.rbegin()->second;
    // Recover() never leaves an older version's segment active.
    KEEL_ASSERT(active.version == kWalFormatVersion);
    if (active.file->Size() >= options_.max_segment_bytes) {
      // The segment about to become an older one must end at its last record: not in a record
      // a crash can tear (an unsynced hard state), nor in preallocated zeros (recovery reads
      // anything after the last record of an older segment as corruption).
      absl::Status status = active.file->Truncate(active.file->Size());
      if (status.ok()) status = active.file->Sync();
      if (!status.ok()) {
        Poison(status);
        return poisoned_;
      }
      unsynced_ = false;
      // A full disk fails cleanly (kResourceExhausted, the WAL unchanged); the rest poisons.
      if (absl::Status status = StartSegment(segments_.rbegin()->first + 1); !status.ok()) return status;
    }
  }
  const uint64_t sequence = segments_.rbegin()->first;
  Segment& active = segments_.rbegin()->second;
  const uint64_t start = active.file->Size();
  std::string buffer;
  if (reset) wal::AppendRecord(wal::RecordType::kLogReset, reset->SerializeAsString(), &buffer);
  std::vector<std::pair<uint64_t, uint32_t>> frames;  // offset, size of each entry record
  frames.reserve(entries.size());
  std::string payload;
  for (const Entry& entry : entries) {
    payload.clear();
    AppendEncoded(entry, &payload);
    const size_t before = buffer.size();
    wal::AppendRecord(wal::RecordType::kEntry, payload, &buffer);
    frames.emplace_back(start + before, static_cast<uint32_t>(buffer.size() - before));
  }
  // The hard state goes after the entries: a torn batch keeps a prefix of its records, so a
  // surviving hard state implies every entry its commit index covers survived too. (Written
  // first, a torn batch could keep a commit index over entries it lost, or, when the batch
  // overwrote a conflicting suffix, over the stale entries it was replacing.) The price, a
  // torn batch leaving entries of a term above the durable term, recovery pays by raising the
  // term (see Recover).
  if (hard_state) wal::AppendRecord(wal::RecordType::kHardState, hard_state->SerializeAsString(), &buffer);
  if (buffer.empty()) return absl::OkStatus();
  wal::AppendRecord(wal::RecordType::kBatchEnd, kBatchEndPayload, &buffer);
  if (absl::Status status = active.file->Append(buffer); !status.ok()) {
    if (absl::IsResourceExhausted(status)) return UndoAppend(*active.file, start, status);
    Poison(status);
    return poisoned_;
  }
  if (sync) {
    if (absl::Status status = active.file->Sync(); !status.ok()) {
      Poison(status);
      return poisoned_;
    }
  }
  unsynced_ = !sync;
  // Durable (or, for a hard state alone, written): now update the in-memory view.
  if (reset) {
    entries_.clear();
    cache_.clear();
    cache_bytes_ = 0;
    base_index_ = reset->index();
    base_term_ = reset->term();
  }
  if (!entries.empty()) {
    const Index first = entries.front().index();
    KEEL_ASSERT(first > base_index_ && first <= last_index() + 1);
    entries_.resize(first - base_index_ - 1);
    TruncateCacheAfter(first - 1);
    for (size_t i = 0; i < entries.size(); ++i) {
      KEEL_ASSERT(entries[i].index() == last_index() + 1);
      entries_.push_back(Location{entries[i].term(), sequence, frames[i].first, frames[i].second});
      cache_.push_back(entries[i]);
      cache_bytes_ += EncodedSize(entries[i]);
    }
    active.max_index = std::max(active.max_index, entries.back().index());
    while (cache_bytes_ > options_.cache_bytes && cache_.size() > 1) {
      cache_bytes_ -= EncodedSize(cache_.front());
      cache_.pop_front();
    }
  }
  if (hard_state) hard_state_ = *hard_state;
  return absl::OkStatus();
}

void Wal::TruncateCacheAfter(Index index) {
  while (!cache_.empty() && cache_.back().index() > index) {
    cache_bytes_ -= EncodedSize(cache_.back());
    cache_.pop_back();
  }
}

std::optional<Term> Wal::TermAt(Index index) const {
  if (index == base_index_) return base_term_;
  if (index < base_index_ || index > last_index()) return std::nullopt;
  return entries_[index - base_index_ - 1].term;
}

void Wal::Terms(Index lo, Index hi, Term* out) const {
  KEEL_ASSERT(lo >= base_index_ && hi <= last_index() + 1);
  for (Index index = lo; index < hi; ++index) {
    out[index - lo] = index == base_index_ ? base_term_ : entries_[index - base_index_ - 1].term;
  }
}

absl::StatusOr<File*> Wal::SegmentFile(uint64_t sequence) {
  Segment& segment = segments_.at(sequence);
  if (!segment.file) {
    absl::StatusOr<std::unique_ptr<File>> file = fs_.Open(segment.path, FileSystem::OpenMode::kOpenExisting);
    if (!file.ok()) return file.status();
    segment.file = std::move(*file);
  }
  return segment.file.get();
}

absl::Status Wal::ReadEntries(Index lo, Index hi, uint64_t max_bytes, std::vector<Entry>* out) {
  KEEL_ASSERT(lo > base_index_ && lo < hi && hi <= last_index() + 1);
  const Index cache_first = cache_.empty() ? last_index() + 1 : cache_.front().index();
  uint64_t bytes = 0;
  for (Index index = lo; index < hi; ++index) {
    if (index >= cache_first) {
      const Entry& entry = cache_[index - cache_first];
      bytes += entry.data().size() + 24;
      if (index > lo && bytes > max_bytes) break;
      out->push_back(entry);
      continue;
    }
    const Location& location = entries_[index - base_index_ - 1];
    const std::string where = absl::StrCat("wal segment ", segments_.at(location.segment).path,
                                           " offset ", location.offset);
    absl::StatusOr<File*> file = SegmentFile(location.segment);
    if (!file.ok()) return file.status();
    raftpb::Entry entry;
    bool ok = false;
    std::string reason;
    // A read that fails verification is retried once: a transient read error heals, damage at
    // rest does not.
    for (int attempt = 0; attempt < 2 && !ok; ++attempt) {
      absl::StatusOr<std::string> frame = (*file)->Read(location.offset, location.frame_bytes);
      if (!frame.ok()) return frame.status();
      wal::ParsedRecord record;
      const wal::ParseStatus status = wal::ParseRecord(*frame, &record);
      if (status != wal::ParseStatus::kOk) {
        reason = wal::ToString(status);
      } else if (record.type != wal::RecordType::kEntry || !entry.ParseFromString(std::string(record.payload))) {
        reason = "not an entry record";
      } else if (entry.index() != index || entry.term() != location.term) {
        reason = absl::StrCat("holds entry ", entry.index(), "/", entry.term(), ", expected ", index,
                              "/", location.term);
      } else {
        ok = true;
      }
    }
    if (!ok) return absl::DataLossError(absl::StrCat(where, ": ", reason));
    bytes += entry.data().size() + 24;
    if (index > lo && bytes > max_bytes) break;
    out->push_back(FromProto(std::move(entry)));
  }
  return absl::OkStatus();
}

absl::Status Wal::CompactTo(Index index, Term term) {
  if (!poisoned_.ok()) return poisoned_;
  if (index > base_index_) {
    if (index > last_index()) {
      entries_.clear();
    } else {
      entries_.erase(entries_.begin(), entries_.begin() + (index - base_index_));
    }
    base_index_ = index;
    base_term_ = term;
    while (!cache_.empty() && cache_.front().index() <= index) {
      cache_bytes_ -= EncodedSize(cache_.front());
      cache_.pop_front();
    }
  }
  // Also after a log reset to `index` (base already there): the segments it voided can go.
  bool removed = false;
  while (segments_.size() > 1 && segments_.begin()->second.max_index <= index) {
    const std::string path = segments_.begin()->second.path;
    segments_.erase(segments_.begin());
    if (absl::Status status = fs_.Remove(path); !status.ok()) return status;
    removed = true;
  }
  if (removed) return fs_.SyncDir(dir_);
  return absl::OkStatus();
}

void Wal::AdoptLastTerm() {
  // A torn batch may keep entries whose term is above the durable one (its hard state came
  // last and was lost). Nothing of that batch was acknowledged; adopting the entries' term
  // without a vote is what a node may always do, and keeps terms in the log <= the current one.
  const Term last_term = *TermAt(last_index());
  if (last_term > hard_state_.term()) {
    hard_state_.set_term(last_term);
    hard_state_.set_vote(0);
  }
}

absl::Status Wal::ReconcileWithSnapshot(Index index, Term term) {
  absl::Status status = ReconcileBase(index, term);
  // A received snapshot is saved before its batch's hard state; a crash between them leaves a
  // log based on a term the hard state has not reached yet.
  if (status.ok()) AdoptLastTerm();
  return status;
}

absl::Status Wal::ReconcileBase(Index index, Term term) {
  if (!base_known_ || (entries_.empty() && base_term_ == 0 && base_index_ == 0)) {
    // Nothing but (possibly) hard state was recovered: the log is the snapshot.
    entries_.clear();
    base_index_ = index;
    base_term_ = term;
    base_known_ = true;
    return absl::OkStatus();
  }
  if (base_index_ > index) {
    return absl::DataLossError(absl::StrCat("wal ", dir_, ": log starts after index ", base_index_,
                                            " but the newest snapshot ends at ", index,
                                            ": entries ", index + 1, "..", base_index_, " are missing"));
  }
  const std::optional<Term> term_there = TermAt(index);
  if (index > last_index() || (term_there.has_value() && *term_there != term && index > base_index_)) {
    // The log does not contain the snapshot: it is replaced whole (rule 7). This happens when
    // a crash fell between saving a received snapshot and logging its reset; log the reset
    // now, or entries appended after this restart would replay behind the stale ones.
    walpb::LogReset reset;
    reset.set_index(index);
    reset.set_term(term);
    base_known_ = true;
    return Write(reset, {}, nullptr);
  } else if (index == base_index_ && base_term_ != 0 && base_term_ != term) {
    return absl::DataLossError(absl::StrCat("wal ", dir_, ": log reset to ", base_index_, "/",
                                            base_term_, " disagrees with snapshot ", index, "/", term));
  } else {
    entries_.erase(entries_.begin(), entries_.begin() + (index - base_index_));  // rule 6
  }
  base_index_ = index;
  base_term_ = term;
  TruncateCacheAfter(last_index());
  return absl::OkStatus();
}

}  // namespace keel
