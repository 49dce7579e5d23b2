// Floor 2: every file and directory operation samsa does goes through an Env.
//
// Env::posix() is the operating system; FaultyEnv (faulty_env.h) is an in-memory file
// system for tests that loses unsynced writes at a simulated power cut and fails chosen
// operations. Nothing above floor 2 calls open/write/fsync directly (house rule 4).
//
// Paths are plain strings joined with '/'. Errors name the operation, the path and, for
// reads and writes, the byte position, e.g. "pwrite /d/00000000000000000000.log at 4096
// (512 bytes): No space left on device".
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "samsa/coding.h"
#include "samsa/status.h"

namespace samsa {

struct OpenOptions {
  bool create = false;     // create the file when it is missing
  bool exclusive = false;  // with create: fail with already_exists when it exists
  bool truncate = false;   // cut an existing file to 0 bytes
  bool read_only = false;  // no write, append, allocate or truncate through this handle
};

// An open file.
//
// Thread-safety: read_at() may run concurrently with other read_at() calls and with one
// thread writing (pread/pwrite semantics; a reader may see a partly written range, so the
// caller publishes what is complete). All other calls need external synchronization.
class File {
 public:
  virtual ~File() = default;
  File() = default;
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  virtual const std::string& path() const = 0;

  // Reads up to dst.size() bytes at `offset`; returns how many were read, fewer only at end
  // of file.
  virtual Result<std::size_t> read_at(std::uint64_t offset, MutableByteSpan dst) const = 0;

  // Writes all of `data` at `offset`, growing the file if needed. On error a prefix of
  // `data` may have been written.
  virtual Status write_at(std::uint64_t offset, ByteSpan data) = 0;

  // Writes all of `data` at the end of the file (at size()). On error a prefix may have
  // been written; size() then tells how much.
  virtual Status append(ByteSpan data) = 0;

  // Makes everything written so far durable (fdatasync). After an error nothing written
  // since the last successful sync is known to be durable.
  virtual Status sync() = 0;

  // Reserves disk space for [offset, offset + length) (fallocate). With keep_size the
  // file's size does not change; without it the file grows to at least offset + length
  // and the new bytes read as zeros.
  virtual Status allocate(std::uint64_t offset, std::uint64_t length, bool keep_size) = 0;

  // Sets the file's size; bytes past it are gone, new bytes read as zeros.
  virtual Status truncate(std::uint64_t size) = 0;

  // The file's size in bytes as this handle knows it.
  virtual Result<std::uint64_t> size() const = 0;

  // Closes the handle; later calls fail. Idempotent. The destructor closes too, ignoring
  // errors (close() reports them).
  virtual Status close() = 0;

  // The OS file descriptor, for sendfile; -1 when the file is not an OS file.
  virtual int native_handle() const { return -1; }
};

// An advisory lock on a file, held until destroyed.
class FileLock {
 public:
  virtual ~FileLock() = default;
  virtual const std::string& path() const = 0;
};

// Thread-safety: every method is thread-safe.
class Env {
 public:
  virtual ~Env() = default;

  // The operating system. Never destroyed.
  static Env& posix();

  virtual Result<std::unique_ptr<File>> open(const std::string& path, OpenOptions options) = 0;

  // Atomically replaces `to` with `from` (rename(2)). Not durable until sync_dir() of
  // both parent directories.
  virtual Status rename(const std::string& from, const std::string& to) = 0;

  // Removes a file. Not durable until sync_dir() of its parent.
  virtual Status remove(const std::string& path) = 0;

  // Creates a directory and any missing parents (mkdir -p); ok if it exists.
  virtual Status create_dirs(const std::string& path) = 0;

  // Removes an empty directory.
  virtual Status remove_dir(const std::string& path) = 0;

  // Names of the entries in `dir` (no "." or ".."), sorted.
  virtual Result<std::vector<std::string>> list_dir(const std::string& dir) = 0;

  // Makes the directory's entries durable: created, renamed and removed names (fsync of
  // the directory).
  virtual Status sync_dir(const std::string& dir) = 0;

  virtual Result<bool> exists(const std::string& path) = 0;
  virtual Result<std::uint64_t> file_size(const std::string& path) = 0;

  // Takes an exclusive lock on `path`, creating the file if needed. Fails with busy when
  // the lock is held, by this process or another.
  virtual Result<std::unique_ptr<FileLock>> lock(const std::string& path) = 0;
};

// "dir/name", without doubling a '/'.
std::string join_path(std::string_view dir, std::string_view name);

// The directory part of a path ("a/b/c" -> "a/b", "c" -> ".").
std::string parent_dir(std::string_view path);

// Reads the whole file at `path` into a byte vector.
Result<std::vector<std::byte>> read_file(Env& env, const std::string& path);

// Writes `data` to `path` durably: write to path + ".tmp", sync, rename over `path`,
// sync the directory (the checkpoint protocol Kafka uses).
Status write_file_atomically(Env& env, const std::string& path, ByteSpan data);

}  // namespace samsa
