// Floor 1: byte order and variable-length integers, as Kafka encodes them.
//
// Fixed-width integers are big-endian. Varints are zigzag-encoded then written as
// unsigned LEB128 (7 bits a byte, least significant group first, high bit = more):
// a varint (32-bit) takes 1..5 bytes, a varlong (64-bit) 1..10 bytes. See docs/FORMAT.md.
//
// Thread-safety: free functions on caller-owned memory; ByteReader is a value type.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

namespace samsa {

using ByteSpan = std::span<const std::byte>;
using MutableByteSpan = std::span<std::byte>;

inline ByteSpan as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}
inline std::string_view as_chars(ByteSpan b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

constexpr int kVarintMaxBytes = 5;
constexpr int kVarlongMaxBytes = 10;

namespace internal {
template <typename U>
inline U to_big_endian(U v) {
  if constexpr (std::endian::native == std::endian::little) {
    if constexpr (sizeof(U) == 2) return __builtin_bswap16(v);
    if constexpr (sizeof(U) == 4) return __builtin_bswap32(v);
    if constexpr (sizeof(U) == 8) return __builtin_bswap64(v);
  }
  return v;
}
}  // namespace internal

// Writes / reads a big-endian integer at p. The caller guarantees sizeof(T) bytes.
template <typename T>
inline void put_be(std::byte* p, T v) {
  using U = std::make_unsigned_t<T>;
  U u = internal::to_big_endian(static_cast<U>(v));
  std::memcpy(p, &u, sizeof(U));
}
template <typename T>
inline T get_be(const std::byte* p) {
  using U = std::make_unsigned_t<T>;
  U u;
  std::memcpy(&u, p, sizeof(U));
  return static_cast<T>(internal::to_big_endian(u));
}

constexpr std::uint32_t zigzag_encode32(std::int32_t v) {
  return (static_cast<std::uint32_t>(v) << 1) ^ static_cast<std::uint32_t>(v >> 31);
}
constexpr std::int32_t zigzag_decode32(std::uint32_t u) {
  return static_cast<std::int32_t>((u >> 1) ^ (~(u & 1) + 1));
}
constexpr std::uint64_t zigzag_encode64(std::int64_t v) {
  return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
}
constexpr std::int64_t zigzag_decode64(std::uint64_t u) {
  return static_cast<std::int64_t>((u >> 1) ^ (~(u & 1) + 1));
}

// Bytes the zigzag varint / varlong encoding of v takes.
constexpr int varint_size(std::int32_t v) {
  std::uint32_t u = zigzag_encode32(v);
  int n = 1;
  while (u >= 0x80) {
    u >>= 7;
    ++n;
  }
  return n;
}
constexpr int varlong_size(std::int64_t v) {
  std::uint64_t u = zigzag_encode64(v);
  int n = 1;
  while (u >= 0x80) {
    u >>= 7;
    ++n;
  }
  return n;
}

// Writes the zigzag varint / varlong of v at p and returns the byte after it. The caller
// guarantees kVarintMaxBytes / kVarlongMaxBytes of room.
inline std::byte* put_unsigned_varint(std::byte* p, std::uint64_t u) {
  while (u >= 0x80) {
    *p++ = static_cast<std::byte>(u | 0x80);
    u >>= 7;
  }
  *p++ = static_cast<std::byte>(u);
  return p;
}
inline std::byte* put_varint(std::byte* p, std::int32_t v) {
  return put_unsigned_varint(p, zigzag_encode32(v));
}
inline std::byte* put_varlong(std::byte* p, std::int64_t v) {
  return put_unsigned_varint(p, zigzag_encode64(v));
}

// A bounds-checked cursor over untrusted bytes. Every read either succeeds within the span
// or returns false and leaves the cursor where the failed field starts, so that
// offset() names the byte position of the bad field. Never reads past the end.
class ByteReader {
 public:
  enum class Error : std::uint8_t { none, truncated, varint_too_long };

  explicit ByteReader(ByteSpan bytes)
      : begin_(bytes.data()), p_(bytes.data()), end_(bytes.data() + bytes.size()) {}

  std::size_t offset() const { return static_cast<std::size_t>(p_ - begin_); }
  std::size_t remaining() const { return static_cast<std::size_t>(end_ - p_); }
  bool at_end() const { return p_ == end_; }
  // Why the last failed read failed.
  Error error() const { return error_; }

  template <typename T>
  bool read_be(T& out) {
    if (remaining() < sizeof(T)) return fail(Error::truncated);
    out = get_be<T>(p_);
    p_ += sizeof(T);
    return true;
  }

  // Kafka's rule: at most 5 bytes; a 5th byte with its high bit set is "too long". Bits that
  // would overflow 32 bits are rejected too (Kafka drops them silently; no writer sets them).
  bool read_varint(std::int32_t& out) {
    const std::byte* const start = p_;
    std::uint64_t u = 0;
    if (!read_unsigned(u, kVarintMaxBytes)) return false;
    if (u > 0xFFFFFFFFu) {
      p_ = start;  // read_unsigned moved past the field; a failed read must not
      return fail(Error::varint_too_long);
    }
    out = zigzag_decode32(static_cast<std::uint32_t>(u));
    return true;
  }
  bool read_varlong(std::int64_t& out) {
    std::uint64_t u = 0;
    if (!read_unsigned(u, kVarlongMaxBytes)) return false;
    out = zigzag_decode64(u);
    return true;
  }

  // n bytes as a span into the underlying buffer.
  bool read_bytes(std::size_t n, ByteSpan& out) {
    if (remaining() < n) return fail(Error::truncated);
    out = ByteSpan(p_, n);
    p_ += n;
    return true;
  }
  bool skip(std::size_t n) {
    if (remaining() < n) return fail(Error::truncated);
    p_ += n;
    return true;
  }

 private:
  bool fail(Error e) {
    error_ = e;
    return false;
  }
  bool read_unsigned(std::uint64_t& out, int max_bytes) {
    const std::byte* p = p_;
    std::uint64_t u = 0;
    for (int i = 0; i < max_bytes; ++i) {
      if (p == end_) return fail(Error::truncated);
      const auto b = static_cast<std::uint8_t>(*p++);
      const int shift = 7 * i;
      if (i == 9 && b > 1) return fail(Error::varint_too_long);  // beyond 64 bits
      u |= std::uint64_t{b & 0x7Fu} << shift;
      if ((b & 0x80) == 0) {
        out = u;
        p_ = p;
        return true;
      }
    }
    return fail(Error::varint_too_long);
  }

  const std::byte* begin_;
  const std::byte* p_;
  const std::byte* end_;
  Error error_ = Error::none;
};

}  // namespace samsa
