// samsa-bench: how the key-value peers (RocksDB, LevelDB, LMDB) store one record as a
// value, so that a scan returns its key and value: u32 key length, i64 timestamp (both
// little-endian), key, value.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "store.h"

namespace samsa::bench {

// u32 key length, i64 timestamp (both little-endian), key, value.
inline constexpr std::size_t kHeader = 12;

inline void encode_value(const Record& r, std::string& out) {
  out.resize(kHeader + r.key.size() + r.value.size());
  auto klen = static_cast<std::uint32_t>(r.key.size());
  auto ts = static_cast<std::uint64_t>(r.timestamp_ms);
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>((klen >> (8 * i)) & 0xff);
  for (int i = 0; i < 8; ++i) out[4 + i] = static_cast<char>((ts >> (8 * i)) & 0xff);
  if (!r.key.empty()) std::memcpy(out.data() + kHeader, r.key.data(), r.key.size());
  if (!r.value.empty()) {
    std::memcpy(out.data() + kHeader + r.key.size(), r.value.data(), r.value.size());
  }
}

inline bool decode_value(std::string_view v, std::string_view& key, std::string_view& value) {
  if (v.size() < kHeader) return false;
  std::uint32_t klen = 0;
  for (int i = 0; i < 4; ++i) {
    klen |= static_cast<std::uint32_t>(static_cast<unsigned char>(v[i])) << (8 * i);
  }
  if (v.size() - kHeader < klen) return false;
  key = v.substr(kHeader, klen);
  value = v.substr(kHeader + klen);
  return true;
}

// The 8-byte big-endian key of an offset: byte order = offset order.
inline void put_key(std::int64_t offset, char (&out)[8]) {
  auto v = static_cast<std::uint64_t>(offset);
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
}

}  // namespace samsa::bench
