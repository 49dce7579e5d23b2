// samsa-bench: the `compaction` workload. A keyed log (100 B values, 100 records per batch,
// keys drawn from a set of a tenth as many keys as records) is cleaned in one full pass of
// the Cleaner; beside it, read() of the very same segment files, warm: the limit of the read
// side on this machine, which a pass reads twice (offset map, then cleaning).
//
// MB/s counts the input: the bytes of the segments the pass cleaned (file bytes, as the
// recovery workload counts them), over the wall time of Cleaner::clean, fsyncs included.
#include <fmt/format.h>
#include <time.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "raw_baselines.h"
#include "samsa/cleaner.h"
#include "samsa/log.h"
#include "stats.h"

namespace samsa::bench {

// Called by bench_main.cc: builds the log in `dir` (removed afterwards) and returns the
// samsa row and the raw-read row.
std::vector<Row> run_compaction(const std::string& dir, std::uint64_t log_bytes);

namespace {

constexpr std::int64_t kValueBytes = 100;
constexpr std::size_t kKeyBytes = 16;
constexpr std::int64_t kBatchRecords = 100;
constexpr std::int64_t kRecordsPerKey = 10;  // 10% distinct keys
constexpr std::size_t kPoolBytes = std::size_t{16} << 20;
constexpr std::int64_t kHourMs = 3'600'000;
// A record of 16 B key and 100 B value takes about 126 bytes in a batch.
constexpr std::int64_t kRecordBytes = 126;

std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

ByteSpan bytes_of(std::string_view s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}

struct BuiltLog {
  std::unique_ptr<Log> log;
  std::int64_t records = 0;
  std::int64_t keys = 0;
  std::uint64_t segment_bytes = 0;
};

// Appends about log_bytes of keyed records (no fsync), then rolls so that all of it lies
// below the active segment, and flushes.
Result<BuiltLog> build_log(const std::string& dir, std::uint64_t log_bytes, ManualClock& clock) {
  BuiltLog built;
  LogConfig config;
  // Kafka's default segment.bytes (1 GiB): the log is one segment, rolled at the end.
  config.segment_ms = kHourMs;
  config.max_batch_bytes = 16 << 20;
  config.flush_policy = FlushPolicy::manual_may_lose_unflushed;
  config.cleanup_policy = CleanupPolicy{.delete_old = false, .compact = true};
  config.topic = "bench";
  config.partition = 0;
  built.segment_bytes = config.segment_bytes;
  SAMSA_TRY_ASSIGN(built.log, Log::open(Env::posix(), dir, config, clock));
  built.records =
      static_cast<std::int64_t>(log_bytes) / kRecordBytes / kBatchRecords * kBatchRecords;
  built.keys = std::max<std::int64_t>(built.records / kRecordsPerKey, 1);
  std::string pool(kPoolBytes + 64, '\0');
  std::mt19937_64 rng(20261122);
  for (std::size_t i = 0; i + 8 <= pool.size(); i += 8) {
    const std::uint64_t v = rng();
    std::memcpy(&pool[i], &v, 8);
  }
  RecordBatchBuilder builder;
  char key[kKeyBytes + 1];
  for (std::int64_t seq = 0; seq < built.records; seq += kBatchRecords) {
    builder.reset({});
    for (std::int64_t i = seq; i < seq + kBatchRecords; ++i) {
      const std::uint64_t k =
          mix(static_cast<std::uint64_t>(i)) % static_cast<std::uint64_t>(built.keys);
      fmt::format_to_n(key, kKeyBytes, "{:016x}", k * 0x9E3779B1);
      const std::size_t at = (static_cast<std::size_t>(i) * 4099 * 64) % (kPoolBytes - kValueBytes);
      SAMSA_TRY(builder.append(clock.now(), bytes_of(std::string_view(key, kKeyBytes)),
                               bytes_of(std::string_view(pool).substr(at, kValueBytes))));
    }
    SAMSA_TRY(built.log->append(builder).status());
  }
  clock.advance_ms(2 * kHourMs);  // the next append rolls: everything above is cleanable
  builder.reset({});
  SAMSA_TRY(builder.append(clock.now(), bytes_of("end"), bytes_of("end")));
  SAMSA_TRY(built.log->append(builder).status());
  SAMSA_TRY(built.log->flush());
  return built;
}

// CPU time of this thread: on a machine shared with other work the wall time of a pass is
// the figure, and the CPU time says how much of it was the pass's own.
double thread_cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

Row row_for(const char* system, std::string configuration) {
  Row row;
  row.workload = "compaction";
  row.system = system;
  row.configuration = std::move(configuration);
  row.value_bytes = kValueBytes;
  row.batch_records = kBatchRecords;
  return row;
}

}  // namespace

std::vector<Row> run_compaction(const std::string& dir, std::uint64_t log_bytes) {
  std::vector<Row> rows;
  ManualClock clock{Timestamp(1'700'000'000'000)};
  auto built = build_log(dir, log_bytes, clock);
  if (!built.ok()) {
    fmt::print(stderr, "compaction: building the log: {}\n", built.status().to_string());
    return rows;
  }
  // The segments the pass will clean: all but the active one.
  std::vector<std::string> files = segment_files(dir);
  if (!files.empty()) files.pop_back();
  raw_read(files);  // the same warm-up the pass gets (the data was just written)
  const RawResult raw = raw_read(files);

  Cleaner cleaner({}, clock);
  const auto start = Clock::now();
  const double cpu_start = thread_cpu_seconds();
  auto result = cleaner.clean(*built->log);
  const double seconds = static_cast<double>(elapsed_ns(start, Clock::now())) / 1e9;
  const double cpu_seconds = thread_cpu_seconds() - cpu_start;
  if (!result.ok()) {
    fmt::print(stderr, "compaction: clean: {}\n", result.status().to_string());
    return rows;
  }
  const CleanerStats& s = result->stats;
  const std::uint64_t input = s.bytes_read - s.map_bytes_read;
  Row samsa = row_for(
      "samsa",
      fmt::format(
          "Cleaner::clean of {} MB in {} segment(s) of {} MiB ({} records, {} distinct keys, "
          "100 B values x 100/batch, no codec), offset map 128 MiB: {} records kept, {} "
          "bytes written in {} segments, fsyncs included; {:.3f} s wall, {:.3f} s CPU",
          input / 1'000'000, s.segments_cleaned, built->segment_bytes >> 20, s.records_read,
          built->keys, s.records_kept, s.bytes_written, s.segments_written, seconds, cpu_seconds));
  samsa.records = s.records_read;
  samsa.bytes = static_cast<std::int64_t>(input);
  samsa.seconds = seconds;
  Row baseline =
      row_for("raw-read", "read() of the same .log files in 1 MiB chunks, warm page cache");
  baseline.records =
      samsa.records * static_cast<std::int64_t>(raw.bytes) / std::max<std::int64_t>(samsa.bytes, 1);
  baseline.bytes = static_cast<std::int64_t>(raw.bytes);
  baseline.seconds = raw.seconds;
  baseline.set_latency(raw.latency);
  if (Status st = built->log->close(); !st.ok()) {
    fmt::print(stderr, "compaction: close: {}\n", st.to_string());
  }
  std::filesystem::remove_all(dir);
  rows.push_back(std::move(samsa));
  rows.push_back(std::move(baseline));
  return rows;
}

}  // namespace samsa::bench
