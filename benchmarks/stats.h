// samsa-bench: latency histograms and result rows.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <cstdint>
#include <string>

namespace samsa::bench {

// Latencies in nanoseconds in log-linear buckets (HDR-like): 16 sub-buckets per power of
// two, so a percentile is within ~6% of the true value. Fixed size, mergeable.
//
// Thread-safety: one thread at a time; merge per-thread histograms after joining.
class Histogram {
 public:
  void add(std::uint64_t ns) {
    ++counts_[bucket(ns)];
    ++count_;
  }
  void merge(const Histogram& other) {
    for (std::size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
    count_ += other.count_;
  }
  std::uint64_t count() const { return count_; }
  // The upper edge of the bucket holding quantile q (0..1), in microseconds; 0 when empty.
  double percentile_us(double q) const {
    if (count_ == 0) return 0;
    const auto rank = static_cast<std::uint64_t>(q * static_cast<double>(count_ - 1)) + 1;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= rank) return static_cast<double>(upper_edge_ns(i)) / 1000.0;
    }
    return static_cast<double>(upper_edge_ns(kBuckets - 1)) / 1000.0;
  }

 private:
  static constexpr int kSubBits = 4;
  static constexpr std::size_t kBuckets = 64 << kSubBits;
  static std::size_t bucket(std::uint64_t ns) {
    if (ns < (1u << kSubBits)) return static_cast<std::size_t>(ns);
    const int exp = 63 - std::countl_zero(ns);  // >= kSubBits
    const std::uint64_t sub = (ns >> (exp - kSubBits)) & ((1u << kSubBits) - 1);
    return static_cast<std::size_t>(((exp - kSubBits + 1) << kSubBits) + static_cast<int>(sub));
  }
  static std::uint64_t upper_edge_ns(std::size_t b) {
    if (b < (1u << kSubBits)) return b;
    const int exp = static_cast<int>(b >> kSubBits) + kSubBits - 1;
    const std::uint64_t sub = b & ((1u << kSubBits) - 1);
    return ((std::uint64_t{1} << kSubBits) + sub + 1) << (exp - kSubBits);
  }
  std::array<std::uint64_t, kBuckets> counts_{};
  std::uint64_t count_ = 0;
};

using Clock = std::chrono::steady_clock;
inline std::uint64_t elapsed_ns(Clock::time_point from, Clock::time_point to) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(to - from).count());
}

// One line of results.csv. `bytes` counts key + value bytes of the records handled (the
// user's payload), the same for every system, so MB/s compare like with like.
struct Row {
  std::string workload;  // append, scan_open, scan_warm, get_offset, get_timestamp, recovery
  std::string system;    // samsa, raw-write, raw-write+fdatasync, raw-read, rocksdb, ...
  std::string configuration;
  std::int64_t value_bytes = 0;
  std::int64_t batch_records = 0;
  std::string compression = "none";
  std::string durability = "none";
  std::int64_t appenders = 1;
  std::int64_t records = 0;
  std::int64_t bytes = 0;
  double seconds = 0;
  double p50_us = 0, p99_us = 0, p999_us = 0;
  double ratio_to_raw = -1;        // -1: no comparable raw baseline
  double ratio_to_best_peer = -1;  // -1: no comparable peer
  double records_per_s() const { return seconds > 0 ? static_cast<double>(records) / seconds : 0; }
  double mb_per_s() const { return seconds > 0 ? static_cast<double>(bytes) / seconds / 1e6 : 0; }
  void set_latency(const Histogram& h) {
    p50_us = h.percentile_us(0.50);
    p99_us = h.percentile_us(0.99);
    p999_us = h.percentile_us(0.999);
  }
};

}  // namespace samsa::bench
