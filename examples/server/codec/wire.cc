#include "codec/wire.h"

#include <fmt/format.h>

namespace samsa_server {

void Reader::fail(std::string why) {
  if (failed_) return;
  failed_ = true;
  error_ = std::move(why);
}

bool Reader::take(std::size_t n, const char* what) {
  if (failed_) return false;
  if (remaining() < n) {
    fail(fmt::format("{} of {} bytes at byte {} runs past the end ({} left)", what, n, at_,
                     remaining()));
    return false;
  }
  return true;
}

#define SAMSA_SERVER_READ_INT(name, T)                 \
  T Reader::name() {                                   \
    if (!take(sizeof(T), #name)) return 0;             \
    const T v = samsa::get_be<T>(bytes_.data() + at_); \
    at_ += sizeof(T);                                  \
    return v;                                          \
  }
SAMSA_SERVER_READ_INT(i8, std::int8_t)
SAMSA_SERVER_READ_INT(i16, std::int16_t)
SAMSA_SERVER_READ_INT(i32, std::int32_t)
SAMSA_SERVER_READ_INT(i64, std::int64_t)
#undef SAMSA_SERVER_READ_INT

bool Reader::boolean() {
  return i8() != 0;
}

std::uint32_t Reader::unsigned_varint() {
  if (failed_) return 0;
  std::uint32_t v = 0;
  for (int i = 0; i < 5; ++i) {
    if (!take(1, "varint")) return 0;
    const auto b = static_cast<std::uint8_t>(bytes_[at_++]);
    if (i == 4 && b > 0x0F) break;
    v |= std::uint32_t{b & 0x7Fu} << (7 * i);
    if ((b & 0x80) == 0) return v;
  }
  fail(fmt::format("unsigned varint too long at byte {}", at_));
  return 0;
}

std::optional<std::string> Reader::nullable_string() {
  const std::int16_t n = i16();
  if (failed_) return std::nullopt;
  if (n < -1) {
    fail(fmt::format("string length {} at byte {}", n, at_ - 2));
    return std::nullopt;
  }
  if (n == -1) return std::nullopt;
  if (!take(static_cast<std::size_t>(n), "string")) return std::nullopt;
  std::string s(reinterpret_cast<const char*>(bytes_.data() + at_), static_cast<std::size_t>(n));
  at_ += static_cast<std::size_t>(n);
  return s;
}

std::string Reader::string() {
  const std::size_t at = at_;
  auto s = nullable_string();
  if (!s && !failed_) fail(fmt::format("null string at byte {} where one is required", at));
  return s.value_or(std::string());
}

std::optional<std::string> Reader::compact_nullable_string() {
  const std::uint32_t n = unsigned_varint();
  if (failed_ || n == 0) return std::nullopt;
  if (!take(n - 1, "compact string")) return std::nullopt;
  std::string s(reinterpret_cast<const char*>(bytes_.data() + at_), n - 1);
  at_ += n - 1;
  return s;
}

std::string Reader::compact_string() {
  const std::size_t at = at_;
  auto s = compact_nullable_string();
  if (!s && !failed_) fail(fmt::format("null compact string at byte {}", at));
  return s.value_or(std::string());
}

std::optional<MutableByteSpan> Reader::nullable_bytes() {
  const std::int32_t n = i32();
  if (failed_) return std::nullopt;
  if (n < -1) {
    fail(fmt::format("bytes length {} at byte {}", n, at_ - 4));
    return std::nullopt;
  }
  if (n == -1) return std::nullopt;
  if (!take(static_cast<std::size_t>(n), "bytes")) return std::nullopt;
  MutableByteSpan out = bytes_.subspan(at_, static_cast<std::size_t>(n));
  at_ += static_cast<std::size_t>(n);
  return out;
}

MutableByteSpan Reader::bytes() {
  const std::size_t at = at_;
  auto b = nullable_bytes();
  if (!b && !failed_) fail(fmt::format("null bytes at byte {} where they are required", at));
  return b.value_or(MutableByteSpan());
}

std::int32_t Reader::check_array(std::int64_t n, std::size_t min_element_bytes, bool nullable) {
  if (failed_) return 0;
  if (n == -1 && nullable) return -1;
  if (n < 0 || static_cast<std::uint64_t>(n) * min_element_bytes > remaining()) {
    fail(fmt::format("array length {} at byte {} does not fit the {} bytes left", n, at_,
                     remaining()));
    return 0;
  }
  return static_cast<std::int32_t>(n);
}

std::int32_t Reader::array_length(std::size_t min_element_bytes, bool nullable) {
  const std::int32_t n = i32();
  return check_array(n, min_element_bytes, nullable);
}

std::int32_t Reader::compact_array_length(std::size_t min_element_bytes, bool nullable) {
  const std::uint32_t n = unsigned_varint();
  return check_array(static_cast<std::int64_t>(n) - 1, min_element_bytes, nullable);
}

void Reader::skip_tagged_fields() {
  const std::uint32_t count = unsigned_varint();
  for (std::uint32_t i = 0; i < count && !failed_; ++i) {
    (void)unsigned_varint();  // tag
    const std::uint32_t size = unsigned_varint();
    if (take(size, "tagged field")) at_ += size;
  }
}

void Writer::unsigned_varint(std::uint32_t v) {
  std::byte tmp[samsa::kVarintMaxBytes];
  const std::byte* end = samsa::put_unsigned_varint(tmp, v);
  buf_.insert(buf_.end(), static_cast<const std::byte*>(tmp), end);
}

void Writer::string(std::string_view s) {
  i16(static_cast<std::int16_t>(s.size()));
  raw(samsa::as_bytes(s));
}

void Writer::nullable_string(const std::optional<std::string>& s) {
  if (!s) return i16(-1);
  string(*s);
}

void Writer::compact_string(std::string_view s) {
  unsigned_varint(static_cast<std::uint32_t>(s.size() + 1));
  raw(samsa::as_bytes(s));
}

void Writer::compact_nullable_string(const std::optional<std::string>& s) {
  if (!s) return unsigned_varint(0);
  compact_string(*s);
}

void Writer::raw(ByteSpan bytes) {
  buf_.insert(buf_.end(), bytes.begin(), bytes.end());
}

void Writer::bytes(ByteSpan bytes) {
  i32(static_cast<std::int32_t>(bytes.size()));
  raw(bytes);
}

std::size_t Writer::reserve_i32() {
  const std::size_t at = buf_.size();
  i32(0);
  return at;
}

void Writer::patch_i32(std::size_t position, std::int32_t v) {
  samsa::put_be<std::int32_t>(buf_.data() + position, v);
}

}  // namespace samsa_server
