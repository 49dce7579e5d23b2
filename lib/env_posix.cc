// Floor 2: Env::posix(), the operating system behind the Env interface (env.h).
//
// The only file in samsa that calls open/pread/pwrite/fsync directly (house rule 4).
// Every error comes from Status::from_errno and names the system call, the path and, for
// reads and writes, the byte position where it failed.
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <limits>
#include <mutex>
#include <set>
#include <utility>

#include "samsa/env.h"

namespace samsa {
namespace {

// off_t is signed: offsets and ends of ranges past this cannot be passed to the kernel.
constexpr std::uint64_t kOffsetMax = std::numeric_limits<off_t>::max();

// Retries a system call interrupted by a signal before it did anything. The loop ends
// when the call returns anything but (-1, EINTR); a signal storm is the only way to spin.
template <typename F>
auto retry_eintr(F call) {
  for (;;) {
    auto rc = call();
    if (rc == -1 && errno == EINTR) continue;
    return rc;
  }
}

Status check_range(std::string_view op, const std::string& path, std::uint64_t offset,
                   std::uint64_t length) {
  if (offset <= kOffsetMax && length <= kOffsetMax - offset) return Status();
  return Status::invalid_argument(fmt::format(
      "{} {} at {} ({} bytes): past the largest file offset", op, path, offset, length));
}

class PosixFile final : public File {
 public:
  PosixFile(std::string path, int fd, bool read_only, std::uint64_t size)
      : path_(std::move(path)), fd_(fd), read_only_(read_only), size_(size) {}
  ~PosixFile() override {
    if (fd_ >= 0) ::close(fd_);
  }

  const std::string& path() const override { return path_; }
  Result<std::size_t> read_at(std::uint64_t offset, MutableByteSpan dst) const override;
  Status write_at(std::uint64_t offset, ByteSpan data) override;
  Status append(ByteSpan data) override;
  Status sync() override;
  Status allocate(std::uint64_t offset, std::uint64_t length, bool keep_size) override;
  Status truncate(std::uint64_t size) override;
  Result<std::uint64_t> size() const override;
  Status close() override;
  int native_handle() const override { return fd_; }

 private:
  Status check_open(std::string_view op) const;
  Status check_writable(std::string_view op) const;
  Status grow_to(std::uint64_t end);
  // Records that the file now reaches at least `end` (bytes were written or reserved).
  void note_end(std::uint64_t end);

  const std::string path_;
  int fd_;  // -1 once closed
  const bool read_only_;
  // What size() reports and where append() writes: tracked here, not asked of the kernel,
  // so that after a partial append it says exactly how much of it landed.
  std::atomic<std::uint64_t> size_;
};

Status PosixFile::check_open(std::string_view op) const {
  if (fd_ >= 0) return Status();
  return Status::failed_precondition(fmt::format("{} {}: the file is closed", op, path_));
}

Status PosixFile::check_writable(std::string_view op) const {
  SAMSA_TRY(check_open(op));
  if (!read_only_) return Status();
  return Status::failed_precondition(
      fmt::format("{} {}: the file was opened read_only", op, path_));
}

void PosixFile::note_end(std::uint64_t end) {
  std::uint64_t seen = size_.load();
  while (seen < end && !size_.compare_exchange_weak(seen, end)) {
  }
}

Result<std::size_t> PosixFile::read_at(std::uint64_t offset, MutableByteSpan dst) const {
  SAMSA_TRY(check_open("pread"));
  SAMSA_TRY(check_range("pread", path_, offset, dst.size()));
  std::size_t done = 0;
  // Each round reads at least one byte or ends the loop, so it runs at most dst.size() times.
  while (done < dst.size()) {
    const std::uint64_t at = offset + done;
    const ssize_t n = retry_eintr(
        [&] { return ::pread(fd_, dst.data() + done, dst.size() - done, static_cast<off_t>(at)); });
    if (n < 0) {
      return Status::from_errno(
          errno, fmt::format("pread {} at {} ({} bytes)", path_, at, dst.size() - done));
    }
    if (n == 0) break;  // end of file
    done += static_cast<std::size_t>(n);
  }
  return done;
}

Status PosixFile::write_at(std::uint64_t offset, ByteSpan data) {
  SAMSA_TRY(check_writable("pwrite"));
  SAMSA_TRY(check_range("pwrite", path_, offset, data.size()));
  std::size_t done = 0;
  while (done < data.size()) {
    const std::uint64_t at = offset + done;
    const ssize_t n = retry_eintr([&] {
      return ::pwrite(fd_, data.data() + done, data.size() - done, static_cast<off_t>(at));
    });
    // pwrite returning 0 for a non-empty buffer would loop forever; the kernel does not do
    // it for regular files, so treat it as the I/O error it would be.
    const int err = n < 0 ? errno : EIO;
    if (n <= 0) {
      return Status::from_errno(
          err, fmt::format("pwrite {} at {} ({} bytes)", path_, at, data.size() - done));
    }
    done += static_cast<std::size_t>(n);
    note_end(offset + done);
  }
  return Status();
}

Status PosixFile::append(ByteSpan data) {
  return write_at(size_.load(), data);
}

Status PosixFile::sync() {
  SAMSA_TRY(check_open("fdatasync"));
  if (retry_eintr([&] { return ::fdatasync(fd_); }) == 0) return Status();
  return Status::from_errno(errno, fmt::format("fdatasync {}", path_));
}

Status PosixFile::grow_to(std::uint64_t end) {
  struct stat st {};
  if (::fstat(fd_, &st) != 0) return Status::from_errno(errno, fmt::format("fstat {}", path_));
  if (static_cast<std::uint64_t>(st.st_size) < end &&
      retry_eintr([&] { return ::ftruncate(fd_, static_cast<off_t>(end)); }) != 0) {
    return Status::from_errno(errno, fmt::format("ftruncate {} to {}", path_, end));
  }
  note_end(end);
  return Status();
}

Status PosixFile::allocate(std::uint64_t offset, std::uint64_t length, bool keep_size) {
  SAMSA_TRY(check_writable("fallocate"));
  SAMSA_TRY(check_range("fallocate", path_, offset, length));
  if (length == 0) return Status();  // fallocate(2) calls an empty range EINVAL
  const int mode = keep_size ? FALLOC_FL_KEEP_SIZE : 0;
  const int rc = retry_eintr([&] {
    return ::fallocate(fd_, mode, static_cast<off_t>(offset), static_cast<off_t>(length));
  });
  if (rc == 0) {
    if (!keep_size) note_end(offset + length);
    return Status();
  }
  const int err = errno;
  if (err != EOPNOTSUPP) {
    return Status::from_errno(err,
                              fmt::format("fallocate {} at {} ({} bytes)", path_, offset, length));
  }
  // The filesystem cannot reserve space (some FUSE and network filesystems). Reserving is
  // only an optimisation; what callers rely on is the size rule, which ftruncate keeps.
  if (keep_size) return Status();
  return grow_to(offset + length);
}

Status PosixFile::truncate(std::uint64_t size) {
  SAMSA_TRY(check_writable("ftruncate"));
  SAMSA_TRY(check_range("ftruncate", path_, size, 0));
  if (retry_eintr([&] { return ::ftruncate(fd_, static_cast<off_t>(size)); }) != 0) {
    return Status::from_errno(errno, fmt::format("ftruncate {} to {}", path_, size));
  }
  size_.store(size);
  return Status();
}

Result<std::uint64_t> PosixFile::size() const {
  SAMSA_TRY(check_open("size"));
  return size_.load();
}

Status PosixFile::close() {
  if (fd_ < 0) return Status();
  const int rc = ::close(fd_);
  const int err = errno;
  fd_ = -1;
  // On Linux the descriptor is gone even when close is interrupted; retrying could close
  // a descriptor another thread just opened.
  if (rc == 0 || err == EINTR) return Status();
  return Status::from_errno(err, fmt::format("close {}", path_));
}

// The files this process holds locks on, by (device, inode). flock(2) already refuses a
// second lock from another open file description in the same process, but where flock is
// emulated with per-process fcntl locks (NFS) it would not; this set keeps the promise
// that a second lock() in the same process is busy everywhere.
class LockedFiles {
 public:
  using Id = std::pair<dev_t, ino_t>;
  bool try_add(Id id) {
    std::lock_guard<std::mutex> guard(mu_);
    return ids_.insert(id).second;
  }
  void release(Id id) {
    std::lock_guard<std::mutex> guard(mu_);
    ids_.erase(id);
  }

 private:
  std::mutex mu_;
  std::set<Id> ids_;
};

class PosixFileLock final : public FileLock {
 public:
  PosixFileLock(std::string path, int fd, LockedFiles* locked, LockedFiles::Id id)
      : path_(std::move(path)), fd_(fd), locked_(locked), id_(id) {}
  ~PosixFileLock() override {
    ::close(fd_);  // releases the flock
    locked_->release(id_);
  }
  const std::string& path() const override { return path_; }

 private:
  const std::string path_;
  const int fd_;
  LockedFiles* const locked_;  // Env::posix()'s, never destroyed
  const LockedFiles::Id id_;
};

Status busy_lock(const std::string& path) {
  return Status::busy(fmt::format("lock {}: another process or Log holds it", path));
}

class PosixEnv final : public Env {
 public:
  Result<std::unique_ptr<File>> open(const std::string& path, OpenOptions options) override;
  Status rename(const std::string& from, const std::string& to) override;
  Status remove(const std::string& path) override;
  Status create_dirs(const std::string& path) override;
  Status remove_dir(const std::string& path) override;
  Result<std::vector<std::string>> list_dir(const std::string& dir) override;
  Status sync_dir(const std::string& dir) override;
  Result<bool> exists(const std::string& path) override;
  Result<std::uint64_t> file_size(const std::string& path) override;
  Result<std::unique_ptr<FileLock>> lock(const std::string& path) override;

 private:
  LockedFiles locked_;
};

int open_flags(OpenOptions options) {
  int flags = O_CLOEXEC | (options.read_only ? O_RDONLY : O_RDWR);
  if (options.create) flags |= O_CREAT;
  if (options.create && options.exclusive) flags |= O_EXCL;
  if (options.truncate) flags |= O_TRUNC;
  return flags;
}

Result<std::unique_ptr<File>> PosixEnv::open(const std::string& path, OpenOptions options) {
  if (options.truncate && options.read_only) {
    return Status::invalid_argument(
        fmt::format("open {}: truncate needs a writable file, not read_only", path));
  }
  const int fd = retry_eintr([&] { return ::open(path.c_str(), open_flags(options), 0644); });
  if (fd < 0) return Status::from_errno(errno, fmt::format("open {}", path));
  struct stat st {};
  int err = ::fstat(fd, &st) != 0 ? errno : 0;
  // A read_only open of a directory succeeds; reads from it would fail later and less
  // clearly.
  if (err == 0 && S_ISDIR(st.st_mode)) err = EISDIR;
  if (err != 0) {
    ::close(fd);
    return Status::from_errno(err, fmt::format("open {}", path));
  }
  return std::unique_ptr<File>(std::make_unique<PosixFile>(path, fd, options.read_only,
                                                           static_cast<std::uint64_t>(st.st_size)));
}

Status PosixEnv::rename(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) == 0) return Status();
  return Status::from_errno(errno, fmt::format("rename {} to {}", from, to));
}

Status PosixEnv::remove(const std::string& path) {
  if (::unlink(path.c_str()) == 0) return Status();
  return Status::from_errno(errno, fmt::format("unlink {}", path));
}

bool is_dir(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

Status PosixEnv::create_dirs(const std::string& path) {
  if (path.empty()) return Status::invalid_argument("create_dirs: empty path");
  // One mkdir per prefix that ends before a '/', then the whole path: bounded by its length.
  for (std::size_t end = 1; end <= path.size(); ++end) {
    if (end < path.size() && path[end] != '/') continue;
    const std::string prefix = path.substr(0, end);
    if (::mkdir(prefix.c_str(), 0755) == 0) continue;
    int err = errno;
    if (err == EEXIST && is_dir(prefix)) continue;
    if (err == EEXIST) err = ENOTDIR;  // a file is in the way
    return Status::from_errno(err, fmt::format("mkdir {} (creating {})", prefix, path));
  }
  return Status();
}

Status PosixEnv::remove_dir(const std::string& path) {
  if (::rmdir(path.c_str()) == 0) return Status();
  return Status::from_errno(errno, fmt::format("rmdir {}", path));
}

Result<std::vector<std::string>> PosixEnv::list_dir(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return Status::from_errno(errno, fmt::format("opendir {}", dir));
  std::vector<std::string> names;
  // readdir returns each entry once, then nullptr: the loop ends.
  for (;;) {
    errno = 0;
    const dirent* entry = ::readdir(d);
    if (entry == nullptr) break;
    const std::string_view name = entry->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
  const int err = errno;
  ::closedir(d);
  if (err != 0) return Status::from_errno(err, fmt::format("readdir {}", dir));
  std::sort(names.begin(), names.end());
  return names;
}

Status PosixEnv::sync_dir(const std::string& dir) {
  const int fd =
      retry_eintr([&] { return ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); });
  if (fd < 0) return Status::from_errno(errno, fmt::format("open directory {}", dir));
  const int rc = retry_eintr([&] { return ::fsync(fd); });
  const int err = errno;
  ::close(fd);
  if (rc == 0) return Status();
  return Status::from_errno(err, fmt::format("fsync directory {}", dir));
}

Result<bool> PosixEnv::exists(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) return true;
  if (errno == ENOENT || errno == ENOTDIR) return false;
  return Status::from_errno(errno, fmt::format("stat {}", path));
}

Result<std::uint64_t> PosixEnv::file_size(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return Status::from_errno(errno, fmt::format("stat {}", path));
  return static_cast<std::uint64_t>(st.st_size);
}

Result<std::unique_ptr<FileLock>> PosixEnv::lock(const std::string& path) {
  const int fd =
      retry_eintr([&] { return ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644); });
  if (fd < 0) return Status::from_errno(errno, fmt::format("open lock file {}", path));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return Status::from_errno(err, fmt::format("fstat lock file {}", path));
  }
  const LockedFiles::Id id{st.st_dev, st.st_ino};
  if (!locked_.try_add(id)) {
    ::close(fd);
    return busy_lock(path);
  }
  if (retry_eintr([&] { return ::flock(fd, LOCK_EX | LOCK_NB); }) != 0) {
    const int err = errno;
    ::close(fd);
    locked_.release(id);
    if (err == EWOULDBLOCK) return busy_lock(path);
    return Status::from_errno(err, fmt::format("flock {}", path));
  }
  return std::unique_ptr<FileLock>(std::make_unique<PosixFileLock>(path, fd, &locked_, id));
}

}  // namespace

Env& Env::posix() {
  // Leaked on purpose: locks and files may outlive static destruction order.
  static Env* const env = new PosixEnv();
  return *env;
}

}  // namespace samsa
