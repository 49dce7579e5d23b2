// Floor 3: Kafka RecordBatch v2 (magic 2), byte for byte as Kafka lays it out.
//
// The grammar, field widths, CRC coverage and a worked hex example are in docs/FORMAT.md.
// A RecordBatchView reads a batch in place; a RecordReader walks its records (decompressing
// into a buffer it owns when the batch is compressed); a RecordBatchBuilder writes one.
//
// Untrusted bytes (a file, a socket) go through RecordBatchView::validate(): every length
// is bounded by the bytes present, counts and offset deltas are consistent and the CRC is
// checked. A malformed batch is a corruption error naming the byte position; the code
// never reads outside the span it was given.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "samsa/coding.h"
#include "samsa/status.h"
#include "samsa/types.h"

namespace samsa {

// Attribute bits 0-2. Kafka's ids.
enum class Compression : std::uint8_t { none = 0, gzip = 1, snappy = 2, lz4 = 3, zstd = 4 };
std::string_view to_string(Compression c);
// "none", "gzip", "snappy", "lz4" or "zstd".
Result<Compression> parse_compression(std::string_view name);

enum class TimestampType : std::uint8_t { create_time = 0, log_append_time = 1 };

// The key of a control record names its type (Kafka's ControlRecordType).
enum class ControlRecordType : std::int16_t {
  abort = 0,
  commit = 1,
  leader_change = 2,
  snapshot_header = 3,
  snapshot_footer = 4,
  kraft_version = 5,
  kraft_voters = 6,
};

// Byte layout of the batch header (docs/FORMAT.md). All integers big-endian.
namespace batch_layout {
constexpr std::size_t kBaseOffset = 0;             // i64
constexpr std::size_t kLength = 8;                 // i32: bytes after this field
constexpr std::size_t kPartitionLeaderEpoch = 12;  // i32
constexpr std::size_t kMagic = 16;                 // i8, = 2
constexpr std::size_t kCrc = 17;                   // u32, CRC-32C of [kAttributes, end)
constexpr std::size_t kAttributes = 21;            // i16
constexpr std::size_t kLastOffsetDelta = 23;       // i32
constexpr std::size_t kBaseTimestamp = 27;         // i64
constexpr std::size_t kMaxTimestamp = 35;          // i64
constexpr std::size_t kProducerId = 43;            // i64
constexpr std::size_t kProducerEpoch = 51;         // i16
constexpr std::size_t kBaseSequence = 53;          // i32
constexpr std::size_t kRecordsCount = 57;          // i32
constexpr std::size_t kRecords = 61;
constexpr std::size_t kHeaderSize = 61;
// Base offset + length: the bytes not counted by the length field (Kafka's LOG_OVERHEAD).
constexpr std::size_t kLogOverhead = 12;
// The fewest bytes from which a batch's size can be read (through the magic byte).
constexpr std::size_t kHeaderSizeUpToMagic = 17;
constexpr std::int8_t kMagicV2 = 2;
constexpr int kMaxRecordOverhead = 21;  // Kafka's DefaultRecord.MAX_RECORD_OVERHEAD

constexpr std::uint16_t kCompressionMask = 0x07;
constexpr std::uint16_t kTimestampTypeBit = 0x08;
constexpr std::uint16_t kTransactionalBit = 0x10;
constexpr std::uint16_t kControlBit = 0x20;
constexpr std::uint16_t kDeleteHorizonBit = 0x40;

static_assert(kRecordsCount + 4 == kHeaderSize);
static_assert(kCrc + 4 == kAttributes);
static_assert(kLength + 4 == kLogOverhead);
static_assert(kMagic + 1 == kHeaderSizeUpToMagic);
}  // namespace batch_layout

// A header of a record: the key is a UTF-8 string (never null), the value may be null.
struct RecordHeader {
  std::string_view key;
  std::optional<ByteSpan> value;
};

// The headers of one record, decoded lazily from bytes a RecordReader already checked.
class RecordHeaders {
 public:
  class iterator {
   public:
    using value_type = RecordHeader;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    iterator(ByteSpan rest, std::int32_t left) : rest_(rest), left_(left) { load(); }
    // By value: a header is two small views, and a reference into the iterator would
    // dangle when the iterator is a temporary (`*headers.begin()`).
    RecordHeader operator*() const { return current_; }
    const RecordHeader* operator->() const { return &current_; }
    iterator& operator++();
    iterator operator++(int) {
      iterator old = *this;
      ++*this;
      return old;
    }
    friend bool operator==(const iterator& a, const iterator& b) { return a.left_ == b.left_; }

   private:
    void load();
    ByteSpan rest_;
    std::int32_t left_ = 0;
    std::size_t current_size_ = 0;
    RecordHeader current_;
  };

  RecordHeaders() = default;
  RecordHeaders(ByteSpan bytes, std::int32_t count) : bytes_(bytes), count_(count) {}
  std::int32_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  iterator begin() const { return {bytes_, count_}; }
  iterator end() const { return {}; }

 private:
  ByteSpan bytes_;
  std::int32_t count_ = 0;
};

// One record of a batch. Its spans point into the batch (uncompressed) or into the
// RecordReader's buffer (compressed): valid while both live and the reader has not moved
// to another batch.
struct Record {
  Offset offset;        // batch base offset + offset_delta
  Timestamp timestamp;  // batch base timestamp + timestamp_delta
  std::int32_t offset_delta = 0;
  std::int64_t timestamp_delta = 0;
  std::int8_t attributes = 0;     // unused by Kafka; always 0 when written
  std::optional<ByteSpan> key;    // nullopt: null key
  std::optional<ByteSpan> value;  // nullopt: null value (a tombstone)
  RecordHeaders headers;
  std::size_t size_bytes = 0;  // encoded size including the length varint
};

// The decompression bound's defaults (LogConfig::decompressed_bytes_factor): a compressed
// batch's records may expand to this many times Kafka's default max.message.bytes
// (1048588, the largest compressed batch a log accepts by default): 16 MiB + 192 bytes.
inline constexpr std::uint32_t kDefaultDecompressedBytesFactor = 16;
inline constexpr std::size_t kDefaultMaxDecompressedBytes =
    std::size_t{kDefaultDecompressedBytesFactor} * 1'048'588;

// How strictly validate() reads a batch.
struct ValidateOptions {
  // A batch from a producer (Kafka's LogValidator rules): offset deltas are exactly
  // 0, 1, ..., count - 1 and last_offset_delta == count - 1. When false (a batch from a
  // log, possibly compacted), deltas only need to increase strictly and stay within
  // [0, last_offset_delta].
  bool producer_batch = false;
  // A compressed batch is decompressed whole before its records are decoded, so this is
  // what reading one may allocate for its records (plus the codec's own state, see
  // docs/ARCHITECTURE.md, "Decompression memory"). Records that decompress past it are
  // refused with decompression_limit, naming how far decoding got. A log passes
  // LogConfig::max_decompressed_bytes() (a factor of max.message.bytes); the default here
  // is that bound for Kafka's default max.message.bytes, for readers without a log config.
  std::size_t max_decompressed_bytes = kDefaultMaxDecompressedBytes;
};

// A read-only view of one RecordBatch v2 over bytes the caller owns. Valid while they are.
//
// Thread-safety: a value; const methods may be called concurrently.
class RecordBatchView {
 public:
  // Reads the batch that starts at bytes[0]. Checks that the header is present, that the
  // length field covers at least the header and lies within `bytes`, and that magic is 2.
  // Does not check the CRC or the records. `position` is where bytes[0] sits in its file or
  // stream; error messages name positions relative to it.
  static Result<RecordBatchView> parse(ByteSpan bytes, std::uint64_t position = 0);

  // parse(), then check_crc(), then check_records(): the full check for untrusted bytes.
  static Result<RecordBatchView> validate(ByteSpan bytes, const ValidateOptions& options = {},
                                          std::uint64_t position = 0);

  // The stored CRC equals the CRC-32C of [attributes, end).
  Status check_crc() const;
  // Decodes every record (decompressing when needed) and checks its framing, the count
  // and the offset deltas against the header.
  Status check_records(const ValidateOptions& options = {}) const;
  // check_records(), also answering the largest of the records' timestamps as a
  // RecordReader gives them (Kafka's LogValidator max), or none when no record has one
  // above -1 (or there are no records). Costs nothing over check_records().
  Result<Timestamp> check_records_max_timestamp(const ValidateOptions& options = {}) const;

  ByteSpan bytes() const { return bytes_; }
  std::size_t size_bytes() const { return bytes_.size(); }
  std::uint64_t position() const { return position_; }

  Offset base_offset() const;
  Offset last_offset() const { return base_offset() + last_offset_delta(); }
  Offset next_offset() const { return last_offset() + 1; }
  std::int32_t length() const;
  LeaderEpoch partition_leader_epoch() const;
  std::int8_t magic() const;
  std::uint32_t crc() const;
  std::uint32_t compute_crc() const;
  std::int16_t attributes() const;
  Compression compression() const;
  TimestampType timestamp_type() const;
  bool is_transactional() const;
  bool is_control() const;
  bool has_delete_horizon() const;
  std::int32_t last_offset_delta() const;
  Timestamp base_timestamp() const;
  Timestamp max_timestamp() const;
  // The delete horizon (the base timestamp) when has_delete_horizon(); nullopt otherwise.
  std::optional<Timestamp> delete_horizon() const;
  ProducerId producer_id() const;
  ProducerEpoch producer_epoch() const;
  Sequence base_sequence() const;
  // base_sequence advanced by last_offset_delta, wrapping INT32_MAX -> 0; none when none.
  Sequence last_sequence() const;
  std::int32_t records_count() const;
  // The records section as stored (compressed when compression() != none).
  ByteSpan records_bytes() const { return bytes_.subspan(batch_layout::kRecords); }

 private:
  RecordBatchView(ByteSpan bytes, std::uint64_t position) : bytes_(bytes), position_(position) {}
  ByteSpan bytes_;
  std::uint64_t position_ = 0;
};

// Walks the records of one batch, checking each one's framing as it goes.
//
// Thread-safety: one thread at a time.
class RecordReader {
 public:
  RecordReader();
  ~RecordReader();
  RecordReader(RecordReader&&) noexcept;
  RecordReader& operator=(RecordReader&&) noexcept;

  // Starts reading `batch` (which must outlive the reader's use of it), decompressing its
  // records into a buffer the reader owns and reuses across reset() calls.
  Status reset(const RecordBatchView& batch, const ValidateOptions& options = {});

  // Reads the next record into `out`; returns false after the last one. A record that
  // does not fit the bytes present, a count mismatch or bytes left over is corruption.
  Result<bool> next(Record& out);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// What a batch is built with. Defaults give a plain, uncompressed, non-idempotent batch.
struct BatchOptions {
  Compression compression = Compression::none;
  int compression_level = 0;  // 0: the codec's default
  TimestampType timestamp_type = TimestampType::create_time;
  Offset base_offset{0};
  LeaderEpoch partition_leader_epoch = LeaderEpoch::none();
  ProducerId producer_id = ProducerId::none();
  ProducerEpoch producer_epoch = ProducerEpoch::none();
  Sequence base_sequence = Sequence::none();
  bool transactional = false;
  bool control = false;
  // Sets attribute bit 6 and stores the horizon as the base timestamp (compaction).
  std::optional<Timestamp> delete_horizon;
  // With log_append_time: the batch's max timestamp. Ignored for create_time.
  Timestamp log_append_time = Timestamp::none();
};

// Builds one batch. Records go straight into one growing buffer; nothing is allocated per
// record once the buffer has grown to the batch's size.
//
// Thread-safety: one thread at a time.
class RecordBatchBuilder {
 public:
  explicit RecordBatchBuilder(BatchOptions options = {});
  ~RecordBatchBuilder();
  RecordBatchBuilder(RecordBatchBuilder&&) noexcept;
  RecordBatchBuilder& operator=(RecordBatchBuilder&&) noexcept;

  // Forgets the records and starts a new batch, keeping the buffers.
  void reset(BatchOptions options);

  // Appends a record with the next offset delta (record_count(), or one past the last
  // explicit delta). Fails with invalid_argument when a size or count would overflow
  // Kafka's 32-bit fields.
  Status append(Timestamp timestamp, std::optional<ByteSpan> key, std::optional<ByteSpan> value,
                std::span<const RecordHeader> headers = {});

  // Appends with an explicit offset delta, strictly greater than the previous one (used
  // when rewriting a compacted batch, whose records need not be contiguous).
  Status append_with_offset_delta(std::int32_t offset_delta, Timestamp timestamp,
                                  std::optional<ByteSpan> key, std::optional<ByteSpan> value,
                                  std::span<const RecordHeader> headers = {});

  // Makes the batch's last offset delta at least `delta` (a compacted batch keeps the last
  // offset of the batch it came from).
  void set_last_offset_delta(std::int32_t delta);

  std::int32_t record_count() const;
  // Bytes of the batch so far, uncompressed.
  std::size_t uncompressed_size() const;

  // Finishes the batch: compresses the records, fills in the header and the CRC. The view
  // is valid until the next reset(), append or destruction. It is mutable so that a log can
  // stamp base offset and leader epoch in place (set_base_offset below).
  Result<MutableByteSpan> build();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// In-place edits of a batch a Log stores: base offset and partition leader epoch lie
// outside the CRC, so they are rewritten without recomputing it (house rule 1).
// Precondition: `batch` holds at least a batch header.
void set_base_offset(MutableByteSpan batch, Offset base_offset);
void set_partition_leader_epoch(MutableByteSpan batch, LeaderEpoch epoch);
// Sets the timestamp type and max timestamp and recomputes the CRC (Kafka's
// setMaxTimestamp: a leader's append sets LogAppendTime topics' to the append time and
// CreateTime topics' to the records' largest). Returns whether the bytes changed: a batch
// that already says so is left alone, CRC and all, as Kafka leaves it.
// Precondition: `batch` is exactly one batch that RecordBatchView::parse() accepts.
bool set_max_timestamp(MutableByteSpan batch, TimestampType type, Timestamp max_timestamp);

// The 4-byte key of a control record: i16 version 0, i16 type.
std::array<std::byte, 4> control_record_key(ControlRecordType type);

}  // namespace samsa
