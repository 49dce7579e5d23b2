// samsa-bench: the Store interface over samsa::Partition with idempotent producers, to
// measure what producer-state checks (and the epoch cache, and the high watermark) add to
// an append over the bare Log (samsa_store.cc). Append cells only.
#include <fmt/format.h>

#include <atomic>
#include <limits>

#include "samsa/partition.h"
#include "store.h"

namespace samsa::bench {
namespace {

ByteSpan bytes_of(std::string_view s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}

// Thread-safety: append() from any number of threads, each one idempotent producer (its
// own producer id and sequence); the rest from one thread.
class PartitionStore final : public Store {
 public:
  explicit PartitionStore(Compression compression) : compression_(compression) {}

  std::string name() const override { return "samsa-partition"; }
  std::string configuration() const override {
    return fmt::format(
        "samsa::Partition over the same Log configuration as `samsa`, every batch from an "
        "idempotent producer (producer id per appender thread, epoch 0, sequences checked "
        "and remembered), flush_policy={}, compression={}",
        to_string(config_.log.flush_policy), to_string(compression_));
  }

  Status open(const StoreOptions& options) override {
    config_.log.flush_policy = samsa_flush_policy(options.durability);
    config_.log.flush_interval_ms = options.interval_ms;
    config_.log.flush_interval_bytes = std::numeric_limits<std::uint64_t>::max();
    config_.log.max_batch_bytes = 16 << 20;
    config_.log.topic = "bench";
    config_.log.partition = 0;
    SAMSA_TRY_ASSIGN(partition_, Partition::open(Env::posix(), options.dir, config_));
    return Status::ok_status();
  }

  Status append(std::span<const Record> batch) override {
    thread_local RecordBatchBuilder builder;
    thread_local std::int64_t producer_id = -1;
    thread_local std::int32_t sequence = 0;
    thread_local std::uint64_t owner = 0;
    if (owner != generation_) {  // a new store: a new producer for this thread
      owner = generation_;
      producer_id = next_producer_id_.fetch_add(1);
      sequence = 0;
    }
    BatchOptions options;
    options.compression = compression_;
    options.producer_id = ProducerId(producer_id);
    options.producer_epoch = ProducerEpoch(0);
    options.base_sequence = Sequence(sequence);
    builder.reset(options);
    for (const Record& r : batch) {
      SAMSA_TRY(builder.append(Timestamp(r.timestamp_ms), bytes_of(r.key), bytes_of(r.value)));
    }
    auto result = partition_->append(builder);
    if (!result.ok()) return result.status();
    if (result->duplicate) return Status::corruption("a fresh batch was taken for a duplicate");
    sequence += static_cast<std::int32_t>(batch.size());
    return Status::ok_status();
  }

  Result<std::int64_t> scan(
      const std::function<void(std::string_view, std::string_view)>&) override {
    return Status::not_supported("samsa-partition runs the append cells only");
  }
  Status get(std::int64_t, std::string&) override {
    return Status::not_supported("samsa-partition runs the append cells only");
  }
  Result<std::int64_t> offset_for_timestamp(std::int64_t) override {
    return Status::not_supported("samsa-partition runs the append cells only");
  }

  Status close() override {
    if (!partition_) return Status::ok_status();
    Status s = partition_->close();
    partition_.reset();
    return s;
  }

  bool concurrent_appends() const override { return true; }

 private:
  Compression compression_;
  PartitionConfig config_;
  std::unique_ptr<Partition> partition_;
  std::atomic<std::int64_t> next_producer_id_{1000};
  // Tells this store from an earlier one at the same address.
  static inline std::atomic<std::uint64_t> generations_{0};
  const std::uint64_t generation_ = ++generations_;
};

}  // namespace

std::unique_ptr<Store> make_samsa_partition_store(Compression compression) {
  return std::make_unique<PartitionStore>(compression);
}

}  // namespace samsa::bench
