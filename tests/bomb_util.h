// Decompression bombs for the tests: RecordBatch v2 batches whose few compressed bytes
// decompress to far more than any bound allows, made by streaming the codecs (the expanded
// records are never held in memory), in each framing Kafka uses: zstd with and without a
// declared content size, gzip, an LZ4 frame of 64 KiB independent blocks, xerial snappy.
//
// The records: kSmallRecords well-formed small records, then one record whose value is
// `value_bytes` zero bytes (declared count kSmallRecords + 1), so that a reader stopped at
// a bound reports how far it got: record index kSmallRecords.
#pragma once

#include <lz4frame.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <vector>

#include "samsa/coding.h"
#include "samsa/crc32c.h"
#include "samsa/record_batch.h"

namespace samsa::test {

inline constexpr std::int32_t kSmallRecords = 3;

inline void put_zigzag_varint(std::vector<std::byte>& out, std::int64_t v) {
  std::uint64_t u = (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
  while (u >= 0x80) {
    out.push_back(static_cast<std::byte>((u & 0x7f) | 0x80));
    u >>= 7;
  }
  out.push_back(static_cast<std::byte>(u));
}

// Calls emit(span) with the records section in pieces of at most 1 MiB.
inline void for_each_bomb_piece(std::uint64_t value_bytes,
                                const std::function<void(ByteSpan)>& emit) {
  std::vector<std::byte> head;
  // Small records: length 7, attributes 0, timestamp delta 0, offset delta i, no key, value
  // "v", no headers.
  for (std::int32_t i = 0; i < kSmallRecords; ++i) {
    put_zigzag_varint(head, 7);
    head.push_back(std::byte{0});
    put_zigzag_varint(head, 0);
    put_zigzag_varint(head, i);
    put_zigzag_varint(head, -1);
    put_zigzag_varint(head, 1);
    head.push_back(std::byte{'v'});
    put_zigzag_varint(head, 0);
  }
  // The big one: its fields before the value (attributes, timestamp delta, offset delta,
  // no key, value length), then the value, then a header count of 0.
  std::vector<std::byte> fields;
  fields.push_back(std::byte{0});
  put_zigzag_varint(fields, 0);
  put_zigzag_varint(fields, kSmallRecords);
  put_zigzag_varint(fields, -1);
  put_zigzag_varint(fields, static_cast<std::int64_t>(value_bytes));
  put_zigzag_varint(head, static_cast<std::int64_t>(fields.size() + value_bytes + 1));
  head.insert(head.end(), fields.begin(), fields.end());
  emit(head);
  static const std::vector<std::byte> zeros(1 << 20);
  for (std::uint64_t left = value_bytes; left > 0;) {  // bounded: left falls each round
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left, zeros.size()));
    emit(ByteSpan(zeros.data(), n));
    left -= n;
  }
  const std::byte no_headers{0};
  emit(ByteSpan(&no_headers, 1));
}

// The records section's size for `value_bytes`.
inline std::uint64_t bomb_records_bytes(std::uint64_t value_bytes) {
  std::uint64_t total = 0;
  for_each_bomb_piece(value_bytes, [&](ByteSpan s) { total += s.size(); });
  return total;
}

enum class Bomb { zstd_with_size, zstd_without_size, gzip, lz4, snappy };

inline const char* bomb_name(Bomb b) {
  switch (b) {
    case Bomb::zstd_with_size:
      return "zstd with content size";
    case Bomb::zstd_without_size:
      return "zstd without content size";
    case Bomb::gzip:
      return "gzip";
    case Bomb::lz4:
      return "lz4 frame";
    case Bomb::snappy:
      return "snappy (xerial)";
  }
  return "?";
}

inline Compression bomb_codec(Bomb b) {
  switch (b) {
    case Bomb::zstd_with_size:
    case Bomb::zstd_without_size:
      return Compression::zstd;
    case Bomb::gzip:
      return Compression::gzip;
    case Bomb::lz4:
      return Compression::lz4;
    case Bomb::snappy:
      return Compression::snappy;
  }
  return Compression::none;
}

inline void append_bytes(std::vector<std::byte>& out, const void* p, std::size_t n) {
  const auto* b = static_cast<const std::byte*>(p);
  out.insert(out.end(), b, b + n);
}

inline std::vector<std::byte> zstd_bomb(std::uint64_t value_bytes, bool declare_size,
                                        int window_log = 0) {
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  REQUIRE(cctx != nullptr);
  REQUIRE(!ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, 1)));
  if (window_log != 0) {
    REQUIRE(!ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_windowLog, window_log)));
  }
  if (declare_size) {
    REQUIRE(!ZSTD_isError(ZSTD_CCtx_setPledgedSrcSize(cctx, bomb_records_bytes(value_bytes))));
  } else {
    REQUIRE(!ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 0)));
  }
  std::vector<std::byte> out;
  std::vector<std::byte> buf(ZSTD_CStreamOutSize());
  auto feed = [&](ByteSpan s, ZSTD_EndDirective mode) {
    ZSTD_inBuffer in{s.data(), s.size(), 0};
    for (;;) {
      ZSTD_outBuffer o{buf.data(), buf.size(), 0};
      const std::size_t left = ZSTD_compressStream2(cctx, &o, &in, mode);
      REQUIRE(!ZSTD_isError(left));
      append_bytes(out, buf.data(), o.pos);
      if (mode == ZSTD_e_end ? left == 0 : in.pos == in.size) break;
    }
  };
  for_each_bomb_piece(value_bytes, [&](ByteSpan s) { feed(s, ZSTD_e_continue); });
  feed({}, ZSTD_e_end);
  ZSTD_freeCCtx(cctx);
  return out;
}

inline std::vector<std::byte> gzip_bomb(std::uint64_t value_bytes) {
  z_stream zs{};
  REQUIRE(deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::vector<std::byte> out;
  std::vector<std::byte> buf(1 << 16);
  auto feed = [&](ByteSpan s, int flush) {
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(s.data()));
    zs.avail_in = static_cast<uInt>(s.size());
    for (;;) {
      zs.next_out = reinterpret_cast<Bytef*>(buf.data());
      zs.avail_out = static_cast<uInt>(buf.size());
      const int rc = deflate(&zs, flush);
      REQUIRE((rc == Z_OK || rc == Z_STREAM_END || rc == Z_BUF_ERROR));
      append_bytes(out, buf.data(), buf.size() - zs.avail_out);
      if (flush == Z_FINISH ? rc == Z_STREAM_END : zs.avail_in == 0 && zs.avail_out != 0) break;
    }
  };
  for_each_bomb_piece(value_bytes, [&](ByteSpan s) { feed(s, Z_NO_FLUSH); });
  feed({}, Z_FINISH);
  deflateEnd(&zs);
  return out;
}

inline std::vector<std::byte> lz4_bomb(std::uint64_t value_bytes) {
  LZ4F_preferences_t prefs{};
  prefs.frameInfo.blockSizeID = LZ4F_max64KB;
  prefs.frameInfo.blockMode = LZ4F_blockIndependent;
  LZ4F_cctx* cctx = nullptr;
  REQUIRE(!LZ4F_isError(LZ4F_createCompressionContext(&cctx, LZ4F_VERSION)));
  std::vector<std::byte> buf(LZ4F_compressBound(1 << 20, &prefs) + LZ4F_HEADER_SIZE_MAX);
  std::vector<std::byte> out;
  std::size_t n = LZ4F_compressBegin(cctx, buf.data(), buf.size(), &prefs);
  REQUIRE(!LZ4F_isError(n));
  append_bytes(out, buf.data(), n);
  for_each_bomb_piece(value_bytes, [&](ByteSpan s) {
    const std::size_t m =
        LZ4F_compressUpdate(cctx, buf.data(), buf.size(), s.data(), s.size(), nullptr);
    REQUIRE(!LZ4F_isError(m));
    append_bytes(out, buf.data(), m);
  });
  n = LZ4F_compressEnd(cctx, buf.data(), buf.size(), nullptr);
  REQUIRE(!LZ4F_isError(n));
  append_bytes(out, buf.data(), n);
  LZ4F_freeCompressionContext(cctx);
  return out;
}

// Xerial framing: magic, version 1, compatible version 1, then (i32 length, block) for
// each 32 KiB of input.
inline std::vector<std::byte> snappy_bomb(std::uint64_t value_bytes) {
  constexpr std::size_t kBlock = 32 * 1024;
  std::vector<std::byte> out;
  const std::uint8_t header[16] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1};
  append_bytes(out, header, sizeof header);
  std::vector<std::byte> pending;
  std::vector<char> compressed(snappy_max_compressed_length(kBlock));
  auto flush = [&](std::size_t n) {
    std::size_t length = compressed.size();
    REQUIRE(snappy_compress(reinterpret_cast<const char*>(pending.data()), n, compressed.data(),
                            &length) == SNAPPY_OK);
    std::byte be[4];
    put_be<std::int32_t>(be, static_cast<std::int32_t>(length));
    append_bytes(out, be, 4);
    append_bytes(out, compressed.data(), length);
    pending.erase(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(n));
  };
  for_each_bomb_piece(value_bytes, [&](ByteSpan s) {
    pending.insert(pending.end(), s.begin(), s.end());
    while (pending.size() >= kBlock) flush(kBlock);
  });
  if (!pending.empty()) flush(pending.size());
  return out;
}

inline std::vector<std::byte> bomb_records(Bomb b, std::uint64_t value_bytes) {
  switch (b) {
    case Bomb::zstd_with_size:
      return zstd_bomb(value_bytes, true);
    case Bomb::zstd_without_size:
      return zstd_bomb(value_bytes, false);
    case Bomb::gzip:
      return gzip_bomb(value_bytes);
    case Bomb::lz4:
      return lz4_bomb(value_bytes);
    case Bomb::snappy:
      return snappy_bomb(value_bytes);
  }
  return {};
}

// A producer's batch (base offset 0, no producer id) around compressed records whose
// declared count is kSmallRecords + 1; length and CRC consistent.
inline std::vector<std::byte> batch_around(Compression codec,
                                           const std::vector<std::byte>& records) {
  namespace L = batch_layout;
  std::vector<std::byte> b(L::kHeaderSize);
  put_be<std::int64_t>(&b[L::kBaseOffset], 0);
  put_be<std::int32_t>(&b[L::kPartitionLeaderEpoch], -1);
  b[L::kMagic] = std::byte{2};
  put_be<std::uint16_t>(&b[L::kAttributes], static_cast<std::uint16_t>(codec));
  put_be<std::int32_t>(&b[L::kLastOffsetDelta], kSmallRecords);
  put_be<std::int64_t>(&b[L::kBaseTimestamp], 1000);
  put_be<std::int64_t>(&b[L::kMaxTimestamp], 1000);
  put_be<std::int64_t>(&b[L::kProducerId], -1);
  put_be<std::int16_t>(&b[L::kProducerEpoch], -1);
  put_be<std::int32_t>(&b[L::kBaseSequence], -1);
  put_be<std::int32_t>(&b[L::kRecordsCount], kSmallRecords + 1);
  b.insert(b.end(), records.begin(), records.end());
  put_be<std::int32_t>(&b[L::kLength], static_cast<std::int32_t>(b.size() - L::kLogOverhead));
  put_be<std::uint32_t>(&b[L::kCrc], crc32c(ByteSpan(b).subspan(L::kAttributes)));
  return b;
}

inline std::vector<std::byte> bomb_batch(Bomb b, std::uint64_t value_bytes) {
  return batch_around(bomb_codec(b), bomb_records(b, value_bytes));
}

}  // namespace samsa::test
