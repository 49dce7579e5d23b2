// RecordBatchView and RecordReader: reading Kafka RecordBatch v2 from untrusted bytes.
// Every length read from the bytes is checked against the bytes present before use.
#include "samsa/record_batch.h"

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <limits>

#include "compression.h"
#include "samsa/crc32c.h"

#include "invariant.h"

namespace samsa {

namespace L = batch_layout;

namespace {

// Offsets and timestamps in a batch are attacker-controlled; adding them must not be
// undefined behaviour, so additions wrap like Java's longs.
std::int64_t wrapping_add(std::int64_t a, std::int64_t b) {
  return static_cast<std::int64_t>(static_cast<std::uint64_t>(a) + static_cast<std::uint64_t>(b));
}

// The smallest encoded record: length, attributes, timestamp delta, offset delta, key
// length, value length and header count, one byte each.
constexpr std::size_t kMinRecordBytes = 7;
// The smallest encoded header: key length and value length, one byte each.
constexpr std::size_t kMinHeaderBytes = 2;

std::string_view reader_error(const ByteReader& r) {
  return r.error() == ByteReader::Error::varint_too_long ? "varint too long" : "truncated";
}

}  // namespace

std::string_view to_string(Compression c) {
  switch (c) {
    case Compression::none:
      return "none";
    case Compression::gzip:
      return "gzip";
    case Compression::snappy:
      return "snappy";
    case Compression::lz4:
      return "lz4";
    case Compression::zstd:
      return "zstd";
  }
  return "unknown";
}

Result<Compression> parse_compression(std::string_view name) {
  for (auto c : {Compression::none, Compression::gzip, Compression::snappy, Compression::lz4,
                 Compression::zstd}) {
    if (name == to_string(c)) return c;
  }
  return Status::invalid_argument(
      fmt::format("unknown compression '{}' (expected none, gzip, snappy, lz4 or zstd)", name));
}

// ---------------------------------------------------------------- RecordBatchView

Result<RecordBatchView> RecordBatchView::parse(ByteSpan bytes, std::uint64_t position) {
  if (bytes.size() < L::kHeaderSize) {
    return Status::corruption(
        fmt::format("batch at position {}: {} bytes present, a batch header needs {}", position,
                    bytes.size(), L::kHeaderSize));
  }
  const auto length = get_be<std::int32_t>(bytes.data() + L::kLength);
  constexpr auto kMinLength = static_cast<std::int32_t>(L::kHeaderSize - L::kLogOverhead);
  if (length < kMinLength) {
    return Status::corruption(
        fmt::format("batch at position {}: length field {} (at byte {}) is less than the {} "
                    "bytes of a batch header",
                    position, length, position + L::kLength, kMinLength));
  }
  const std::size_t total = static_cast<std::size_t>(length) + L::kLogOverhead;
  if (total > bytes.size()) {
    return Status::corruption(
        fmt::format("batch at position {}: length field says {} bytes but only {} are present",
                    position, total, bytes.size()));
  }
  const auto magic = static_cast<std::int8_t>(bytes[L::kMagic]);
  if (magic != L::kMagicV2) {
    const std::string msg = fmt::format("batch at position {}: magic {} (at byte {})", position,
                                        magic, position + L::kMagic);
    if (magic == 0 || magic == 1) {
      return Status::not_supported(msg + " is Kafka's pre-0.11 message format; only v2 is read");
    }
    return Status::corruption(msg + " is not a record batch format");
  }
  return RecordBatchView(bytes.first(total), position);
}

Result<RecordBatchView> RecordBatchView::validate(ByteSpan bytes, const ValidateOptions& options,
                                                  std::uint64_t position) {
  SAMSA_TRY_ASSIGN(RecordBatchView view, parse(bytes, position));
  SAMSA_TRY(view.check_crc());
  SAMSA_TRY(view.check_records(options));
  return view;
}

Status RecordBatchView::check_crc() const {
  const std::uint32_t computed = compute_crc();
  if (computed == crc()) return Status();
  return Status::corruption(fmt::format(
      "batch at position {} (base offset {}): CRC-32C mismatch: stored {:#010x} (at byte {}), "
      "computed {:#010x} over bytes [{}, {})",
      position_, base_offset().value(), crc(), position_ + L::kCrc, computed,
      position_ + L::kAttributes, position_ + bytes_.size()));
}

Status RecordBatchView::check_records(const ValidateOptions& options) const {
  return check_records_max_timestamp(options).status();
}

Result<Timestamp> RecordBatchView::check_records_max_timestamp(
    const ValidateOptions& options) const {
  RecordReader reader;
  SAMSA_TRY(reader.reset(*this, options));
  Record record;
  Timestamp max = Timestamp::none();  // Kafka's NO_TIMESTAMP: below it, a record never wins
  for (;;) {  // RecordReader::next fails past records_count, which bounds this loop
    SAMSA_TRY_ASSIGN(const bool more, reader.next(record));
    if (!more) return max;
    if (record.timestamp > max) max = record.timestamp;
  }
}

Offset RecordBatchView::base_offset() const {
  return Offset(get_be<std::int64_t>(bytes_.data() + L::kBaseOffset));
}
std::int32_t RecordBatchView::length() const {
  return get_be<std::int32_t>(bytes_.data() + L::kLength);
}
LeaderEpoch RecordBatchView::partition_leader_epoch() const {
  return LeaderEpoch(get_be<std::int32_t>(bytes_.data() + L::kPartitionLeaderEpoch));
}
std::int8_t RecordBatchView::magic() const {
  return static_cast<std::int8_t>(bytes_[L::kMagic]);
}
std::uint32_t RecordBatchView::crc() const {
  return get_be<std::uint32_t>(bytes_.data() + L::kCrc);
}
std::uint32_t RecordBatchView::compute_crc() const {
  return crc32c(bytes_.subspan(L::kAttributes));
}
std::int16_t RecordBatchView::attributes() const {
  return get_be<std::int16_t>(bytes_.data() + L::kAttributes);
}
Compression RecordBatchView::compression() const {
  return static_cast<Compression>(attributes() & L::kCompressionMask);
}
TimestampType RecordBatchView::timestamp_type() const {
  return (attributes() & L::kTimestampTypeBit) ? TimestampType::log_append_time
                                               : TimestampType::create_time;
}
bool RecordBatchView::is_transactional() const {
  return attributes() & L::kTransactionalBit;
}
bool RecordBatchView::is_control() const {
  return attributes() & L::kControlBit;
}
bool RecordBatchView::has_delete_horizon() const {
  return attributes() & L::kDeleteHorizonBit;
}
std::int32_t RecordBatchView::last_offset_delta() const {
  return get_be<std::int32_t>(bytes_.data() + L::kLastOffsetDelta);
}
Timestamp RecordBatchView::base_timestamp() const {
  return Timestamp(get_be<std::int64_t>(bytes_.data() + L::kBaseTimestamp));
}
Timestamp RecordBatchView::max_timestamp() const {
  return Timestamp(get_be<std::int64_t>(bytes_.data() + L::kMaxTimestamp));
}
std::optional<Timestamp> RecordBatchView::delete_horizon() const {
  if (!has_delete_horizon()) return std::nullopt;
  return base_timestamp();
}
ProducerId RecordBatchView::producer_id() const {
  return ProducerId(get_be<std::int64_t>(bytes_.data() + L::kProducerId));
}
ProducerEpoch RecordBatchView::producer_epoch() const {
  return ProducerEpoch(get_be<std::int16_t>(bytes_.data() + L::kProducerEpoch));
}
Sequence RecordBatchView::base_sequence() const {
  return Sequence(get_be<std::int32_t>(bytes_.data() + L::kBaseSequence));
}
Sequence RecordBatchView::last_sequence() const {
  const Sequence base = base_sequence();
  if (base.value() < 0) return Sequence::none();
  return base.advanced(last_offset_delta());
}
std::int32_t RecordBatchView::records_count() const {
  return get_be<std::int32_t>(bytes_.data() + L::kRecordsCount);
}

// ---------------------------------------------------------------- RecordHeaders

void RecordHeaders::iterator::load() {
  if (left_ == 0) return;
  ByteReader r(rest_);
  std::int32_t key_len = 0;
  std::int32_t value_len = 0;
  ByteSpan key;
  ByteSpan value;
  // The bytes were checked by RecordReader::next(); failing here is a bug, not bad input.
  const bool ok = r.read_varint(key_len) && key_len >= 0 &&
                  r.read_bytes(static_cast<std::size_t>(key_len), key) &&
                  r.read_varint(value_len) && value_len >= -1 &&
                  (value_len < 0 || r.read_bytes(static_cast<std::size_t>(value_len), value));
  SAMSA_ASSERT(ok, "RecordHeaders over unchecked bytes ({} headers left)", left_);
  current_.key = as_chars(key);
  current_.value = value_len < 0 ? std::nullopt : std::optional<ByteSpan>(value);
  current_size_ = r.offset();
}

RecordHeaders::iterator& RecordHeaders::iterator::operator++() {
  rest_ = rest_.subspan(current_size_);
  --left_;
  load();
  return *this;
}

// ---------------------------------------------------------------- RecordReader

struct RecordReader::Impl {
  std::vector<std::byte> scratch;  // decompressed records; reused across batches
  ByteSpan records;                // the records section, decompressed
  ByteReader reader{ByteSpan{}};
  ValidateOptions options;
  std::uint64_t batch_position = 0;
  Compression compression = Compression::none;
  std::int64_t base_offset = 0;
  std::int64_t base_timestamp = 0;
  std::optional<std::int64_t> log_append_time;
  std::int32_t count = 0;
  std::int32_t last_offset_delta = 0;
  std::int32_t read = 0;
  std::int32_t previous_delta = -1;

  // Where byte `at` of the records section is, for messages.
  std::string where(std::size_t at) const {
    if (compression == Compression::none) {
      return fmt::format("byte {}", batch_position + L::kRecords + at);
    }
    return fmt::format("decompressed byte {} of its {} records", at, to_string(compression));
  }
  Status corrupt(std::string_view what) const {
    return Status::corruption(fmt::format("batch at position {} (base offset {}): {}",
                                          batch_position, base_offset, what));
  }
  Status corrupt_record(std::size_t at, std::string_view what) const {
    return corrupt(fmt::format("record {} of {} at {}: {}", read, count, where(at), what));
  }

  Status check_header(const RecordBatchView& batch) const;
  Status decompress(const RecordBatchView& batch);
  Status limit_passed(const Status& limit);
  Status read_body(ByteSpan body, std::size_t body_at, Record& out);
  Status read_headers(ByteSpan body, ByteReader& r, std::size_t body_at, Record& out);
  Status check_delta(std::int32_t delta, std::size_t at) const;
  bool next_fast(Record& out);
  bool delta_ok(std::int32_t delta) const {
    return !(options.producer_batch && delta != read) && delta > previous_delta &&
           delta <= last_offset_delta;
  }
  Result<bool> next_checked(Record& out);
};

RecordReader::RecordReader() : impl_(std::make_unique<Impl>()) {}
RecordReader::~RecordReader() = default;
RecordReader::RecordReader(RecordReader&&) noexcept = default;
RecordReader& RecordReader::operator=(RecordReader&&) noexcept = default;

Status RecordReader::Impl::check_header(const RecordBatchView& batch) const {
  if (count < 0) {
    return corrupt(fmt::format("records count {} (at byte {}) is negative", count,
                               batch_position + L::kRecordsCount));
  }
  if (last_offset_delta < 0) {
    return corrupt(fmt::format("last offset delta {} (at byte {}) is negative", last_offset_delta,
                               batch_position + L::kLastOffsetDelta));
  }
  if (count > 0 && last_offset_delta < count - 1) {
    return corrupt(
        fmt::format("{} records cannot fit in last offset delta {}", count, last_offset_delta));
  }
  if (options.producer_batch && last_offset_delta != count - 1) {
    return corrupt(
        fmt::format("last offset delta {} does not match {} records", last_offset_delta, count));
  }
  const int codec = batch.attributes() & L::kCompressionMask;
  if (codec > static_cast<int>(Compression::zstd)) {
    return corrupt(fmt::format("unknown compression codec {} in attributes (at byte {})", codec,
                               batch_position + L::kAttributes));
  }
  return Status();
}

namespace {

// How many whole records `prefix` holds from its start (at most `count`): each is a
// varint length and that many bytes. Only for messages, so a bad length just stops it.
std::int32_t whole_records_in(ByteSpan prefix, std::int32_t count) {
  ByteReader r(prefix);
  std::int32_t whole = 0;
  for (; whole < count; ++whole) {  // bounded by count
    std::int32_t length = 0;
    ByteSpan body;
    if (!r.read_varint(length) || length < 0 ||
        !r.read_bytes(static_cast<std::size_t>(length), body)) {
      break;
    }
  }
  return whole;
}

}  // namespace

// Decompresses the records into scratch, within options.max_decompressed_bytes.
Status RecordReader::Impl::decompress(const RecordBatchView& batch) {
  scratch.clear();
  Status s = internal::decompress(compression, batch.records_bytes(),
                                  options.max_decompressed_bytes, scratch);
  if (s.code() == StatusCode::decompression_limit) return limit_passed(s);
  if (!s.ok()) {
    return s.with_context(fmt::format("batch at position {} (base offset {}): records at byte {}",
                                      batch_position, base_offset, batch_position + L::kRecords));
  }
  records = ByteSpan(scratch.data(), scratch.size());
  return Status();
}

// Says how far decoding got (the bytes decoded within the limit and the records whole in
// them), then gives the buffer back: a bomb must not leave a reader holding its limit.
Status RecordReader::Impl::limit_passed(const Status& limit) {
  const std::size_t decoded = scratch.size();
  const std::int32_t whole = whole_records_in(ByteSpan(scratch.data(), scratch.size()), count);
  std::vector<std::byte>().swap(scratch);
  return Status::decompression_limit(fmt::format(
      "batch at position {} (base offset {}): {} compressed records at byte {}: {}; decoding "
      "stopped at record index {} of {} declared ({} decompressed bytes held {} whole "
      "records)",
      batch_position, base_offset, to_string(compression), batch_position + L::kRecords,
      limit.message(), whole, count, decoded, whole));
}

Status RecordReader::reset(const RecordBatchView& batch, const ValidateOptions& options) {
  Impl& m = *impl_;
  m.options = options;
  m.batch_position = batch.position();
  m.compression = batch.compression();
  m.base_offset = batch.base_offset().value();
  m.base_timestamp = batch.base_timestamp().value();
  m.log_append_time.reset();
  if (batch.timestamp_type() == TimestampType::log_append_time) {
    // Kafka gives every record of a LogAppendTime batch the batch's max timestamp.
    m.log_append_time = batch.max_timestamp().value();
  }
  m.count = batch.records_count();
  m.last_offset_delta = batch.last_offset_delta();
  m.read = 0;
  m.previous_delta = -1;
  m.records = {};
  m.reader = ByteReader(ByteSpan{});
  SAMSA_TRY(m.check_header(batch));
  if (m.compression == Compression::none) {
    m.records = batch.records_bytes();
  } else {
    SAMSA_TRY(m.decompress(batch));
  }
  // Every record takes at least kMinRecordBytes, so a count the bytes cannot hold is
  // corrupt before anything is decoded.
  if (static_cast<std::uint64_t>(m.count) * kMinRecordBytes > m.records.size()) {
    return m.corrupt(fmt::format("records count {} cannot fit in {} bytes of records", m.count,
                                 m.records.size()));
  }
  m.reader = ByteReader(m.records);
  return Status();
}

Status RecordReader::Impl::check_delta(std::int32_t delta, std::size_t at) const {
  if (options.producer_batch && delta != read) {
    return corrupt_record(at, fmt::format("offset delta {} where {} was expected", delta, read));
  }
  if (delta <= previous_delta) {
    return corrupt_record(
        at, fmt::format("offset delta {} does not follow the previous {}", delta, previous_delta));
  }
  if (delta > last_offset_delta) {
    return corrupt_record(at, fmt::format("offset delta {} passes the batch's last offset delta {}",
                                          delta, last_offset_delta));
  }
  return Status();
}

Status RecordReader::Impl::read_headers(ByteSpan body, ByteReader& r, std::size_t body_at,
                                        Record& out) {
  std::int32_t header_count = 0;
  std::size_t at = body_at + r.offset();
  if (!r.read_varint(header_count)) {
    return corrupt_record(at, fmt::format("header count: {}", reader_error(r)));
  }
  if (header_count < 0 ||
      static_cast<std::uint64_t>(header_count) * kMinHeaderBytes > r.remaining()) {
    return corrupt_record(at, fmt::format("header count {} does not fit in the {} bytes left",
                                          header_count, r.remaining()));
  }
  const std::size_t headers_start = r.offset();
  for (std::int32_t h = 0; h < header_count; ++h) {
    std::int32_t key_len = 0;
    std::int32_t value_len = 0;
    ByteSpan ignored;
    at = body_at + r.offset();
    if (!r.read_varint(key_len) || key_len < 0 ||
        !r.read_bytes(static_cast<std::size_t>(key_len), ignored)) {
      return corrupt_record(at, fmt::format("header {} key (length {}): {}", h, key_len,
                                            key_len < 0 ? "negative" : reader_error(r)));
    }
    at = body_at + r.offset();
    if (!r.read_varint(value_len) || value_len < -1 ||
        (value_len >= 0 && !r.read_bytes(static_cast<std::size_t>(value_len), ignored))) {
      return corrupt_record(at, fmt::format("header {} value (length {}): {}", h, value_len,
                                            value_len < -1 ? "invalid" : reader_error(r)));
    }
  }
  out.headers =
      RecordHeaders(body.subspan(headers_start, r.offset() - headers_start), header_count);
  return Status();
}

// Reads a nullable byte field: varint length (-1 = null) then that many bytes.
static bool read_nullable(ByteReader& r, std::int32_t& len, std::optional<ByteSpan>& out) {
  if (!r.read_varint(len)) return false;
  if (len < -1) return false;
  if (len == -1) {
    out.reset();
    return true;
  }
  ByteSpan bytes;
  if (!r.read_bytes(static_cast<std::size_t>(len), bytes)) return false;
  out = bytes;
  return true;
}

Status RecordReader::Impl::read_body(ByteSpan body, std::size_t body_at, Record& out) {
  ByteReader r(body);
  std::int8_t attributes = 0;
  std::int64_t timestamp_delta = 0;
  std::int32_t offset_delta = 0;
  if (!r.read_be(attributes) || !r.read_varlong(timestamp_delta) || !r.read_varint(offset_delta)) {
    return corrupt_record(body_at + r.offset(),
                          fmt::format("record fields: {} within its length", reader_error(r)));
  }
  SAMSA_TRY(check_delta(offset_delta, body_at));
  std::int32_t key_len = 0;
  std::size_t at = body_at + r.offset();
  if (!read_nullable(r, key_len, out.key)) {
    return corrupt_record(at, fmt::format("key (length {}): {}", key_len,
                                          key_len < -1 ? "invalid" : reader_error(r)));
  }
  std::int32_t value_len = 0;
  at = body_at + r.offset();
  if (!read_nullable(r, value_len, out.value)) {
    return corrupt_record(at, fmt::format("value (length {}): {}", value_len,
                                          value_len < -1 ? "invalid" : reader_error(r)));
  }
  SAMSA_TRY(read_headers(body, r, body_at, out));
  if (!r.at_end()) {
    return corrupt_record(body_at + r.offset(),
                          fmt::format("{} bytes left over inside the record's length {}",
                                      r.remaining(), body.size()));
  }
  out.attributes = attributes;
  out.timestamp_delta = timestamp_delta;
  out.offset_delta = offset_delta;
  out.offset = Offset(wrapping_add(base_offset, offset_delta));
  out.timestamp =
      Timestamp(log_append_time ? *log_append_time : wrapping_add(base_timestamp, timestamp_delta));
  return Status();
}

namespace {

// The cursor of RecordReader's fast path: ByteReader's rules, but varints of one or two
// bytes (nearly every length and delta) decoded without its general loop. Any failure
// just returns false; the checked path then reports it.
class FastCursor {
 public:
  explicit FastCursor(ByteSpan bytes) : p_(bytes.data()), end_(bytes.data() + bytes.size()) {}
  const std::byte* pos() const { return p_; }
  std::size_t remaining() const { return static_cast<std::size_t>(end_ - p_); }
  bool at_end() const { return p_ == end_; }

  bool varint(std::int32_t& out) {
    std::uint64_t u = 0;
    if (!short_unsigned(u)) return general([&](ByteReader& r) { return r.read_varint(out); });
    out = zigzag_decode32(static_cast<std::uint32_t>(u));
    return true;
  }
  bool varlong(std::int64_t& out) {
    std::uint64_t u = 0;
    if (!short_unsigned(u)) return general([&](ByteReader& r) { return r.read_varlong(out); });
    out = zigzag_decode64(u);
    return true;
  }
  bool byte(std::int8_t& out) {
    if (p_ == end_) return false;
    out = static_cast<std::int8_t>(*p_++);
    return true;
  }
  bool bytes(std::size_t n, ByteSpan& out) {
    if (remaining() < n) return false;
    out = ByteSpan(p_, n);
    p_ += n;
    return true;
  }

 private:
  // A one- or two-byte unsigned varint, the only lengths that cannot be malformed.
  bool short_unsigned(std::uint64_t& u) {
    if (p_ == end_) return false;
    const auto b0 = static_cast<std::uint8_t>(p_[0]);
    if (b0 < 0x80) {
      u = b0;
      p_ += 1;
      return true;
    }
    if (remaining() < 2 || static_cast<std::uint8_t>(p_[1]) >= 0x80) return false;
    u = (b0 & 0x7Fu) | (std::uint64_t{static_cast<std::uint8_t>(p_[1])} << 7);
    p_ += 2;
    return true;
  }
  template <typename Read>
  bool general(Read read) {
    ByteReader r(ByteSpan(p_, remaining()));
    if (!read(r)) return false;
    p_ += r.offset();
    return true;
  }

  const std::byte* p_;
  const std::byte* end_;
};

// A nullable byte field as read_nullable reads it.
bool fast_nullable(FastCursor& c, std::optional<ByteSpan>& out) {
  std::int32_t len = 0;
  if (!c.varint(len) || len < -1) return false;
  if (len == -1) {
    out.reset();
    return true;
  }
  ByteSpan bytes;
  if (!c.bytes(static_cast<std::size_t>(len), bytes)) return false;
  out = bytes;
  return true;
}

// The headers as read_headers checks them.
bool fast_headers(FastCursor& c, Record& out) {
  std::int32_t count = 0;
  if (!c.varint(count) || count < 0 ||
      static_cast<std::uint64_t>(count) * kMinHeaderBytes > c.remaining()) {
    return false;
  }
  const std::byte* start = c.pos();
  for (std::int32_t h = 0; h < count; ++h) {
    std::int32_t key_len = 0;
    std::int32_t value_len = 0;
    ByteSpan ignored;
    if (!c.varint(key_len) || key_len < 0 || !c.bytes(static_cast<std::size_t>(key_len), ignored) ||
        !c.varint(value_len) || value_len < -1 ||
        (value_len >= 0 && !c.bytes(static_cast<std::size_t>(value_len), ignored))) {
      return false;
    }
  }
  out.headers = RecordHeaders(ByteSpan(start, c.pos()), count);
  return true;
}

}  // namespace

// The common case, a well-formed record, with the very checks of next_checked but as plain
// bools: no Status and no message is built per record (those cost more than the decoding).
// On anything wrong it returns false without moving, and next_checked decodes the same
// bytes again to say what is wrong and where.
bool RecordReader::Impl::next_fast(Record& out) {
  if (read == count) return false;
  const std::size_t start = reader.offset();
  FastCursor c(records.subspan(start));
  std::int32_t length = 0;
  ByteSpan body;
  if (!c.varint(length) || length < 0 || !c.bytes(static_cast<std::size_t>(length), body)) {
    return false;
  }
  const std::size_t size = static_cast<std::size_t>(c.pos() - records.data()) - start;
  FastCursor b(body);
  std::int8_t attributes = 0;
  std::int64_t timestamp_delta = 0;
  std::int32_t offset_delta = 0;
  if (!b.byte(attributes) || !b.varlong(timestamp_delta) || !b.varint(offset_delta) ||
      !delta_ok(offset_delta) || !fast_nullable(b, out.key) || !fast_nullable(b, out.value) ||
      !fast_headers(b, out) || !b.at_end()) {
    return false;
  }
  out.attributes = attributes;
  out.timestamp_delta = timestamp_delta;
  out.offset_delta = offset_delta;
  out.offset = Offset(wrapping_add(base_offset, offset_delta));
  out.timestamp =
      Timestamp(log_append_time ? *log_append_time : wrapping_add(base_timestamp, timestamp_delta));
  out.size_bytes = size;
  (void)reader.skip(size);
  previous_delta = offset_delta;
  ++read;
  return true;
}

Result<bool> RecordReader::next(Record& out) {
  if (impl_->next_fast(out)) return true;
  return impl_->next_checked(out);
}

Result<bool> RecordReader::Impl::next_checked(Record& out) {
  Impl& m = *this;
  ByteReader& r = m.reader;
  if (m.read == m.count) {
    if (!r.at_end()) {
      return m.corrupt(fmt::format("{} bytes left after the last of {} records, at {}",
                                   r.remaining(), m.count, m.where(r.offset())));
    }
    return false;
  }
  const std::size_t start = r.offset();
  std::int32_t length = 0;
  if (!r.read_varint(length)) {
    return m.corrupt_record(start, fmt::format("length: {}", reader_error(r)));
  }
  ByteSpan body;
  if (length < 0 || !r.read_bytes(static_cast<std::size_t>(length), body)) {
    return m.corrupt_record(
        start, fmt::format("length {} passes the {} bytes left", length, r.remaining()));
  }
  SAMSA_TRY(m.read_body(body, r.offset() - body.size(), out));
  out.size_bytes = r.offset() - start;
  m.previous_delta = out.offset_delta;
  ++m.read;
  return true;
}

// ---------------------------------------------------------------- in-place edits

void set_base_offset(MutableByteSpan batch, Offset base_offset) {
  put_be<std::int64_t>(batch.data() + L::kBaseOffset, base_offset.value());
}

void set_partition_leader_epoch(MutableByteSpan batch, LeaderEpoch epoch) {
  put_be<std::int32_t>(batch.data() + L::kPartitionLeaderEpoch, epoch.value());
}

bool set_max_timestamp(MutableByteSpan batch, TimestampType type, Timestamp max_timestamp) {
  const auto view = RecordBatchView::parse(batch);
  SAMSA_ASSERT(view.ok(), "set_max_timestamp on a batch that does not parse: {}",
               view.status().to_string());
  if (view->timestamp_type() == type && view->max_timestamp() == max_timestamp) return false;
  auto attributes = static_cast<std::uint16_t>(get_be<std::int16_t>(batch.data() + L::kAttributes));
  attributes = type == TimestampType::log_append_time
                   ? static_cast<std::uint16_t>(attributes | L::kTimestampTypeBit)
                   : static_cast<std::uint16_t>(attributes & ~L::kTimestampTypeBit);
  put_be<std::uint16_t>(batch.data() + L::kAttributes, attributes);
  put_be<std::int64_t>(batch.data() + L::kMaxTimestamp, max_timestamp.value());
  put_be<std::uint32_t>(batch.data() + L::kCrc, crc32c(ByteSpan(batch).subspan(L::kAttributes)));
  return true;
}

std::array<std::byte, 4> control_record_key(ControlRecordType type) {
  std::array<std::byte, 4> key{};
  put_be<std::int16_t>(key.data(), 0);
  put_be<std::int16_t>(key.data() + 2, static_cast<std::int16_t>(type));
  return key;
}

}  // namespace samsa
