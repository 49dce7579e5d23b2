// Internal: assertions for programmer errors (a broken invariant), which crash printing the
// values involved. Operating errors are returned as Status instead (house rule 5).
#pragma once

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>

#define SAMSA_ASSERT(cond, ...)                                                            \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      std::fprintf(stderr, "samsa: assertion `%s` failed at %s:%d: %s\n", #cond, __FILE__, \
                   __LINE__, fmt::format(__VA_ARGS__).c_str());                            \
      std::abort();                                                                        \
    }                                                                                      \
  } while (0)
