// Floor 2: FaultyEnv, an in-memory Env for tests that knows what is durable.
//
// Every file keeps two images: what reads see, and what survived the last sync(). Every
// directory keeps two name tables: what list_dir() sees, and what survived the last
// sync_dir(). A simulated power cut throws away what was not synced, optionally keeping a
// torn part of the unsynced writes, and invalidates every open handle and lock (the process
// "died"). Chosen operations can fail with EIO or ENOSPC, or write short. Everything that
// is random comes from the seed, so a failing seed reproduces exactly.
//
// Thread-safety: every method is thread-safe (one internal mutex).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "samsa/env.h"

namespace samsa {

// Operations whose Nth occurrence can be made to fail.
enum class FaultOp : std::uint8_t {
  write,     // File::write_at and File::append
  sync,      // File::sync
  sync_dir,  // Env::sync_dir
  rename,    // Env::rename
};

// What a simulated power cut keeps of the writes made since each file's last sync.
enum class PowerCutMode : std::uint8_t {
  // Nothing unsynced survives.
  drop_unsynced,
  // Every unsynced write survives but the last one, which is cut at a random byte.
  tear_last_write,
  // A random number of the unsynced writes survive, in order; the last one kept is cut at
  // a random byte.
  random_prefix,
};

class FaultyEnv final : public Env {
 public:
  explicit FaultyEnv(std::uint64_t seed);
  ~FaultyEnv() override;

  std::uint64_t seed() const;

  // --- Env
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

  // --- faults
  // The nth operation of kind `op` from now (n = 1: the next one) fails with `err` (EIO or
  // ENOSPC) and changes nothing.
  void fail_nth(FaultOp op, std::uint64_t n, int err);

  // The nth write from now writes only its first `bytes_written` bytes (a random count
  // smaller than the write when not given) and then fails with `err`.
  void short_write_nth(std::uint64_t n, std::optional<std::size_t> bytes_written = std::nullopt,
                       int err = 28 /* ENOSPC */);

  // Every operation of kind `op` fails with `err` from now until clear_faults().
  void fail_always(FaultOp op, int err);

  // Forgets every pending fault.
  void clear_faults();

  // How many operations of kind `op` were attempted since construction.
  std::uint64_t count(FaultOp op) const;

  // --- power loss
  // Simulates a power cut and a restart: unsynced data and directory changes are lost
  // according to `mode`, every open File and FileLock from before stops working (their
  // calls fail with io_error), and pending faults are cleared.
  void power_cut(PowerCutMode mode);

  // The size of `path`'s durable image: what a power cut in drop_unsynced mode would keep.
  // not_found when the name itself is not durable.
  Result<std::uint64_t> synced_size(const std::string& path) const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace samsa
