// Floor 1: strong types for the integers samsa must never mix up.
//
// An Offset is not a Position is not an Epoch: each is its own type, so passing a byte
// position where an offset is expected does not compile. Ranges are half-open [lo, hi)
// everywhere in samsa unless a name says otherwise (e.g. `last_offset` is inclusive).
//
// Thread-safety: plain values.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <limits>

namespace samsa {

// A strongly typed integer. Comparison is allowed within one type; arithmetic only where a
// type defines it below.
template <typename Tag, typename Rep>
class StrongInt {
 public:
  using rep = Rep;
  constexpr StrongInt() = default;
  constexpr explicit StrongInt(Rep v) : v_(v) {}
  constexpr Rep value() const { return v_; }
  friend constexpr auto operator<=>(StrongInt, StrongInt) = default;

 private:
  Rep v_{};
};

// Position of a record in a partition's log (Kafka's offset). -1 means "none".
struct Offset : StrongInt<struct OffsetTag, std::int64_t> {
  using StrongInt::StrongInt;
  static constexpr Offset none() { return Offset(-1); }
  constexpr Offset operator+(std::int64_t delta) const { return Offset(value() + delta); }
  constexpr Offset operator-(std::int64_t delta) const { return Offset(value() - delta); }
  constexpr std::int64_t operator-(Offset other) const { return value() - other.value(); }
  constexpr Offset& operator++() { return *this = *this + 1; }
};

// The epoch of the partition leader that appended a batch (PartitionLeaderEpoch). -1 = none.
struct LeaderEpoch : StrongInt<struct LeaderEpochTag, std::int32_t> {
  using StrongInt::StrongInt;
  static constexpr LeaderEpoch none() { return LeaderEpoch(-1); }
};

// Byte position inside one file (a segment's .log, an index). Unsigned: never negative.
struct Position : StrongInt<struct PositionTag, std::uint64_t> {
  using StrongInt::StrongInt;
  constexpr Position operator+(std::uint64_t delta) const { return Position(value() + delta); }
  constexpr std::uint64_t operator-(Position other) const { return value() - other.value(); }
};

// Milliseconds since the Unix epoch, as Kafka stores timestamps. -1 means "no timestamp".
struct Timestamp : StrongInt<struct TimestampTag, std::int64_t> {
  using StrongInt::StrongInt;
  static constexpr Timestamp none() { return Timestamp(-1); }
  constexpr Timestamp operator+(std::int64_t ms) const { return Timestamp(value() + ms); }
  constexpr std::int64_t operator-(Timestamp other) const { return value() - other.value(); }
};

// Idempotent / transactional producer identity. -1 means "not an idempotent producer".
struct ProducerId : StrongInt<struct ProducerIdTag, std::int64_t> {
  using StrongInt::StrongInt;
  static constexpr ProducerId none() { return ProducerId(-1); }
};

struct ProducerEpoch : StrongInt<struct ProducerEpochTag, std::int16_t> {
  using StrongInt::StrongInt;
  static constexpr ProducerEpoch none() { return ProducerEpoch(-1); }
};

// Producer sequence number of a batch's first record. -1 means "none". Wraps from
// INT32_MAX to 0 (Kafka's rule).
struct Sequence : StrongInt<struct SequenceTag, std::int32_t> {
  using StrongInt::StrongInt;
  static constexpr Sequence none() { return Sequence(-1); }
  // The sequence `delta` records later, wrapping INT32_MAX -> 0.
  constexpr Sequence advanced(std::int32_t delta) const {
    const std::int64_t next = std::int64_t{value()} + delta;
    constexpr std::int64_t kSpan = std::int64_t{std::numeric_limits<std::int32_t>::max()} + 1;
    return Sequence(static_cast<std::int32_t>(next % kSpan));
  }
};

}  // namespace samsa

#define SAMSA_STRONG_HASH_(T)                           \
  template <>                                           \
  struct std::hash<samsa::T> {                          \
    std::size_t operator()(samsa::T v) const noexcept { \
      return std::hash<samsa::T::rep>{}(v.value());     \
    }                                                   \
  }
SAMSA_STRONG_HASH_(Offset);
SAMSA_STRONG_HASH_(LeaderEpoch);
SAMSA_STRONG_HASH_(Position);
SAMSA_STRONG_HASH_(Timestamp);
SAMSA_STRONG_HASH_(ProducerId);
SAMSA_STRONG_HASH_(ProducerEpoch);
SAMSA_STRONG_HASH_(Sequence);
#undef SAMSA_STRONG_HASH_
