#include "samsa/coding.h"

#include <catch2/catch.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string>
#include <vector>

namespace samsa {
namespace {

std::vector<std::byte> bytes(std::initializer_list<unsigned> values) {
  std::vector<std::byte> out;
  for (unsigned v : values) out.push_back(static_cast<std::byte>(v));
  return out;
}

std::vector<std::byte> encode_varint(std::int32_t v) {
  std::array<std::byte, kVarintMaxBytes> buf{};
  std::byte* end = put_varint(buf.data(), v);
  return {buf.data(), end};
}

std::vector<std::byte> encode_varlong(std::int64_t v) {
  std::array<std::byte, kVarlongMaxBytes> buf{};
  std::byte* end = put_varlong(buf.data(), v);
  return {buf.data(), end};
}

template <typename T>
T round_trip_be(T v) {
  std::array<std::byte, sizeof(T)> buf{};
  put_be<T>(buf.data(), v);
  return get_be<T>(buf.data());
}

// Values whose zigzag encoding sits on either side of each 7-bit group boundary.
std::vector<std::int64_t> boundary_values() {
  std::vector<std::int64_t> out = {0, 1, -1, std::numeric_limits<std::int64_t>::min(),
                                   std::numeric_limits<std::int64_t>::max()};
  for (int k = 1; k <= 9; ++k) {
    // zigzag(v) == 2v for v >= 0 and -2v-1 for v < 0, so 2^(7k) is crossed at v = 2^(7k-1).
    const std::int64_t half = std::int64_t{1} << (7 * k - 1);
    for (std::int64_t v : {half - 1, half, half + 1, -half - 1, -half, -half + 1}) {
      out.push_back(v);
    }
  }
  return out;
}

}  // namespace

TEST_CASE("Big-endian put writes the most significant byte first", "[coding]") {
  std::array<std::byte, 8> buf{};
  put_be<std::int16_t>(buf.data(), 0x0102);
  CHECK(buf[0] == std::byte{0x01});
  CHECK(buf[1] == std::byte{0x02});
  put_be<std::int32_t>(buf.data(), 0x01020304);
  CHECK(std::vector<std::byte>(buf.begin(), buf.begin() + 4) == bytes({1, 2, 3, 4}));
  put_be<std::int64_t>(buf.data(), 0x0102030405060708);
  CHECK(std::vector<std::byte>(buf.begin(), buf.end()) == bytes({1, 2, 3, 4, 5, 6, 7, 8}));
  put_be<std::int32_t>(buf.data(), -2);
  CHECK(std::vector<std::byte>(buf.begin(), buf.begin() + 4) == bytes({0xff, 0xff, 0xff, 0xfe}));
  put_be<std::int16_t>(buf.data(), -1);
  CHECK(std::vector<std::byte>(buf.begin(), buf.begin() + 2) == bytes({0xff, 0xff}));
}

TEST_CASE("Big-endian get reads what put wrote, negative values included", "[coding]") {
  for (std::int16_t v :
       {std::int16_t{0}, std::int16_t{1}, std::int16_t{-1}, std::int16_t{0x1234},
        std::numeric_limits<std::int16_t>::min(), std::numeric_limits<std::int16_t>::max()}) {
    CHECK(round_trip_be(v) == v);
  }
  for (std::int32_t v :
       {0, 1, -1, 0x12345678, -0x12345678, std::numeric_limits<std::int32_t>::min(),
        std::numeric_limits<std::int32_t>::max()}) {
    CHECK(round_trip_be(v) == v);
  }
  for (std::int64_t v : {std::int64_t{0}, std::int64_t{-1}, std::int64_t{0x123456789ABCDEF0},
                         -std::int64_t{0x123456789ABCDEF}, std::numeric_limits<std::int64_t>::min(),
                         std::numeric_limits<std::int64_t>::max()}) {
    CHECK(round_trip_be(v) == v);
  }
  CHECK(round_trip_be<std::uint32_t>(0xDEADBEEFu) == 0xDEADBEEFu);
  CHECK(round_trip_be<std::uint64_t>(0xFEDCBA9876543210u) == 0xFEDCBA9876543210u);
  CHECK(round_trip_be<std::uint16_t>(0xBEEF) == 0xBEEF);

  const auto raw = bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe});
  CHECK(get_be<std::int64_t>(raw.data()) == -2);
  CHECK(get_be<std::int32_t>(raw.data() + 4) == -2);
  CHECK(get_be<std::int16_t>(raw.data() + 6) == -2);
  CHECK(get_be<std::uint16_t>(raw.data() + 6) == 0xfffe);
}

TEST_CASE("Zigzag maps small magnitudes to small unsigned values", "[coding]") {
  CHECK(zigzag_encode32(0) == 0u);
  CHECK(zigzag_encode32(-1) == 1u);
  CHECK(zigzag_encode32(1) == 2u);
  CHECK(zigzag_encode32(-2) == 3u);
  CHECK(zigzag_encode32(std::numeric_limits<std::int32_t>::max()) == 0xFFFFFFFEu);
  CHECK(zigzag_encode32(std::numeric_limits<std::int32_t>::min()) == 0xFFFFFFFFu);
  CHECK(zigzag_encode64(0) == 0u);
  CHECK(zigzag_encode64(-1) == 1u);
  CHECK(zigzag_encode64(1) == 2u);
  CHECK(zigzag_encode64(std::numeric_limits<std::int64_t>::max()) == 0xFFFFFFFFFFFFFFFEu);
  CHECK(zigzag_encode64(std::numeric_limits<std::int64_t>::min()) == 0xFFFFFFFFFFFFFFFFu);

  for (std::int32_t v : {0, 1, -1, 2, -2, 300, -300, std::numeric_limits<std::int32_t>::min(),
                         std::numeric_limits<std::int32_t>::max()}) {
    CHECK(zigzag_decode32(zigzag_encode32(v)) == v);
  }
  for (std::int64_t v : boundary_values()) CHECK(zigzag_decode64(zigzag_encode64(v)) == v);
  static_assert(zigzag_decode32(1) == -1 && zigzag_decode64(2) == 1);
}

TEST_CASE("Varints have Kafka's exact encodings", "[coding]") {
  CHECK(encode_varint(0) == bytes({0x00}));
  CHECK(encode_varint(-1) == bytes({0x01}));
  CHECK(encode_varint(1) == bytes({0x02}));
  CHECK(encode_varint(63) == bytes({0x7e}));
  CHECK(encode_varint(-64) == bytes({0x7f}));
  CHECK(encode_varint(64) == bytes({0x80, 0x01}));
  CHECK(encode_varint(300) == bytes({0xd8, 0x04}));  // zigzag 600
  CHECK(encode_varint(std::numeric_limits<std::int32_t>::max()) ==
        bytes({0xfe, 0xff, 0xff, 0xff, 0x0f}));
  CHECK(encode_varint(std::numeric_limits<std::int32_t>::min()) ==
        bytes({0xff, 0xff, 0xff, 0xff, 0x0f}));
  CHECK(encode_varlong(-1) == bytes({0x01}));
  CHECK(encode_varlong(300) == bytes({0xd8, 0x04}));
  CHECK(encode_varlong(std::numeric_limits<std::int64_t>::min()) ==
        bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}));
  CHECK(encode_varlong(std::numeric_limits<std::int64_t>::max()) ==
        bytes({0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}));
}

TEST_CASE("Varint sizes step up at each 7-bit boundary of the zigzag value", "[coding]") {
  CHECK(varint_size(0) == 1);
  CHECK(varint_size(63) == 1);
  CHECK(varint_size(-64) == 1);
  CHECK(varint_size(64) == 2);
  CHECK(varint_size(-65) == 2);
  CHECK(varint_size(8191) == 2);
  CHECK(varint_size(8192) == 3);
  CHECK(varint_size(std::numeric_limits<std::int32_t>::max()) == 5);
  CHECK(varint_size(std::numeric_limits<std::int32_t>::min()) == 5);
  CHECK(varlong_size(std::numeric_limits<std::int64_t>::min()) == 10);
  CHECK(varlong_size(std::numeric_limits<std::int64_t>::max()) == 10);
  for (int k = 1; k <= 9; ++k) {
    const std::int64_t half = std::int64_t{1} << (7 * k - 1);
    INFO("k = " << k);
    CHECK(varlong_size(half - 1) == k);
    CHECK(varlong_size(half) == k + 1);
    CHECK(varlong_size(-half) == k);
    CHECK(varlong_size(-half - 1) == k + 1);
  }
  static_assert(varint_size(300) == 2 && varlong_size(-1) == 1);
}

TEST_CASE("Varints and varlongs round trip across every size boundary", "[coding]") {
  for (std::int64_t v : boundary_values()) {
    INFO("value " << v);
    const auto encoded = encode_varlong(v);
    CHECK(static_cast<int>(encoded.size()) == varlong_size(v));
    ByteReader reader(encoded);
    std::int64_t out = 0;
    REQUIRE(reader.read_varlong(out));
    CHECK(out == v);
    CHECK(reader.at_end());

    if (v >= std::numeric_limits<std::int32_t>::min() &&
        v <= std::numeric_limits<std::int32_t>::max()) {
      const auto v32 = static_cast<std::int32_t>(v);
      const auto encoded32 = encode_varint(v32);
      CHECK(static_cast<int>(encoded32.size()) == varint_size(v32));
      CHECK(encoded32 == encoded);  // same wire format for values that fit
      ByteReader reader32(encoded32);
      std::int32_t out32 = 0;
      REQUIRE(reader32.read_varint(out32));
      CHECK(out32 == v32);
      CHECK(reader32.offset() == encoded32.size());
    }
  }
}

TEST_CASE("A truncated varint fails at every cut without moving the cursor", "[coding]") {
  const std::int64_t values[] = {300, std::numeric_limits<std::int32_t>::min(),
                                 std::numeric_limits<std::int64_t>::min()};
  for (std::int64_t v : values) {
    std::vector<std::byte> buf = bytes({0xAA, 0xBB});  // a 2-byte field read first
    const auto encoded = encode_varlong(v);
    buf.insert(buf.end(), encoded.begin(), encoded.end());
    for (std::size_t cut = 2; cut < buf.size(); ++cut) {
      INFO("value " << v << " cut at " << cut);
      ByteReader reader(ByteSpan(buf.data(), cut));
      std::int16_t head = 0;
      REQUIRE(reader.read_be(head));
      std::int64_t out = 7;
      CHECK_FALSE(reader.read_varlong(out));
      CHECK(reader.error() == ByteReader::Error::truncated);
      CHECK(reader.offset() == 2);
      CHECK(out == 7);
      if (v >= std::numeric_limits<std::int32_t>::min()) {
        std::int32_t out32 = 7;
        CHECK_FALSE(reader.read_varint(out32));
        CHECK(reader.error() == ByteReader::Error::truncated);
        CHECK(reader.offset() == 2);
      }
    }
  }
}

TEST_CASE("A varint with a continuation bit in its 5th byte is too long", "[coding]") {
  const auto buf = bytes({0x80, 0x80, 0x80, 0x80, 0x80, 0x00});
  ByteReader reader(buf);
  std::int32_t out = 0;
  CHECK_FALSE(reader.read_varint(out));
  CHECK(reader.error() == ByteReader::Error::varint_too_long);
  CHECK(reader.offset() == 0);
}

TEST_CASE("A varint whose 5th byte sets bits beyond 32 is too long", "[coding]") {
  // 0x0f in the 5th byte fills bits 28..31 exactly; 0x10 would be bit 32.
  const auto fits = bytes({0xff, 0xff, 0xff, 0xff, 0x0f});
  ByteReader ok_reader(fits);
  std::int32_t out = 0;
  REQUIRE(ok_reader.read_varint(out));
  CHECK(out == std::numeric_limits<std::int32_t>::min());

  for (unsigned fifth : {0x10u, 0x1fu, 0x7fu}) {
    INFO("5th byte " << fifth);
    const auto buf = bytes({0x01, 0xff, 0xff, 0xff, 0xff, fifth});
    ByteReader reader(buf);
    std::int8_t head = 0;
    REQUIRE(reader.read_be(head));
    CHECK_FALSE(reader.read_varint(out));
    CHECK(reader.error() == ByteReader::Error::varint_too_long);
    CHECK(reader.offset() == 1);  // names the start of the bad field
  }
}

TEST_CASE("A varlong that overflows 64 bits is too long", "[coding]") {
  // 10th byte may only carry bit 63.
  auto buf = bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02});
  std::int64_t out = 0;
  {
    ByteReader reader(buf);
    CHECK_FALSE(reader.read_varlong(out));
    CHECK(reader.error() == ByteReader::Error::varint_too_long);
    CHECK(reader.offset() == 0);
  }
  buf.back() = std::byte{0x81};  // continuation into an 11th byte
  buf.push_back(std::byte{0x00});
  {
    ByteReader reader(buf);
    CHECK_FALSE(reader.read_varlong(out));
    CHECK(reader.error() == ByteReader::Error::varint_too_long);
    CHECK(reader.offset() == 0);
  }
  // Eleven bytes of plain continuation.
  const auto eleven = bytes({0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00});
  ByteReader reader(eleven);
  CHECK_FALSE(reader.read_varlong(out));
  CHECK(reader.error() == ByteReader::Error::varint_too_long);
}

TEST_CASE("Reading a big-endian integer past the end fails without moving", "[coding]") {
  const auto buf = bytes({0x00, 0x00, 0x01, 0x2c, 0x7f, 0x01, 0x02});
  ByteReader reader(buf);
  std::int32_t v32 = 0;
  REQUIRE(reader.read_be(v32));
  CHECK(v32 == 300);
  std::int64_t v64 = 5;
  CHECK_FALSE(reader.read_be(v64));
  CHECK(reader.error() == ByteReader::Error::truncated);
  CHECK(reader.offset() == 4);
  CHECK(v64 == 5);
  std::int32_t again = 0;
  CHECK_FALSE(reader.read_be(again));
  CHECK(reader.offset() == 4);
  std::uint16_t v16 = 0;
  REQUIRE(reader.read_be(v16));
  CHECK(v16 == 0x7f01);
  CHECK(reader.remaining() == 1);
}

TEST_CASE("Reading or skipping bytes past the end fails without moving", "[coding]") {
  const auto buf = bytes({1, 2, 3, 4, 5});
  ByteReader reader(buf);
  ByteSpan out;
  REQUIRE(reader.read_bytes(2, out));
  CHECK(out.size() == 2);
  CHECK(out.data() == buf.data());  // a view, not a copy
  CHECK_FALSE(reader.read_bytes(4, out));
  CHECK(reader.error() == ByteReader::Error::truncated);
  CHECK(reader.offset() == 2);
  CHECK_FALSE(reader.skip(4));
  CHECK(reader.offset() == 2);
  REQUIRE(reader.skip(1));
  REQUIRE(reader.read_bytes(2, out));
  CHECK(out[1] == std::byte{5});
  CHECK(reader.at_end());
  REQUIRE(reader.read_bytes(0, out));
  CHECK(out.empty());
  CHECK_FALSE(reader.read_bytes(1, out));
}

TEST_CASE("as_bytes and as_chars view the same memory", "[coding]") {
  const std::string text = "kafka";
  const ByteSpan b = as_bytes(text);
  CHECK(b.size() == 5);
  CHECK(static_cast<const void*>(b.data()) == static_cast<const void*>(text.data()));
  CHECK(b[0] == std::byte{'k'});
  CHECK(as_chars(b) == "kafka");
  CHECK(as_chars(b.subspan(1, 3)) == "afk");
  CHECK(as_bytes("").empty());
  CHECK(as_chars(ByteSpan()).empty());
}

}  // namespace samsa
