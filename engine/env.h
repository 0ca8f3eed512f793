// The environment the replica runs in: a clock, a transport and a filesystem. Production
// implements them with std::chrono::steady_clock, ZeroMQ and POSIX (net/); the simulator with
// virtual time, a simulated network and a simulated disk. The Raft core itself uses none of
// them: only the replica (engine/replica.h) and durable storage (engine/storage/) do.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/message.h"
#include "engine/raft.pb.h"
#include "engine/types.h"

namespace keel {

// Monotonic time in nanoseconds since an arbitrary origin.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t NowNanos() const = 0;
};

// Best-effort, unordered, lossy delivery of Raft messages to peers (Raft tolerates all three).
// Delivery to this node comes back through Replica::OnMessage, called by the event loop.
class Transport {
 public:
  virtual ~Transport() = default;
  // Queues `message` for message.header.to(). Never blocks; may drop. The replica hands over
  // its Ready's messages (whose entries share their payloads with the log); an rvalue
  // reference, so that each layer moves the message once, where it keeps it.
  virtual void Send(Message&& message) = 0;
};

// An open file. Offsets are bytes from the start. Not thread-safe.
class File {
 public:
  virtual ~File() = default;
  // Appends at the end. The bytes are durable only after a successful Sync().
  virtual absl::Status Append(absl::string_view data) = 0;
  // Reads up to `length` bytes at `offset` (fewer at end of file).
  virtual absl::StatusOr<std::string> Read(uint64_t offset, size_t length) = 0;
  // Makes every appended byte durable (fdatasync). After a failed Sync the state of the file
  // on disk is unknown: callers must stop using it and fail the node (PostgreSQL's fsyncgate).
  virtual absl::Status Sync() = 0;
  // Shrinks the file to `size` bytes (durable after Sync()).
  virtual absl::Status Truncate(uint64_t size) = 0;
  virtual uint64_t Size() const = 0;
  // A hint for files appended to in small synced batches (WAL segments): keep up to about
  // `bytes` of zero-filled, allocated space past the end, so that an append into it followed
  // by Sync() changes no file metadata (on ext4 fdatasync then skips its journal commit:
  // 0.5 vs 1.2 ms per fsync with three writers on one disk, measured here). The zeros are real
  // file contents: a crash may leave any part of them after the last synced byte, and a file
  // reopened later reports them in Size(). 0 (the default) turns it off.
  virtual void set_preallocation(uint64_t bytes) { (void)bytes; }
};

class FileSystem {
 public:
  enum class OpenMode {
    kCreateNew,     // fail with kAlreadyExists if it exists
    kOpenExisting,  // fail with kNotFound if it does not exist
    kTruncate,      // create or empty
  };
  virtual ~FileSystem() = default;
  virtual absl::StatusOr<std::unique_ptr<File>> Open(const std::string& path, OpenMode mode) = 0;
  // Atomically replaces `to` with `from` (durable after SyncDir of the directory).
  virtual absl::Status Rename(const std::string& from, const std::string& to) = 0;
  virtual absl::Status Remove(const std::string& path) = 0;
  // File names (not paths) in `dir`, sorted.
  virtual absl::StatusOr<std::vector<std::string>> List(const std::string& dir) = 0;
  // Creates `dir` (and parents) if missing.
  virtual absl::Status MakeDirs(const std::string& dir) = 0;
  // Makes creations, renames and removals in `dir` durable.
  virtual absl::Status SyncDir(const std::string& dir) = 0;
  virtual absl::StatusOr<uint64_t> FreeSpace(const std::string& dir) = 0;
};

// "dir/name" without doubling the separator.
std::string JoinPath(absl::string_view dir, absl::string_view name);

}  // namespace keel
