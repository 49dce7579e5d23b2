// samsa-bench: the Store interface over samsa::Log.
#include <fmt/format.h>

#include <limits>
#include <memory>
#include <vector>

#include "samsa/log.h"
#include "store.h"

namespace samsa::bench {
namespace {

ByteSpan bytes_of(std::string_view s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}
std::string_view chars_of(ByteSpan b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

constexpr std::uint32_t kMaxBatchBytes = 16 << 20;
// What scan() reads at a time: ReadOptions' default max_bytes.
constexpr std::size_t kScanBufferBytes = 1 << 20;

// Thread-safety: append() from any number of threads (Log group-commits them); the rest
// from one thread.
class SamsaStore final : public Store {
 public:
  SamsaStore(Compression compression, Env& env) : compression_(compression), env_(env) {}

  std::string name() const override { return "samsa"; }
  std::string configuration() const override {
    return fmt::format(
        "samsa::Log, 1 GiB segments, index every 4 KiB, max_batch_bytes 16 MiB, flush_policy={}{}, "
        "compression={}, one RecordBatch v2 per append",
        to_string(config_.flush_policy),
        config_.flush_policy == FlushPolicy::interval_may_lose_recent
            ? fmt::format(" every {} ms", config_.flush_interval_ms)
            : std::string(),
        to_string(compression_));
  }

  Status open(const StoreOptions& options) override {
    config_.flush_policy = samsa_flush_policy(options.durability);
    config_.flush_interval_ms = options.interval_ms;
    // Time only: the Store contract says "synced every interval_ms".
    config_.flush_interval_bytes = std::numeric_limits<std::uint64_t>::max();
    // Kafka's 1 MiB max.message.bytes would refuse the 10 KiB x 1000 cells (10 MB batches).
    config_.max_batch_bytes = kMaxBatchBytes;
    config_.topic = "bench";
    config_.partition = 0;
    SAMSA_TRY_ASSIGN(log_, Log::open(env_, options.dir, config_));
    return Status::ok_status();
  }

  Status append(std::span<const Record> batch) override {
    thread_local RecordBatchBuilder builder;
    BatchOptions options;
    options.compression = compression_;
    builder.reset(options);
    for (const Record& r : batch) {
      SAMSA_TRY(builder.append(Timestamp(r.timestamp_ms), bytes_of(r.key), bytes_of(r.value)));
    }
    auto info = log_->append(builder);
    return info.status();
  }

  Result<std::int64_t> scan(
      const std::function<void(std::string_view, std::string_view)>& visit) override {
    // One buffer for every read, filled without zeroing it first (as a vector would), grown
    // only for a batch larger than it.
    std::size_t capacity = kScanBufferBytes;
    auto buffer = std::make_unique_for_overwrite<std::byte[]>(capacity);
    RecordReader reader;
    samsa::Record record;
    std::int64_t count = 0;
    Offset next = log_->log_start_offset();
    const Offset end = log_->log_end_offset();
    while (next < end) {
      // Up to 1 MiB of whole batches, read once.
      SAMSA_TRY_ASSIGN(LogRead read,
                       log_->read_into(next, MutableByteSpan(buffer.get(), capacity)));
      if (read.size_bytes == 0) {
        if (read.needed_bytes == 0) break;
        capacity = read.needed_bytes;
        buffer = std::make_unique_for_overwrite<std::byte[]>(capacity);
        continue;
      }
      ByteSpan rest(buffer.get(), read.size_bytes);
      std::uint64_t position = 0;  // in the buffer: LogRead does not say where in the file
      while (!rest.empty()) {
        SAMSA_TRY_ASSIGN(RecordBatchView batch, RecordBatchView::parse(rest, position));
        SAMSA_TRY(batch.check_crc());
        SAMSA_TRY(reader.reset(batch));
        for (;;) {
          SAMSA_TRY_ASSIGN(bool more, reader.next(record));
          if (!more) break;
          visit(record.key ? chars_of(*record.key) : std::string_view(),
                record.value ? chars_of(*record.value) : std::string_view());
          ++count;
        }
        rest = rest.subspan(batch.size_bytes());
        position += batch.size_bytes();
      }
      next = read.next_offset;
    }
    return count;
  }

  Status get(std::int64_t offset, std::string& value) override {
    ReadOptions options;
    options.max_bytes = 1;  // with min_one_batch: exactly the batch holding `offset`
    SAMSA_TRY_ASSIGN(LogSlice slice, log_->read(Offset(offset), options));
    if (slice.empty()) return Status::not_found(fmt::format("offset {}", offset));
    if (get_buffer_.size() < slice.size_bytes) get_buffer_.resize(slice.size_bytes);
    const MutableByteSpan bytes(get_buffer_.data(), static_cast<std::size_t>(slice.size_bytes));
    SAMSA_TRY(slice.read_into(bytes));  // into the reused buffer: no zero fill per get
    SAMSA_TRY_ASSIGN(RecordBatchView batch, RecordBatchView::parse(bytes, slice.position.value()));
    SAMSA_TRY(batch.check_crc());
    SAMSA_TRY(get_reader_.reset(batch));
    samsa::Record record;
    for (;;) {
      SAMSA_TRY_ASSIGN(bool more, get_reader_.next(record));
      if (!more) break;
      if (record.offset == Offset(offset)) {
        value.assign(record.value ? chars_of(*record.value) : std::string_view());
        return Status::ok_status();
      }
    }
    return Status::not_found(fmt::format("offset {}", offset));
  }

  Result<std::int64_t> offset_for_timestamp(std::int64_t ts) override {
    SAMSA_TRY_ASSIGN(std::optional<TimestampOffset> found,
                     log_->offset_for_timestamp(Timestamp(ts)));
    if (!found) return Status::not_found(fmt::format("timestamp {}", ts));
    return found->offset.value();
  }

  Status close() override {
    if (!log_) return Status::ok_status();
    Status s = log_->close();
    log_.reset();
    return s;
  }

  bool concurrent_appends() const override { return true; }

 private:
  Compression compression_;
  Env& env_;
  LogConfig config_;
  std::unique_ptr<Log> log_;
  std::vector<std::byte> get_buffer_;
  RecordReader get_reader_;
};

}  // namespace

std::string_view to_string(Durability d) {
  switch (d) {
    case Durability::none:
      return "none";
    case Durability::interval:
      return "interval";
    case Durability::durable:
      return "durable";
  }
  return "?";
}

FlushPolicy samsa_flush_policy(Durability d) {
  switch (d) {
    case Durability::none:
      return FlushPolicy::manual_may_lose_unflushed;
    case Durability::interval:
      return FlushPolicy::interval_may_lose_recent;
    case Durability::durable:
      return FlushPolicy::durable;
  }
  return FlushPolicy::durable;
}

std::unique_ptr<Store> make_samsa_store(Compression compression, Env* env) {
  return std::make_unique<SamsaStore>(compression, env != nullptr ? *env : Env::posix());
}

}  // namespace samsa::bench
