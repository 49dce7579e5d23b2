// Helpers for the Log durability tests (power cut, property, crash, bit flip): deterministic
// records, appending them, reading a log back with every batch validated, a model of what a
// log should hold, and a check of a directory's files against Kafka's on-disk format that
// does not open the Log.
#pragma once

#include <fmt/format.h>
#include <stdlib.h>  // mkdtemp

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "samsa/faulty_env.h"
#include "samsa/log.h"
#include "samsa/record_batch.h"
#include "samsa/segment.h"

namespace samsa::test {

// A fresh directory under the system's temporary directory, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "samsa-logtest-XXXXXX").string();
    if (::mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  // Empty when mkdtemp failed.
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// SAMSA_TEST_SCALE (default 1) multiplies the iteration counts, for longer runs by hand.
inline int test_scale() {
  const char* text = std::getenv("SAMSA_TEST_SCALE");
  if (text == nullptr) return 1;
  const long scale = std::strtol(text, nullptr, 10);
  return scale >= 1 ? static_cast<int>(std::min(scale, 100'000L)) : 1;
}

// SAMSA_TEST_SEED=n runs only seed n of the seeded loops (to reproduce a failure).
inline bool seed_selected(std::uint64_t seed) {
  const char* text = std::getenv("SAMSA_TEST_SEED");
  return text == nullptr || std::strtoull(text, nullptr, 10) == seed;
}

inline std::uint64_t mix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// splitmix64. uniform() maps by modulo rather than std::uniform_int_distribution, whose
// mapping differs between standard libraries: a seed reproduces the same run everywhere.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    state_ += 0x9e3779b97f4a7c15ULL;
    return mix64(state_);
  }
  // Uniform in [lo, hi].
  std::uint64_t uniform(std::uint64_t lo, std::uint64_t hi) {
    const std::uint64_t span = hi - lo + 1;
    return span == 0 ? next() : lo + next() % span;
  }
  std::int64_t uniform_signed(std::int64_t lo, std::int64_t hi) {
    return lo + static_cast<std::int64_t>(uniform(0, static_cast<std::uint64_t>(hi - lo)));
  }
  int uniform_int(int lo, int hi) { return static_cast<int>(uniform_signed(lo, hi)); }
  bool percent(int p) { return uniform(0, 99) < static_cast<std::uint64_t>(p); }

 private:
  std::uint64_t state_;
};

// One record as a log returns it.
struct LogRecord {
  Offset offset;
  std::optional<std::string> key;
  std::optional<std::string> value;
  Timestamp timestamp;
  friend bool operator==(const LogRecord&, const LogRecord&) = default;
};

inline std::string describe(const LogRecord& r) {
  auto text = [](const std::optional<std::string>& s) {
    if (!s) return std::string("null");
    if (s->size() <= 24) return fmt::format("\"{}\"", *s);
    return fmt::format("\"{}...\"({} bytes)", s->substr(0, 24), s->size());
  };
  return fmt::format("{{offset {} key {} value {} ts {}}}", r.offset.value(), text(r.key),
                     text(r.value), r.timestamp.value());
}

// "" when equal, else the first difference, for failure messages.
inline std::string first_difference(const std::vector<LogRecord>& expected,
                                    const std::vector<LogRecord>& actual) {
  const std::size_t n = std::min(expected.size(), actual.size());
  for (std::size_t i = 0; i < n; ++i) {
    if (!(expected[i] == actual[i])) {
      return fmt::format("record #{}: expected {} got {}", i, describe(expected[i]),
                         describe(actual[i]));
    }
  }
  if (expected.size() != actual.size()) {
    return fmt::format("expected {} records, got {}; first missing/extra: {}", expected.size(),
                       actual.size(),
                       expected.size() > n ? describe(expected[n]) : describe(actual[n]));
  }
  return "";
}

// The record a test writes at `offset`: key "k<offset>" and a value of up to
// value_bytes_max letters, both a function of (salt, offset) only, so that whoever knows the
// salt can recompute what belongs at an offset.
inline LogRecord make_record(std::uint64_t salt, Offset offset, Timestamp timestamp,
                             std::size_t value_bytes_max) {
  std::uint64_t h = mix64(salt ^ mix64(static_cast<std::uint64_t>(offset.value())));
  const std::size_t length = value_bytes_max == 0 ? 0 : h % (value_bytes_max + 1);
  std::string value(length, 'a');
  for (std::size_t i = 0; i < length; ++i) {
    if (i % 8 == 0) h = mix64(h);
    // A small alphabet, so that lz4 and zstd have something to compress.
    value[i] = static_cast<char>('a' + ((h >> (8 * (i % 8))) & 0xff) % 16);
  }
  return {offset, fmt::format("k{}", offset.value()), std::move(value), timestamp};
}

inline std::vector<LogRecord> make_records(std::uint64_t salt, Offset first, int count,
                                           Timestamp timestamp, std::size_t value_bytes_max) {
  std::vector<LogRecord> out;
  out.reserve(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) {
    out.push_back(make_record(salt, first + i, timestamp, value_bytes_max));
  }
  return out;
}

inline std::optional<ByteSpan> optional_bytes(const std::optional<std::string>& s) {
  if (!s) return std::nullopt;
  return as_bytes(*s);
}

// Builds one batch of `records` (offsets are assigned by the log, not taken from them).
inline Status fill_builder(RecordBatchBuilder& builder, std::span<const LogRecord> records,
                           Compression compression) {
  BatchOptions options;
  options.compression = compression;
  builder.reset(options);
  for (const LogRecord& r : records) {
    SAMSA_TRY(builder.append(r.timestamp, optional_bytes(r.key), optional_bytes(r.value)));
  }
  return Status();
}

// Appends `records` as one batch through Log::append(RecordBatchBuilder&).
inline Result<AppendInfo> append_records(Log& log, std::span<const LogRecord> records,
                                         Compression compression = Compression::none) {
  RecordBatchBuilder builder;
  SAMSA_TRY(fill_builder(builder, records, compression));
  return log.append(builder);
}

// One batch as read back, with its records decoded.
struct ReadBatch {
  Offset base_offset;
  Offset last_offset;
  std::uint64_t position = 0;  // in its file
  std::uint64_t size_bytes = 0;
  Timestamp max_timestamp;
  Compression compression = Compression::none;
  std::vector<LogRecord> records;
};

// Validates (framing, CRC, records) and decodes the whole batches laid end to end in
// `bytes`, which start at `position` of `file`. Bytes that are not a whole valid batch are
// corruption naming the file and position.
inline Result<std::vector<ReadBatch>> decode_batches(ByteSpan bytes, std::uint64_t position,
                                                     std::string_view file) {
  std::vector<ReadBatch> out;
  RecordReader reader;
  std::size_t at = 0;
  // Each round consumes at least a batch header, so it runs at most size / header times.
  while (at < bytes.size()) {
    const std::uint64_t batch_position = position + at;
    auto view = RecordBatchView::validate(bytes.subspan(at), ValidateOptions{}, batch_position);
    if (!view.ok()) {
      return view.status().with_context(fmt::format("{} at position {}", file, batch_position));
    }
    ReadBatch batch;
    batch.base_offset = view->base_offset();
    batch.last_offset = view->last_offset();
    batch.position = batch_position;
    batch.size_bytes = view->size_bytes();
    batch.max_timestamp = view->max_timestamp();
    batch.compression = view->compression();
    SAMSA_TRY(reader.reset(*view));
    Record record;
    for (std::int64_t i = 0; i <= view->records_count(); ++i) {
      SAMSA_TRY_ASSIGN(const bool more, reader.next(record));
      if (!more) break;
      batch.records.push_back(
          {record.offset,
           record.key ? std::optional(std::string(as_chars(*record.key))) : std::nullopt,
           record.value ? std::optional(std::string(as_chars(*record.value))) : std::nullopt,
           record.timestamp});
    }
    if (batch.records.size() != static_cast<std::size_t>(view->records_count())) {
      return Status::corruption(fmt::format("{} at position {}: {} records decoded, count {}", file,
                                            batch_position, batch.records.size(),
                                            view->records_count()));
    }
    at += view->size_bytes();
    out.push_back(std::move(batch));
  }
  return out;
}

// kOffsetOrder starts the message of read_batches() errors about offsets (a batch that does
// not hold the offset read, offsets that do not increase, a gap when gaps are not allowed):
// the log served batches that validate but sit at the wrong offsets. Other errors are
// batches that do not validate (or errors from the log itself).
inline constexpr std::string_view kOffsetOrder = "offset order: ";

struct ReadAllOptions {
  std::uint64_t max_bytes = 1 << 20;
  // Batches must follow each other with no offset gap (a log without compaction).
  bool require_contiguous = true;
  std::size_t max_reads = 1 << 20;  // bounds the loop
};

// Reads the log from `from` to its end with Log::read and LogSlice::read_into, checking
// every slice (whole valid batches, the first one holding `from`, first/next offsets as
// declared), and returns the batches.
inline Result<std::vector<ReadBatch>> read_batches(const Log& log, Offset from,
                                                   const ReadAllOptions& options = {}) {
  std::vector<ReadBatch> out;
  Offset next = from;
  std::vector<std::byte> bytes;
  for (std::size_t reads = 0; reads < options.max_reads; ++reads) {
    ReadOptions read_options;
    read_options.max_bytes = options.max_bytes;
    SAMSA_TRY_ASSIGN(LogSlice slice, log.read(next, read_options));
    if (slice.empty()) {
      if (next < log.log_end_offset()) {
        return Status::corruption(
            fmt::format("offset order: read at {}: empty slice below the log end {}", next.value(),
                        log.log_end_offset().value()));
      }
      return out;
    }
    const std::string where = fmt::format("{} (slice read at offset {})",
                                          slice.file ? slice.file->path() : "?", next.value());
    bytes.clear();
    SAMSA_TRY(slice.read_into(bytes));
    if (bytes.size() != slice.size_bytes) {
      return Status::corruption(fmt::format("slice: {}: read_into gave {} bytes, slice has {}",
                                            where, bytes.size(), slice.size_bytes));
    }
    SAMSA_TRY_ASSIGN(auto batches, decode_batches(bytes, slice.position.value(), where));
    if (batches.empty()) return Status::corruption("slice: " + where + ": no batches");
    const ReadBatch& first = batches.front();
    if (first.last_offset < next || (options.require_contiguous && first.base_offset > next)) {
      return Status::corruption(
          fmt::format("offset order: {}: first batch [{}, {}] does not hold offset {}", where,
                      first.base_offset.value(), first.last_offset.value(), next.value()));
    }
    if (slice.first_offset != first.base_offset ||
        slice.next_offset != batches.back().last_offset + 1) {
      return Status::corruption(
          fmt::format("offset order: {}: slice says [{}, {}), batches are [{}, {}]", where,
                      slice.first_offset.value(), slice.next_offset.value(),
                      first.base_offset.value(), batches.back().last_offset.value()));
    }
    for (ReadBatch& batch : batches) {
      if (!out.empty()) {
        const Offset expected = out.back().last_offset + 1;
        if (batch.base_offset < expected ||
            (options.require_contiguous && batch.base_offset != expected)) {
          return Status::corruption(fmt::format("offset order: {}: batch at {} follows offset {}",
                                                where, batch.base_offset.value(),
                                                out.back().last_offset.value()));
        }
      }
      out.push_back(std::move(batch));
    }
    next = out.back().last_offset + 1;
  }
  return Status::corruption(fmt::format("read_batches: more than {} reads", options.max_reads));
}

// The records at offsets >= `from` (a read returns the whole batch holding `from`).
inline std::vector<LogRecord> records_of(const std::vector<ReadBatch>& batches, Offset from) {
  std::vector<LogRecord> out;
  for (const ReadBatch& batch : batches) {
    for (const LogRecord& r : batch.records) {
      if (r.offset >= from) out.push_back(r);
    }
  }
  return out;
}

inline Result<std::vector<LogRecord>> read_all(const Log& log, Offset from,
                                               const ReadAllOptions& options = {}) {
  SAMSA_TRY_ASSIGN(auto batches, read_batches(log, from, options));
  return records_of(batches, from);
}

// --- a model of what a log without compaction holds ---

struct ModelBatch {
  Offset base_offset;
  Offset last_offset;
  std::vector<LogRecord> records;
  std::uint64_t size_bytes = 0;  // 0 when not known
};

// Whole batches [base, last]; the log start may fall inside the first one (DeleteRecords).
// Invariant: batches are contiguous, log_start <= log_end, and every batch ends at or after
// log_start.
struct LogModel {
  Offset log_start{0};
  Offset log_end{0};
  std::vector<ModelBatch> batches;

  void append(std::vector<LogRecord> records, std::uint64_t size_bytes = 0) {
    ModelBatch batch{records.front().offset, records.back().offset, std::move(records), size_bytes};
    log_end = batch.last_offset + 1;
    batches.push_back(std::move(batch));
  }

  const ModelBatch* batch_containing(Offset offset) const {
    for (const ModelBatch& b : batches) {
      if (b.base_offset <= offset && offset <= b.last_offset) return &b;
    }
    return nullptr;
  }

  // Log::truncate_to's contract: drops every batch whose last offset is >= offset; at or
  // below the log start the log is emptied and restarts at offset.
  void truncate_to(Offset offset) {
    if (offset <= log_start) {
      batches.clear();
      log_start = log_end = offset;
      return;
    }
    while (!batches.empty() && batches.back().last_offset >= offset) {
      log_end = batches.back().base_offset;
      batches.pop_back();
    }
  }

  void delete_records_before(Offset offset) {
    if (offset > log_start) log_start = offset;
  }

  // The log start moved to `start` (retention deleted whole segments).
  void advance_start(Offset start) {
    if (start > log_start) log_start = start;
    std::erase_if(batches, [&](const ModelBatch& b) { return b.last_offset < log_start; });
  }

  std::vector<LogRecord> records_from(Offset from) const {
    std::vector<LogRecord> out;
    for (const ModelBatch& b : batches) {
      for (const LogRecord& r : b.records) {
        if (r.offset >= from) out.push_back(r);
      }
    }
    return out;
  }

  // Kafka's ListOffsets by timestamp: the first record (by offset) at or after the log start
  // whose timestamp is >= ts.
  std::optional<TimestampOffset> offset_for_timestamp(Timestamp ts) const {
    for (const ModelBatch& b : batches) {
      for (const LogRecord& r : b.records) {
        if (r.offset >= log_start && r.timestamp >= ts)
          return TimestampOffset{r.timestamp, r.offset};
      }
    }
    return std::nullopt;
  }
};

// --- a simulated crash on FaultyEnv ---

// A power cut that kills the process holding `log`: cut the power, then destroy the Log as
// a dead process would be, with nothing it does on the way (its destructor closes) reaching
// the disk: every write, sync and rename fails meanwhile, and a second cut drops whatever
// else it changed.
inline void power_cut_and_kill(FaultyEnv& env, std::unique_ptr<Log>& log, PowerCutMode mode) {
  env.power_cut(mode);
  for (FaultOp op : {FaultOp::write, FaultOp::sync, FaultOp::sync_dir, FaultOp::rename}) {
    env.fail_always(op, 5 /* EIO */);
  }
  log.reset();
  env.clear_faults();
  env.power_cut(PowerCutMode::drop_unsynced);
}

inline std::string_view to_string(PowerCutMode mode) {
  switch (mode) {
    case PowerCutMode::drop_unsynced:
      return "drop_unsynced";
    case PowerCutMode::tear_last_write:
      return "tear_last_write";
    case PowerCutMode::random_prefix:
      return "random_prefix";
  }
  return "?";
}

// --- Kafka's on-disk format, checked from the files alone ---

namespace internal {

inline Status format_problem(const std::string& path, std::uint64_t position,
                             const std::string& what) {
  return Status::corruption(fmt::format("{} at position {}: {}", path, position, what));
}

// The batch starting at `position`, or batches.size().
inline std::size_t batch_at(const std::vector<ReadBatch>& batches, std::uint64_t position) {
  auto it = std::lower_bound(batches.begin(), batches.end(), position,
                             [](const ReadBatch& b, std::uint64_t p) { return b.position < p; });
  if (it == batches.end() || it->position != position) return batches.size();
  return static_cast<std::size_t>(it - batches.begin());
}

inline Status check_offset_index(Env& env, const std::string& path, Offset base,
                                 const std::vector<ReadBatch>& batches) {
  SAMSA_TRY_ASSIGN(auto bytes, read_file(env, path));
  constexpr std::size_t kEntry = index_layout::kOffsetEntrySize;
  if (bytes.size() % kEntry != 0) {
    return format_problem(path, bytes.size(), "size is not a whole number of 8-byte entries");
  }
  std::optional<std::size_t> previous_batch;
  std::optional<Offset> previous_offset;
  for (std::size_t at = 0; at < bytes.size(); at += kEntry) {
    const Offset offset = base + get_be<std::int32_t>(bytes.data() + at);
    const std::int32_t position = get_be<std::int32_t>(bytes.data() + at + 4);
    const std::size_t b =
        position < 0 ? batches.size() : batch_at(batches, static_cast<std::uint64_t>(position));
    if (b == batches.size()) {
      return format_problem(
          path, at,
          fmt::format("entry ({}, {}): position is not a batch start", offset.value(), position));
    }
    if (offset < batches[b].base_offset) {
      return format_problem(
          path, at,
          fmt::format("entry ({}, {}): offset below the batch there [{}, {}]", offset.value(),
                      position, batches[b].base_offset.value(), batches[b].last_offset.value()));
    }
    if (previous_batch && (b <= *previous_batch || offset <= *previous_offset)) {
      return format_problem(
          path, at,
          fmt::format("entry ({}, {}) does not follow the previous", offset.value(), position));
    }
    // The entry's offset lies in the append starting there: before the next entry's batch.
    if (previous_batch && *previous_offset >= batches[b].base_offset) {
      return format_problem(path, at - kEntry,
                            fmt::format("entry offset {} reaches into the batch at {} of the "
                                        "next entry",
                                        previous_offset->value(), position));
    }
    previous_batch = b;
    previous_offset = offset;
  }
  if (previous_offset && *previous_offset > batches.back().last_offset) {
    return format_problem(
        path, bytes.size() - kEntry,
        fmt::format("entry offset {} past the segment's last offset {}", previous_offset->value(),
                    batches.back().last_offset.value()));
  }
  return Status();
}

inline Status check_time_index(Env& env, const std::string& path, Offset base,
                               const std::vector<ReadBatch>& batches) {
  SAMSA_TRY_ASSIGN(auto bytes, read_file(env, path));
  constexpr std::size_t kEntry = index_layout::kTimeEntrySize;
  if (bytes.size() % kEntry != 0) {
    return format_problem(path, bytes.size(), "size is not a whole number of 12-byte entries");
  }
  std::optional<TimestampOffset> previous;
  for (std::size_t at = 0; at < bytes.size(); at += kEntry) {
    const TimestampOffset entry{Timestamp(get_be<std::int64_t>(bytes.data() + at)),
                                base + get_be<std::int32_t>(bytes.data() + at + 8)};
    const std::string what =
        fmt::format("entry ({}, {})", entry.timestamp.value(), entry.offset.value());
    if (previous && (entry.timestamp <= previous->timestamp || entry.offset <= previous->offset)) {
      return format_problem(path, at, what + " does not follow the previous");
    }
    // (max timestamp so far, last offset of the batch carrying it)
    auto it = std::find_if(batches.begin(), batches.end(),
                           [&](const ReadBatch& b) { return b.last_offset == entry.offset; });
    if (it == batches.end()) {
      return format_problem(path, at, what + ": offset is not the last offset of a batch");
    }
    if (it->max_timestamp != entry.timestamp) {
      return format_problem(
          path, at,
          fmt::format("{}: the batch's max timestamp is {}", what, it->max_timestamp.value()));
    }
    for (auto earlier = batches.begin(); earlier != it; ++earlier) {
      if (earlier->max_timestamp > entry.timestamp) {
        return format_problem(
            path, at,
            fmt::format("{}: not the max so far (batch at {} has {})", what,
                        earlier->base_offset.value(), earlier->max_timestamp.value()));
      }
    }
    previous = entry;
  }
  return Status();
}

}  // namespace internal

// Checks the segment files in `dir` as Kafka would read them, without opening the Log
// (call it when no Log has the directory open, e.g. after close()): every batch of every
// .log file validates (framing, CRC, records); offsets are contiguous within and across
// segments, each segment's name is its first batch's base offset; every .index entry
// points at a batch start, its offset lies in the append starting there, and entries
// strictly increase; .timeindex entries strictly increase and name (max timestamp so far,
// last offset of the batch carrying it). The first problem is corruption naming the file
// and the position.
inline Status check_kafka_format(Env& env, const std::string& dir) {
  SAMSA_TRY_ASSIGN(const auto names, env.list_dir(dir));
  std::vector<Offset> bases;
  for (const std::string& name : names) {
    if (auto base = parse_segment_file_name(name, ".log")) bases.push_back(*base);
  }
  std::sort(bases.begin(), bases.end());
  std::optional<Offset> expected_next;
  for (const Offset base : bases) {
    const std::string log_path = join_path(dir, log_file_name(base));
    SAMSA_TRY_ASSIGN(const auto bytes, read_file(env, log_path));
    SAMSA_TRY_ASSIGN(const auto batches, decode_batches(bytes, 0, log_path));
    if (expected_next && base != *expected_next) {
      return internal::format_problem(
          log_path, 0,
          fmt::format("segment base offset {} does not follow the previous segment's end {}",
                      base.value(), expected_next->value()));
    }
    Offset next = base;
    for (const ReadBatch& b : batches) {
      if (b.base_offset != next) {
        return internal::format_problem(
            log_path, b.position,
            fmt::format("batch base offset {}, expected {}", b.base_offset.value(), next.value()));
      }
      next = b.last_offset + 1;
    }
    expected_next = next;
    for (const auto& [file_name, is_offset_index] :
         {std::pair{offset_index_file_name(base), true},
          std::pair{time_index_file_name(base), false}}) {
      const std::string path = join_path(dir, file_name);
      SAMSA_TRY_ASSIGN(const bool present, env.exists(path));
      if (!present) return internal::format_problem(path, 0, "missing");
      if (batches.empty()) {
        SAMSA_TRY_ASSIGN(const std::uint64_t size, env.file_size(path));
        if (size != 0) return internal::format_problem(path, 0, "entries for an empty segment");
        continue;
      }
      SAMSA_TRY(is_offset_index ? internal::check_offset_index(env, path, base, batches)
                                : internal::check_time_index(env, path, base, batches));
    }
  }
  return Status();
}

}  // namespace samsa::test
