#include "net/posix_filesystem.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace keel {
namespace {

absl::Status ErrnoError(absl::string_view what, const std::string& path, int error) {
  const std::string message = absl::StrCat(path, ": ", what, ": ", std::strerror(error));
  switch (error) {
    case ENOENT: return absl::NotFoundError(message);
    case EEXIST: return absl::AlreadyExistsError(message);
    case ENOSPC:
    case EDQUOT: return absl::ResourceExhaustedError(message);
    case EIO: return absl::DataLossError(message);
    default: return absl::InternalError(message);
  }
}

int64_t MonotonicNanos() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec;
}

class PosixFile final : public File {
 public:
  PosixFile(int fd, std::string path, uint64_t size, const PosixFileSystem::SyncObserver* observer)
      : fd_(fd), path_(std::move(path)), size_(size), allocated_(size), observer_(observer) {}
  ~PosixFile() override { ::close(fd_); }

  absl::Status Append(absl::string_view data) override {
    if (!failed_.ok()) return failed_;
    if (preallocation_ > 0 && size_ + data.size() > allocated_) {
      Preallocate(size_ + data.size() + preallocation_);
      if (!failed_.ok()) return failed_;
    }
    if (absl::Status status = WriteAt(size_, data); !status.ok()) return status;
    size_ += data.size();
    allocated_ = std::max(allocated_, size_);
    return absl::OkStatus();
  }

  void set_preallocation(uint64_t bytes) override { preallocation_ = bytes; }

  absl::StatusOr<std::string> Read(uint64_t offset, size_t length) override {
    // The file ends at size_ for this handle, whatever zeros are preallocated past it.
    length = offset >= size_ ? 0 : static_cast<size_t>(std::min<uint64_t>(length, size_ - offset));
    std::string out(length, '\0');
    size_t done = 0;
    while (done < length) {
      const ssize_t n = ::pread(fd_, out.data() + done, length - done, static_cast<off_t>(offset + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoError("read", path_, errno);
      }
      if (n == 0) break;
      done += static_cast<size_t>(n);
    }
    out.resize(done);
    return out;
  }

  absl::Status Sync() override {
    if (!failed_.ok()) return failed_;
    const int64_t start = MonotonicNanos();
    if (::fdatasync(fd_) != 0) {
      // After a failed fsync the kernel may have dropped the dirty pages and a retry can
      // "succeed" without writing them: never trust this file again.
      failed_ = ErrnoError("fdatasync (file now unusable)", path_, errno);
      return failed_;
    }
    if (*observer_) (*observer_)(MonotonicNanos() - start);
    return absl::OkStatus();
  }

  absl::Status Truncate(uint64_t size) override {
    if (!failed_.ok()) return failed_;
    if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) return ErrnoError("ftruncate", path_, errno);
    size_ = std::min(size_, size);
    allocated_ = size;  // the preallocated zeros past `size` are gone too
    return absl::OkStatus();
  }

  uint64_t Size() const override { return size_; }

 private:
  absl::Status WriteAt(uint64_t offset, absl::string_view data) {
    size_t written = 0;
    while (written < data.size()) {
      const ssize_t n = ::pwrite(fd_, data.data() + written, data.size() - written,
                                 static_cast<off_t>(offset + written));
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoError("write", path_, errno);
      }
      written += static_cast<size_t>(n);
    }
    return absl::OkStatus();
  }

  // Writes zeros from the allocated end up to `end` (rounded up to 64 KiB). Written, not
  // fallocate()d: ext4 keeps fallocated blocks "unwritten", and the first write into them is a
  // metadata change that fdatasync must journal (fsyncbench with prealloc=1 is no faster).
  // Best effort: on failure (ENOSPC) the zeros are cut off again and appends carry on without.
  void Preallocate(uint64_t end) {
    end = (end + 0xFFFF) & ~uint64_t{0xFFFF};
    static const std::string kZeros(64 << 10, '\0');
    for (uint64_t at = allocated_; at < end; at += kZeros.size()) {
      const uint64_t n = std::min<uint64_t>(kZeros.size(), end - at);
      if (!WriteAt(at, absl::string_view(kZeros).substr(0, n)).ok()) {
        if (::ftruncate(fd_, static_cast<off_t>(std::max(allocated_, size_))) != 0) {
          failed_ = ErrnoError("ftruncate after a failed preallocation (file now unusable)", path_, errno);
        }
        preallocation_ = 0;  // the disk is full: stop trying for this file
        return;
      }
    }
    allocated_ = end;
  }

  int fd_;
  std::string path_;
  uint64_t size_;       // the logical end: where the next append goes
  uint64_t allocated_ = 0;  // bytes in the file (>= size_ once anything was appended)
  uint64_t preallocation_ = 0;
  const PosixFileSystem::SyncObserver* observer_;  // the file system's; outlives its files
  absl::Status failed_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<File>> PosixFileSystem::Open(const std::string& path, OpenMode mode) {
  int flags = O_RDWR | O_CLOEXEC;
  switch (mode) {
    case OpenMode::kCreateNew: flags |= O_CREAT | O_EXCL; break;
    case OpenMode::kOpenExisting: break;
    case OpenMode::kTruncate: flags |= O_CREAT | O_TRUNC; break;
  }
  const int fd = ::open(path.c_str(), flags, 0644);
  if (fd < 0) return ErrnoError("open", path, errno);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int error = errno;
    ::close(fd);
    return ErrnoError("fstat", path, error);
  }
  return std::unique_ptr<File>(new PosixFile(fd, path, static_cast<uint64_t>(st.st_size), &sync_observer_));
}

absl::Status PosixFileSystem::Rename(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) return ErrnoError("rename", from, errno);
  return absl::OkStatus();
}

absl::Status PosixFileSystem::Remove(const std::string& path) {
  if (::unlink(path.c_str()) != 0) return ErrnoError("unlink", path, errno);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> PosixFileSystem::List(const std::string& dir) {
  DIR* handle = ::opendir(dir.c_str());
  if (handle == nullptr) return ErrnoError("opendir", dir, errno);
  std::vector<std::string> names;
  while (struct dirent* entry = ::readdir(handle)) {
    const std::string name = entry->d_name;
    if (name == "." || name == "..") continue;
    // Files only, as FileSystem::List promises (and the simulated filesystem does).
    struct stat st;
    if (::stat(JoinPath(dir, name).c_str(), &st) == 0 && S_ISDIR(st.st_mode)) continue;
    names.push_back(name);
  }
  ::closedir(handle);
  std::sort(names.begin(), names.end());
  return names;
}

absl::Status PosixFileSystem::MakeDirs(const std::string& dir) {
  std::string current;
  size_t start = 0;
  while (start <= dir.size()) {
    const size_t slash = dir.find('/', start);
    current = dir.substr(0, slash == std::string::npos ? dir.size() : slash);
    if (!current.empty() && ::mkdir(current.c_str(), 0755) != 0 && errno != EEXIST) {
      return ErrnoError("mkdir", current, errno);
    }
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return absl::OkStatus();
}

absl::Status PosixFileSystem::SyncDir(const std::string& dir) {
  const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("open directory", dir, errno);
  const int result = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  if (result != 0) return ErrnoError("fsync directory", dir, error);
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> PosixFileSystem::FreeSpace(const std::string& dir) {
  struct statvfs st;
  if (::statvfs(dir.c_str(), &st) != 0) return ErrnoError("statvfs", dir, errno);
  return static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
}

}  // namespace keel
