#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <limits>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>

#include "samsa/clock.h"
#include "samsa/types.h"

namespace samsa {
namespace {

template <typename A, typename B>
concept EqualityComparable = requires(A a, B b) {
  a == b;
};
template <typename A, typename B>
concept Ordered = requires(A a, B b) {
  a < b;
};
template <typename A, typename B>
concept Addable = requires(A a, B b) {
  a + b;
};

// Distinct strong types do not mix: no comparison, assignment or conversion.
static_assert(EqualityComparable<Offset, Offset> && Ordered<Offset, Offset>);
static_assert(!EqualityComparable<Offset, Position> && !EqualityComparable<Position, Offset>);
static_assert(!Ordered<Offset, Position> && !Ordered<Position, Offset>);
static_assert(!EqualityComparable<Offset, Timestamp> && !EqualityComparable<LeaderEpoch, Sequence>);
static_assert(!std::is_assignable_v<Offset&, Position> && !std::is_assignable_v<Position&, Offset>);
static_assert(!std::is_constructible_v<Offset, Position>);
static_assert(!std::is_convertible_v<Position, Offset>);
// From the raw integer: explicit only.
static_assert(std::is_constructible_v<Offset, std::int64_t>);
static_assert(!std::is_convertible_v<std::int64_t, Offset>);
static_assert(!std::is_assignable_v<Offset&, std::int64_t>);
static_assert(!EqualityComparable<Offset, std::int64_t>);
static_assert(!std::is_convertible_v<Offset, std::int64_t>);
// Arithmetic exists only where it means something.
static_assert(Addable<Offset, std::int64_t> && !Addable<Offset, Offset>);
static_assert(!Addable<Offset, Position> && !Addable<LeaderEpoch, std::int32_t>);
static_assert(std::is_same_v<decltype(Offset(5) - Offset(3)), std::int64_t>);
static_assert(std::is_same_v<decltype(Position(5) - Position(3)), std::uint64_t>);

}  // namespace

TEST_CASE("ManualClock moves only when told to", "[clock]") {
  ManualClock clock;
  CHECK(clock.now() == Timestamp(1'700'000'000'000));
  CHECK(clock.monotonic_ns() == 0);
  CHECK(clock.now() == clock.now());

  clock.advance_ms(250);
  CHECK(clock.now() == Timestamp(1'700'000'000'250));
  CHECK(clock.monotonic_ns() == 250'000'000);

  ManualClock other(Timestamp(10));
  CHECK(other.now() == Timestamp(10));
  other.advance_ms(5);
  CHECK(other.now() == Timestamp(15));
}

TEST_CASE("ManualClock set_wall jumps the wall clock only", "[clock]") {
  ManualClock clock(Timestamp(1000));
  clock.advance_ms(10);
  clock.set_wall(Timestamp(500));  // backwards, as wall clocks may
  CHECK(clock.now() == Timestamp(500));
  CHECK(clock.monotonic_ns() == 10'000'000);
  clock.advance_ms(1);
  CHECK(clock.now() == Timestamp(501));
  CHECK(clock.monotonic_ns() == 11'000'000);
}

TEST_CASE("ManualClock is usable through the Clock interface", "[clock]") {
  ManualClock manual(Timestamp(42));
  const Clock& clock = manual;
  manual.advance_ms(3);
  CHECK(clock.now() == Timestamp(45));
  CHECK(clock.monotonic_ns() == 3'000'000);
}

TEST_CASE("SystemClock reads the real time and its monotonic clock moves forward", "[clock]") {
  SystemClock& clock = SystemClock::instance();
  CHECK(&clock == &SystemClock::instance());

  // Bracketed by the standard wall clock read before and after, so no bound depends on how
  // long this thread is descheduled (the wall clock is not expected to be stepped meanwhile).
  const auto wall_ms = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  const std::int64_t ms_before = wall_ms();
  const Timestamp now = clock.now();
  const std::int64_t ms_after = wall_ms();
  CHECK(now.value() >= ms_before);
  CHECK(now.value() <= ms_after);

  const std::int64_t before = clock.monotonic_ns();
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  const std::int64_t after = clock.monotonic_ns();
  CHECK(after - before >= 2'000'000);  // a sleep never ends early
  CHECK(clock.now() >= now);
}

TEST_CASE("Strong ids compare within their own type", "[clock]") {
  CHECK(Offset(1) < Offset(2));
  CHECK(Offset(2) == Offset(2));
  CHECK(Offset(3) != Offset(2));
  CHECK(Offset(3) >= Offset(2));
  CHECK(Offset::none() == Offset(-1));
  CHECK(Offset::none() < Offset(0));
  CHECK(Offset().value() == 0);
  CHECK(LeaderEpoch(4) > LeaderEpoch::none());
  CHECK(Position(0) < Position(std::numeric_limits<std::uint64_t>::max()));
  CHECK(Timestamp::none().value() == -1);
  CHECK(ProducerId::none().value() == -1);
  CHECK(ProducerEpoch::none().value() == -1);
  CHECK(Sequence::none().value() == -1);
}

TEST_CASE("Offsets, positions and timestamps do the arithmetic they define", "[clock]") {
  Offset o(10);
  CHECK(o + 5 == Offset(15));
  CHECK(o - 3 == Offset(7));
  CHECK(Offset(15) - o == 5);
  CHECK(o - Offset(15) == -5);
  ++o;
  CHECK(o == Offset(11));
  CHECK((++o).value() == 12);

  CHECK(Position(4096) + 61 == Position(4157));
  CHECK(Position(4157) - Position(4096) == 61u);

  CHECK(Timestamp(1000) + 500 == Timestamp(1500));
  CHECK(Timestamp(1500) - Timestamp(2000) == -500);
  static_assert((Offset(1) + 1).value() == 2);
}

TEST_CASE("Sequence::advanced wraps from INT32_MAX to 0", "[clock]") {
  constexpr std::int32_t kMax = std::numeric_limits<std::int32_t>::max();
  CHECK(Sequence(0).advanced(0) == Sequence(0));
  CHECK(Sequence(5).advanced(3) == Sequence(8));
  CHECK(Sequence(kMax - 1).advanced(1) == Sequence(kMax));
  CHECK(Sequence(kMax).advanced(1) == Sequence(0));
  CHECK(Sequence(kMax - 1).advanced(3) == Sequence(1));
  CHECK(Sequence(0).advanced(kMax) == Sequence(kMax));
  CHECK(Sequence(kMax).advanced(kMax) == Sequence(kMax - 1));
  static_assert(Sequence(kMax).advanced(1) == Sequence(0));
}

TEST_CASE("Strong ids work as hash keys", "[clock]") {
  std::unordered_set<Offset> offsets = {Offset(1), Offset(2), Offset(1)};
  CHECK(offsets.size() == 2);
  CHECK(offsets.count(Offset(2)) == 1);
  CHECK(offsets.count(Offset(3)) == 0);

  std::unordered_map<ProducerId, Sequence> last_sequence;
  last_sequence[ProducerId(7)] = Sequence(3);
  last_sequence[ProducerId(7)] = last_sequence[ProducerId(7)].advanced(1);
  CHECK(last_sequence.size() == 1);
  CHECK(last_sequence.at(ProducerId(7)) == Sequence(4));

  std::unordered_set<Position> positions = {Position(0), Position(4096)};
  CHECK(positions.count(Position(4096)) == 1);
  CHECK(std::hash<Timestamp>{}(Timestamp(5)) == std::hash<std::int64_t>{}(5));
}

}  // namespace samsa
