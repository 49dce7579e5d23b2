// samsa-bench peer: LevelDB (Debian's libleveldb-dev) as an event log.
//
// Key: the offset as 8 bytes big-endian, so LevelDB's bytewise order is offset order.
// Value: u32 key length (little-endian), i64 timestamp (little-endian), key, value; scan
// decodes it back into (key, value). One WriteBatch per append batch. Options are
// LevelDB's defaults (Snappy compression, 4 MiB write buffer) plus create_if_missing.
//
// Durability, per LevelDB's doc/index.md ("Synchronous Writes"):
//   none      WriteOptions::sync = false, LevelDB's default: the log is written to the page
//             cache, never fsynced by us.
//   interval  LevelDB has no SyncWAL: the first batch that comes interval_ms or more after
//             the previous sync is written with sync = true, which fsyncs the log and with
//             it every earlier write in it (memtables flushed to tables are fsynced by
//             LevelDB itself). The doc suggests exactly this ("every Nth write synchronous").
//   durable   sync = true on every batch.
// offset_for_timestamp: not_supported (no time index). concurrent_appends: false.
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include <leveldb/db.h>
#include <leveldb/options.h>
#include <leveldb/write_batch.h>

#include "peers/ordered_kv.h"
#include "peers/value_codec.h"
#include "store.h"

namespace samsa::bench {
namespace {

Status from_leveldb(const leveldb::Status& s, std::string_view what) {
  std::string msg = "leveldb " + std::string(what) + ": " + s.ToString();
  if (s.IsNotFound()) return Status::not_found(std::move(msg));
  if (s.IsCorruption()) return Status::corruption(std::move(msg));
  return Status::io_error(std::move(msg));
}

class LevelDBStore final : public Store {
 public:
  ~LevelDBStore() override { (void)close(); }

  std::string name() const override { return "leveldb"; }

  std::string configuration() const override {
    std::string s = "LevelDB " + std::to_string(leveldb::kMajorVersion) + "." +
                    std::to_string(leveldb::kMinorVersion) +
                    ", default options (Snappy compression, 4 MiB write buffer) plus "
                    "create_if_missing, 8-byte big-endian offset keys, one WriteBatch per "
                    "append batch";
    switch (durability_) {
      case Durability::none:
        s += ", WriteOptions.sync=false (log written, never fsynced: LevelDB's default)";
        break;
      case Durability::interval:
        s += ", WriteOptions.sync=false except for the first batch " +
             std::to_string(interval_ms_) +
             " ms or more after the previous sync, written with sync=true (LevelDB has no "
             "SyncWAL)";
        break;
      case Durability::durable:
        s += ", WriteOptions.sync=true (log fsynced before each write returns)";
        break;
    }
    s += "; no time index (offset_for_timestamp not supported).";
    return s;
  }

  Status open(const StoreOptions& options) override {
    durability_ = options.durability;
    interval_ms_ = options.interval_ms;
    leveldb::Options db_options;
    db_options.create_if_missing = true;
    SAMSA_TRY(open_ordered_kv(options.dir, db_options, leveldb::ReadOptions(), "leveldb",
                              from_leveldb, db_, next_offset_));
    last_sync_ = std::chrono::steady_clock::now();
    return Status();
  }

  Status append(std::span<const Record> batch) override {
    if (!db_) return Status::failed_precondition("leveldb: not open");
    char key[8];
    wb_.Clear();
    for (std::size_t i = 0; i < batch.size(); ++i) {
      put_key(next_offset_ + static_cast<std::int64_t>(i), key);
      encode_value(batch[i], scratch_);
      wb_.Put(leveldb::Slice(key, 8), scratch_);
    }
    leveldb::WriteOptions wo;
    wo.sync = durability_ == Durability::durable;
    std::chrono::steady_clock::time_point now;
    if (durability_ == Durability::interval) {
      now = std::chrono::steady_clock::now();
      wo.sync = now - last_sync_ >= std::chrono::milliseconds(interval_ms_);
    }
    leveldb::Status s = db_->Write(wo, &wb_);
    if (!s.ok()) return from_leveldb(s, "write");
    if (durability_ == Durability::interval && wo.sync) last_sync_ = now;
    next_offset_ += static_cast<std::int64_t>(batch.size());
    return Status();
  }

  Result<std::int64_t> scan(
      const std::function<void(std::string_view key, std::string_view value)>& visit) override {
    if (!db_) return Status::failed_precondition("leveldb: not open");
    std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(leveldb::ReadOptions()));
    return scan_records(*it, "leveldb", from_leveldb, visit);
  }

  Status get(std::int64_t offset, std::string& value) override {
    if (!db_) return Status::failed_precondition("leveldb: not open");
    char key[8];
    put_key(offset, key);
    leveldb::Status s = db_->Get(leveldb::ReadOptions(), leveldb::Slice(key, 8), &get_buf_);
    if (!s.ok()) return from_leveldb(s, "get " + std::to_string(offset));
    return value_of(get_buf_, "leveldb", offset, value);
  }

  Result<std::int64_t> offset_for_timestamp(std::int64_t) override {
    return Status::not_supported("leveldb store: no time index");
  }

  Status close() override {
    if (!db_) return Status();
    Status result;
    if (durability_ == Durability::interval) {
      // An empty synced batch fsyncs the log.
      leveldb::WriteBatch empty;
      leveldb::WriteOptions wo;
      wo.sync = true;
      leveldb::Status s = db_->Write(wo, &empty);
      if (!s.ok()) result = from_leveldb(s, "sync on close");
    }
    db_.reset();
    return result;
  }

 private:
  Durability durability_ = Durability::durable;
  std::int64_t interval_ms_ = 1000;
  std::unique_ptr<leveldb::DB> db_;
  leveldb::WriteBatch wb_;
  std::string scratch_;
  std::string get_buf_;
  std::int64_t next_offset_ = 0;
  std::chrono::steady_clock::time_point last_sync_;
};

}  // namespace

std::unique_ptr<Store> make_leveldb_store() {
  return std::make_unique<LevelDBStore>();
}

}  // namespace samsa::bench
