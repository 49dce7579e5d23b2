// Helpers shared by samsa's tests.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "samsa/coding.h"

namespace samsa::test {

// "00 0a ff" -> bytes; spaces and newlines are ignored.
inline std::vector<std::byte> from_hex(std::string_view hex) {
  std::vector<std::byte> out;
  int hi = -1;
  for (char c : hex) {
    int v = -1;
    if (c >= '0' && c <= '9') v = c - '0';
    if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
    if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
    if (v < 0) continue;
    if (hi < 0) {
      hi = v;
    } else {
      out.push_back(static_cast<std::byte>(hi * 16 + v));
      hi = -1;
    }
  }
  return out;
}

inline std::vector<std::byte> to_vector(ByteSpan s) {
  return {s.begin(), s.end()};
}

inline std::string to_string(ByteSpan s) {
  return std::string(as_chars(s));
}

}  // namespace samsa::test

#include <catch2/catch.hpp>

#include "samsa/index.h"
#include "samsa/types.h"

// Catch prints strong types as "Offset(42)" instead of "{?}".
#define SAMSA_TEST_STRING_MAKER_(T)                                 \
  template <>                                                       \
  struct Catch::StringMaker<samsa::T> {                             \
    static std::string convert(samsa::T v) {                        \
      return std::string(#T "(") + std::to_string(v.value()) + ")"; \
    }                                                               \
  }
SAMSA_TEST_STRING_MAKER_(Offset);
SAMSA_TEST_STRING_MAKER_(LeaderEpoch);
SAMSA_TEST_STRING_MAKER_(Position);
SAMSA_TEST_STRING_MAKER_(Timestamp);
SAMSA_TEST_STRING_MAKER_(ProducerId);
SAMSA_TEST_STRING_MAKER_(ProducerEpoch);
SAMSA_TEST_STRING_MAKER_(Sequence);
#undef SAMSA_TEST_STRING_MAKER_

template <>
struct Catch::StringMaker<samsa::OffsetPosition> {
  static std::string convert(const samsa::OffsetPosition& e) {
    return "(offset " + std::to_string(e.offset.value()) + ", position " +
           std::to_string(e.position.value()) + ")";
  }
};
template <>
struct Catch::StringMaker<samsa::TimestampOffset> {
  static std::string convert(const samsa::TimestampOffset& e) {
    return "(timestamp " + std::to_string(e.timestamp.value()) + ", offset " +
           std::to_string(e.offset.value()) + ")";
  }
};
