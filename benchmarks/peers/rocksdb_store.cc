// samsa-bench peer: RocksDB (Debian's librocksdb-dev) as an event log.
//
// Key: the offset as 8 bytes big-endian, so RocksDB's bytewise order is offset order.
// Value: u32 key length (little-endian), i64 timestamp (little-endian), key, value; scan
// decodes it back into (key, value). Options are RocksDB's defaults (Snappy compression,
// 64 MiB memtable, level compaction, WAL on) plus create_if_missing; nothing is tuned.
//
// Durability, per RocksDB's wiki ("WAL Performance", "Basic Operations"):
//   none      WriteOptions::sync = false, RocksDB's default: the WAL is written to the page
//             cache on every write, never fsynced by us.
//   interval  sync = false, and DB::SyncWAL() after the first write that comes interval_ms
//             or more after the previous sync (RocksDB has no timer of its own for it).
//   durable   sync = true: the WAL is fsynced before Write()/Put() returns.
// offset_for_timestamp: not_supported (no time index; a secondary index would be a second
// key space written on every append). concurrent_appends: false (offsets are assigned by
// the single appender).
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/version.h>
#include <rocksdb/write_batch.h>

#include "peers/ordered_kv.h"
#include "peers/value_codec.h"
#include "store.h"

namespace samsa::bench {
namespace {

Status from_rocksdb(const rocksdb::Status& s, std::string_view what) {
  std::string msg = "rocksdb " + std::string(what) + ": " + s.ToString();
  if (s.IsNotFound()) return Status::not_found(std::move(msg));
  if (s.IsCorruption()) return Status::corruption(std::move(msg));
  if (s.IsNoSpace()) return Status::no_space(std::move(msg));
  return Status::io_error(std::move(msg));
}

std::string compression_name(rocksdb::CompressionType c) {
  switch (c) {
    case rocksdb::kNoCompression:
      return "no";
    case rocksdb::kSnappyCompression:
      return "Snappy";
    case rocksdb::kLZ4Compression:
      return "LZ4";
    case rocksdb::kZSTD:
      return "Zstandard";
    default:
      return "codec #" + std::to_string(static_cast<int>(c));
  }
}

class RocksDBStore final : public Store {
 public:
  explicit RocksDBStore(bool write_batch) : write_batch_(write_batch) {}
  ~RocksDBStore() override { (void)close(); }

  std::string name() const override { return write_batch_ ? "rocksdb-batch" : "rocksdb-put"; }

  std::string configuration() const override {
    std::string s = "RocksDB " + std::to_string(ROCKSDB_MAJOR) + "." +
                    std::to_string(ROCKSDB_MINOR) + "." + std::to_string(ROCKSDB_PATCH) +
                    ", default options (" + compression_name(rocksdb::Options().compression) +
                    " compression, 64 MiB memtable, level compaction, WAL on) plus "
                    "create_if_missing, 8-byte big-endian offset keys, ";
    s += write_batch_ ? "one WriteBatch per append batch" : "one Put per record";
    switch (durability_) {
      case Durability::none:
        s += ", WriteOptions.sync=false (WAL written, never fsynced: RocksDB's default)";
        break;
      case Durability::interval:
        s += ", WriteOptions.sync=false plus DB::SyncWAL() after the first write " +
             std::to_string(interval_ms_) + " ms or more after the previous sync";
        break;
      case Durability::durable:
        s += ", WriteOptions.sync=true (WAL fsynced before each write returns)";
        break;
    }
    s += "; no time index (offset_for_timestamp not supported).";
    return s;
  }

  Status open(const StoreOptions& options) override {
    durability_ = options.durability;
    interval_ms_ = options.interval_ms;
    rocksdb::Options db_options;
    db_options.create_if_missing = true;
    SAMSA_TRY(open_ordered_kv(options.dir, db_options, rocksdb::ReadOptions(), "rocksdb",
                              from_rocksdb, db_, next_offset_));
    write_options_.sync = durability_ == Durability::durable;
    last_sync_ = std::chrono::steady_clock::now();
    return Status();
  }

  Status append(std::span<const Record> batch) override {
    if (!db_) return Status::failed_precondition("rocksdb: not open");
    char key[8];
    if (write_batch_) {
      wb_.Clear();
      for (std::size_t i = 0; i < batch.size(); ++i) {
        put_key(next_offset_ + static_cast<std::int64_t>(i), key);
        encode_value(batch[i], scratch_);
        rocksdb::Status s = wb_.Put(rocksdb::Slice(key, 8), scratch_);
        if (!s.ok()) return from_rocksdb(s, "batch put");
      }
      rocksdb::Status s = db_->Write(write_options_, &wb_);
      if (!s.ok()) return from_rocksdb(s, "write");
      next_offset_ += static_cast<std::int64_t>(batch.size());
    } else {
      for (const Record& r : batch) {
        put_key(next_offset_, key);
        encode_value(r, scratch_);
        rocksdb::Status s = db_->Put(write_options_, rocksdb::Slice(key, 8), scratch_);
        if (!s.ok()) return from_rocksdb(s, "put");
        ++next_offset_;
      }
    }
    if (durability_ == Durability::interval) {
      auto now = std::chrono::steady_clock::now();
      if (now - last_sync_ >= std::chrono::milliseconds(interval_ms_)) {
        rocksdb::Status s = db_->SyncWAL();
        if (!s.ok()) return from_rocksdb(s, "sync wal");
        last_sync_ = now;
      }
    }
    return Status();
  }

  Result<std::int64_t> scan(
      const std::function<void(std::string_view key, std::string_view value)>& visit) override {
    if (!db_) return Status::failed_precondition("rocksdb: not open");
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
    return scan_records(*it, "rocksdb", from_rocksdb, visit);
  }

  Status get(std::int64_t offset, std::string& value) override {
    if (!db_) return Status::failed_precondition("rocksdb: not open");
    char key[8];
    put_key(offset, key);
    rocksdb::PinnableSlice v;
    rocksdb::Status s =
        db_->Get(rocksdb::ReadOptions(), db_->DefaultColumnFamily(), rocksdb::Slice(key, 8), &v);
    if (!s.ok()) return from_rocksdb(s, "get " + std::to_string(offset));
    return value_of(std::string_view(v.data(), v.size()), "rocksdb", offset, value);
  }

  Result<std::int64_t> offset_for_timestamp(std::int64_t) override {
    return Status::not_supported("rocksdb store: no time index");
  }

  Status close() override {
    if (!db_) return Status();
    Status result;
    if (durability_ == Durability::interval) {
      rocksdb::Status s = db_->SyncWAL();
      if (!s.ok()) result = from_rocksdb(s, "sync wal");
    }
    rocksdb::Status s = db_->Close();
    if (!s.ok() && result.ok()) result = from_rocksdb(s, "close");
    db_.reset();
    return result;
  }

 private:
  const bool write_batch_;
  Durability durability_ = Durability::durable;
  std::int64_t interval_ms_ = 1000;
  std::unique_ptr<rocksdb::DB> db_;
  rocksdb::WriteOptions write_options_;
  rocksdb::WriteBatch wb_;
  std::string scratch_;
  std::int64_t next_offset_ = 0;
  std::chrono::steady_clock::time_point last_sync_;
};

}  // namespace

std::unique_ptr<Store> make_rocksdb_store(bool write_batch) {
  return std::make_unique<RocksDBStore>(write_batch);
}

}  // namespace samsa::bench
