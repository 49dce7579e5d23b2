// Internal: strong types (samsa/types.h) held in atomics, and formatted by fmt, without
// unwrapping them by hand at every load, store and message.
#pragma once

#include <fmt/format.h>

#include <atomic>

#include "samsa/types.h"

namespace samsa::internal {

// An atomic T for a strong type T: loads and stores T, never its bare integer.
template <typename T>
class StrongAtomic {
 public:
  constexpr explicit StrongAtomic(T v = T()) : v_(v.value()) {}
  StrongAtomic(const StrongAtomic&) = delete;
  StrongAtomic& operator=(const StrongAtomic&) = delete;
  T load(std::memory_order order = std::memory_order_seq_cst) const { return T(v_.load(order)); }
  void store(T v, std::memory_order order = std::memory_order_seq_cst) {
    v_.store(v.value(), order);
  }

 private:
  std::atomic<typename T::rep> v_;
};

using AtomicOffset = StrongAtomic<Offset>;

}  // namespace samsa::internal

// fmt prints a strong type as its integer (with the integer's format specs).
#define SAMSA_STRONG_FORMATTER_(T)                                                   \
  template <>                                                                        \
  struct fmt::formatter<samsa::T> : fmt::formatter<samsa::T::rep> {                  \
    auto format(samsa::T v, fmt::format_context& ctx) const -> decltype(ctx.out()) { \
      return fmt::formatter<samsa::T::rep>::format(v.value(), ctx);                  \
    }                                                                                \
  }
SAMSA_STRONG_FORMATTER_(Offset);
SAMSA_STRONG_FORMATTER_(LeaderEpoch);
SAMSA_STRONG_FORMATTER_(Position);
SAMSA_STRONG_FORMATTER_(Timestamp);
SAMSA_STRONG_FORMATTER_(ProducerId);
SAMSA_STRONG_FORMATTER_(ProducerEpoch);
SAMSA_STRONG_FORMATTER_(Sequence);
#undef SAMSA_STRONG_FORMATTER_
