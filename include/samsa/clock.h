// Floor 1: an injected clock. Nothing in samsa reads the time except through a Clock, so
// tests control time (segment_ms rolls, retention, producer expiry) exactly.
//
// Thread-safety: SystemClock is thread-safe; ManualClock is thread-safe (atomic).
#pragma once

#include <atomic>
#include <cstdint>

#include "samsa/types.h"

namespace samsa {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time in milliseconds since the Unix epoch (record timestamps, retention).
  virtual Timestamp now() const = 0;
  // A monotonic time in nanoseconds, for intervals and timeouts; its zero is arbitrary.
  virtual std::int64_t monotonic_ns() const = 0;
};

// The operating system's clocks (CLOCK_REALTIME, CLOCK_MONOTONIC). Never destroyed.
class SystemClock final : public Clock {
 public:
  static SystemClock& instance();
  Timestamp now() const override;
  std::int64_t monotonic_ns() const override;
};

// A clock that moves only when told to. Both times advance together.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(Timestamp start = Timestamp(1'700'000'000'000)) : wall_ms_(start.value()) {}
  Timestamp now() const override { return Timestamp(wall_ms_.load()); }
  std::int64_t monotonic_ns() const override { return mono_ns_.load(); }
  void advance_ms(std::int64_t ms) {
    wall_ms_ += ms;
    mono_ns_ += ms * 1'000'000;
  }
  // Sets the wall clock only (it may jump backwards, as real wall clocks do).
  void set_wall(Timestamp t) { wall_ms_ = t.value(); }

 private:
  std::atomic<std::int64_t> wall_ms_;
  std::atomic<std::int64_t> mono_ns_{0};
};

}  // namespace samsa
