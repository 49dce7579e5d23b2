// The record-batch codecs: round trips, Kafka's framing bytes, the decompression bomb
// guard, and malformed input (truncation, bit flips, garbage) that must fail cleanly.
#include "compression.h"

#include <lz4frame.h>
#include <snappy-c.h>
#include <zstd.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "samsa/coding.h"

namespace {

using samsa::ByteSpan;
using samsa::Compression;
using samsa::Status;
using samsa::StatusCode;
using samsa::internal::compress;
using samsa::internal::decompress;
using Bytes = std::vector<std::byte>;

constexpr std::array<Compression, 4> kCodecs = {Compression::gzip, Compression::snappy,
                                                Compression::lz4, Compression::zstd};
constexpr std::size_t kKiB = 1024;
constexpr std::size_t kMiB = 1024 * kKiB;
constexpr std::size_t kNoLimit = 64 * kMiB;

std::string name(Compression codec) {
  return std::string(to_string(codec));
}

std::uint8_t u8(const Bytes& b, std::size_t i) {
  return static_cast<std::uint8_t>(b.at(i));
}

Bytes random_bytes(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  Bytes b(n);
  for (auto& x : b) x = static_cast<std::byte>(rng());
  return b;
}

// Highly compressible: a short record shape repeated with a slowly changing counter.
Bytes compressible_bytes(std::size_t n) {
  Bytes b;
  b.reserve(n + 64);
  for (std::size_t i = 0; b.size() < n; ++i) {
    const std::string rec = "key-" + std::to_string(i % 100) + " value=hello kafka;";
    for (char c : rec) b.push_back(static_cast<std::byte>(c));
  }
  b.resize(n);
  return b;
}

// Moderately compressible (about 3:1): random words and numbers.
Bytes text_bytes(std::size_t n, std::uint32_t seed) {
  static const std::array<std::string, 8> kWords = {"offset ", "segment ", "partition ", "leader ",
                                                    "epoch ",  "replica ", "batch ",     "record "};
  std::mt19937 rng(seed);
  Bytes b;
  b.reserve(n + 32);
  while (b.size() < n) {
    std::string w = kWords[rng() % kWords.size()] + std::to_string(rng() % 1000) + " ";
    for (char c : w) b.push_back(static_cast<std::byte>(c));
  }
  b.resize(n);
  return b;
}

Bytes bytes_of(std::string_view s) {
  const ByteSpan span = samsa::as_bytes(s);
  return {span.begin(), span.end()};
}

Bytes compressed(Compression codec, ByteSpan input, int level = 0) {
  Bytes out;
  const Status s = compress(codec, level, input, out);
  INFO(name(codec) << " level " << level << ": " << s.to_string());
  REQUIRE(s.ok());
  return out;
}

Bytes decompressed(Compression codec, ByteSpan input, std::size_t limit = kNoLimit) {
  Bytes out;
  const Status s = decompress(codec, input, limit, out);
  INFO(name(codec) << ": " << s.to_string());
  REQUIRE(s.ok());
  return out;
}

bool starts_with(const std::string& s, std::string_view prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}
bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The uncompressed sizes of the blocks of a xerial snappy stream.
std::vector<std::size_t> xerial_block_sizes(const Bytes& stream) {
  std::vector<std::size_t> sizes;
  std::size_t pos = 16;
  while (pos < stream.size()) {
    const auto len = static_cast<std::size_t>(samsa::get_be<std::int32_t>(stream.data() + pos));
    REQUIRE(pos + 4 + len <= stream.size());
    std::size_t n = 0;
    REQUIRE(snappy_uncompressed_length(reinterpret_cast<const char*>(stream.data() + pos + 4), len,
                                       &n) == SNAPPY_OK);
    sizes.push_back(n);
    pos += 4 + len;
  }
  return sizes;
}

}  // namespace

TEST_CASE("Every codec round-trips empty, one-byte, random and compressible inputs",
          "[compression]") {
  const std::vector<Bytes> inputs = {Bytes{}, Bytes{std::byte{0x5a}}, random_bytes(100 * kKiB, 1),
                                     compressible_bytes(kMiB)};
  const Bytes prefix = bytes_of("already here");
  for (Compression codec : {Compression::none, Compression::gzip, Compression::snappy,
                            Compression::lz4, Compression::zstd}) {
    for (const Bytes& input : inputs) {
      INFO(name(codec) << " with " << input.size() << " bytes");
      Bytes packed = prefix;
      REQUIRE(compress(codec, 0, input, packed).ok());
      REQUIRE(std::equal(prefix.begin(), prefix.end(), packed.begin()));
      const ByteSpan stream = ByteSpan(packed).subspan(prefix.size());
      Bytes unpacked = prefix;
      // The limit is exactly the original size: reaching it is fine.
      const Status s = decompress(codec, stream, input.size(), unpacked);
      INFO(s.to_string());
      REQUIRE(s.ok());
      REQUIRE(unpacked.size() == prefix.size() + input.size());
      CHECK(std::equal(prefix.begin(), prefix.end(), unpacked.begin()));
      CHECK(std::equal(input.begin(), input.end(), unpacked.begin() + prefix.size()));
    }
  }
}

TEST_CASE("Compressible input actually shrinks under every codec", "[compression]") {
  const Bytes input = compressible_bytes(kMiB);
  for (Compression codec : kCodecs) {
    INFO(name(codec));
    CHECK(compressed(codec, input).size() < input.size() / 10);
  }
}

TEST_CASE("Compressed lz4 is an LZ4 frame with 64 KiB independent blocks and no checksums",
          "[compression]") {
  const Bytes input = random_bytes(100 * kKiB, 2);
  const Bytes frame = compressed(Compression::lz4, input);
  CHECK(u8(frame, 0) == 0x04);
  CHECK(u8(frame, 1) == 0x22);
  CHECK(u8(frame, 2) == 0x4d);
  CHECK(u8(frame, 3) == 0x18);
  const std::uint8_t flg = u8(frame, 4);
  CHECK((flg >> 6) == 0x01);  // version 01
  CHECK((flg & 0x20) != 0);   // block independence
  CHECK((flg & 0x10) == 0);   // no block checksum
  CHECK((flg & 0x08) == 0);   // no content size, as KafkaLZ4BlockOutputStream
  CHECK((flg & 0x04) == 0);   // no content checksum
  CHECK((flg & 0x01) == 0);   // no dictionary id
  const std::uint8_t bd = u8(frame, 5);
  CHECK(((bd >> 4) & 0x07) == 4);  // 64 KiB
  // The first block (little-endian size after the 7-byte header) holds at most 64 KiB.
  std::uint32_t block = 0;
  std::memcpy(&block, frame.data() + 7, 4);
  CHECK((block & 0x7fffffffu) <= 64 * kKiB);
}

TEST_CASE("Compressed snappy uses xerial framing with 32 KiB blocks", "[compression]") {
  const Bytes input = random_bytes(100 * kKiB, 3);
  const Bytes stream = compressed(Compression::snappy, input);
  const Bytes header = {std::byte{0x82}, std::byte{'S'}, std::byte{'N'}, std::byte{'A'},
                        std::byte{'P'},  std::byte{'P'}, std::byte{'Y'}, std::byte{0},
                        std::byte{0},    std::byte{0},   std::byte{0},   std::byte{1},
                        std::byte{0},    std::byte{0},   std::byte{0},   std::byte{1}};
  REQUIRE(stream.size() > header.size());
  CHECK(std::equal(header.begin(), header.end(), stream.begin()));
  CHECK(xerial_block_sizes(stream) ==
        std::vector<std::size_t>{32 * kKiB, 32 * kKiB, 32 * kKiB, 4 * kKiB});
  // An empty input is the header alone, as SnappyOutputStream writes it.
  CHECK(compressed(Compression::snappy, Bytes{}) == header);
}

TEST_CASE("Compressed gzip starts with the GZIP magic and zstd with the zstd frame magic",
          "[compression]") {
  const Bytes input = compressible_bytes(10 * kKiB);
  const Bytes gz = compressed(Compression::gzip, input);
  CHECK(u8(gz, 0) == 0x1f);
  CHECK(u8(gz, 1) == 0x8b);
  CHECK(u8(gz, 2) == 0x08);  // deflate
  const Bytes zs = compressed(Compression::zstd, input);
  CHECK(u8(zs, 0) == 0x28);
  CHECK(u8(zs, 1) == 0xb5);
  CHECK(u8(zs, 2) == 0x2f);
  CHECK(u8(zs, 3) == 0xfd);
}

TEST_CASE("A positive level reaches the codec", "[compression]") {
  const Bytes input = text_bytes(256 * kKiB, 4);
  const std::vector<std::pair<Compression, std::pair<int, int>>> cases = {
      {Compression::gzip, {1, 9}}, {Compression::lz4, {1, 9}}, {Compression::zstd, {1, 19}}};
  for (const auto& [codec, levels] : cases) {
    INFO(name(codec));
    const Bytes fast = compressed(codec, input, levels.first);
    const Bytes strong = compressed(codec, input, levels.second);
    CHECK(strong.size() < fast.size());
    CHECK(decompressed(codec, fast) == input);
    CHECK(decompressed(codec, strong) == input);
  }
}

TEST_CASE("A level outside the codec's range is invalid_argument", "[compression]") {
  const Bytes input = bytes_of("x");
  const std::vector<std::pair<Compression, int>> bad = {{Compression::gzip, 10},
                                                        {Compression::gzip, -1},
                                                        {Compression::lz4, 18},
                                                        {Compression::lz4, -1},
                                                        {Compression::zstd, ZSTD_maxCLevel() + 1}};
  for (const auto& [codec, level] : bad) {
    Bytes out;
    const Status s = compress(codec, level, input, out);
    INFO(name(codec) << " level " << level << ": " << s.to_string());
    CHECK(s.code() == StatusCode::invalid_argument);
    CHECK(starts_with(s.message(), name(codec) + ": compression level"));
    CHECK(out.empty());
  }
  // snappy has no levels; Kafka ignores one too.
  CHECK(decompressed(Compression::snappy, compressed(Compression::snappy, input, 5)) == input);
}

TEST_CASE("An unknown codec id is not_supported and names the id", "[compression]") {
  const Bytes input = bytes_of("payload");
  for (int id : {5, 6, 7}) {
    const auto codec = static_cast<Compression>(id);
    Bytes out;
    const Status c = compress(codec, 0, input, out);
    CHECK(c.code() == StatusCode::not_supported);
    CHECK(c.message().find(std::to_string(id)) != std::string::npos);
    const Status d = decompress(codec, input, kNoLimit, out);
    CHECK(d.code() == StatusCode::not_supported);
    CHECK(d.message().find(std::to_string(id)) != std::string::npos);
    CHECK(out.empty());
  }
}

TEST_CASE("Compression none copies through and respects the limit", "[compression]") {
  const Bytes input = bytes_of("0123456789");
  CHECK(compressed(Compression::none, input) == input);
  CHECK(decompressed(Compression::none, input, 10) == input);
  Bytes out;
  const Status s = decompress(Compression::none, input, 9, out);
  CHECK(s.code() == StatusCode::decompression_limit);
  CHECK(out.empty());
}

TEST_CASE("Output one byte past the limit is decompression_limit naming codec, limit, position",
          "[compression]") {
  const Bytes input = text_bytes(100 * kKiB, 5);
  const std::size_t limit = input.size() - 1;
  for (Compression codec : kCodecs) {
    INFO(name(codec));
    const Bytes stream = compressed(codec, input);
    Bytes out = bytes_of("kept");
    const Status s = decompress(codec, stream, limit, out);
    INFO(s.to_string());
    CHECK(s.code() == StatusCode::decompression_limit);
    CHECK(starts_with(s.message(), name(codec) + ": decompressed size passes the limit of " +
                                       std::to_string(limit) + " bytes at compressed byte "));
    CHECK(ends_with(s.message(), " of " + std::to_string(stream.size())));
    // The prefix decoded within the limit stays (snappy refuses from the declared sizes,
    // before decoding), after what `out` held.
    const Bytes kept = bytes_of("kept");
    REQUIRE(out.size() == kept.size() + (codec == Compression::snappy ? 0 : limit));
    CHECK(std::equal(kept.begin(), kept.end(), out.begin()));
    CHECK(std::equal(out.begin() + 4, out.end(), input.begin()));
  }
}

TEST_CASE("A decompression bomb stops at the limit without allocating past it", "[compression]") {
  const Bytes zeros(32 * kMiB);
  const std::size_t limit = kMiB;
  for (Compression codec : kCodecs) {
    const Bytes bomb = compressed(codec, zeros);
    INFO(name(codec) << " bomb of " << bomb.size() << " bytes");
    CHECK(bomb.size() < 2 * kMiB);
    Bytes out;
    const Status s = decompress(codec, bomb, limit, out);
    CHECK(s.code() == StatusCode::decompression_limit);
    CHECK(out.size() <= limit);
    // The guard: never more than the limit plus one byte (the proof it was passed).
    CHECK(out.capacity() <= limit + 1);
  }
}

TEST_CASE("A zstd stream without content size, as zstd-jni writes it, decodes and is bounded",
          "[compression]") {
  const Bytes input = compressible_bytes(3 * kMiB);
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  REQUIRE(cctx != nullptr);
  REQUIRE(!ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 0)));
  REQUIRE(!ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1)));
  Bytes stream(ZSTD_compressBound(input.size()));
  const std::size_t n =
      ZSTD_compress2(cctx, stream.data(), stream.size(), input.data(), input.size());
  ZSTD_freeCCtx(cctx);
  REQUIRE(!ZSTD_isError(n));
  stream.resize(n);
  REQUIRE(ZSTD_getFrameContentSize(stream.data(), stream.size()) == ZSTD_CONTENTSIZE_UNKNOWN);
  CHECK(decompressed(Compression::zstd, stream) == input);

  Bytes out;
  CHECK(decompress(Compression::zstd, stream, kMiB, out).code() == StatusCode::decompression_limit);
  CHECK(out.capacity() <= kMiB + 1);
}

TEST_CASE("LZ4 frames from other writers decode: content size, checksums, linked blocks",
          "[compression]") {
  const Bytes input = text_bytes(600 * kKiB, 6);
  LZ4F_preferences_t prefs{};
  prefs.frameInfo.blockSizeID = LZ4F_max256KB;
  prefs.frameInfo.blockMode = LZ4F_blockLinked;
  prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
  prefs.frameInfo.blockChecksumFlag = LZ4F_blockChecksumEnabled;
  prefs.frameInfo.contentSize = input.size();
  Bytes frame(LZ4F_compressFrameBound(input.size(), &prefs));
  const std::size_t n =
      LZ4F_compressFrame(frame.data(), frame.size(), input.data(), input.size(), &prefs);
  REQUIRE(!LZ4F_isError(n));
  frame.resize(n);
  CHECK(decompressed(Compression::lz4, frame) == input);

  // A wrong content checksum (the last four bytes) is caught.
  frame.back() ^= std::byte{0x01};
  Bytes out;
  const Status s = decompress(Compression::lz4, frame, kNoLimit, out);
  CHECK(s.code() == StatusCode::corruption);
  CHECK(starts_with(s.message(), "lz4: malformed frame at compressed byte"));
}

TEST_CASE("Plain snappy without xerial framing is accepted", "[compression]") {
  const Bytes input = text_bytes(70 * kKiB, 7);
  Bytes raw(snappy_max_compressed_length(input.size()));
  std::size_t n = raw.size();
  REQUIRE(snappy_compress(reinterpret_cast<const char*>(input.data()), input.size(),
                          reinterpret_cast<char*>(raw.data()), &n) == SNAPPY_OK);
  raw.resize(n);
  CHECK(decompressed(Compression::snappy, raw) == input);
  Bytes out;
  CHECK(decompress(Compression::snappy, raw, input.size() - 1, out).code() ==
        StatusCode::decompression_limit);
  CHECK(out.capacity() == 0);  // refused from the declared size, before allocating
}

TEST_CASE("Concatenated frames and gzip members decode as one stream", "[compression]") {
  const Bytes a = text_bytes(90 * kKiB, 8);
  const Bytes b = compressible_bytes(50 * kKiB);
  Bytes both = a;
  both.insert(both.end(), b.begin(), b.end());
  for (Compression codec : {Compression::gzip, Compression::lz4, Compression::zstd}) {
    INFO(name(codec));
    Bytes stream = compressed(codec, a);
    REQUIRE(compress(codec, 0, b, stream).ok());
    CHECK(decompressed(codec, stream) == both);
  }
}

TEST_CASE("Malformed input is corruption naming the codec and the byte position", "[compression]") {
  auto fails = [](Compression codec, const Bytes& input) {
    Bytes out = bytes_of("kept");
    const Status s = decompress(codec, input, kNoLimit, out);
    CHECK(s.code() == StatusCode::corruption);
    CHECK(out == bytes_of("kept"));  // a failed call leaves `out` as it was
    return s.message();
  };
  const Bytes garbage = bytes_of("this is not compressed at all");
  CHECK(fails(Compression::lz4, garbage) ==
        "lz4: malformed frame at compressed byte 0: ERROR_frameType_unknown");
  CHECK(fails(Compression::zstd, garbage) ==
        "zstd: malformed stream at compressed byte 0: Unknown frame descriptor");
  CHECK(
      starts_with(fails(Compression::gzip, garbage), "gzip: malformed stream at compressed byte"));
  CHECK(fails(Compression::snappy, garbage) == "snappy: malformed block at compressed byte 0");

  // A block length past the end of a xerial stream.
  Bytes xerial = compressed(Compression::snappy, Bytes{});
  xerial.resize(40);
  samsa::put_be<std::int32_t>(xerial.data() + 16, 9999);
  CHECK(fails(Compression::snappy, xerial) ==
        "snappy: block length 9999 at byte 16 passes the end (40 bytes)");
  samsa::put_be<std::int32_t>(xerial.data() + 16, -5);
  CHECK(fails(Compression::snappy, xerial) ==
        "snappy: block length -5 at byte 16 passes the end (40 bytes)");

  // An lz4 block claiming more than the frame's 64 KiB maximum, right after the header.
  Bytes frame = compressed(Compression::lz4, text_bytes(10 * kKiB, 9));
  frame[7] = frame[8] = frame[9] = std::byte{0xff};
  frame[10] = std::byte{0x7f};
  CHECK(starts_with(fails(Compression::lz4, frame), "lz4: malformed frame at compressed byte 7: "));

  // A stream cut inside its frame.
  const Bytes zs = compressed(Compression::zstd, text_bytes(10 * kKiB, 10));
  const Bytes cut(zs.begin(), zs.end() - 1);
  CHECK(fails(Compression::zstd, cut) == "zstd: stream truncated: ends at compressed byte " +
                                             std::to_string(cut.size()) + " inside a frame");
  CHECK(starts_with(fails(Compression::gzip, Bytes{}), "gzip: stream truncated"));
  CHECK(starts_with(fails(Compression::lz4, Bytes{}), "lz4: stream truncated"));
  CHECK(starts_with(fails(Compression::zstd, Bytes{}), "zstd: stream truncated"));
  CHECK(starts_with(fails(Compression::snappy, Bytes{}), "snappy: malformed block"));
}

// Prefix lengths to try: every one near both ends, a dense stride between.
std::vector<std::size_t> prefix_lengths(std::size_t size) {
  constexpr std::size_t kEdge = 512;
  constexpr std::size_t kStride = 29;
  std::vector<std::size_t> lengths;
  for (std::size_t n = 0; n < size; ++n) {
    if (n < kEdge || n + kEdge >= size || n % kStride == 0) lengths.push_back(n);
  }
  return lengths;
}

TEST_CASE("Every strict prefix of a compressed stream fails to decompress", "[compression]") {
  for (const Bytes& input : {Bytes{}, bytes_of("a"), text_bytes(150 * kKiB, 11)}) {
    for (Compression codec : {Compression::gzip, Compression::lz4, Compression::zstd}) {
      const Bytes stream = compressed(codec, input);
      const std::size_t limit = 2 * input.size() + 1;  // a bound a reader would know
      INFO(name(codec) << " stream of " << stream.size() << " bytes");
      for (std::size_t n : prefix_lengths(stream.size())) {
        Bytes out;
        const Status s = decompress(codec, ByteSpan(stream).first(n), limit, out);
        INFO("prefix of " << n << " bytes");
        CHECK(s.code() == StatusCode::corruption);
      }
    }
  }
}

TEST_CASE("A prefix of a xerial stream fails unless it ends on a block boundary", "[compression]") {
  // xerial framing has no end marker: a cut between blocks is a shorter valid stream. Every
  // other cut must fail, and a cut on a boundary must give a prefix of the input.
  const Bytes input = text_bytes(150 * kKiB, 12);
  const Bytes stream = compressed(Compression::snappy, input);
  std::size_t boundaries_seen = 0;
  for (std::size_t n : prefix_lengths(stream.size())) {
    Bytes out;
    const Status s = decompress(Compression::snappy, ByteSpan(stream).first(n), kNoLimit, out);
    INFO("prefix of " << n << " bytes of " << stream.size() << ": " << s.to_string());
    if (s.ok()) {
      ++boundaries_seen;
      CHECK(n >= 16);
      CHECK(out.size() % (32 * kKiB) == 0);
      CHECK(std::equal(out.begin(), out.end(), input.begin()));
    } else {
      CHECK(s.code() == StatusCode::corruption);
    }
  }
  CHECK(boundaries_seen >= 1);  // the header alone
  const Bytes empty_stream = compressed(Compression::snappy, Bytes{});
  for (std::size_t n = 0; n < empty_stream.size(); ++n) {
    Bytes out;
    INFO("prefix of " << n << " bytes of the header");
    CHECK(!decompress(Compression::snappy, ByteSpan(empty_stream).first(n), kNoLimit, out).ok());
  }
}

TEST_CASE("Flipped bits never crash a decoder nor pass the limit", "[compression]") {
  const Bytes input = text_bytes(20 * kKiB, 13);
  constexpr std::size_t kLimit = 32 * kKiB;
  for (Compression codec : kCodecs) {
    const Bytes stream = compressed(codec, input);
    INFO(name(codec) << " stream of " << stream.size() << " bytes");
    std::size_t failures = 0;
    for (std::size_t bit = 0; bit < stream.size() * 8; ++bit) {
      if (bit >= 64 * 8 && bit % 7 != 0) continue;  // every bit of the header, a sample after
      Bytes flipped = stream;
      flipped[bit / 8] ^= static_cast<std::byte>(1u << (bit % 8));
      Bytes out;
      const Status s = decompress(codec, flipped, kLimit, out);
      if (s.ok()) {
        CHECK(out.size() <= kLimit);
      } else {
        ++failures;
        CHECK(out.empty());
      }
    }
    CHECK(failures > 0);
  }
}

TEST_CASE("Random garbage never crashes a decoder", "[compression]") {
  std::mt19937 rng(14);
  const std::array<Bytes, 4> magics = {
      Bytes{std::byte{0x1f}, std::byte{0x8b}, std::byte{0x08}, std::byte{0x00}},
      compressed(Compression::snappy, Bytes{}),
      Bytes{std::byte{0x04}, std::byte{0x22}, std::byte{0x4d}, std::byte{0x18}},
      Bytes{std::byte{0x28}, std::byte{0xb5}, std::byte{0x2f}, std::byte{0xfd}}};
  for (int round = 0; round < 2000; ++round) {
    const std::size_t i = static_cast<std::size_t>(round) % kCodecs.size();
    // Half the rounds start with the codec's magic, to get past the first check.
    Bytes garbage = round % 2 == 0 ? magics[i] : Bytes{};
    const Bytes tail = random_bytes(rng() % 300, static_cast<std::uint32_t>(rng()));
    garbage.insert(garbage.end(), tail.begin(), tail.end());
    Bytes out;
    const Status s = decompress(kCodecs[i], garbage, 4 * kKiB, out);
    if (s.ok()) CHECK(out.size() <= 4 * kKiB);
  }
}
