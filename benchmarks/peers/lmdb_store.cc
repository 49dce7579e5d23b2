// samsa-bench peer: LMDB (Debian's liblmdb-dev) as an event log.
//
// The main database with MDB_INTEGERKEY: the key is the offset as a native size_t, the
// value u32 key length (little-endian), i64 timestamp (little-endian), key, value. Every
// record is put with MDB_APPEND (keys arrive in order, so LMDB fills pages sequentially
// without searching) in one write transaction per append batch. Map size 64 GiB (address
// space only; the file grows as data is written). No MDB_WRITEMAP: it writes through a
// writable mmap, which LMDB documents as faster but exposing the database to stray writes,
// so the default (write() of dirty pages) is kept.
//
// Durability, per lmdb.h (mdb_env_open flags):
//   none      MDB_NOSYNC | MDB_NOMETASYNC: commits never fsync.
//   interval  the same, plus mdb_env_sync(env, 1) after the first commit that comes
//             interval_ms or more after the previous sync (LMDB's documented way to bound
//             what MDB_NOSYNC can lose).
//   durable   the defaults: each commit fsyncs data and meta page before returning.
// offset_for_timestamp: not_supported (no time index). concurrent_appends: false (LMDB
// allows one write transaction at a time anyway).
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include <lmdb.h>

#include "peers/value_codec.h"
#include "store.h"

namespace samsa::bench {
namespace {

Status from_lmdb(int rc, std::string_view what) {
  std::string msg = "lmdb " + std::string(what) + ": " + mdb_strerror(rc);
  switch (rc) {
    case MDB_NOTFOUND:
      return Status::not_found(std::move(msg));
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
      return Status::corruption(std::move(msg));
    case MDB_MAP_FULL:
    case ENOSPC:
    case EDQUOT:
      return Status::no_space(std::move(msg));
    default:
      return Status::io_error(std::move(msg));
  }
}

std::string_view view(const MDB_val& v) {
  return {static_cast<const char*>(v.mv_data), v.mv_size};
}

constexpr std::size_t kMapSize = std::size_t{64} << 30;

class LMDBStore final : public Store {
 public:
  ~LMDBStore() override { (void)close(); }

  std::string name() const override { return "lmdb"; }

  std::string configuration() const override {
    std::string s = "LMDB " + std::to_string(MDB_VERSION_MAJOR) + "." +
                    std::to_string(MDB_VERSION_MINOR) + "." + std::to_string(MDB_VERSION_PATCH) +
                    ", MDB_INTEGERKEY with native 8-byte offset keys, MDB_APPEND puts, one "
                    "write transaction per append batch, 64 GiB map, no MDB_WRITEMAP";
    switch (durability_) {
      case Durability::none:
        s += ", MDB_NOSYNC | MDB_NOMETASYNC (commits never fsync).";
        break;
      case Durability::interval:
        s += ", MDB_NOSYNC | MDB_NOMETASYNC plus mdb_env_sync(force) after the first commit " +
             std::to_string(interval_ms_) + " ms or more after the previous sync.";
        break;
      case Durability::durable:
        s += ", default sync flags (each commit fsyncs before returning).";
        break;
    }
    return s;
  }

  Status open(const StoreOptions& options) override {
    durability_ = options.durability;
    interval_ms_ = options.interval_ms;
    int rc = mdb_env_create(&env_);
    if (rc != 0) return from_lmdb(rc, "env create");
    rc = mdb_env_set_mapsize(env_, kMapSize);
    if (rc != 0) return from_lmdb(rc, "set mapsize");
    unsigned flags = 0;
    if (durability_ != Durability::durable) flags |= MDB_NOSYNC | MDB_NOMETASYNC;
    rc = mdb_env_open(env_, options.dir.c_str(), flags, 0644);
    if (rc != 0) return from_lmdb(rc, "open " + options.dir);

    MDB_txn* txn = nullptr;
    rc = mdb_txn_begin(env_, nullptr, 0, &txn);
    if (rc != 0) return from_lmdb(rc, "begin");
    rc = mdb_dbi_open(txn, nullptr, MDB_INTEGERKEY | MDB_CREATE, &dbi_);
    if (rc != 0) {
      mdb_txn_abort(txn);
      return from_lmdb(rc, "dbi open");
    }
    // The directory is empty, but continue after existing records all the same.
    next_offset_ = 0;
    MDB_cursor* cur = nullptr;
    rc = mdb_cursor_open(txn, dbi_, &cur);
    if (rc == 0) {
      MDB_val k, v;
      rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
      if (rc == 0) {
        std::size_t last;
        std::memcpy(&last, k.mv_data, sizeof last);
        next_offset_ = static_cast<std::int64_t>(last) + 1;
      } else if (rc == MDB_NOTFOUND) {
        rc = 0;
      }
      mdb_cursor_close(cur);
    }
    if (rc != 0) {
      mdb_txn_abort(txn);
      return from_lmdb(rc, "seek to last");
    }
    rc = mdb_txn_commit(txn);
    if (rc != 0) return from_lmdb(rc, "commit");
    last_sync_ = std::chrono::steady_clock::now();
    return Status();
  }

  Status append(std::span<const Record> batch) override {
    if (env_ == nullptr) return Status::failed_precondition("lmdb: not open");
    MDB_txn* txn = nullptr;
    int rc = mdb_txn_begin(env_, nullptr, 0, &txn);
    if (rc != 0) return from_lmdb(rc, "begin");
    for (std::size_t i = 0; i < batch.size(); ++i) {
      auto offset = static_cast<std::size_t>(next_offset_) + i;
      encode_value(batch[i], scratch_);
      MDB_val k{sizeof offset, &offset};
      MDB_val v{scratch_.size(), scratch_.data()};
      rc = mdb_put(txn, dbi_, &k, &v, MDB_APPEND);
      if (rc != 0) {
        mdb_txn_abort(txn);
        return from_lmdb(rc, "put " + std::to_string(offset));
      }
    }
    rc = mdb_txn_commit(txn);
    if (rc != 0) return from_lmdb(rc, "commit");
    next_offset_ += static_cast<std::int64_t>(batch.size());
    if (durability_ == Durability::interval) {
      auto now = std::chrono::steady_clock::now();
      if (now - last_sync_ >= std::chrono::milliseconds(interval_ms_)) {
        rc = mdb_env_sync(env_, 1);
        if (rc != 0) return from_lmdb(rc, "sync");
        last_sync_ = now;
      }
    }
    return Status();
  }

  Result<std::int64_t> scan(
      const std::function<void(std::string_view key, std::string_view value)>& visit) override {
    if (env_ == nullptr) return Status::failed_precondition("lmdb: not open");
    MDB_txn* txn = nullptr;
    SAMSA_TRY(begin_read(&txn));
    MDB_cursor* cur = nullptr;
    int rc = mdb_cursor_open(txn, dbi_, &cur);
    if (rc != 0) {
      mdb_txn_reset(txn);
      return from_lmdb(rc, "cursor open");
    }
    std::int64_t n = 0;
    MDB_val k, v;
    Status result;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
      std::string_view key, value;
      if (!decode_value(view(v), key, value)) {
        result = Status::corruption("lmdb: malformed value at record " + std::to_string(n));
        break;
      }
      visit(key, value);
      ++n;
    }
    if (result.ok() && rc != MDB_NOTFOUND) result = from_lmdb(rc, "scan");
    mdb_cursor_close(cur);
    mdb_txn_reset(txn);
    if (!result.ok()) return result;
    return n;
  }

  Status get(std::int64_t offset, std::string& value) override {
    if (env_ == nullptr) return Status::failed_precondition("lmdb: not open");
    MDB_txn* txn = nullptr;
    SAMSA_TRY(begin_read(&txn));
    auto o = static_cast<std::size_t>(offset);
    MDB_val k{sizeof o, &o};
    MDB_val v;
    int rc = mdb_get(txn, dbi_, &k, &v);
    Status result;
    std::string_view key, val;
    if (rc != 0) {
      result = from_lmdb(rc, "get " + std::to_string(offset));
    } else if (!decode_value(view(v), key, val)) {
      result = Status::corruption("lmdb: malformed value at offset " + std::to_string(offset));
    } else {
      value.assign(val);
    }
    mdb_txn_reset(txn);
    return result;
  }

  Result<std::int64_t> offset_for_timestamp(std::int64_t) override {
    return Status::not_supported("lmdb store: no time index");
  }

  Status close() override {
    if (env_ == nullptr) return Status();
    Status result;
    if (read_txn_ != nullptr) {
      mdb_txn_abort(read_txn_);
      read_txn_ = nullptr;
    }
    if (durability_ == Durability::interval) {
      int rc = mdb_env_sync(env_, 1);
      if (rc != 0) result = from_lmdb(rc, "sync on close");
    }
    mdb_env_close(env_);  // also closes dbi_
    env_ = nullptr;
    return result;
  }

 private:
  // One read-only transaction, reset after each use and renewed for the next.
  Status begin_read(MDB_txn** txn) {
    int rc = read_txn_ == nullptr ? mdb_txn_begin(env_, nullptr, MDB_RDONLY, &read_txn_)
                                  : mdb_txn_renew(read_txn_);
    if (rc != 0) return from_lmdb(rc, "begin read");
    *txn = read_txn_;
    return Status();
  }

  Durability durability_ = Durability::durable;
  std::int64_t interval_ms_ = 1000;
  MDB_env* env_ = nullptr;
  MDB_dbi dbi_ = 0;
  MDB_txn* read_txn_ = nullptr;
  std::string scratch_;
  std::int64_t next_offset_ = 0;
  std::chrono::steady_clock::time_point last_sync_;
};

}  // namespace

std::unique_ptr<Store> make_lmdb_store() {
  return std::make_unique<LMDBStore>();
}

}  // namespace samsa::bench
