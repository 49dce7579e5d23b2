// Floor 3: Kafka's message sets from before 0.11 (magic 0 and 1, "message format v0/v1"),
// read only to be converted to a RecordBatch v2, as Kafka's broker converts the produce
// data of old clients (Produce v0-v2) on append (LogValidator's
// convertAndAssignOffsetsNonCompressed and its compressed path). samsa never stores them.
//
// A message set is messages laid end to end; each message (all integers big-endian):
//   offset     i64   ignored: the log assigns offsets
//   size       i32   bytes of the message after this field
//   crc        u32   CRC-32 (IEEE, zlib's, not the CRC-32C of v2) of [magic, end)
//   magic      i8    0 or 1
//   attributes i8    bits 0-2: codec (0 none, 1 gzip, 2 snappy, 3 lz4); bit 3 (magic 1):
//                    LogAppendTime
//   timestamp  i64   magic 1 only
//   key        i32 length (-1: null), then the bytes
//   value      i32 length (-1: null), then the bytes
// A compressed message (a wrapper) holds in its value, compressed, an inner message set of
// uncompressed messages; Kafka allows one level and one wrapper per set.
// For the full grammar and a worked example see docs/FORMAT.md, "Legacy message sets".
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "samsa/record_batch.h"
#include "samsa/status.h"

namespace samsa {

// Byte layout of one legacy message (LegacyRecord.java). All integers big-endian.
namespace legacy_layout {
constexpr std::size_t kOffset = 0;        // i64
constexpr std::size_t kSize = 8;          // i32: bytes after this field
constexpr std::size_t kCrc = 12;          // u32, CRC-32 (IEEE) of [kMagic, end)
constexpr std::size_t kMagic = 16;        // i8: 0 or 1
constexpr std::size_t kAttributes = 17;   // i8
constexpr std::size_t kTimestamp = 18;    // i64, magic 1 only
constexpr std::size_t kLogOverhead = 12;  // offset + size: the bytes `size` does not count
// The smallest message after its size field: crc, magic, attributes, [timestamp,] key
// length, value length (Kafka's RECORD_OVERHEAD_V0 / _V1).
constexpr std::size_t kRecordOverheadV0 = 14;
constexpr std::size_t kRecordOverheadV1 = 22;
constexpr std::uint8_t kCodecMask = 0x07;
constexpr std::uint8_t kTimestampTypeBit = 0x08;
static_assert(kLogOverhead == batch_layout::kLogOverhead);
// The magic byte sits where a v2 batch's does, so one look tells the formats apart.
static_assert(kMagic == batch_layout::kMagic);
static_assert(kRecordOverheadV0 == 4 + 1 + 1 + 4 + 4);
static_assert(kRecordOverheadV1 == kRecordOverheadV0 + 8);
}  // namespace legacy_layout

struct LegacyConvertOptions {
  // A wrapper's inner message set may decompress to at most this many bytes (the bound of
  // ValidateOptions::max_decompressed_bytes); past it, decompression_limit.
  std::size_t max_decompressed_bytes = kDefaultMaxDecompressedBytes;
};

// True when `bytes` is long enough to hold a magic byte and it is 0 or 1.
bool is_legacy_message_set(ByteSpan bytes);

// Converts the legacy message set `set` (one or more uncompressed messages, or exactly one
// compressed wrapper) to one RecordBatch v2 holding its messages in order: base offset 0,
// CreateTime, producer id none, no headers, the wrapper's codec (gzip, snappy or lz4, all
// of which samsa writes), timestamps the messages' own (magic 1; a LogAppendTime wrapper's
// for its inner messages, as Kafka reads them) or none (-1, magic 0). Every message's CRC
// is checked. Bad input is corruption naming the byte offset in `set` (and, inside a
// wrapper, the decompressed byte): a truncated message, a size past the set, a CRC
// mismatch, a magic other than 0/1 or one that changes within the set, a wrapper nested in
// a wrapper, an empty or null wrapper, a wrapper beside other messages, an unknown codec.
// Past options.max_decompressed_bytes: decompression_limit.
//
// Thread-safe (no shared state beyond the codecs' per-thread contexts).
Result<std::vector<std::byte>> convert_legacy_message_set(ByteSpan set,
                                                          const LegacyConvertOptions& options = {});

}  // namespace samsa
