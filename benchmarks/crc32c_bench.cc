// Throughput of each CRC-32C implementation on warm buffers, in GB/s (10^9 bytes/s).
//
// Usage: crc32c_bench [repetitions]
// For each buffer size every implementation hashes about kBytesPerRun bytes per
// repetition; the best repetition counts. The ratio column is relative to the fastest
// implementation at that size. The result informs the dispatch order in lib/crc32c.cc.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "samsa/crc32c.h"

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace {

using samsa::ByteSpan;
using ExtendFn = std::uint32_t (*)(std::uint32_t, ByteSpan);

constexpr std::size_t kBytesPerRun = std::size_t{256} << 20;
constexpr int kRepetitionsDefault = 5;
constexpr int kRepetitionsMax = 1000;

#if defined(__x86_64__)
// A single dependent chain of crc32 instructions, 8 bytes a step: the baseline the
// three-lane SSE4.2 code in the library should beat.
__attribute__((target("sse4.2"), noinline)) std::uint32_t sse42_one_lane(std::uint32_t crc,
                                                                         ByteSpan data) {
  const std::byte* p = data.data();
  std::size_t n = data.size();
  std::uint64_t c = ~crc;
  for (; n >= 8; n -= 8, p += 8) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    c = _mm_crc32_u64(c, v);
  }
  auto c32 = static_cast<std::uint32_t>(c);
  for (; n > 0; --n, ++p) c32 = _mm_crc32_u8(c32, static_cast<std::uint8_t>(*p));
  return ~c32;
}
#endif

struct Impl {
  std::string_view name;
  ExtendFn fn;
};

std::vector<Impl> implementations() {
  std::vector<Impl> impls;
  impls.push_back({"table", samsa::internal::crc32c_extend_table});
#if defined(__x86_64__)
  if (samsa::internal::crc32c_sse42_available()) {
    impls.push_back({"sse4.2 1-lane", sse42_one_lane});
    impls.push_back({"sse4.2", samsa::internal::crc32c_extend_sse42});
  }
#endif
  if (samsa::internal::crc32c_isal_available()) {
    impls.push_back({"isa-l", samsa::internal::crc32c_extend_isal});
  }
  impls.push_back({"crc32c()", samsa::crc32c_extend});
  return impls;
}

// Best-of-`repetitions` throughput of `fn` over `buf`, in GB/s.
__attribute__((noinline)) double measure(ExtendFn fn, ByteSpan buf, int repetitions,
                                         std::uint32_t& sink) {
  asm volatile("" : "+r"(fn));  // no specializing the loop for a known implementation
  const std::size_t calls = std::max<std::size_t>(1, kBytesPerRun / buf.size());
  for (std::size_t i = 0; i < std::min<std::size_t>(calls, 1000); ++i) sink ^= fn(0, buf);  // warm
  double best_ns = 1e300;
  for (int r = 0; r < repetitions; ++r) {
    const auto start = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < calls; ++i) sink ^= fn(static_cast<std::uint32_t>(i), buf);
    const auto stop = std::chrono::steady_clock::now();
    best_ns = std::min(best_ns, std::chrono::duration<double, std::nano>(stop - start).count());
  }
  return static_cast<double>(calls * buf.size()) / best_ns;
}

std::string size_name(std::size_t size) {
  if (size >= 1024 * 1024) return fmt::format("{} MiB", size >> 20);
  if (size >= 1024) return fmt::format("{} KiB", size >> 10);
  return fmt::format("{} B", size);
}

// Measures every implementation at every size and prints one row per implementation.
void print_table(const std::vector<Impl>& impls, const std::vector<std::size_t>& sizes,
                 ByteSpan storage, int repetitions, std::uint32_t& sink) {
  // results[i][s]: GB/s of implementation i at size s.
  std::vector<std::vector<double>> results(impls.size(), std::vector<double>(sizes.size()));
  for (std::size_t s = 0; s < sizes.size(); ++s) {
    for (std::size_t i = 0; i < impls.size(); ++i) {
      results[i][s] = measure(impls[i].fn, storage.first(sizes[s]), repetitions, sink);
    }
  }
  std::string header = fmt::format("{:<14}", "impl");
  for (std::size_t size : sizes) header += fmt::format(" | {:>15}", size_name(size));
  fmt::print("{}\n", header);
  for (std::size_t i = 0; i < impls.size(); ++i) {
    std::string line = fmt::format("{:<14}", impls[i].name);
    for (std::size_t s = 0; s < sizes.size(); ++s) {
      double fastest = 0;
      for (const auto& row : results) fastest = std::max(fastest, row[s]);
      line += fmt::format(" | {:6.2f} ({:4.2f}x)", results[i][s], results[i][s] / fastest);
    }
    fmt::print("{}\n", line);
  }
}

}  // namespace

int main(int argc, char** argv) {
  int repetitions = kRepetitionsDefault;
  if (argc > 1) repetitions = std::clamp(std::atoi(argv[1]), 1, kRepetitionsMax);

  constexpr std::size_t kStorageBytes = std::size_t{1} << 20;
  std::vector<std::byte> storage(kStorageBytes);
  std::mt19937_64 rng(42);
  for (auto& b : storage) b = static_cast<std::byte>(rng());

  std::uint32_t sink = 0;
  const std::vector<Impl> impls = implementations();
  fmt::print("crc32c_bench: GB/s, best of {} repetitions; (x) = ratio to the fastest\n",
             repetitions);
  fmt::print("dispatch uses: {}\n\n", samsa::crc32c_implementation());
  print_table(impls, {64, 1024, 16 * 1024, kStorageBytes}, storage, repetitions, sink);
  // Where the small-buffer path of the dispatch should hand over to the large one.
  fmt::print("\nsmall buffers:\n");
  print_table(impls, {16, 64, 128, 192, 256, 512}, storage, repetitions, sink);
  return sink == 0x12345678u ? 1 : 0;  // keeps the work observable
}
