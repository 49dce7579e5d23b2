// samsa-bench peer: SQLite (Debian's libsqlite3-dev) as an event log.
//
// One table, log("offset" INTEGER PRIMARY KEY, key BLOB, value BLOB, ts INTEGER), the
// offset being the rowid, plus an index on ts for offset_for_timestamp (kept, as samsa keeps
// its time index on append too; it costs SQLite about a third of its unsynced append rate
// with 100-byte values). Journal mode WAL (https://sqlite.org/wal.html), one BEGIN..COMMIT
// per append batch around a prepared INSERT; everything else is SQLite's default (4 KiB
// pages, automatic checkpoint at 1000 WAL pages).
//
// Durability, per https://sqlite.org/pragma.html#pragma_synchronous:
//   none      PRAGMA synchronous=OFF: SQLite never fsyncs.
//   interval  PRAGMA synchronous=NORMAL, the setting SQLite recommends with WAL: commits are
//             not fsynced, the WAL is fsynced only before each checkpoint (every ~1000 pages,
//             ~4 MB, not every interval_ms). A power loss can roll back the transactions
//             committed since the last checkpoint; the database is never corrupted.
//   durable   PRAGMA synchronous=FULL: the WAL is fsynced at every commit.
// concurrent_appends: false (one connection).
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include <sqlite3.h>

#include "store.h"

namespace samsa::bench {
namespace {

class SQLiteStore final : public Store {
 public:
  ~SQLiteStore() override { (void)close(); }

  std::string name() const override { return "sqlite"; }

  std::string configuration() const override {
    std::string s = std::string("SQLite ") + sqlite3_libversion() +
                    ", journal_mode=WAL, one table (offset INTEGER PRIMARY KEY, key BLOB, value "
                    "BLOB, ts INTEGER) with an index on ts, one transaction per append batch "
                    "around a prepared INSERT, otherwise defaults (4 KiB pages, autocheckpoint "
                    "at 1000 pages)";
    switch (durability_) {
      case Durability::none:
        s += ", synchronous=OFF (never fsyncs).";
        break;
      case Durability::interval:
        s += ", synchronous=NORMAL (SQLite's recommended WAL setting: the WAL is fsynced at "
             "each checkpoint, about every 4 MB, rather than every " +
             std::to_string(interval_ms_) +
             " ms; a power loss may roll back the commits since the last checkpoint).";
        break;
      case Durability::durable:
        s += ", synchronous=FULL (the WAL is fsynced at every commit).";
        break;
    }
    return s;
  }

  Status open(const StoreOptions& options) override {
    durability_ = options.durability;
    interval_ms_ = options.interval_ms;
    std::string path = options.dir + "/log.db";
    int rc =
        sqlite3_open_v2(path.c_str(), &db_,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
      Status st = error(rc, "open " + path);
      sqlite3_close_v2(db_);
      db_ = nullptr;
      return st;
    }
    const char* sync = durability_ == Durability::none       ? "OFF"
                       : durability_ == Durability::interval ? "NORMAL"
                                                             : "FULL";
    SAMSA_TRY(exec("PRAGMA journal_mode=WAL"));
    SAMSA_TRY(exec(std::string("PRAGMA synchronous=") + sync));
    SAMSA_TRY(
        exec("CREATE TABLE IF NOT EXISTS log (\"offset\" INTEGER PRIMARY KEY, key BLOB, value "
             "BLOB, ts INTEGER)"));
    SAMSA_TRY(exec("CREATE INDEX IF NOT EXISTS log_ts ON log (ts)"));
    SAMSA_TRY(prepare("BEGIN", &begin_));
    SAMSA_TRY(prepare("COMMIT", &commit_));
    SAMSA_TRY(prepare("ROLLBACK", &rollback_));
    SAMSA_TRY(
        prepare("INSERT INTO log (\"offset\", key, value, ts) VALUES (?, ?, ?, ?)", &insert_));
    SAMSA_TRY(prepare("SELECT value FROM log WHERE \"offset\" = ?", &get_));
    SAMSA_TRY(prepare("SELECT \"offset\" FROM log WHERE ts >= ? ORDER BY ts LIMIT 1", &by_ts_));
    // The directory is empty, but continue after existing records all the same.
    sqlite3_stmt* last = nullptr;
    SAMSA_TRY(prepare("SELECT max(\"offset\") FROM log", &last));
    rc = sqlite3_step(last);
    next_offset_ = 0;
    if (rc == SQLITE_ROW && sqlite3_column_type(last, 0) != SQLITE_NULL) {
      next_offset_ = sqlite3_column_int64(last, 0) + 1;
    }
    sqlite3_finalize(last);
    if (rc != SQLITE_ROW) return error(rc, "select max(offset)");
    return Status();
  }

  Status append(std::span<const Record> batch) override {
    if (!db_) return Status::failed_precondition("sqlite: not open");
    SAMSA_TRY(step_done(begin_, "begin"));
    for (std::size_t i = 0; i < batch.size(); ++i) {
      const Record& r = batch[i];
      sqlite3_bind_int64(insert_, 1, next_offset_ + static_cast<std::int64_t>(i));
      // A null pointer would bind NULL rather than an empty blob.
      sqlite3_bind_blob64(insert_, 2, r.key.empty() ? "" : r.key.data(), r.key.size(),
                          SQLITE_STATIC);
      sqlite3_bind_blob64(insert_, 3, r.value.empty() ? "" : r.value.data(), r.value.size(),
                          SQLITE_STATIC);
      sqlite3_bind_int64(insert_, 4, r.timestamp_ms);
      Status st = step_done(insert_, "insert");
      if (!st.ok()) {
        (void)step_done(rollback_, "rollback");
        return st;
      }
    }
    Status st = step_done(commit_, "commit");
    if (!st.ok()) {
      (void)step_done(rollback_, "rollback");
      return st;
    }
    next_offset_ += static_cast<std::int64_t>(batch.size());
    return Status();
  }

  Result<std::int64_t> scan(
      const std::function<void(std::string_view key, std::string_view value)>& visit) override {
    if (!db_) return Status::failed_precondition("sqlite: not open");
    sqlite3_stmt* st = nullptr;
    SAMSA_TRY(prepare("SELECT key, value FROM log ORDER BY \"offset\"", &st));
    std::int64_t n = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      visit(column(st, 0), column(st, 1));
      ++n;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return error(rc, "scan");
    return n;
  }

  Status get(std::int64_t offset, std::string& value) override {
    if (!db_) return Status::failed_precondition("sqlite: not open");
    sqlite3_bind_int64(get_, 1, offset);
    int rc = sqlite3_step(get_);
    Status result;
    if (rc == SQLITE_ROW) {
      value.assign(column(get_, 0));
    } else if (rc == SQLITE_DONE) {
      result = Status::not_found("sqlite: no record at offset " + std::to_string(offset));
    } else {
      result = error(rc, "get " + std::to_string(offset));
    }
    sqlite3_reset(get_);
    return result;
  }

  Result<std::int64_t> offset_for_timestamp(std::int64_t ts) override {
    if (!db_) return Status::failed_precondition("sqlite: not open");
    sqlite3_bind_int64(by_ts_, 1, ts);
    int rc = sqlite3_step(by_ts_);
    std::int64_t offset = -1;
    Status result;
    if (rc == SQLITE_ROW) {
      offset = sqlite3_column_int64(by_ts_, 0);
    } else if (rc == SQLITE_DONE) {
      result = Status::not_found("sqlite: no record at or after timestamp " + std::to_string(ts));
    } else {
      result = error(rc, "offset for timestamp");
    }
    sqlite3_reset(by_ts_);
    if (!result.ok()) return result;
    return offset;
  }

  Status close() override {
    if (!db_) return Status();
    for (sqlite3_stmt** st : {&begin_, &commit_, &rollback_, &insert_, &get_, &by_ts_}) {
      sqlite3_finalize(*st);
      *st = nullptr;
    }
    int rc = sqlite3_close(db_);
    Status result = rc == SQLITE_OK ? Status() : error(rc, "close");
    if (rc != SQLITE_OK) sqlite3_close_v2(db_);
    db_ = nullptr;
    return result;
  }

 private:
  Status error(int rc, std::string_view what) const {
    std::string msg = "sqlite " + std::string(what) + ": " +
                      (db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc));
    switch (rc & 0xff) {
      case SQLITE_CORRUPT:
      case SQLITE_NOTADB:
        return Status::corruption(std::move(msg));
      case SQLITE_FULL:
        return Status::no_space(std::move(msg));
      case SQLITE_BUSY:
      case SQLITE_LOCKED:
        return Status::busy(std::move(msg));
      default:
        return Status::io_error(std::move(msg));
    }
  }

  Status exec(const std::string& sql) {
    char* err = nullptr;
    int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
    if (rc == SQLITE_OK) return Status();
    std::string msg = err != nullptr ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    return Status::io_error("sqlite " + sql + ": " + msg);
  }

  Status prepare(std::string_view sql, sqlite3_stmt** st) {
    int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, st, nullptr);
    if (rc != SQLITE_OK) return error(rc, "prepare " + std::string(sql));
    return Status();
  }

  Status step_done(sqlite3_stmt* st, std::string_view what) {
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) return error(rc, what);
    return Status();
  }

  static std::string_view column(sqlite3_stmt* st, int i) {
    const void* p = sqlite3_column_blob(st, i);
    int n = sqlite3_column_bytes(st, i);
    if (p == nullptr) return {};
    return {static_cast<const char*>(p), static_cast<std::size_t>(n)};
  }

  Durability durability_ = Durability::durable;
  std::int64_t interval_ms_ = 1000;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* begin_ = nullptr;
  sqlite3_stmt* commit_ = nullptr;
  sqlite3_stmt* rollback_ = nullptr;
  sqlite3_stmt* insert_ = nullptr;
  sqlite3_stmt* get_ = nullptr;
  sqlite3_stmt* by_ts_ = nullptr;
  std::int64_t next_offset_ = 0;
};

}  // namespace

std::unique_ptr<Store> make_sqlite_store() {
  return std::make_unique<SQLiteStore>();
}

}  // namespace samsa::bench
