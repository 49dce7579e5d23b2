// samsa-bench: what the LevelDB and RocksDB peers share. Both keep a record under its
// offset as an 8-byte big-endian key (put_key) with value_codec.h's value, and both have
// iterators of one shape (SeekToFirst/SeekToLast, Valid, Next, key, value, status), so the
// offset recovery at open, the scan and the decoding of a get are written once here.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>

#include "peers/value_codec.h"
#include "store.h"

namespace samsa::bench {

// The offset after the last record (0 for an empty store). `db` names the store in errors;
// `from_status` turns the store's status into a Status.
template <typename Iterator, typename FromStatus>
Result<std::int64_t> next_offset_after_last(Iterator& it, std::string_view db,
                                            FromStatus from_status) {
  it.SeekToLast();
  std::int64_t next = 0;
  if (it.Valid()) {
    const auto k = it.key();
    if (k.size() != 8) return Status::corruption(std::string(db) + ": a key that is not 8 bytes");
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(k[i]);
    next = static_cast<std::int64_t>(v) + 1;
  }
  if (!it.status().ok()) return from_status(it.status(), "seek to last");
  return next;
}

// Opens (creating) the store at `dir` into `db` and finds where appends continue.
template <typename DB, typename Options, typename ReadOptions, typename FromStatus>
Status open_ordered_kv(const std::string& dir, const Options& options, const ReadOptions& read,
                       std::string_view name, FromStatus from_status, std::unique_ptr<DB>& db,
                       std::int64_t& next_offset) {
  DB* raw = nullptr;
  const auto s = DB::Open(options, dir, &raw);
  if (!s.ok()) return from_status(s, "open " + dir);
  db.reset(raw);
  // The directory is empty, but continue after existing records all the same.
  const std::unique_ptr<std::remove_pointer_t<decltype(raw->NewIterator(read))>> it(
      db->NewIterator(read));
  SAMSA_TRY_ASSIGN(next_offset, next_offset_after_last(*it, name, from_status));
  return Status();
}

// Every record in offset order, decoded; the count visited.
template <typename Iterator, typename FromStatus>
Result<std::int64_t> scan_records(
    Iterator& it, std::string_view db, FromStatus from_status,
    const std::function<void(std::string_view key, std::string_view value)>& visit) {
  std::int64_t n = 0;
  for (it.SeekToFirst(); it.Valid(); it.Next()) {
    const auto v = it.value();
    std::string_view key, value;
    if (!decode_value(std::string_view(v.data(), v.size()), key, value)) {
      return Status::corruption(std::string(db) + ": malformed value at record " +
                                std::to_string(n));
    }
    visit(key, value);
    ++n;
  }
  if (!it.status().ok()) return from_status(it.status(), "scan");
  return n;
}

// The record's value out of the bytes stored at `offset`.
inline Status value_of(std::string_view stored, std::string_view db, std::int64_t offset,
                       std::string& value) {
  std::string_view key, val;
  if (!decode_value(stored, key, val)) {
    return Status::corruption(std::string(db) + ": malformed value at offset " +
                              std::to_string(offset));
  }
  value.assign(val);
  return Status();
}

}  // namespace samsa::bench
