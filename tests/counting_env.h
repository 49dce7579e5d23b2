// A test Env that forwards to another and counts File::sync calls, optionally making each
// one slow (as a real disk's fdatasync is), so that concurrent appenders queue behind it, or
// holding one inside the call until the test lets it go (hold_next_sync).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "samsa/env.h"

namespace samsa::test {

class CountingEnv final : public Env {
 public:
  CountingEnv(Env& base, std::chrono::microseconds sync_delay) : base_(base), delay_(sync_delay) {}
  std::int64_t syncs() const { return syncs_.load(); }
  // Handles opened through this Env and not yet closed (or destroyed), in all and by the
  // file name's ending (".log").
  std::int64_t open_files() const { return open_files_.load(); }
  std::int64_t open_files_ending(std::string_view suffix) const {
    std::lock_guard lock(open_mu_);
    std::int64_t n = 0;
    for (const auto& [path, count] : open_paths_) {
      if (path.ends_with(suffix)) n += count;
    }
    return n;
  }

  // The next File::sync (from any thread) stops inside the call, before syncing, until
  // release_sync(); wait_sync_held() returns once it is there (false after `timeout`).
  void hold_next_sync() {
    std::lock_guard lock(gate_mu_);
    hold_armed_ = true;
    held_ = false;
    released_ = false;
  }
  bool wait_sync_held(std::chrono::milliseconds timeout) {
    std::unique_lock lock(gate_mu_);
    return gate_cv_.wait_for(lock, timeout, [&] { return held_; });
  }
  void release_sync() {
    std::lock_guard lock(gate_mu_);
    released_ = true;
    gate_cv_.notify_all();
  }

  Result<std::unique_ptr<File>> open(const std::string& path, OpenOptions options) override {
    SAMSA_TRY_ASSIGN(std::unique_ptr<File> file, base_.open(path, options));
    note_open(path, +1);
    return std::unique_ptr<File>(new CountingFile(std::move(file), *this));
  }
  Status rename(const std::string& a, const std::string& b) override { return base_.rename(a, b); }
  Status remove(const std::string& p) override { return base_.remove(p); }
  Status create_dirs(const std::string& p) override { return base_.create_dirs(p); }
  Status remove_dir(const std::string& p) override { return base_.remove_dir(p); }
  Result<std::vector<std::string>> list_dir(const std::string& d) override {
    return base_.list_dir(d);
  }
  Status sync_dir(const std::string& d) override { return base_.sync_dir(d); }
  Result<bool> exists(const std::string& p) override { return base_.exists(p); }
  Result<std::uint64_t> file_size(const std::string& p) override { return base_.file_size(p); }
  Result<std::unique_ptr<FileLock>> lock(const std::string& p) override { return base_.lock(p); }

 private:
  class CountingFile final : public File {
   public:
    CountingFile(std::unique_ptr<File> f, CountingEnv& env)
        : f_(std::move(f)), env_(env), opened_path_(f_->path()) {}
    ~CountingFile() override { (void)close(); }
    const std::string& path() const override { return f_->path(); }
    Result<std::size_t> read_at(std::uint64_t o, MutableByteSpan d) const override {
      return f_->read_at(o, d);
    }
    Status write_at(std::uint64_t o, ByteSpan d) override { return f_->write_at(o, d); }
    Status append(ByteSpan d) override { return f_->append(d); }
    Status sync() override {
      env_.maybe_hold();
      ++env_.syncs_;
      std::this_thread::sleep_for(env_.delay_);
      return f_->sync();
    }
    Status allocate(std::uint64_t o, std::uint64_t n, bool k) override {
      return f_->allocate(o, n, k);
    }
    Status truncate(std::uint64_t s) override { return f_->truncate(s); }
    Result<std::uint64_t> size() const override { return f_->size(); }
    Status close() override {
      if (!closed_) env_.note_open(opened_path_, -1);
      closed_ = true;
      return f_->close();
    }
    int native_handle() const override { return f_->native_handle(); }

   private:
    std::unique_ptr<File> f_;
    CountingEnv& env_;
    std::string opened_path_;  // renames do not move the count
    bool closed_ = false;
  };

  void note_open(const std::string& path, int delta) {
    open_files_ += delta;
    std::lock_guard lock(open_mu_);
    if ((open_paths_[path] += delta) == 0) open_paths_.erase(path);
  }

  void maybe_hold() {
    std::unique_lock lock(gate_mu_);
    if (!hold_armed_) return;
    hold_armed_ = false;
    held_ = true;
    gate_cv_.notify_all();
    gate_cv_.wait(lock, [&] { return released_; });
  }

  Env& base_;
  std::chrono::microseconds delay_;
  std::mutex gate_mu_;
  std::condition_variable gate_cv_;
  bool hold_armed_ = false;
  bool held_ = false;
  bool released_ = false;
  std::atomic<std::int64_t> syncs_{0};
  std::atomic<std::int64_t> open_files_{0};
  mutable std::mutex open_mu_;
  std::map<std::string, std::int64_t> open_paths_;
};

}  // namespace samsa::test
