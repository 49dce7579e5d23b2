// samsa-bench: samsa's Log beside this machine's raw limits (write, write+fdatasync, read)
// and embedded peers (RocksDB, LevelDB, SQLite, LMDB), on the same records in one run.
//
// Usage: samsa-bench [--quick | --full] [--out DIR] [--dir DIR] [--no-peers] [--no-plot]
//                    [--only
//                    append|durable|reads|recovery|idempotence|compaction|replication|raft|partitions|groups]
// Writes DIR/results.csv, DIR/summary.md and (with gnuplot) one PNG per workload; prints
// a table as it goes and PASS/MISS lines for the targets of benchmarks/README.md.
#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <functional>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "raw_baselines.h"
#include "samsa/log.h"
#include "stats.h"
#include "store.h"

#ifndef SAMSA_BENCH_DIR
#define SAMSA_BENCH_DIR "benchmarks"
#endif

namespace samsa::bench {

// compaction_bench.cc: one Cleaner pass over a keyed log in `dir`, and read() of the same
// files; returns their rows.
std::vector<Row> run_compaction(const std::string& dir, std::uint64_t log_bytes);
// replication_bench.cc: 3 replicas in one process (acks=all, min ISR 2) beside the
// single-node durable append, and acks=all latency at 10% of peak beside one fdatasync.
std::vector<Row> run_replication(const std::string& dir, std::chrono::milliseconds cell);
// raft_bench.cc: a 3-voter RaftQuorum in one process beside the single-node durable append,
// and commit latency at 10% of peak beside one fdatasync.
std::vector<Row> run_raft(const std::string& dir, std::chrono::milliseconds cell);
// partitions_bench.cc: N Partitions in one process (100,000 with --full): open times after a
// clean and an unclean shutdown, RSS and descriptors per partition, spread appends.
std::vector<Row> run_partitions(const std::string& dir, bool full);
// group_bench.cc: OffsetCommit throughput, join-and-stabilize, coordinator load time.
std::vector<Row> run_groups(const std::string& dir, bool full, std::chrono::milliseconds cell);
// peers/libraft_bench.cc: canonical's C Raft (libraft) with 3 voters in one process, the
// same batches and window as run_raft's quorum; one row, "ERROR ..." when it cannot run.
std::vector<Row> run_libraft(const std::string& dir, std::chrono::milliseconds cell);

namespace {

namespace fs = std::filesystem;

constexpr int kKeyBytes = 16;
constexpr std::int64_t kKeyRing = 1 << 16;
constexpr std::int64_t kBaseTimestampMs = 1'700'000'000'000;
constexpr std::size_t kPoolBytes = std::size_t{16} << 20;
constexpr std::uint64_t kSeed = 20261122;
constexpr std::int64_t kRingBatches = 16384;  // raw baselines cycle through at most
constexpr std::uint64_t kRingBytes = std::uint64_t{64} << 20;  // these many batches / bytes

struct Mode {
  std::string load_at_start;  // /proc/loadavg: other work on the machine skews the figures
  bool full = false;
  bool peers = true;
  bool plot = true;
  // Empty: everything. Else one part of the plan, to repeat a cell while profiling.
  std::string only;
  std::string out_dir;
  std::string work_dir;
  std::chrono::milliseconds cell_time{1000};  // each append cell stops at time or bytes
  std::uint64_t cell_bytes = 0;
  std::int64_t scan_records = 0;       // records loaded for the scan and point-read workloads
  std::int64_t point_reads = 0;        // lookups per point-read workload
  std::uint64_t recovery_bytes = 0;    // unflushed tail left by the killed writer
  std::uint64_t compaction_bytes = 0;  // the keyed log one Cleaner pass cleans
};

// Deterministic inputs: keys are 16 hex digits from a ring; values are slices of a pool of
// seeded random bytes (incompressible), or of seeded word salad for the lz4/zstd cells.
struct Data {
  std::string keys;
  std::string random_pool;
  std::string text_pool;
  const std::string& pool(Compression c) const {
    return c == Compression::none ? random_pool : text_pool;
  }
};

Data make_data() {
  Data d;
  d.keys.reserve(kKeyRing * kKeyBytes);
  for (std::int64_t i = 0; i < kKeyRing; ++i) d.keys += fmt::format("{:016x}", i * 0x9E3779B1);
  std::mt19937_64 rng(kSeed);
  d.random_pool.resize(kPoolBytes + (64 << 10));
  for (std::size_t i = 0; i + 8 <= d.random_pool.size(); i += 8) {
    const std::uint64_t v = rng();
    std::memcpy(&d.random_pool[i], &v, 8);
  }
  static const char* const kWords[] = {
      "order",   "shipped",  "customer",  "payment", "id",     "amount",  "EUR",   "status",
      "pending", "ok",       "warehouse", "berlin",  "prague", "item",    "qty",   "price",
      "total",   "event",    "created",   "updated", "user",   "session", "click", "view",
      "cart",    "checkout", "refund",    "true",    "false",  "null",    "{",     "}"};
  constexpr std::size_t kWordCount = sizeof(kWords) / sizeof(kWords[0]);
  d.text_pool.reserve(d.random_pool.size() + 16);
  while (d.text_pool.size() < d.random_pool.size()) {
    d.text_pool += kWords[rng() % kWordCount];
    d.text_pool += (rng() % 8 == 0) ? fmt::format(":{} ", rng() % 100000) : std::string(" ");
  }
  return d;
}

// Fills `batch` with records first_seq, first_seq + 1, ...; the views point into `data`.
void fill(std::vector<Record>& batch, std::int64_t first_seq, std::int64_t value_bytes,
          const Data& data, Compression c) {
  const std::string& pool = data.pool(c);
  const std::size_t span = kPoolBytes - static_cast<std::size_t>(value_bytes);
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const auto seq = first_seq + static_cast<std::int64_t>(i);
    const std::size_t at = (static_cast<std::size_t>(seq) * 4099 * 64) % span;
    batch[i].key = std::string_view(data.keys).substr(
        static_cast<std::size_t>(seq % kKeyRing) * kKeyBytes, kKeyBytes);
    batch[i].value = std::string_view(pool).substr(at, static_cast<std::size_t>(value_bytes));
    batch[i].timestamp_ms = kBaseTimestampMs + seq;
  }
}

std::string load_average() {
  std::string text;
  if (std::FILE* f = std::fopen("/proc/loadavg", "r")) {
    char buf[128] = {};
    if (std::fgets(buf, sizeof(buf), f)) text = buf;
    std::fclose(f);
  }
  return text.substr(0, text.find(' ', text.find(' ', text.find(' ') + 1) + 1));
}

// ---- reporting ---------------------------------------------------------------------------

std::vector<Row> g_rows;

void print_header() {
  fmt::print("{:<13} {:<20} {:>6} {:>5} {:<5} {:<8} {:>3} {:>12} {:>9} {:>9} {:>9} {:>9}\n",
             "workload", "system", "value", "batch", "comp", "durab", "app", "records/s", "MB/s",
             "p50_us", "p99_us", "p999_us");
}

void report(Row row) {
  fmt::print(
      "{:<13} {:<20} {:>6} {:>5} {:<5} {:<8} {:>3} {:>12.0f} {:>9.1f} {:>9.1f} {:>9.1f} "
      "{:>9.1f}\n",
      row.workload, row.system, row.value_bytes, row.batch_records, row.compression, row.durability,
      row.appenders, row.records_per_s(), row.mb_per_s(), row.p50_us, row.p99_us, row.p999_us);
  std::fflush(stdout);
  g_rows.push_back(std::move(row));
}

std::string fresh_dir(const Mode& mode, const std::string& name) {
  static int counter = 0;
  const std::string dir = fmt::format("{}/{:03}-{}", mode.work_dir, counter++, name);
  fs::create_directories(dir);
  return dir;
}

// ---- append ------------------------------------------------------------------------------

struct AppendSpec {
  std::int64_t value_bytes = 100;
  std::int64_t batch_records = 100;
  Compression compression = Compression::none;
  Durability durability = Durability::none;
  int appenders = 1;
};

std::int64_t target_records(const Mode& mode, const AppendSpec& s) {
  const auto per_record = static_cast<std::uint64_t>(s.value_bytes + kKeyBytes);
  const auto batches = std::max<std::uint64_t>(
      mode.cell_bytes / per_record / static_cast<std::uint64_t>(s.batch_records),
      static_cast<std::uint64_t>(s.appenders));
  return static_cast<std::int64_t>(batches) * s.batch_records;
}

// Runs one append cell on an open store: `appenders` threads append batches until the
// cell's records are written or its time is up. One latency sample per append() call.
Row append_cell(Store& store, const AppendSpec& s, const Mode& mode, const Data& data) {
  const std::int64_t target = target_records(mode, s);
  std::atomic<std::int64_t> next_seq{0};
  std::atomic<bool> failed{false};
  std::vector<Histogram> histograms(static_cast<std::size_t>(s.appenders));
  std::vector<std::int64_t> done(static_cast<std::size_t>(s.appenders), 0);
  std::string error;
  const auto start = Clock::now();
  const auto deadline = start + mode.cell_time;
  auto work = [&](std::size_t t) {
    std::vector<Record> batch(static_cast<std::size_t>(s.batch_records));
    while (!failed.load(std::memory_order_relaxed)) {
      const std::int64_t seq = next_seq.fetch_add(s.batch_records);
      if (seq + s.batch_records > target) break;
      fill(batch, seq, s.value_bytes, data, s.compression);
      const auto t0 = Clock::now();
      const Status st = store.append(batch);
      const auto t1 = Clock::now();
      if (!st.ok()) {
        if (!failed.exchange(true)) error = st.to_string();
        break;
      }
      histograms[t].add(elapsed_ns(t0, t1));
      done[t] += s.batch_records;
      if (t1 > deadline) break;
    }
  };
  std::vector<std::thread> threads;
  for (int t = 1; t < s.appenders; ++t) threads.emplace_back(work, static_cast<std::size_t>(t));
  work(0);
  for (auto& th : threads) th.join();
  Row row;
  row.seconds = static_cast<double>(elapsed_ns(start, Clock::now())) / 1e9;
  Histogram all;
  for (std::size_t t = 0; t < histograms.size(); ++t) {
    all.merge(histograms[t]);
    row.records += done[t];
  }
  row.set_latency(all);
  row.workload = "append";
  row.system = store.name();
  row.configuration = error.empty() ? store.configuration() : "ERROR " + error;
  if (!error.empty()) fmt::print(stderr, "{}: {}\n", store.name(), error);
  row.value_bytes = s.value_bytes;
  row.batch_records = s.batch_records;
  row.compression = std::string(to_string(s.compression));
  row.durability = std::string(to_string(s.durability));
  row.appenders = s.appenders;
  row.bytes = row.records * (s.value_bytes + kKeyBytes);
  return row;
}

// One append cell on a fresh store, reported under `workload`.
void run_append(std::unique_ptr<Store> store, const AppendSpec& s, const Mode& mode,
                const Data& data, std::string_view workload = "append") {
  if (!store) return;
  if (s.appenders > 1 && !store->concurrent_appends()) return;
  const std::string dir = fresh_dir(mode, store->name());
  StoreOptions options{dir, s.durability, 1000};
  if (Status st = store->open(options); !st.ok()) {
    fmt::print(stderr, "{}: open: {}\n", store->name(), st.to_string());
    return;
  }
  Row row = append_cell(*store, s, mode, data);
  if (Status st = store->close(); !st.ok())
    fmt::print(stderr, "{}: close: {}\n", row.system, st.to_string());
  store.reset();
  fs::remove_all(dir);
  row.workload = std::string(workload);
  report(std::move(row));
}

// The exact batches samsa writes for the cell's first records (base offsets included),
// built outside any timed region: at most kRingBatches batches or kRingBytes of payload,
// which raw_write() cycles through.
std::vector<std::vector<std::byte>> build_batches(const AppendSpec& s, std::int64_t records,
                                                  const Data& data) {
  std::vector<std::vector<std::byte>> batches;
  RecordBatchBuilder builder;
  std::vector<Record> batch(static_cast<std::size_t>(s.batch_records));
  const std::int64_t ring_records = std::min(
      records,
      std::max<std::int64_t>(s.batch_records, std::min(kRingBatches * s.batch_records,
                                                       static_cast<std::int64_t>(kRingBytes) /
                                                           (s.value_bytes + kKeyBytes) /
                                                           s.batch_records * s.batch_records)));
  for (std::int64_t seq = 0; seq + s.batch_records <= ring_records; seq += s.batch_records) {
    fill(batch, seq, s.value_bytes, data, s.compression);
    BatchOptions options;
    options.compression = s.compression;
    options.base_offset = Offset(seq);
    builder.reset(options);
    for (const Record& r : batch) {
      auto as_bytes = [](std::string_view v) {
        return std::as_bytes(std::span(v.data(), v.size()));
      };
      if (!builder.append(Timestamp(r.timestamp_ms), as_bytes(r.key), as_bytes(r.value)).ok()) {
        fmt::print(stderr, "build_batches: append failed\n");
        std::exit(1);
      }
    }
    auto built = builder.build();
    if (!built.ok()) {
      fmt::print(stderr, "build_batches: {}\n", built.status().to_string());
      std::exit(1);
    }
    batches.emplace_back(built->begin(), built->end());
  }
  return batches;
}

// The raw baseline with N appender threads of their own (run_raw_write_threads): the
// issue's "write()+fdatasync() per acknowledgement" from N appenders. ratio_to_raw compares
// with the one-writer ideal group commit instead; the targets print both.
constexpr const char* kRawThreads = "raw-write+fdatasync-threads";

// The raw baselines of an append cell: group == 0, one write() per batch; group >= 1, one
// writer, `group` batches per write()+fdatasync(); threads >= 2, that many appenders each
// write()+fdatasync() per batch (kRawThreads).
void run_raw_write(const AppendSpec& s, int group, const Mode& mode, const Data& data,
                   int threads = 0) {
  const std::int64_t records = target_records(mode, s);
  const auto ring = build_batches(s, records, data);
  const std::string dir = fresh_dir(mode, "raw");
  const std::int64_t count = records / s.batch_records;
  const RawResult r =
      threads >= 2 ? raw_write_threads(dir + "/raw.log", ring, count, threads, mode.cell_time)
                   : raw_write(dir + "/raw.log", ring, count, group, mode.cell_time);
  fs::remove_all(dir);
  Row row;
  row.workload = "append";
  if (threads >= 2) {
    row.system = kRawThreads;
    row.configuration = fmt::format(
        "{} threads, each write() of one batch then fdatasync() per ack, one O_APPEND file",
        threads);
  } else {
    row.system = group == 0 ? "raw-write" : "raw-write+fdatasync";
    row.configuration =
        group == 0
            ? "write() of samsa's batch bytes per append, page cache only"
            : fmt::format("one writer, write() of {} batch(es) then fdatasync() per ack", group);
  }
  row.value_bytes = s.value_bytes;
  row.batch_records = s.batch_records;
  row.compression = std::string(to_string(s.compression));
  row.durability = group == 0 && threads < 2 ? "none" : "durable";
  row.appenders = threads >= 2 ? threads : std::max(group, 1);
  row.records = r.batches * s.batch_records;
  row.bytes = row.records * (s.value_bytes + kKeyBytes);
  row.seconds = r.seconds;
  row.set_latency(r.latency);
  report(std::move(row));
}

// ---- scan, point reads -------------------------------------------------------------------

Row scan_row(Store& store, const char* workload, std::int64_t value_bytes) {
  std::uint64_t touched = 0;
  const auto start = Clock::now();
  auto count = store.scan(
      [&](std::string_view key, std::string_view value) { touched += key.size() + value.size(); });
  Row row;
  row.seconds = static_cast<double>(elapsed_ns(start, Clock::now())) / 1e9;
  row.workload = workload;
  row.system = store.name();
  row.configuration = count.ok() ? store.configuration() : "ERROR " + count.status().to_string();
  row.value_bytes = value_bytes;
  row.records = count.ok() ? *count : 0;
  row.bytes = static_cast<std::int64_t>(touched);
  return row;
}

void point_reads(Store& store, const Mode& mode, std::int64_t n, std::int64_t value_bytes) {
  std::mt19937_64 rng(kSeed + 1);
  std::string value;
  for (const bool by_time : {false, true}) {
    Histogram h;
    std::int64_t found = 0;
    std::string error;
    const auto start = Clock::now();
    for (std::int64_t i = 0; i < mode.point_reads; ++i) {
      const auto pick = static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(n));
      const auto t0 = Clock::now();
      Status st;
      if (by_time) {
        auto r = store.offset_for_timestamp(kBaseTimestampMs + pick);
        st = r.status();
        if (r.ok() && *r != pick) st = Status::corruption(fmt::format("ts -> {} != {}", *r, pick));
      } else {
        st = store.get(pick, value);
        if (st.ok() && value.size() != static_cast<std::size_t>(value_bytes))
          st = Status::corruption(fmt::format("get({}) size {}", pick, value.size()));
      }
      h.add(elapsed_ns(t0, Clock::now()));
      if (!st.ok()) {
        error = st.to_string();
        break;
      }
      ++found;
    }
    if (by_time && error.rfind("not_supported", 0) == 0) continue;
    if (!error.empty()) fmt::print(stderr, "{}: point read: {}\n", store.name(), error);
    Row row;
    row.seconds = static_cast<double>(elapsed_ns(start, Clock::now())) / 1e9;
    row.workload = by_time ? "get_timestamp" : "get_offset";
    row.system = store.name();
    row.configuration = error.empty() ? store.configuration() : "ERROR " + error;
    row.value_bytes = value_bytes;
    row.batch_records = 1;
    row.records = found;
    row.bytes = by_time ? 0 : found * value_bytes;
    row.set_latency(h);
    report(std::move(row));
  }
}

// Loads scan_records records (100/batch, no fsync), reopens, scans twice (just after open,
// then warm, best of three), then random point reads. For samsa also raw read() of its
// segment files.
void run_reads(std::unique_ptr<Store> store, std::int64_t value_bytes, const Mode& mode,
               const Data& data) {
  if (!store) return;
  const std::string dir = fresh_dir(mode, store->name() + "-reads");
  const AppendSpec s{value_bytes, 100, Compression::none, Durability::none, 1};
  StoreOptions options{dir, Durability::none, 1000};
  const std::string name = store->name();
  // The same record count for every system; fewer for 1 KiB values (bounded bytes).
  const std::int64_t records = value_bytes <= 100 ? mode.scan_records : mode.scan_records / 4;
  if (Status st = store->open(options); !st.ok()) {
    fmt::print(stderr, "{}: open: {}\n", name, st.to_string());
    return;
  }
  std::vector<Record> batch(static_cast<std::size_t>(s.batch_records));
  for (std::int64_t seq = 0; seq < records; seq += s.batch_records) {
    fill(batch, seq, s.value_bytes, data, s.compression);
    if (Status st = store->append(batch); !st.ok()) {
      fmt::print(stderr, "{}: load: {}\n", name, st.to_string());
      return;
    }
  }
  if (Status st = store->close(); !st.ok())
    fmt::print(stderr, "{}: close: {}\n", name, st.to_string());
  if (Status st = store->open(options); !st.ok()) {
    fmt::print(stderr, "{}: reopen: {}\n", name, st.to_string());
    return;
  }
  report(scan_row(*store, "scan_open", value_bytes));
  std::optional<Row> best;
  for (int rep = 0; rep < 3; ++rep) {
    Row r = scan_row(*store, "scan_warm", value_bytes);
    if (!best || r.seconds < best->seconds) best = std::move(r);
  }
  report(std::move(*best));
  point_reads(*store, mode, records, value_bytes);
  if (Status st = store->close(); !st.ok())
    fmt::print(stderr, "{}: close: {}\n", name, st.to_string());
  store.reset();
  if (name == "samsa") {
    const auto files = segment_files(dir);
    raw_read(files);  // the same warm-up the stores had
    const RawResult r = raw_read(files);
    Row row;
    row.workload = "scan_warm";
    row.system = "raw-read";
    row.configuration = "read() of samsa's .log files in 1 MiB chunks, warm page cache";
    row.value_bytes = value_bytes;
    row.records = records;
    row.bytes = records * (value_bytes + kKeyBytes);
    row.seconds = r.seconds;
    row.set_latency(r.latency);
    report(std::move(row));
  }
  fs::remove_all(dir);
}

// ---- recovery ----------------------------------------------------------------------------

// A child appends recovery_bytes with no fsync and dies without close(); the parent times
// Log::open, which rescans the whole unflushed tail (page cache warm: the child just wrote
// it). Compared with raw read() of the same files.
void run_recovery(const Mode& mode, const Data& data) {
  const std::string dir = fresh_dir(mode, "recovery");
  const AppendSpec s{1024, 100, Compression::none, Durability::none, 1};
  const std::int64_t records = static_cast<std::int64_t>(mode.recovery_bytes) / (1024 + kKeyBytes);
  std::fflush(stdout);
  const pid_t pid = ::fork();
  if (pid == 0) {
    auto store = make_samsa_store(Compression::none);
    if (!store->open({dir, Durability::none, 1000}).ok()) ::_exit(2);
    std::vector<Record> batch(static_cast<std::size_t>(s.batch_records));
    for (std::int64_t seq = 0; seq + s.batch_records <= records; seq += s.batch_records) {
      fill(batch, seq, s.value_bytes, data, s.compression);
      if (!store->append(batch).ok()) ::_exit(3);
    }
    ::_exit(0);  // an unclean stop: no close(), no flush, no clean-shutdown marker
  }
  int wstatus = 0;
  ::waitpid(pid, &wstatus, 0);
  if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
    fmt::print(stderr, "recovery: writer failed ({})\n", wstatus);
    return;
  }
  LogConfig config;
  config.flush_policy = FlushPolicy::manual_may_lose_unflushed;
  config.topic = "bench";
  config.partition = 0;
  const auto start = Clock::now();
  auto log = Log::open(Env::posix(), dir, config);
  const double seconds = static_cast<double>(elapsed_ns(start, Clock::now())) / 1e9;
  if (!log.ok()) {
    fmt::print(stderr, "recovery: open: {}\n", log.status().to_string());
    return;
  }
  const RecoveryReport& rep = (*log)->recovery_report();
  Row row;
  row.workload = "recovery";
  row.system = "samsa";
  row.configuration = fmt::format(
      "Log::open after _exit without close: clean_shutdown={}, {} "
      "segment(s), {} bytes rescanned, {} truncated",
      rep.clean_shutdown, rep.segments_rescanned, rep.bytes_rescanned, rep.bytes_truncated);
  row.value_bytes = s.value_bytes;
  row.batch_records = s.batch_records;
  row.records = (*log)->log_end_offset().value();
  row.bytes = static_cast<std::int64_t>(rep.bytes_rescanned);
  row.seconds = seconds;
  const std::int64_t file_bytes = static_cast<std::int64_t>((*log)->size_bytes());
  if (Status st = (*log)->close(); !st.ok())
    fmt::print(stderr, "recovery: close: {}\n", st.to_string());
  report(std::move(row));
  const RawResult r = raw_read(segment_files(dir));
  Row raw;
  raw.workload = "recovery";
  raw.system = "raw-read";
  raw.configuration = "read() of the same .log files in 1 MiB chunks, warm page cache";
  raw.value_bytes = s.value_bytes;
  raw.batch_records = s.batch_records;
  raw.records = g_rows.back().records * static_cast<std::int64_t>(r.bytes) /
                std::max<std::int64_t>(file_bytes, 1);
  raw.bytes = static_cast<std::int64_t>(r.bytes);
  raw.seconds = r.seconds;
  raw.set_latency(r.latency);
  report(std::move(raw));
  fs::remove_all(dir);
}

// ---- idempotence -------------------------------------------------------------------------

// What producer-state checks cost: the same append cell (100 B x 100, page cache) through the
// bare Log and through a Partition whose every batch comes from an idempotent producer, in
// alternating pairs so that drift on a shared machine hits both; the target compares medians.
void run_idempotence(const Mode& mode, const Data& data) {
  const AppendSpec s{100, 100, Compression::none, Durability::none, 1};
  const int pairs = mode.full ? 5 : 3;
  for (int i = 0; i < pairs; ++i) {
    run_append(make_samsa_store(Compression::none), s, mode, data, "idempotence");
    run_append(make_samsa_partition_store(Compression::none), s, mode, data, "idempotence");
  }
}

// The median over the pairs of Partition / Log records/s (each pair ran back to back, so
// the machine's drift cancels within a pair, not across them); -1 when none.
double idempotence_ratio() {
  std::vector<double> ratios;
  double log_rate = -1;
  for (const Row& r : g_rows) {
    if (r.workload != "idempotence") continue;
    if (r.system == "samsa") {
      log_rate = r.records_per_s();
    } else if (log_rate > 0) {
      ratios.push_back(r.records_per_s() / log_rate);
      log_rate = -1;
    }
  }
  if (ratios.empty()) return -1;
  std::sort(ratios.begin(), ratios.end());
  return ratios[ratios.size() / 2];
}

// ---- compaction --------------------------------------------------------------------------

void run_compaction_rows(const Mode& mode) {
  for (Row& row : run_compaction(fresh_dir(mode, "compaction"), mode.compaction_bytes)) {
    report(std::move(row));
  }
}

// ---- ratios, targets, output -------------------------------------------------------------

bool is_raw(const Row& r) {
  return r.system.rfind("raw-", 0) == 0;
}
bool is_peer(const Row& r) {
  return !is_raw(r) && r.system != "samsa";
}

void compute_ratios() {
  for (Row& row : g_rows) {
    if (is_raw(row)) continue;
    for (const Row& other : g_rows) {
      const bool same_cell = other.value_bytes == row.value_bytes &&
                             other.batch_records == row.batch_records &&
                             other.compression == row.compression;
      if (!same_cell || other.records_per_s() <= 0) continue;
      if (is_raw(other)) {
        if (other.system == kRawThreads) continue;  // the targets use it directly
        bool match = false;
        if (row.workload == "append") {
          match = other.workload == "append" &&
                  (row.durability == "durable"
                       ? other.durability == "durable" && other.appenders == row.appenders
                       : other.durability == "none");
        } else if (row.workload == "scan_open" || row.workload == "scan_warm") {
          match = other.workload == "scan_warm";
        } else if (row.workload == "recovery" || row.workload == "compaction") {
          match = other.workload == row.workload;
        }
        if (match) row.ratio_to_raw = row.records_per_s() / other.records_per_s();
      } else if (row.system == "samsa" && is_peer(other) && other.workload == row.workload &&
                 other.durability == row.durability && other.appenders == row.appenders) {
        row.ratio_to_best_peer = std::max(row.ratio_to_best_peer, 0.0);
        const double ratio = row.records_per_s() / other.records_per_s();
        row.ratio_to_best_peer =
            row.ratio_to_best_peer == 0 ? ratio : std::min(row.ratio_to_best_peer, ratio);
      }
    }
  }
}

const Row* find(const std::string& workload, const std::string& durability, int appenders,
                std::string_view compression = "none") {
  for (const Row& r : g_rows)
    if (r.system == "samsa" && r.workload == workload && r.value_bytes == 100 &&
        (workload != "append" || r.batch_records == 100) && r.compression == compression &&
        r.durability == durability && r.appenders == appenders)
      return &r;
  return nullptr;
}

template <typename Check>
void replication_targets(const Check& check, std::vector<std::string>& lines) {
  const Row *single = nullptr, *rep = nullptr, *lat = nullptr, *sync = nullptr;
  for (const Row& r : g_rows) {
    if (r.workload == "replication" && r.system == "samsa-single-node") single = &r;
    if (r.workload == "replication" && r.system == "samsa-3-replicas") rep = &r;
    if (r.workload == "replication_latency" && r.system == "samsa-3-replicas") lat = &r;
    if (r.workload == "replication_latency" && r.system == "raw-write+fdatasync") sync = &r;
  }
  check("replication 3x acks=all 100 B x 100: / single-node durable", rep,
        rep && single ? rep->records_per_s() / single->records_per_s() : -1, 0.5, "x");
  check("replication 3x acks=all 100 B x 100: records/s (Kafka 2014: 421,823)", rep,
        rep ? rep->records_per_s() : -1, 421823, "rec/s");
  if (lat && sync) {
    const double ratio = lat->p99_us / sync->p99_us;
    lines.push_back(fmt::format(
        "{} {:<58} {:.3g} x (p50 {:.0f} us, p99 {:.0f} us; fdatasync p99 "
        "{:.0f} us; goal <= 3 x)",
        ratio <= 3 ? "PASS" : "MISS", "replication acks=all p99 at 10% of peak / fdatasync p99",
        ratio, lat->p50_us, lat->p99_us, sync->p99_us));
  } else if (rep) {
    lines.push_back("MISS replication acks=all latency at 10% of peak: not measured");
  }
}

template <typename Check>
void raft_targets(const Check& check, std::vector<std::string>& lines) {
  const Row *single = nullptr, *quorum = nullptr, *lat = nullptr, *sync = nullptr;
  const Row* libraft = nullptr;
  for (const Row& r : g_rows) {
    if (r.workload == "raft" && r.system == "samsa-single-node") single = &r;
    if (r.workload == "raft" && r.system == "samsa-raft-3-voters") quorum = &r;
    if (r.workload == "raft" && r.system == "libraft-3-nodes" &&
        r.configuration.rfind("ERROR", 0) != 0)
      libraft = &r;
    if (r.workload == "raft_latency" && r.system == "samsa-raft-3-voters") lat = &r;
    if (r.workload == "raft_latency" && r.system == "raw-write+fdatasync") sync = &r;
  }
  if (!quorum) return;
  check("raft 3 voters 100 B x 100: committed records/s", quorum, quorum->records_per_s(), 500000,
        "rec/s");
  check("raft 3 voters 100 B x 100: / single-node durable", quorum,
        single ? quorum->records_per_s() / single->records_per_s() : -1, 0.5, "x");
  check("raft 3 voters: samsa / libraft committed records/s", quorum,
        libraft && libraft->records_per_s() > 0 ? quorum->records_per_s() / libraft->records_per_s()
                                                : -1,
        2, "x");
  if (lat && sync) {
    const double ratio = lat->p99_us / sync->p99_us;
    lines.push_back(fmt::format(
        "{} {:<58} {:.3g} x (p50 {:.0f} us, p99 {:.0f} us; fdatasync p99 {:.0f} us; goal <= 3 x)",
        ratio <= 3 ? "PASS" : "MISS", "raft commit p99 at 10% of peak / fdatasync p99", ratio,
        lat->p50_us, lat->p99_us, sync->p99_us));
  }
}

std::vector<std::string> targets() {
  std::vector<std::string> lines;
  auto check = [&](const char* what, const Row* r, double value, double goal, const char* unit) {
    if (!r || value < 0) {
      lines.push_back(fmt::format("MISS {:<58} not measured (goal >= {} {})", what, goal, unit));
      return;
    }
    lines.push_back(fmt::format("{} {:<58} {:.3g} {} (goal >= {} {})",
                                value >= goal ? "PASS" : "MISS", what, value, unit, goal, unit));
  };
  const Row* a = find("append", "none", 1);
  const Row* d16 = find("append", "durable", 16);
  const Row* d1 = find("append", "durable", 1);
  const Row* sw = find("scan_warm", "none", 1);
  check("append no fsync 100 B x 100/batch: records/s", a, a ? a->records_per_s() : -1, 5e6,
        "rec/s");
  check("append no fsync 100 B x 100/batch: / raw write()", a, a ? a->ratio_to_raw : -1, 0.6, "x");
  const Row* t16 = nullptr;
  for (const Row& r : g_rows)
    if (r.system == kRawThreads && r.appenders == 16 && r.value_bytes == 100 &&
        r.batch_records == 100 && r.compression == "none")
      t16 = &r;
  check("append durable 16 appenders: / raw write+fdatasync per ack x16",
        d16 && t16 ? d16 : nullptr, d16 && t16 ? d16->records_per_s() / t16->records_per_s() : -1,
        0.7, "x");
  check("  (stricter) / ideal group commit (1 writer, 16/sync)", d16, d16 ? d16->ratio_to_raw : -1,
        0.7, "x");
  check("scan warm 100 B: records/s", sw, sw ? sw->records_per_s() : -1, 1e7, "rec/s");
  check("append no fsync 100 B x 100/batch: / best peer", a, a ? a->ratio_to_best_peer : -1, 3,
        "x");
  check("append durable 1 appender 100 B x 100/batch: / best peer", d1,
        d1 ? d1->ratio_to_best_peer : -1, 3, "x");
  check("scan warm 100 B: / best peer", sw, sw ? sw->ratio_to_best_peer : -1, 3, "x");
  const Row* c = nullptr;
  for (const Row& r : g_rows)
    if (r.system == "samsa" && r.workload == "compaction") c = &r;
  check("compaction 100 B, 10% distinct keys: input MB/s", c, c ? c->mb_per_s() : -1, 200, "MB/s");
  const Row* idem = nullptr;
  for (const Row& r : g_rows)
    if (r.workload == "idempotence") idem = &r;
  check("idempotent producers 100 B x 100: Partition / Log (median pair)", idem,
        idempotence_ratio(), 0.95, "x");
  replication_targets(check, lines);
  raft_targets(check, lines);
  return lines;
}

std::string ratio_text(double r) {
  return r < 0 ? "" : fmt::format("{:.2f}", r);
}
// Empty where nothing is acknowledged one operation at a time (scans, recovery).
std::string latency_text(const Row& r, double us) {
  return r.p999_us <= 0 ? "" : fmt::format("{:.1f}", us);
}

void write_csv(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (!f) {
    fmt::print(stderr, "cannot write {}\n", path);
    return;
  }
  fmt::print(f,
             "workload,system,configuration,value_bytes,batch_records,compression,durability,"
             "appenders,records,bytes,seconds,records_per_s,mb_per_s,p50_us,p99_us,p999_us,"
             "ratio_to_raw,ratio_to_best_peer\n");
  for (const Row& r : g_rows) {
    std::string conf = r.configuration;
    for (char& c : conf)
      if (c == '"') c = '\'';
    fmt::print(f, "{},{},\"{}\",{},{},{},{},{},{},{},{:.6f},{:.0f},{:.2f},{},{},{},{},{}\n",
               r.workload, r.system, conf, r.value_bytes, r.batch_records, r.compression,
               r.durability, r.appenders, r.records, r.bytes, r.seconds, r.records_per_s(),
               r.mb_per_s(), latency_text(r, r.p50_us), latency_text(r, r.p99_us),
               latency_text(r, r.p999_us), ratio_text(r.ratio_to_raw),
               ratio_text(r.ratio_to_best_peer));
  }
  std::fclose(f);
}

void write_summary(const std::string& path, const std::vector<std::string>& target_lines,
                   const Mode& mode, double total_seconds) {
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (!f) return;
  fmt::print(f, "Mode: {} ({:.0f} s in all); load average at start {}, at end {}\n\n",
             mode.full ? "full" : "quick", total_seconds, mode.load_at_start, load_average());
  fmt::print(f,
             "| workload | system | value B | batch | comp | durability | appenders | "
             "records/s | MB/s | p50 us | p99 us | p99.9 us | x raw | x best peer |\n");
  fmt::print(f, "|---|---|--:|--:|---|---|--:|--:|--:|--:|--:|--:|--:|--:|\n");
  for (const Row& r : g_rows)
    fmt::print(f,
               "| {} | {} | {} | {} | {} | {} | {} | {:.0f} | {:.1f} | {} | {} | {} "
               "| {} | {} |\n",
               r.workload, r.system, r.value_bytes, r.batch_records, r.compression, r.durability,
               r.appenders, r.records_per_s(), r.mb_per_s(), latency_text(r, r.p50_us),
               latency_text(r, r.p99_us), latency_text(r, r.p999_us), ratio_text(r.ratio_to_raw),
               ratio_text(r.ratio_to_best_peer));
  fmt::print(f, "\nTargets:\n\n```\n");
  for (const auto& l : target_lines) fmt::print(f, "{}\n", l);
  fmt::print(f, "```\n\nConfigurations:\n\n");
  std::set<std::string> seen;  // one line per distinct configuration
  for (const Row& r : g_rows)
    if (r.configuration.rfind("ERROR", 0) != 0 && r.workload != "recovery")
      seen.insert(fmt::format("- {} ({}): {}", r.system, r.durability, r.configuration));
  for (const auto& line : seen) fmt::print(f, "{}\n", line);
  std::fclose(f);
}

// ---- the plan ----------------------------------------------------------------------------

std::vector<std::function<std::unique_ptr<Store>()>> peer_factories() {
  return {[] { return make_rocksdb_store(false); }, [] { return make_rocksdb_store(true); },
          [] { return make_leveldb_store(); }, [] { return make_sqlite_store(); },
          [] { return make_lmdb_store(); }};
}

bool runs(const Mode& mode, std::string_view part) {
  return mode.only.empty() || mode.only == part;
}

void run_appends(const Mode& mode, const Data& data) {
  const std::vector<std::int64_t> values =
      mode.full ? std::vector<std::int64_t>{100, 1024, 10240} : std::vector<std::int64_t>{100};
  const std::vector<std::int64_t> batches =
      mode.full ? std::vector<std::int64_t>{1, 16, 100, 1000} : std::vector<std::int64_t>{100};
  const std::vector<Compression> codecs =
      mode.full ? std::vector<Compression>{Compression::none, Compression::lz4, Compression::zstd}
                : std::vector<Compression>{Compression::none, Compression::lz4};
  const std::vector<int> appenders =
      mode.full ? std::vector<int>{1, 4, 16} : std::vector<int>{1, 16};
  for (const auto v : values) {
    for (const auto b : batches) {
      for (const auto c : codecs) {  // page cache
        if (!runs(mode, "append")) break;
        const AppendSpec s{v, b, c, Durability::none, 1};
        run_raw_write(s, 0, mode, data);
        run_append(make_samsa_store(c), s, mode, data);
      }
      if (mode.full && runs(mode, "append"))
        run_append(make_samsa_store(Compression::none),
                   {v, b, Compression::none, Durability::interval, 1}, mode, data);
      for (const int n : appenders) {  // durable, group commit
        if (!runs(mode, "durable")) break;
        const AppendSpec s{v, b, Compression::none, Durability::durable, n};
        run_raw_write(s, n, mode, data);
        if (n > 1) run_raw_write(s, n, mode, data, /*threads=*/n);
        run_append(make_samsa_store(Compression::none), s, mode, data);
      }
      // Peers: the cells the targets compare (and, in full, 1 KiB and batches of 1).
      const bool peer_cell = mode.peers && (v == 100 || v == 1024) && (b == 1 || b == 100);
      if (!peer_cell) continue;
      for (const auto& make : peer_factories()) {
        if (runs(mode, "append"))
          run_append(make(), {v, b, Compression::none, Durability::none, 1}, mode, data);
        if (runs(mode, "durable"))
          run_append(make(), {v, b, Compression::none, Durability::durable, 1}, mode, data);
      }
    }
  }
}

int parse_args(int argc, char** argv, Mode& mode) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") {
      mode.full = false;
    } else if (a == "--full") {
      mode.full = true;
    } else if (a == "--no-peers") {
      mode.peers = false;
    } else if (a == "--no-plot") {
      mode.plot = false;
    } else if (a == "--only" && i + 1 < argc &&
               std::set<std::string>{"append", "durable", "reads", "recovery", "idempotence",
                                     "compaction", "replication", "raft", "partitions", "groups"}
                   .count(argv[i + 1])) {
      mode.only = argv[++i];
    } else if ((a == "--out" || a == "--dir") && i + 1 < argc) {
      (a == "--out" ? mode.out_dir : mode.work_dir) = argv[++i];
    } else {
      fmt::print(stderr,
                 "usage: samsa-bench [--quick | --full] [--out DIR] [--dir DIR] "
                 "[--no-peers] [--no-plot] "
                 "[--only "
                 "append|durable|reads|recovery|idempotence|compaction|replication|raft|partitions|"
                 "groups]\n");
      return 2;
    }
  }
  mode.cell_time = std::chrono::milliseconds(mode.full ? 2000 : 1000);
  mode.cell_bytes = mode.full ? std::uint64_t{256} << 20 : std::uint64_t{128} << 20;
  mode.scan_records = mode.full ? 4'000'000 : 500'000;
  mode.point_reads = mode.full ? 200'000 : 20'000;
  // Full: 1000 MiB of payload, about 1 GiB of segment, the largest tail one 1 GiB segment
  // holds (a roll would flush the old segment and move the recovery point past it).
  mode.recovery_bytes = mode.full ? std::uint64_t{1000} << 20 : std::uint64_t{128} << 20;
  mode.compaction_bytes = mode.full ? std::uint64_t{256} << 20 : std::uint64_t{64} << 20;
  if (mode.out_dir.empty()) {
    const std::time_t now = std::time(nullptr);
    char stamp[32];
    std::strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", std::gmtime(&now));
    mode.out_dir = fmt::format("{}/results/{}", SAMSA_BENCH_DIR, stamp);
  }
  const std::string base = mode.work_dir.empty() ? "/tmp" : mode.work_dir;
  mode.work_dir = fmt::format("{}/samsa-bench-{}", base, ::getpid());
  return 0;
}

int run(int argc, char** argv) {
  Mode mode;
  if (int rc = parse_args(argc, argv, mode); rc != 0) return rc;
  const auto start = Clock::now();
  mode.load_at_start = load_average();
  fs::create_directories(mode.out_dir);
  fs::create_directories(mode.work_dir);
  fmt::print("samsa-bench {}: results in {}, scratch in {}, load average {}\n",
             mode.full ? "--full" : "--quick", mode.out_dir, mode.work_dir, mode.load_at_start);
  const Data data = make_data();
  print_header();
  run_appends(mode, data);
  for (const std::int64_t v :
       mode.full ? std::vector<std::int64_t>{100, 1024} : std::vector<std::int64_t>{100}) {
    if (!runs(mode, "reads")) break;
    run_reads(make_samsa_store(Compression::none), v, mode, data);
    if (mode.peers && v == 100)
      for (const auto& make : peer_factories()) run_reads(make(), v, mode, data);
  }
  if (runs(mode, "recovery")) run_recovery(mode, data);
  if (runs(mode, "idempotence")) run_idempotence(mode, data);
  if (runs(mode, "compaction")) run_compaction_rows(mode);
  if (runs(mode, "replication")) {
    for (Row& row : run_replication(fresh_dir(mode, "replication"), 3 * mode.cell_time)) {
      report(std::move(row));
    }
  }
  if (runs(mode, "raft")) {
    for (Row& row : run_raft(fresh_dir(mode, "raft"), 3 * mode.cell_time)) report(std::move(row));
    if (mode.peers)
      for (Row& row : run_libraft(fresh_dir(mode, "libraft"), 3 * mode.cell_time))
        report(std::move(row));
  }
  if (runs(mode, "partitions")) {
    for (Row& row : run_partitions(fresh_dir(mode, "partitions"), mode.full)) {
      report(std::move(row));
    }
  }
  if (runs(mode, "groups")) {
    for (Row& row : run_groups(fresh_dir(mode, "groups"), mode.full, mode.cell_time)) {
      report(std::move(row));
    }
  }
  fs::remove_all(mode.work_dir);
  compute_ratios();
  const auto lines = targets();
  const double seconds = static_cast<double>(elapsed_ns(start, Clock::now())) / 1e9;
  write_csv(mode.out_dir + "/results.csv");
  write_summary(mode.out_dir + "/summary.md", lines, mode, seconds);
  fmt::print("\nTargets ({} mode, {:.0f} s):\n", mode.full ? "full" : "quick", seconds);
  for (const auto& l : lines) fmt::print("{}\n", l);
  fmt::print("\nCSV: {}/results.csv  summary: {}/summary.md\n", mode.out_dir, mode.out_dir);
  const std::string plot = fmt::format("{}/plot.sh", SAMSA_BENCH_DIR);
  if (mode.plot && std::system("command -v gnuplot >/dev/null 2>&1") == 0) {
    const int rc = std::system(fmt::format("sh '{}' '{}'", plot, mode.out_dir).c_str());
    if (rc != 0) fmt::print(stderr, "plot.sh failed ({})\n", rc);
  } else {
    fmt::print("charts: install gnuplot (apt-get install gnuplot-nox), then: sh {} {}\n", plot,
               mode.out_dir);
  }
  return 0;
}

}  // namespace
}  // namespace samsa::bench

int main(int argc, char** argv) {
  return samsa::bench::run(argc, argv);
}
