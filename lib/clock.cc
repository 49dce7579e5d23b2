#include "samsa/clock.h"

#include <time.h>

#include <cstdlib>

#include "invariant.h"

namespace samsa {
namespace {

std::int64_t read_ns(clockid_t id) {
  timespec ts{};
  // clock_gettime cannot fail for these clock ids on Linux; a failure is a broken system.
  const int rc = clock_gettime(id, &ts);
  SAMSA_ASSERT(rc == 0, "clock_gettime({}) returned {}", static_cast<int>(id), rc);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

SystemClock& SystemClock::instance() {
  // Leaked on purpose: outlives every static that might read the time during exit.
  static SystemClock* const clock = new SystemClock();
  return *clock;
}

Timestamp SystemClock::now() const {
  return Timestamp(read_ns(CLOCK_REALTIME) / 1'000'000);
}

std::int64_t SystemClock::monotonic_ns() const {
  return read_ns(CLOCK_MONOTONIC);
}

}  // namespace samsa
