// Legacy message sets (magic 0 and 1) converted to one RecordBatch v2. Every length read
// from the bytes is checked against the bytes present before use, as in record_batch.cc.
#include "samsa/legacy_records.h"

#include <fmt/format.h>
#include <xxhash.h>
#include <zlib.h>

#include <limits>
#include <optional>
#include <string>

#include "compression.h"

namespace samsa {

namespace LL = legacy_layout;

namespace {

// Where a message set lies, for messages: the outer set ("byte N" of the set), or the
// inner set of the wrapper at `wrapper_at` ("decompressed byte N of ...").
struct SetPlace {
  std::optional<std::size_t> wrapper_at;
  Compression codec = Compression::none;

  std::string byte(std::size_t at) const {
    if (!wrapper_at) return fmt::format("byte {}", at);
    return fmt::format("decompressed byte {} of the {} wrapper message at byte {}", at,
                       to_string(codec), *wrapper_at);
  }
};

struct LegacyMessage {
  std::size_t at = 0;    // where its offset field starts
  std::size_t size = 0;  // kLogOverhead + its size field
  std::int8_t magic = 0;
  std::uint8_t attributes = 0;
  std::int64_t timestamp = -1;  // magic 1 only; -1 (Kafka's NO_TIMESTAMP) for magic 0
  std::optional<ByteSpan> key;
  std::optional<ByteSpan> value;

  std::uint8_t codec() const { return attributes & LL::kCodecMask; }
  bool log_append_time() const { return magic == 1 && (attributes & LL::kTimestampTypeBit); }
};

Status corrupt(const SetPlace& place, std::size_t at, std::string_view what) {
  return Status::corruption(
      fmt::format("legacy message set: message at {}: {}", place.byte(at), what));
}

std::uint32_t crc32_ieee(ByteSpan bytes) {
  // A message's size is an i32, so its bytes fit zlib's uInt in one call.
  static_assert(std::numeric_limits<uInt>::max() >= std::numeric_limits<std::int32_t>::max());
  uLong crc = crc32(0L, Z_NULL, 0);
  crc = crc32(crc, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size()));
  return static_cast<std::uint32_t>(crc);
}

// Reads an i32 length (-1: null) and that many bytes at `pos` of `body` (the message from
// its crc field on). `name` is "key" or "value"; positions in messages are `base + pos`.
Status read_field(ByteSpan body, std::size_t& pos, std::optional<ByteSpan>& out,
                  std::string_view name, const SetPlace& place, std::size_t msg_at,
                  std::size_t base) {
  if (body.size() - pos < 4) {
    return corrupt(place, msg_at,
                   fmt::format("its {} length (at {}) passes the end of the message", name,
                               place.byte(base + pos)));
  }
  const auto len = get_be<std::int32_t>(body.data() + pos);
  if (len < -1 || (len >= 0 && static_cast<std::size_t>(len) > body.size() - pos - 4)) {
    return corrupt(place, msg_at,
                   fmt::format("{} length {} (at {}) does not fit the {} bytes left in the "
                               "message",
                               name, len, place.byte(base + pos), body.size() - pos - 4));
  }
  pos += 4;
  if (len == -1) {
    out.reset();
    return Status();
  }
  out = body.subspan(pos, static_cast<std::size_t>(len));
  pos += static_cast<std::size_t>(len);
  return Status();
}

// Reads and checks (framing, CRC, fields) the message at `at` of `set`.
Result<LegacyMessage> read_message(ByteSpan set, std::size_t at, const SetPlace& place) {
  const std::size_t left = set.size() - at;
  if (left < LL::kLogOverhead + LL::kRecordOverheadV0) {
    return corrupt(place, at,
                   fmt::format("truncated: {} bytes left, the smallest message takes {}", left,
                               LL::kLogOverhead + LL::kRecordOverheadV0));
  }
  const auto size = get_be<std::int32_t>(set.data() + at + LL::kSize);
  if (size < static_cast<std::int32_t>(LL::kRecordOverheadV0)) {
    return corrupt(place, at,
                   fmt::format("size {} (at {}) is less than the {} bytes of the smallest "
                               "message",
                               size, place.byte(at + LL::kSize), LL::kRecordOverheadV0));
  }
  if (static_cast<std::size_t>(size) > left - LL::kLogOverhead) {
    return corrupt(place, at,
                   fmt::format("size {} (at {}) passes the end of the set: {} bytes left", size,
                               place.byte(at + LL::kSize), left - LL::kLogOverhead));
  }
  LegacyMessage m;
  m.at = at;
  m.size = LL::kLogOverhead + static_cast<std::size_t>(size);
  const ByteSpan message = set.subspan(at, m.size);
  m.magic = static_cast<std::int8_t>(message[LL::kMagic]);
  if (m.magic != 0 && m.magic != 1) {
    return corrupt(
        place, at,
        fmt::format("magic {} (at {}) is not 0 or 1", m.magic, place.byte(at + LL::kMagic)));
  }
  const std::size_t overhead = m.magic == 0 ? LL::kRecordOverheadV0 : LL::kRecordOverheadV1;
  if (static_cast<std::size_t>(size) < overhead) {
    return corrupt(place, at,
                   fmt::format("size {} is less than the {} bytes of a magic {} message", size,
                               overhead, m.magic));
  }
  const auto stored = get_be<std::uint32_t>(message.data() + LL::kCrc);
  const std::uint32_t computed = crc32_ieee(message.subspan(LL::kMagic));
  if (stored != computed) {
    return corrupt(place, at,
                   fmt::format("CRC-32 mismatch: stored {:#010x} (at {}), computed {:#010x} "
                               "over its {} bytes from {}",
                               stored, place.byte(at + LL::kCrc), computed, m.size - LL::kMagic,
                               place.byte(at + LL::kMagic)));
  }
  m.attributes = static_cast<std::uint8_t>(message[LL::kAttributes]);
  std::size_t pos = LL::kAttributes + 1;
  if (m.magic == 1) {
    m.timestamp = get_be<std::int64_t>(message.data() + LL::kTimestamp);
    pos += 8;
  }
  SAMSA_TRY(read_field(message, pos, m.key, "key", place, at, at));
  SAMSA_TRY(read_field(message, pos, m.value, "value", place, at, at));
  if (pos != message.size()) {
    return corrupt(place, at,
                   fmt::format("{} bytes left over after its value, inside its size {}",
                               message.size() - pos, size));
  }
  return m;
}

Result<Compression> legacy_codec(const LegacyMessage& m, const SetPlace& place) {
  switch (m.codec()) {
    case 0:
      return Compression::none;
    case 1:
      return Compression::gzip;
    case 2:
      return Compression::snappy;
    case 3:
      return Compression::lz4;
    default:
      // zstd (4) came with magic 2 only (KIP-110); Kafka refuses it in a legacy wrapper.
      return corrupt(place, m.at,
                     fmt::format("codec {} in its attributes (at {}) is not one of a legacy "
                                 "message (0 none, 1 gzip, 2 snappy, 3 lz4)",
                                 m.codec(), place.byte(m.at + LL::kAttributes)));
  }
}

// Adds one uncompressed message to the batch with `timestamp`.
Status add(RecordBatchBuilder& builder, const LegacyMessage& m, std::int64_t timestamp,
           const SetPlace& place) {
  Status s = builder.append(Timestamp(timestamp), m.key, m.value);
  if (!s.ok())
    return s.with_context(fmt::format("legacy message set: message at {}", place.byte(m.at)));
  return Status();
}

// Kafka's writers of magic 0 lz4 (before 0.10, KAFKA-3160) hashed the frame descriptor's
// checksum byte over the frame magic too, and Kafka reads magic 0 ignoring that byte. liblz4
// checks it, so a copy gets the right one: xxh32 of the descriptor (FLG, BD, the optional
// content size and dictionary id), second byte. Anything that is not an LZ4 frame is left
// for the decoder to report.
std::vector<std::byte> lz4_with_fixed_header_checksum(ByteSpan frame) {
  std::vector<std::byte> fixed(frame.begin(), frame.end());
  constexpr std::size_t kFlg = 4;  // after the 4-byte frame magic
  if (fixed.size() <= kFlg) return fixed;
  const auto flg = static_cast<std::uint8_t>(fixed[kFlg]);
  const std::size_t descriptor = 2 + ((flg & 0x08) ? 8 : 0) + ((flg & 0x01) ? 4 : 0);
  if (fixed.size() <= kFlg + descriptor) return fixed;
  const XXH32_hash_t h = XXH32(fixed.data() + kFlg, descriptor, 0);
  fixed[kFlg + descriptor] = static_cast<std::byte>((h >> 8) & 0xFF);
  return fixed;
}

// The inner messages of the wrapper `w` (already checked), added to `builder`. They must be
// uncompressed; a magic 1 one takes the wrapper's timestamp when the wrapper says
// LogAppendTime (Kafka's LegacyRecord with a wrapper timestamp), a magic 0 one has none.
// Kafka's broker does not require their magic to be the wrapper's (its DeepRecordsIterator
// runs with ensureMatchingMagic false), so neither does this.
Status add_inner(RecordBatchBuilder& builder, const LegacyMessage& w, Compression codec,
                 const LegacyConvertOptions& options, std::vector<std::byte>& scratch) {
  const SetPlace outer;
  if (!w.value) return corrupt(outer, w.at, "a compressed wrapper with a null value");
  std::vector<std::byte> fixed;
  ByteSpan compressed = *w.value;
  if (codec == Compression::lz4 && w.magic == 0) {
    fixed = lz4_with_fixed_header_checksum(compressed);
    compressed = fixed;
  }
  Status s = internal::decompress(codec, compressed, options.max_decompressed_bytes, scratch);
  if (!s.ok()) {
    return s.with_context(
        fmt::format("legacy message set: {} wrapper message at byte {}", to_string(codec), w.at));
  }
  const ByteSpan inner(scratch.data(), scratch.size());
  const SetPlace place{.wrapper_at = w.at, .codec = codec};
  std::size_t count = 0;
  // Bounded: each message takes at least kLogOverhead + kRecordOverheadV0 bytes.
  for (std::size_t at = 0; at < inner.size(); ++count) {
    SAMSA_TRY_ASSIGN(const LegacyMessage m, read_message(inner, at, place));
    if (m.codec() != 0) {
      return corrupt(place, at,
                     fmt::format("compressed (codec {}) inside a compressed wrapper: Kafka "
                                 "allows one level",
                                 m.codec()));
    }
    const std::int64_t ts = m.magic == 0 ? -1 : w.log_append_time() ? w.timestamp : m.timestamp;
    SAMSA_TRY(add(builder, m, ts, place));
    at += m.size;
  }
  if (count == 0) return corrupt(outer, w.at, "a compressed wrapper with no inner messages");
  return Status();
}

}  // namespace

bool is_legacy_message_set(ByteSpan bytes) {
  if (bytes.size() <= LL::kMagic) return false;
  const auto magic = static_cast<std::int8_t>(bytes[LL::kMagic]);
  return magic == 0 || magic == 1;
}

Result<std::vector<std::byte>> convert_legacy_message_set(ByteSpan set,
                                                          const LegacyConvertOptions& options) {
  const SetPlace outer;
  if (set.empty()) return Status::corruption("legacy message set: empty (no messages)");
  // The first message says whether the set is one wrapper (Kafka: a compressed set holds
  // exactly one) or plain messages.
  SAMSA_TRY_ASSIGN(const LegacyMessage first, read_message(set, 0, outer));
  SAMSA_TRY_ASSIGN(const Compression codec, legacy_codec(first, outer));
  RecordBatchBuilder builder({.compression = codec});
  std::vector<std::byte> scratch;  // the wrapper's inner set; the builder's spans point in it
  if (codec != Compression::none) {
    if (first.size != set.size()) {
      return corrupt(outer, first.size,
                     fmt::format("follows the {} wrapper message at byte 0: a compressed set "
                                 "holds exactly one message (Kafka's rule)",
                                 to_string(codec)));
    }
    SAMSA_TRY(add_inner(builder, first, codec, options, scratch));
  } else {
    SAMSA_TRY(add(builder, first, first.timestamp, outer));
    // Bounded: each message takes at least kLogOverhead + kRecordOverheadV0 bytes.
    for (std::size_t at = first.size; at < set.size();) {
      SAMSA_TRY_ASSIGN(const LegacyMessage m, read_message(set, at, outer));
      if (m.magic != first.magic) {
        return corrupt(outer, at,
                       fmt::format("magic {} where the set's first message has magic {} "
                                   "(Kafka: every batch of a request has the first's magic)",
                                   m.magic, first.magic));
      }
      if (m.codec() != 0) {
        return corrupt(outer, at,
                       fmt::format("compressed (codec {}) after uncompressed messages: a "
                                   "compressed set holds exactly one message (Kafka's rule)",
                                   m.codec()));
      }
      SAMSA_TRY(add(builder, m, m.timestamp, outer));
      at += m.size;
    }
  }
  SAMSA_TRY_ASSIGN(const MutableByteSpan batch, builder.build());
  return std::vector<std::byte>(batch.begin(), batch.end());
}

}  // namespace samsa
