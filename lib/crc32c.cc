// CRC-32C: a portable slicing-by-8 table implementation, an SSE4.2 one (three interleaved
// crc32 instruction chains combined with a carry-less multiply), and ISA-L's when built
// with it. crc32c() dispatches to one of them, chosen once on first use.
//
// Conventions inside this file: a "raw" CRC is the register value with no pre- or
// post-inversion (raw_* functions). The extend_* functions take and return finished CRCs,
// as the public crc32c_extend() does, inverting on entry and on exit.
//
// Polynomials are in the reflected representation: bit 31 of a uint32_t is the
// coefficient of x^0, bit 0 the coefficient of x^31.
#include "samsa/crc32c.h"

#include <array>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__x86_64__)
#define SAMSA_CRC32C_X86 1
#include <cpuid.h>
#include <nmmintrin.h>
#include <wmmintrin.h>
#endif

#ifdef SAMSA_HAVE_ISAL
#include <isa-l/crc.h>
#endif

namespace samsa {
namespace {

constexpr std::uint32_t kPoly = 0x82F63B78u;  // reflected Castagnoli polynomial

// ---------------------------------------------------------------- GF(2) arithmetic

// a * b mod P (reflected). Used only at compile time, to build constants.
constexpr std::uint32_t mult_mod_p(std::uint32_t a, std::uint32_t b) {
  std::uint32_t product = 0;
  for (int i = 0; i < 32; ++i) {
    if (a & (0x80000000u >> i)) product ^= b;
    b = (b & 1) ? (b >> 1) ^ kPoly : b >> 1;  // b *= x
  }
  return product;
}

// x^n mod P (reflected), by square-and-multiply.
constexpr std::uint32_t x_pow_mod_p(std::uint64_t n) {
  std::uint32_t result = 0x80000000u;  // x^0
  std::uint32_t square = 0x40000000u;  // x^1
  while (n != 0) {
    if (n & 1) result = mult_mod_p(result, square);
    square = mult_mod_p(square, square);
    n >>= 1;
  }
  return result;
}

static_assert(x_pow_mod_p(0) == 0x80000000u);
static_assert(x_pow_mod_p(31) == 1u);
static_assert(x_pow_mod_p(32) == kPoly);  // x^32 == P - x^32 in GF(2)

// ---------------------------------------------------------------- portable: slicing-by-8

using Tables = std::array<std::array<std::uint32_t, 256>, 8>;

constexpr Tables make_tables() {
  Tables t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kPoly : c >> 1;
    t[0][i] = c;
  }
  for (std::size_t k = 1; k < 8; ++k) {
    for (std::size_t i = 0; i < 256; ++i) t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xFF];
  }
  return t;
}

constexpr Tables kTables = make_tables();

std::uint64_t load_le64(const unsigned char* p) {
  std::uint64_t v;
  std::memcpy(&v, p, sizeof v);
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
  return v;
}

std::uint32_t raw_table(std::uint32_t crc, const unsigned char* p, std::size_t n) {
  for (; n > 0 && (reinterpret_cast<std::uintptr_t>(p) & 7) != 0; --n) {
    crc = (crc >> 8) ^ kTables[0][(crc ^ *p++) & 0xFF];
  }
  for (; n >= 8; n -= 8, p += 8) {
    const std::uint64_t v = load_le64(p) ^ crc;
    crc = kTables[7][v & 0xFF] ^ kTables[6][(v >> 8) & 0xFF] ^ kTables[5][(v >> 16) & 0xFF] ^
          kTables[4][(v >> 24) & 0xFF] ^ kTables[3][(v >> 32) & 0xFF] ^
          kTables[2][(v >> 40) & 0xFF] ^ kTables[1][(v >> 48) & 0xFF] ^ kTables[0][v >> 56];
  }
  for (; n > 0; --n) crc = (crc >> 8) ^ kTables[0][(crc ^ *p++) & 0xFF];
  return crc;
}

std::uint32_t extend_table(std::uint32_t crc, ByteSpan data) {
  return ~raw_table(~crc, reinterpret_cast<const unsigned char*>(data.data()), data.size());
}

// ---------------------------------------------------------------- SSE4.2

#ifdef SAMSA_CRC32C_X86

// Bytes per lane in the three-lane loops. Long lanes amortize the combine (a few cycles
// of latency); short ones keep the three chains busy for buffers of a few hundred bytes.
constexpr std::size_t kLaneLong = 8192;
constexpr std::size_t kLaneMedium = 512;
constexpr std::size_t kLaneShort = 64;
static_assert(kLaneLong % 8 == 0 && kLaneMedium % 8 == 0 && kLaneShort % 8 == 0);

// Multiplier that shifts a raw CRC over `bytes` zero bytes via clmul + crc32 (see shift()).
constexpr std::uint64_t shift_constant(std::size_t bytes) {
  return x_pow_mod_p(8 * std::uint64_t{bytes} - 33);
}

// crc * x^(8 * bytes) mod P, given k = shift_constant(bytes).
// Why x^(8*bytes - 33): the carry-less product of two reflected 32-bit polynomials, read
// as a reflected 64-bit polynomial, is their product times x; crc32 of 8 bytes with a zero
// register multiplies its input by x^32 mod P. Together: crc * k * x^33.
__attribute__((target("sse4.2,pclmul"))) inline std::uint32_t shift(std::uint32_t crc,
                                                                    std::uint64_t k) {
  const __m128i product = _mm_clmulepi64_si128(_mm_cvtsi32_si128(static_cast<int>(crc)),
                                               _mm_cvtsi64_si128(static_cast<long long>(k)), 0);
  return static_cast<std::uint32_t>(
      _mm_crc32_u64(0, static_cast<std::uint64_t>(_mm_cvtsi128_si64(product))));
}

// Three chains over [p, p+L), [p+L, p+2L), [p+2L, p+3L), combined into one CRC. The
// crc32 instruction has a latency of 3 cycles and a throughput of 1 a cycle, so three
// independent chains keep it busy.
template <std::size_t L>
__attribute__((target("sse4.2,pclmul"))) inline std::uint32_t three_lanes(std::uint32_t crc,
                                                                          const unsigned char* p) {
  static constexpr std::uint64_t k2 = shift_constant(2 * L);
  static constexpr std::uint64_t k1 = shift_constant(L);
  std::uint64_t a = crc, b = 0, c = 0;
  for (std::size_t i = 0; i < L; i += 8) {
    a = _mm_crc32_u64(a, load_le64(p + i));
    b = _mm_crc32_u64(b, load_le64(p + L + i));
    c = _mm_crc32_u64(c, load_le64(p + 2 * L + i));
  }
  return shift(static_cast<std::uint32_t>(a), k2) ^ shift(static_cast<std::uint32_t>(b), k1) ^
         static_cast<std::uint32_t>(c);
}

// One chain, 8 bytes a step: the short-buffer path.
__attribute__((target("sse4.2"))) inline std::uint32_t one_lane(std::uint32_t crc,
                                                                const unsigned char* p,
                                                                std::size_t n) {
  std::uint64_t c = crc;
  for (; n >= 8; n -= 8, p += 8) c = _mm_crc32_u64(c, load_le64(p));
  auto c32 = static_cast<std::uint32_t>(c);
  if (n & 4) {
    std::uint32_t v;
    std::memcpy(&v, p, 4);
    c32 = _mm_crc32_u32(c32, v);
    p += 4;
  }
  if (n & 2) {
    std::uint16_t v;
    std::memcpy(&v, p, 2);
    c32 = _mm_crc32_u16(c32, v);
    p += 2;
  }
  if (n & 1) c32 = _mm_crc32_u8(c32, *p);
  return c32;
}

__attribute__((target("sse4.2,pclmul"))) inline std::uint32_t raw_sse42(std::uint32_t crc,
                                                                        const unsigned char* p,
                                                                        std::size_t n) {
  if (n >= 3 * kLaneShort) {
    // Align so the lanes' 8-byte loads do not straddle cache lines.
    const std::size_t head = (8 - (reinterpret_cast<std::uintptr_t>(p) & 7)) & 7;
    crc = one_lane(crc, p, head);
    p += head;
    n -= head;
    for (; n >= 3 * kLaneLong; n -= 3 * kLaneLong, p += 3 * kLaneLong) {
      crc = three_lanes<kLaneLong>(crc, p);
    }
    for (; n >= 3 * kLaneMedium; n -= 3 * kLaneMedium, p += 3 * kLaneMedium) {
      crc = three_lanes<kLaneMedium>(crc, p);
    }
    for (; n >= 3 * kLaneShort; n -= 3 * kLaneShort, p += 3 * kLaneShort) {
      crc = three_lanes<kLaneShort>(crc, p);
    }
  }
  return one_lane(crc, p, n);
}

__attribute__((target("sse4.2,pclmul"))) std::uint32_t extend_sse42(std::uint32_t crc,
                                                                    ByteSpan data) {
  return ~raw_sse42(~crc, reinterpret_cast<const unsigned char*>(data.data()), data.size());
}

[[gnu::cold, gnu::noinline]] bool cpu_has_sse42_pclmul() {
  // __builtin_cpu_supports has no "pclmul" on every compiler; read CPUID leaf 1 for it.
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) == 0) return false;
  return __builtin_cpu_supports("sse4.2") && (ecx & bit_PCLMUL) != 0;
}

#endif  // SAMSA_CRC32C_X86

// ---------------------------------------------------------------- ISA-L

#ifdef SAMSA_HAVE_ISAL
// crc32_iscsi(buf, len, init) inverts neither init nor the result (the test "ISA-L's
// crc32_iscsi neither pre- nor post-inverts the CRC" checks this), so we invert around it.
// Its length is an int; feed it in pieces.
std::uint32_t extend_isal(std::uint32_t crc, ByteSpan data) {
  constexpr std::size_t kChunkBytesMax = std::size_t{1} << 30;
  auto* p = reinterpret_cast<unsigned char*>(const_cast<std::byte*>(data.data()));
  std::size_t n = data.size();
  std::uint32_t raw = ~crc;
  while (n > 0) {
    const std::size_t chunk = n < kChunkBytesMax ? n : kChunkBytesMax;
    raw = crc32_iscsi(p, static_cast<int>(chunk), raw);
    p += chunk;
    n -= chunk;
  }
  return ~raw;
}
#endif

// ---------------------------------------------------------------- dispatch

using ExtendFn = std::uint32_t (*)(std::uint32_t, ByteSpan);

struct Dispatch {
  ExtendFn large;
  ExtendFn small;
  std::size_t small_bytes_max;  // sizes up to this go to `small`
  std::string_view name;
};

// The order of preference comes from benchmarks/crc32c_bench on the development machine
// (AMD EPYC Zen 5, 2 vCPUs): ISA-L (by its speed, the AVX-512 VPCLMULQDQ folding path) runs
// at 40-58 GB/s from 1 KiB up, 1.5-2x the three-lane SSE4.2 code (26-29 GB/s), itself ~3x
// a single crc32 chain. Below 256 bytes ISA-L takes a slower path and the SSE4.2 code is
// 1.2-2x faster than it (64, 128, 192 B), so small buffers go there.
constexpr std::size_t kSmallBytesMax = 255;

[[gnu::cold, gnu::noinline]] Dispatch choose() {
#ifdef SAMSA_CRC32C_X86
  if (cpu_has_sse42_pclmul()) {
#ifdef SAMSA_HAVE_ISAL
    return {extend_isal, extend_sse42, kSmallBytesMax, "isa-l"};
#else
    return {extend_sse42, extend_sse42, 0, "sse4.2"};
#endif
  }
#endif
#ifdef SAMSA_HAVE_ISAL
  return {extend_isal, extend_isal, 0, "isa-l"};
#else
  return {extend_table, extend_table, 0, "table"};
#endif
}

// Set once, on first use. The static local makes the choice thread-safe; the atomic
// pointer keeps its guard (and the registers its slow path needs) off the hot path.
std::atomic<const Dispatch*> g_dispatch{nullptr};

[[gnu::cold, gnu::noinline]] const Dispatch& dispatch_first_use() {
  static const Dispatch d = choose();
  g_dispatch.store(&d, std::memory_order_release);
  return d;
}

inline const Dispatch& dispatch() {
  const Dispatch* d = g_dispatch.load(std::memory_order_acquire);
  return d != nullptr ? *d : dispatch_first_use();
}

}  // namespace

std::uint32_t crc32c(ByteSpan data) {
  return crc32c_extend(0, data);
}

std::uint32_t crc32c_extend(std::uint32_t crc, ByteSpan data) {
  const Dispatch& d = dispatch();
  return (data.size() <= d.small_bytes_max ? d.small : d.large)(crc, data);
}

std::string_view crc32c_implementation() {
  return dispatch().name;
}

namespace internal {

std::uint32_t crc32c_extend_table(std::uint32_t crc, ByteSpan data) {
  return extend_table(crc, data);
}

bool crc32c_sse42_available() {
#ifdef SAMSA_CRC32C_X86
  static const bool available = cpu_has_sse42_pclmul();
  return available;
#else
  return false;
#endif
}

std::uint32_t crc32c_extend_sse42(std::uint32_t crc, ByteSpan data) {
#ifdef SAMSA_CRC32C_X86
  if (crc32c_sse42_available()) return extend_sse42(crc, data);
#endif
  return extend_table(crc, data);
}

bool crc32c_isal_available() {
#ifdef SAMSA_HAVE_ISAL
  return true;
#else
  return false;
#endif
}

std::uint32_t crc32c_extend_isal(std::uint32_t crc, ByteSpan data) {
#ifdef SAMSA_HAVE_ISAL
  return extend_isal(crc, data);
#else
  return extend_table(crc, data);
#endif
}

}  // namespace internal
}  // namespace samsa
