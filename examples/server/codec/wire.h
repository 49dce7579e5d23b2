// The Kafka wire primitives (Kafka's "protocol types"): big-endian fixed-width integers,
// i16-length strings, i32-length bytes and arrays, and the flexible versions' compact forms
// (unsigned-varint lengths + 1) and tagged fields.
//
// Reader is a cursor over untrusted request bytes with a sticky failure: the first read
// that does not fit sets failed() and every later read returns a zero value, so a decoder
// reads all its fields and checks once at the end. Writer appends to a growing buffer.
//
// Thread-safety: values; one thread at a time per object.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "samsa/coding.h"

namespace samsa_server {

using samsa::ByteSpan;
using samsa::MutableByteSpan;

class Reader {
 public:
  explicit Reader(MutableByteSpan bytes) : bytes_(bytes) {}

  bool failed() const { return failed_; }
  std::size_t offset() const { return at_; }
  std::size_t remaining() const { return bytes_.size() - at_; }
  // Why the first failed read failed, and where ("string length -3 at byte 14").
  const std::string& error() const { return error_; }

  std::int8_t i8();
  std::int16_t i16();
  std::int32_t i32();
  std::int64_t i64();
  bool boolean();
  std::uint32_t unsigned_varint();

  std::string string();  // i16 length; null (-1) is an error
  std::optional<std::string> nullable_string();
  std::string compact_string();
  std::optional<std::string> compact_nullable_string();
  // i32 length (-1: null), as a span into the request so batches can be stamped in place.
  std::optional<MutableByteSpan> nullable_bytes();
  MutableByteSpan bytes();  // i32 length; null (-1) is an error

  // An i32 array length: -1 (null) is returned as -1 only when `nullable`, otherwise it is an
  // error. Each element takes at least `min_element_bytes`, so a length the bytes left
  // cannot hold is refused before anything is allocated for it.
  std::int32_t array_length(std::size_t min_element_bytes, bool nullable = false);
  std::int32_t compact_array_length(std::size_t min_element_bytes, bool nullable = false);
  // Skips a tagged-field section (flexible versions): count, then (tag, size, bytes)s.
  void skip_tagged_fields();

  void fail(std::string why);

 private:
  bool take(std::size_t n, const char* what);
  std::int32_t check_array(std::int64_t n, std::size_t min_element_bytes, bool nullable);

  MutableByteSpan bytes_;
  std::size_t at_ = 0;
  bool failed_ = false;
  std::string error_;
};

class Writer {
 public:
  Writer() = default;
  explicit Writer(std::vector<std::byte> buffer) : buf_(std::move(buffer)) {}

  void i8(std::int8_t v) { put(v); }
  void i16(std::int16_t v) { put(v); }
  void i32(std::int32_t v) { put(v); }
  void i64(std::int64_t v) { put(v); }
  void boolean(bool v) { i8(v ? 1 : 0); }
  void unsigned_varint(std::uint32_t v);

  void string(std::string_view s);
  void nullable_string(const std::optional<std::string>& s);
  void compact_string(std::string_view s);
  void compact_nullable_string(const std::optional<std::string>& s);
  void raw(ByteSpan bytes);
  void bytes(ByteSpan bytes);  // i32 length, then the bytes
  void array_length(std::size_t n) { i32(static_cast<std::int32_t>(n)); }
  void compact_array_length(std::size_t n) { unsigned_varint(static_cast<std::uint32_t>(n + 1)); }
  void empty_tagged_fields() { unsigned_varint(0); }

  // Reserves an i32 to fill in later (a size prefix); returns its position.
  std::size_t reserve_i32();
  void patch_i32(std::size_t position, std::int32_t v);

  std::size_t size() const { return buf_.size(); }
  std::vector<std::byte>& buffer() { return buf_; }
  std::vector<std::byte> take() { return std::move(buf_); }

 private:
  template <typename T>
  void put(T v) {
    const std::size_t at = buf_.size();
    buf_.resize(at + sizeof(T));
    samsa::put_be<T>(buf_.data() + at, v);
  }
  std::vector<std::byte> buf_;
};

}  // namespace samsa_server
