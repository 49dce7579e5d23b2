// samsa-bench: the interface every system under test implements, so that samsa and the
// embedded peers run the very same workloads on the very same bytes.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "samsa/env.h"
#include "samsa/log.h"
#include "samsa/record_batch.h"
#include "samsa/status.h"

namespace samsa::bench {

struct Record {
  std::string_view key;
  std::string_view value;
  std::int64_t timestamp_ms = 0;
};

// What an acknowledged append guarantees.
enum class Durability : std::uint8_t {
  none,      // page cache only: lost on power loss
  interval,  // synced every interval_ms (or the store's equivalent): recent data at risk
  durable,   // synced before the append returns
};
std::string_view to_string(Durability d);

struct StoreOptions {
  std::string dir;  // empty, created by the caller; the store owns it until close()
  Durability durability = Durability::durable;
  std::int64_t interval_ms = 1000;
};

// One embedded store used as an event log. Records get offsets 0, 1, 2, ... in append
// order. Thread-safety: append() may be called from several threads at once only when
// concurrent_appends() is true; everything else from one thread.
class Store {
 public:
  virtual ~Store() = default;
  virtual std::string name() const = 0;
  // How it is configured for the durability asked, in a sentence, for benchmarks/README.md.
  virtual std::string configuration() const = 0;
  virtual Status open(const StoreOptions& options) = 0;
  // Appends one batch (atomically where the store can) and returns when it is acknowledged
  // under the durability asked in open().
  virtual Status append(std::span<const Record> batch) = 0;
  // Calls `visit` for every record from offset 0 in order; returns how many.
  virtual Result<std::int64_t> scan(
      const std::function<void(std::string_view key, std::string_view value)>& visit) = 0;
  // The value of the record at `offset`.
  virtual Status get(std::int64_t offset, std::string& value) = 0;
  // The first offset whose record timestamp is >= ts; stores without a time index return
  // not_supported.
  virtual Result<std::int64_t> offset_for_timestamp(std::int64_t ts) = 0;
  virtual Status close() = 0;
  virtual bool concurrent_appends() const { return false; }
};

// The samsa flush policy giving a durability level (benchmarks/samsa_store.cc).
FlushPolicy samsa_flush_policy(Durability d);
// samsa's Log with a codec (benchmarks/samsa_store.cc), on `env` (default Env::posix()).
std::unique_ptr<Store> make_samsa_store(Compression compression, Env* env = nullptr);
// samsa's Partition, every batch from an idempotent producer (benchmarks/partition_store.cc).
std::unique_ptr<Store> make_samsa_partition_store(Compression compression);
// The peers (benchmarks/peers/*.cc).
std::unique_ptr<Store> make_rocksdb_store(bool write_batch);  // false: one Put per record
std::unique_ptr<Store> make_leveldb_store();
std::unique_ptr<Store> make_sqlite_store();
std::unique_ptr<Store> make_lmdb_store();

}  // namespace samsa::bench
