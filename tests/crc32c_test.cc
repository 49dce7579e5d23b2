#include "samsa/crc32c.h"

#include <catch2/catch.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#ifdef SAMSA_HAVE_ISAL
#include <isa-l/crc.h>
#endif

namespace samsa {
namespace {

using ExtendFn = std::uint32_t (*)(std::uint32_t, ByteSpan);

struct Impl {
  std::string_view name;
  ExtendFn fn;
};

// Every implementation this machine runs natively, plus the dispatching public one.
std::vector<Impl> implementations() {
  std::vector<Impl> impls = {
      {"table", internal::crc32c_extend_table},
      {"public", crc32c_extend},
  };
  if (internal::crc32c_sse42_available())
    impls.push_back({"sse4.2", internal::crc32c_extend_sse42});
  if (internal::crc32c_isal_available()) impls.push_back({"isa-l", internal::crc32c_extend_isal});
  return impls;
}

std::vector<std::byte> random_bytes(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::byte> out(n);
  for (auto& b : out) b = static_cast<std::byte>(rng() & 0xFF);
  return out;
}

std::vector<std::byte> from_hex(std::string_view hex) {
  std::vector<std::byte> out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<std::byte>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

// A bit-at-a-time CRC-32C straight from the definition: the reference the fast ones must
// match.
std::uint32_t crc32c_bitwise(ByteSpan data) {
  std::uint32_t crc = 0xFFFFFFFFu;
  for (std::byte b : data) {
    crc ^= static_cast<std::uint8_t>(b);
    for (int k = 0; k < 8; ++k) crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
  }
  return ~crc;
}

}  // namespace

TEST_CASE("Every implementation gives the standard check value for 123456789", "[crc32c]") {
  for (const Impl& impl : implementations()) {
    INFO(impl.name);
    CHECK(impl.fn(0, as_bytes("123456789")) == 0xE3069283u);
  }
  CHECK(crc32c(as_bytes("123456789")) == 0xE3069283u);
  CHECK(crc32c_bitwise(as_bytes("123456789")) == 0xE3069283u);
}

TEST_CASE("Every implementation matches the RFC 3720 iSCSI test vectors", "[crc32c]") {
  std::array<std::byte, 32> zeros{}, ones{}, ascending{}, descending{};
  for (std::size_t i = 0; i < 32; ++i) {
    ones[i] = std::byte{0xFF};
    ascending[i] = static_cast<std::byte>(i);
    descending[i] = static_cast<std::byte>(31 - i);
  }
  const auto iscsi_read = from_hex(
      "01c00000000000000000000000000000"
      "14000000000004000000001400000018"
      "28000000000000000200000000000000");
  REQUIRE(iscsi_read.size() == 48);
  for (const Impl& impl : implementations()) {
    INFO(impl.name);
    CHECK(impl.fn(0, zeros) == 0x8A9136AAu);
    CHECK(impl.fn(0, ones) == 0x62A8AB43u);
    CHECK(impl.fn(0, ascending) == 0x46DD794Eu);
    CHECK(impl.fn(0, descending) == 0x113FDB5Cu);
    CHECK(impl.fn(0, iscsi_read) == 0xD9963A56u);
  }
}

TEST_CASE("The CRC of a Kafka RecordBatch matches the JDK's CRC32C", "[crc32c]") {
  // Bytes [21, 70) of the golden batch in docs/FORMAT.md (one record, key "k", value "v");
  // 0xe99b8dd8 computed independently with java.util.zip.CRC32C, which Kafka uses.
  const auto covered = from_hex(
      "0000"              // Attributes
      "00000000"          // LastOffsetDelta
      "0000018bcfe56800"  // BaseTimestamp
      "0000018bcfe56800"  // MaxTimestamp
      "ffffffffffffffff"
      "ffff"
      "ffffffff"              // producer id, epoch, base sequence
      "00000001"              // RecordsCount
      "10000000026b027600");  // the record
  REQUIRE(covered.size() == 49);
  for (const Impl& impl : implementations()) {
    INFO(impl.name);
    CHECK(impl.fn(0, covered) == 0xE99B8DD8u);
  }
}

TEST_CASE("The CRC of empty input is zero and extending by nothing changes nothing", "[crc32c]") {
  for (const Impl& impl : implementations()) {
    INFO(impl.name);
    CHECK(impl.fn(0, ByteSpan()) == 0u);
    CHECK(impl.fn(0xE3069283u, ByteSpan()) == 0xE3069283u);
    CHECK(impl.fn(0x12345678u, ByteSpan()) == 0x12345678u);
  }
  CHECK(crc32c(ByteSpan()) == 0u);
}

TEST_CASE("All implementations agree with the bitwise reference on every length up to 300",
          "[crc32c]") {
  const auto data = random_bytes(300 + 16, 1);
  const auto impls = implementations();
  for (std::size_t misalign : {0u, 1u, 3u, 7u}) {
    for (std::size_t n = 0; n + misalign <= data.size() && n <= 300; ++n) {
      const ByteSpan span(data.data() + misalign, n);
      const std::uint32_t expected = crc32c_bitwise(span);
      for (const Impl& impl : impls) {
        if (impl.fn(0, span) != expected) {
          FAIL_CHECK(impl.name << " differs at length " << n << " misalignment " << misalign);
        }
      }
    }
  }
  SUCCEED();
}

TEST_CASE("All implementations agree on large buffers at every misalignment", "[crc32c]") {
  // Sizes straddle the three-lane block sizes of the SSE4.2 code (3 x 64, 3 x 512, 3 x 8192)
  // and ISA-L's folding blocks.
  const std::vector<std::size_t> sizes = {191,  192,   193,   1535,  1536,  1537,   4096,
                                          4099, 24575, 24576, 24577, 65536, 100003, 1 << 20};
  const auto data = random_bytes((1 << 20) + 8, 2);
  const auto impls = implementations();
  for (std::size_t n : sizes) {
    for (std::size_t misalign = 0; misalign < 8; ++misalign) {
      const ByteSpan span(data.data() + misalign, n);
      const std::uint32_t expected = internal::crc32c_extend_table(0, span);
      if (misalign == 0) CHECK(crc32c_bitwise(span) == expected);
      for (const Impl& impl : impls) {
        INFO(impl.name << " length " << n << " misalignment " << misalign);
        CHECK(impl.fn(0, span) == expected);
      }
    }
  }
}

TEST_CASE("Extending the CRC of a prefix by the rest equals the CRC of the whole", "[crc32c]") {
  const auto data = random_bytes(70000, 3);
  std::mt19937_64 rng(4);
  const auto impls = implementations();
  for (int round = 0; round < 200; ++round) {
    const std::size_t n = rng() % (round < 100 ? 600 : data.size() + 1);
    const std::size_t split = rng() % (n + 1);
    const ByteSpan whole(data.data(), n);
    const std::uint32_t expected = internal::crc32c_extend_table(0, whole);
    for (const Impl& impl : impls) {
      INFO(impl.name << " length " << n << " split at " << split);
      const std::uint32_t head = impl.fn(0, whole.first(split));
      CHECK(impl.fn(head, whole.subspan(split)) == expected);
    }
  }
  // Many small pieces, through the public entry points.
  std::uint32_t crc = crc32c(ByteSpan());
  for (std::size_t at = 0; at < 5000; at += 7) {
    crc = crc32c_extend(crc, ByteSpan(data.data() + at, 7));
  }
  CHECK(crc == crc32c(ByteSpan(data.data(), 5005)));
}

TEST_CASE("A single flipped bit changes the CRC", "[crc32c]") {
  auto data = random_bytes(4096, 5);
  const std::uint32_t before = crc32c(data);
  for (std::size_t bit : {0u, 7u, 8u * 2000 + 3, 8u * 4095 + 7}) {
    data[bit / 8] ^= static_cast<std::byte>(1u << (bit % 8));
    CHECK(crc32c(data) != before);
    data[bit / 8] ^= static_cast<std::byte>(1u << (bit % 8));
  }
  CHECK(crc32c(data) == before);
}

TEST_CASE("The implementation in use has one of the documented names", "[crc32c]") {
  const std::string_view name = crc32c_implementation();
  CHECK((name == "isa-l" || name == "sse4.2" || name == "table"));
  if (internal::crc32c_isal_available()) CHECK(name == "isa-l");
  if (!internal::crc32c_isal_available() && internal::crc32c_sse42_available()) {
    CHECK(name == "sse4.2");
  }
}

#ifdef SAMSA_HAVE_ISAL
TEST_CASE("ISA-L's crc32_iscsi neither pre- nor post-inverts the CRC", "[crc32c]") {
  // The convention lib/crc32c.cc relies on: the caller inverts on the way in and out.
  std::string check = "123456789";
  auto* p = reinterpret_cast<unsigned char*>(check.data());
  CHECK(crc32_iscsi(p, 9, 0xFFFFFFFFu) == ~0xE3069283u);
  CHECK(crc32_iscsi(p, 0, 0x12345678u) == 0x12345678u);
  CHECK(crc32_iscsi(p, 9, 0) != 0xE3069283u);
}
#endif

}  // namespace samsa
