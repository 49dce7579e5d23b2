// Internal: assertions for programmer errors (a broken invariant), which crash printing the
// values involved, in every build type (Release too: they are never compiled out).
// Operating errors are returned as Status instead (house rule 5). The one style in lib/:
// SAMSA_ASSERT(a <= b, "a {} <= b {}", a, b) for one relation at a time (split, so the
// message names the one that broke), SAMSA_FAIL for a state that cannot be reached.
#pragma once

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace samsa::internal {

[[noreturn]] inline void assertion_failed(const char* what, const char* file, int line,
                                          const std::string& message) {
  std::fprintf(stderr, "samsa: assertion `%s` failed at %s:%d: %s\n", what, file, line,
               message.c_str());
  std::abort();
}

}  // namespace samsa::internal

#define SAMSA_ASSERT(cond, ...)                                                                 \
  do {                                                                                          \
    if (!(cond)) {                                                                              \
      ::samsa::internal::assertion_failed(#cond, __FILE__, __LINE__, fmt::format(__VA_ARGS__)); \
    }                                                                                           \
  } while (0)

#define SAMSA_FAIL(...) \
  ::samsa::internal::assertion_failed("unreachable", __FILE__, __LINE__, fmt::format(__VA_ARGS__))
