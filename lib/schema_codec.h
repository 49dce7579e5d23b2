// Internal: Kafka's message-schema encodings for the records samsa reads and writes itself
// (KRaft control records, __consumer_offsets keys and values): big-endian fixed ints; the
// classic forms (i16-length strings, i32-length bytes and arrays) and the flexible forms
// (unsigned-varint lengths + 1, tagged-field sections). The server's wire codec has its
// own (examples/server/codec/wire.h), over request frames.
//
// SchemaReader reads untrusted bytes: every failure is a corruption Status naming the
// message, the field and the byte where it starts ("GroupMetadataValue.members at byte
// 14: ..."); the first failure wins. A count read from the bytes is bounded by the bytes
// left before anything is allocated for it.
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "samsa/coding.h"
#include "samsa/status.h"

namespace samsa::internal {

// The cap on a decoded array's element count on top of the bytes-left bound.
constexpr std::size_t kSchemaMaxArrayElements = std::size_t{1} << 20;

class SchemaWriter {
 public:
  template <typename T>
  void be(T v) {
    std::byte tmp[sizeof(T)];
    put_be<T>(tmp, v);
    out_.insert(out_.end(), tmp, tmp + sizeof(T));
  }
  void uvarint(std::uint64_t u) {
    std::byte tmp[kVarlongMaxBytes];
    std::byte* end = put_unsigned_varint(tmp, u);
    out_.insert(out_.end(), tmp, end);
  }
  void raw(ByteSpan b) { out_.insert(out_.end(), b.begin(), b.end()); }

  // Flexible forms.
  void compact_length(std::size_t n) { uvarint(std::uint64_t{n} + 1); }
  void compact_string(std::string_view s) {
    compact_length(s.size());
    raw(as_bytes(s));
  }
  void no_tagged_fields() { uvarint(0); }

  // Classic forms.
  void string(std::string_view s) {
    be<std::int16_t>(static_cast<std::int16_t>(s.size()));
    raw(as_bytes(s));
  }
  void nullable_string(const std::optional<std::string>& s) {
    if (!s) return be<std::int16_t>(-1);
    string(*s);
  }
  void bytes(ByteSpan b) {
    be<std::int32_t>(static_cast<std::int32_t>(b.size()));
    raw(b);
  }
  void array_length(std::size_t n) { be<std::int32_t>(static_cast<std::int32_t>(n)); }

  std::vector<std::byte> take() { return std::move(out_); }

 private:
  std::vector<std::byte> out_;
};

class SchemaReader {
 public:
  SchemaReader(ByteSpan bytes, std::string_view message) : r_(bytes), message_(message) {}

  template <typename T>
  bool be(T& out, std::string_view field) {
    const std::size_t at = r_.offset();
    return r_.read_be(out) || fail(field, at, "truncated");
  }
  bool uvarint(std::uint64_t& out, std::string_view field) {
    const std::size_t at = r_.offset();
    std::uint64_t u = 0;
    for (int i = 0; i < 5; ++i) {
      std::uint8_t b = 0;
      if (!r_.read_be(b)) return fail(field, at, "truncated varint");
      u |= std::uint64_t{b & 0x7Fu} << (7 * i);
      if ((b & 0x80) == 0) {
        out = u;
        return true;
      }
    }
    return fail(field, at, "unsigned varint longer than 5 bytes");
  }
  // A fixed-size run of bytes (a UUID).
  template <std::size_t N>
  bool fixed(std::array<std::byte, N>& out, std::string_view field) {
    const std::size_t at = r_.offset();
    ByteSpan b;
    if (!r_.read_bytes(N, b)) return fail(field, at, "truncated");
    std::copy(b.begin(), b.end(), out.begin());
    return true;
  }

  // Flexible forms. A compact length stores n + 1; 0 would be null, which none of the
  // fields read this way allows.
  bool compact_length(std::size_t& n, std::size_t min_element_bytes, std::string_view field) {
    const std::size_t at = r_.offset();
    std::uint64_t u = 0;
    if (!uvarint(u, field)) return false;
    if (u == 0) return fail(field, at, "null, which the schema does not allow");
    return bounded(u - 1, min_element_bytes, field, at, n);
  }
  bool compact_string(std::string& out, std::string_view field) {
    std::size_t n = 0;
    if (!compact_length(n, 1, field)) return false;
    return take_chars(n, out, field);
  }
  bool compact_nullable_string(std::optional<std::string>& out, std::string_view field) {
    const std::size_t at = r_.offset();
    std::uint64_t u = 0;
    std::size_t n = 0;
    if (!uvarint(u, field)) return false;
    if (u == 0) {
      out.reset();
      return true;
    }
    std::string s;
    if (!bounded(u - 1, 1, field, at, n) || !take_chars(n, s, field)) return false;
    out = std::move(s);
    return true;
  }
  bool compact_bytes(std::vector<std::byte>& out, std::string_view field) {
    const std::size_t at = r_.offset();
    std::size_t n = 0;
    ByteSpan b;
    if (!compact_length(n, 1, field)) return false;
    if (!r_.read_bytes(n, b)) return fail(field, at, "truncated");
    out.assign(b.begin(), b.end());
    return true;
  }
  // Skips a tagged-field section; samsa knows no tags, so every one is skipped.
  bool tagged_fields(std::string_view field) {
    const std::size_t at = r_.offset();
    std::uint64_t u = 0;
    std::size_t count = 0;
    if (!uvarint(u, field) || !bounded(u, 2, field, at, count)) return false;
    for (std::size_t i = 0; i < count; ++i) {
      std::uint64_t tag = 0;
      std::uint64_t size = 0;
      if (!uvarint(tag, field) || !uvarint(size, field)) return false;
      const std::size_t tag_at = r_.offset();
      if (size > r_.remaining() || !r_.skip(static_cast<std::size_t>(size))) {
        return fail(field, tag_at,
                    fmt::format("tagged field {} of {} bytes is truncated", tag, size));
      }
    }
    return true;
  }

  // Classic forms.
  bool string(std::string& out, std::string_view field) {
    std::optional<std::string> s;
    const std::size_t at = r_.offset();
    if (!nullable_string(s, field)) return false;
    if (!s) return fail(field, at, "null, which the schema does not allow");
    out = std::move(*s);
    return true;
  }
  bool nullable_string(std::optional<std::string>& out, std::string_view field) {
    const std::size_t at = r_.offset();
    std::int16_t len = 0;
    if (!be(len, field)) return false;
    if (len < -1) return fail(field, at, fmt::format("string length {}", len));
    if (len == -1) {
      out.reset();
      return true;
    }
    std::string s;
    if (!take_chars(static_cast<std::size_t>(len), s, field)) return false;
    out = std::move(s);
    return true;
  }
  bool bytes(std::vector<std::byte>& out, std::string_view field) {
    const std::size_t at = r_.offset();
    std::int32_t len = 0;
    if (!be(len, field)) return false;
    if (len < 0) return fail(field, at, fmt::format("bytes length {}", len));
    ByteSpan b;
    if (!r_.read_bytes(static_cast<std::size_t>(len), b)) {
      return fail(field, at, fmt::format("{} bytes, {} left", len, r_.remaining()));
    }
    out.assign(b.begin(), b.end());
    return true;
  }
  bool array_length(std::size_t& n, std::size_t min_element_bytes, std::string_view field) {
    const std::size_t at = r_.offset();
    std::int32_t len = 0;
    if (!be(len, field)) return false;
    if (len < 0) return fail(field, at, fmt::format("array length {}", len));
    return bounded(static_cast<std::uint64_t>(len), min_element_bytes, field, at, n);
  }

  bool at_end() {
    return r_.at_end() ||
           fail("end", r_.offset(), fmt::format("{} bytes left over", r_.remaining()));
  }
  std::size_t offset() const { return r_.offset(); }
  Status status() const { return status_; }

  bool fail(std::string_view field, std::size_t at, std::string_view what) {
    if (status_.ok()) {
      status_ = Status::corruption(fmt::format("{}.{} at byte {}: {}", message_, field, at, what));
    }
    return false;
  }

 private:
  bool bounded(std::uint64_t count, std::size_t min_element_bytes, std::string_view field,
               std::size_t at, std::size_t& n) {
    if (count * std::max<std::size_t>(min_element_bytes, 1) > r_.remaining() ||
        count > kSchemaMaxArrayElements) {
      return fail(field, at,
                  fmt::format("length {} exceeds the {} bytes left", count, r_.remaining()));
    }
    n = static_cast<std::size_t>(count);
    return true;
  }
  bool take_chars(std::size_t n, std::string& out, std::string_view field) {
    const std::size_t at = r_.offset();
    ByteSpan b;
    if (!r_.read_bytes(n, b)) {
      return fail(field, at, fmt::format("{} bytes, {} left", n, r_.remaining()));
    }
    out.assign(as_chars(b));
    return true;
  }

  ByteReader r_;
  std::string_view message_;
  Status status_;
};

}  // namespace samsa::internal
