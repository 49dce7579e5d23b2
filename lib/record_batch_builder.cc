// RecordBatchBuilder: writes Kafka RecordBatch v2. Records are encoded straight into one
// buffer after room for the 61-byte header; build() compresses (when asked), fills in the
// header and computes the CRC last, since it covers everything from the attributes on.
#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <limits>

#include "byte_buffer.h"
#include "compression.h"
#include "samsa/crc32c.h"
#include "samsa/record_batch.h"

namespace samsa {

namespace L = batch_layout;

namespace {

constexpr std::size_t kInt32Max = std::numeric_limits<std::int32_t>::max();

std::int64_t wrapping_sub(std::int64_t a, std::int64_t b) {
  return static_cast<std::int64_t>(static_cast<std::uint64_t>(a) - static_cast<std::uint64_t>(b));
}

// Bytes of the LEB128 form of u. Lengths and deltas mostly take one or two bytes: the
// two tests cost less than coding.h's loop (or a branch-free bit_width form, measured).
std::size_t uvarint_size(std::uint64_t u) {
  if (u < 0x80) return 1;
  if (u < 0x4000) return 2;
  std::size_t n = 3;
  for (u >>= 21; u != 0; u >>= 7) ++n;
  return n;
}
std::size_t zigzag_size(std::int32_t v) {
  return uvarint_size(zigzag_encode32(v));
}

// The same one- and two-byte cases, written without the loop.
std::byte* put_uvarint(std::byte* p, std::uint64_t u) {
  if (u < 0x80) {
    *p = static_cast<std::byte>(u);
    return p + 1;
  }
  if (u < 0x4000) {
    p[0] = static_cast<std::byte>(u | 0x80);
    p[1] = static_cast<std::byte>(u >> 7);
    return p + 2;
  }
  return put_unsigned_varint(p, u);
}
std::byte* put_zigzag(std::byte* p, std::int32_t v) {
  return put_uvarint(p, zigzag_encode32(v));
}

std::size_t nullable_size(const std::optional<ByteSpan>& bytes) {
  if (!bytes) return 1;  // varint -1
  return zigzag_size(static_cast<std::int32_t>(bytes->size())) + bytes->size();
}

std::byte* put_nullable(std::byte* p, const std::optional<ByteSpan>& bytes) {
  if (!bytes) return put_zigzag(p, -1);
  p = put_zigzag(p, static_cast<std::int32_t>(bytes->size()));
  if (!bytes->empty()) std::memcpy(p, bytes->data(), bytes->size());
  return p + bytes->size();
}

}  // namespace

struct RecordBatchBuilder::Impl {
  BatchOptions options;
  internal::ByteBuffer buffer;        // header room + uncompressed records
  std::vector<std::byte> compressed;  // header + compressed records, when compressing
  std::int32_t count = 0;
  std::int32_t previous_delta = -1;     // offset delta of the last record appended
  std::int32_t last_offset_delta = -1;  // at least previous_delta; set_last_offset_delta()
  std::int64_t base_timestamp = -1;
  std::int64_t max_timestamp = -1;

  void start() {
    buffer.clear();
    buffer.grow(L::kHeaderSize);
    count = 0;
    previous_delta = -1;
    last_offset_delta = -1;
    base_timestamp = options.delete_horizon ? options.delete_horizon->value() : -1;
    max_timestamp = -1;
  }
  void write_header(MutableByteSpan batch) const;
  static std::size_t body_size(std::int32_t offset_delta, std::int64_t timestamp_delta,
                               const std::optional<ByteSpan>& key,
                               const std::optional<ByteSpan>& value,
                               std::span<const RecordHeader> headers);
  static Status too_large(const std::optional<ByteSpan>& key, const std::optional<ByteSpan>& value,
                          std::span<const RecordHeader> headers, std::size_t body);
  Status add(std::int32_t offset_delta, Timestamp timestamp, const std::optional<ByteSpan>& key,
             const std::optional<ByteSpan>& value, std::span<const RecordHeader> headers);
};

RecordBatchBuilder::RecordBatchBuilder(BatchOptions options) : impl_(std::make_unique<Impl>()) {
  reset(options);
}
RecordBatchBuilder::~RecordBatchBuilder() = default;
RecordBatchBuilder::RecordBatchBuilder(RecordBatchBuilder&&) noexcept = default;
RecordBatchBuilder& RecordBatchBuilder::operator=(RecordBatchBuilder&&) noexcept = default;

void RecordBatchBuilder::reset(BatchOptions options) {
  impl_->options = options;
  impl_->start();
}

Status RecordBatchBuilder::append(Timestamp timestamp, std::optional<ByteSpan> key,
                                  std::optional<ByteSpan> value,
                                  std::span<const RecordHeader> headers) {
  if (impl_->previous_delta == std::numeric_limits<std::int32_t>::max()) {
    return Status::invalid_argument("batch is full: offset delta would pass INT32_MAX");
  }
  return impl_->add(impl_->previous_delta + 1, timestamp, key, value, headers);
}

Status RecordBatchBuilder::append_with_offset_delta(std::int32_t offset_delta, Timestamp timestamp,
                                                    std::optional<ByteSpan> key,
                                                    std::optional<ByteSpan> value,
                                                    std::span<const RecordHeader> headers) {
  if (offset_delta <= impl_->previous_delta) {
    return Status::invalid_argument(
        fmt::format("offset delta {} must be greater than the previous {}", offset_delta,
                    impl_->previous_delta));
  }
  return impl_->add(offset_delta, timestamp, key, value, headers);
}

// The encoded size of a record's body (after its length varint). A field past 2 GiB makes
// the sum pass kInt32Max, which add() then refuses (too_large says which).
[[gnu::always_inline]] inline std::size_t RecordBatchBuilder::Impl::body_size(
    std::int32_t offset_delta, std::int64_t timestamp_delta, const std::optional<ByteSpan>& key,
    const std::optional<ByteSpan>& value, std::span<const RecordHeader> headers) {
  std::size_t body = 1 + uvarint_size(zigzag_encode64(timestamp_delta)) +
                     zigzag_size(offset_delta) + nullable_size(key) + nullable_size(value) +
                     zigzag_size(static_cast<std::int32_t>(headers.size()));
  for (const RecordHeader& h : headers) {
    body += nullable_size(as_bytes(h.key)) + nullable_size(h.value);
  }
  return body;
}

// Off the per-record path: which of Kafka's 32-bit limits a record passes.
Status RecordBatchBuilder::Impl::too_large(const std::optional<ByteSpan>& key,
                                           const std::optional<ByteSpan>& value,
                                           std::span<const RecordHeader> headers,
                                           std::size_t body) {
  if ((key && key->size() > kInt32Max) || (value && value->size() > kInt32Max) ||
      headers.size() > kInt32Max) {
    return Status::invalid_argument("record key, value or header count passes INT32_MAX");
  }
  for (const RecordHeader& h : headers) {
    if (h.key.size() > kInt32Max) return Status::invalid_argument("header key passes INT32_MAX");
  }
  return Status::invalid_argument(
      fmt::format("record of {} bytes would make the batch pass 2 GiB", body));
}

// Shared by append() and append_with_offset_delta(), which checked the delta. Inlined into
// both: it runs once per record.
[[gnu::always_inline]] inline Status RecordBatchBuilder::Impl::add(
    std::int32_t offset_delta, Timestamp timestamp, const std::optional<ByteSpan>& key,
    const std::optional<ByteSpan>& value, std::span<const RecordHeader> headers) {
  const std::int64_t base =
      count == 0 && !options.delete_horizon ? timestamp.value() : base_timestamp;
  const std::int64_t timestamp_delta = wrapping_sub(timestamp.value(), base);
  const std::size_t body = body_size(offset_delta, timestamp_delta, key, value, headers);
  if (body > kInt32Max || buffer.size() + body + kVarintMaxBytes > kInt32Max) [[unlikely]] {
    return too_large(key, value, headers, body);
  }
  base_timestamp = base;
  const auto body32 = static_cast<std::int32_t>(body);
  std::byte* p = buffer.grow(zigzag_size(body32) + body);
  p = put_zigzag(p, body32);
  *p++ = std::byte{0};  // record attributes: unused, always 0
  p = put_uvarint(p, zigzag_encode64(timestamp_delta));
  p = put_zigzag(p, offset_delta);
  p = put_nullable(p, key);
  p = put_nullable(p, value);
  p = put_zigzag(p, static_cast<std::int32_t>(headers.size()));
  for (const RecordHeader& h : headers) {
    p = put_nullable(p, as_bytes(h.key));
    p = put_nullable(p, h.value);
  }
  ++count;
  previous_delta = offset_delta;
  last_offset_delta = std::max(last_offset_delta, offset_delta);
  max_timestamp = count == 1 ? timestamp.value() : std::max(max_timestamp, timestamp.value());
  return Status();
}

void RecordBatchBuilder::set_last_offset_delta(std::int32_t delta) {
  impl_->last_offset_delta = std::max(impl_->last_offset_delta, delta);
}

std::int32_t RecordBatchBuilder::record_count() const {
  return impl_->count;
}

std::size_t RecordBatchBuilder::uncompressed_size() const {
  return impl_->buffer.size();
}

void RecordBatchBuilder::Impl::write_header(MutableByteSpan batch) const {
  std::uint16_t attributes = static_cast<std::uint16_t>(options.compression);
  if (options.timestamp_type == TimestampType::log_append_time) attributes |= L::kTimestampTypeBit;
  if (options.transactional) attributes |= L::kTransactionalBit;
  if (options.control) attributes |= L::kControlBit;
  if (options.delete_horizon) attributes |= L::kDeleteHorizonBit;
  const std::int64_t max_ts = options.timestamp_type == TimestampType::log_append_time
                                  ? options.log_append_time.value()
                                  : max_timestamp;
  std::byte* h = batch.data();
  put_be<std::int64_t>(h + L::kBaseOffset, options.base_offset.value());
  put_be<std::int32_t>(h + L::kLength, static_cast<std::int32_t>(batch.size() - L::kLogOverhead));
  put_be<std::int32_t>(h + L::kPartitionLeaderEpoch, options.partition_leader_epoch.value());
  h[L::kMagic] = static_cast<std::byte>(L::kMagicV2);
  put_be<std::uint16_t>(h + L::kAttributes, attributes);
  put_be<std::int32_t>(h + L::kLastOffsetDelta, std::max(last_offset_delta, 0));
  put_be<std::int64_t>(h + L::kBaseTimestamp, base_timestamp);
  put_be<std::int64_t>(h + L::kMaxTimestamp, max_ts);
  put_be<std::int64_t>(h + L::kProducerId, options.producer_id.value());
  put_be<std::int16_t>(h + L::kProducerEpoch, options.producer_epoch.value());
  put_be<std::int32_t>(h + L::kBaseSequence, options.base_sequence.value());
  put_be<std::int32_t>(h + L::kRecordsCount, count);
  // Last: the CRC covers every byte from the attributes to the end.
  put_be<std::uint32_t>(h + L::kCrc, crc32c(ByteSpan(batch).subspan(L::kAttributes)));
}

Result<MutableByteSpan> RecordBatchBuilder::build() {
  Impl& m = *impl_;
  MutableByteSpan batch(m.buffer.data(), m.buffer.size());
  if (m.options.compression != Compression::none) {
    m.compressed.assign(L::kHeaderSize, std::byte{0});
    const ByteSpan records = m.buffer.span().subspan(L::kHeaderSize);
    SAMSA_TRY(internal::compress(m.options.compression, m.options.compression_level, records,
                                 m.compressed));
    if (m.compressed.size() > kInt32Max) {
      return Status::invalid_argument("compressed batch passes 2 GiB");
    }
    batch = MutableByteSpan(m.compressed.data(), m.compressed.size());
  }
  m.write_header(batch);
  return batch;
}

}  // namespace samsa
