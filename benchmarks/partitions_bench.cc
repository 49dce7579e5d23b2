// samsa-bench --only partitions: many Partitions in one process (issue 18, item 3).
//
// Creates N partitions in the server's layout (DIR/<topic>-<i>, 3 segments each, tiny
// segments so the disk holds them), then: opens all N after a clean shutdown (time, RSS per
// partition, descriptors in use), appends spread over 1,000 active partitions against the
// same appends to one partition (a ratio from the same run), and opens all N again after an
// unclean shutdown (a child process opened them, appended and exited without closing).
#include <fmt/format.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <vector>

#include "samsa/partition.h"
#include "samsa/segment_file_cache.h"
#include "stats.h"

namespace samsa::bench {
namespace fs = std::filesystem;

namespace {

using BenchClock = std::chrono::steady_clock;

double seconds_since(BenchClock::time_point t0) {
  return std::chrono::duration<double>(BenchClock::now() - t0).count();
}

std::int64_t rss_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::int64_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

std::int64_t descriptors_in_use() {
  std::int64_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator("/proc/self/fd")) ++n;
  return n - 1;  // the iterator's own
}

// Active segments hold 3 descriptors each: raise the soft limit (and the hard one, as root)
// so that N partitions fit.
void raise_fd_limit(std::int64_t partitions) {
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  const auto want = static_cast<rlim_t>(3 * partitions + 4096);
  if (lim.rlim_cur >= want) return;
  lim.rlim_cur = want;
  if (lim.rlim_max < want) lim.rlim_max = want;
  if (setrlimit(RLIMIT_NOFILE, &lim) != 0) {
    fmt::print("partitions: cannot raise RLIMIT_NOFILE to {}; opens may fail\n", want);
  }
}

PartitionConfig partition_config(std::uint64_t segment_bytes) {
  PartitionConfig config;
  config.log.segment_bytes = segment_bytes;
  config.log.segment_index_bytes = 1200;  // preallocated per active index: keep it small
  config.log.flush_policy = FlushPolicy::manual_may_lose_unflushed;
  config.log.retention_ms = -1;
  return config;
}

std::vector<std::byte> one_batch(int i) {
  RecordBatchBuilder builder;
  const std::string value = fmt::format("value-{:08d}", i);
  (void)builder.append(Timestamp(1'700'000'000'000 + i), std::nullopt, as_bytes(value));
  auto built = builder.build();
  return {built->begin(), built->end()};
}

std::string partition_dir(const std::string& dir, std::int64_t i) {
  return fmt::format("{}/bench-{}", dir, i);
}

using Partitions = std::vector<std::unique_ptr<Partition>>;

Partitions open_all(const std::string& dir, std::int64_t n, std::uint64_t segment_bytes) {
  Partitions all;
  all.reserve(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    auto p = Partition::open(Env::posix(), partition_dir(dir, i), partition_config(segment_bytes));
    if (!p.ok()) throw std::runtime_error(p.status().to_string());
    all.push_back(std::move(*p));
  }
  return all;
}

void append_one(Partition& p, int i) {
  std::vector<std::byte> batch = one_batch(i);
  auto r = p.append(batch, LeaderEpoch(0));
  if (!r.ok()) throw std::runtime_error(r.status().to_string());
}

// Appends `appends` single-record batches round robin over the first `spread` partitions.
double append_rate(Partitions& all, std::int64_t spread, std::int64_t appends) {
  const auto t0 = BenchClock::now();
  for (std::int64_t k = 0; k < appends; ++k) {
    append_one(*all[static_cast<std::size_t>(k % spread)], static_cast<int>(k));
  }
  return static_cast<double>(appends) / seconds_since(t0);
}

}  // namespace

std::vector<Row> run_partitions(const std::string& dir, bool full) {
  // Quick: 1,000, the active set of the spread cell (creation costs ~0.1 s a partition here).
  const std::int64_t n = full ? 100'000 : 1'000;
  const std::int64_t appends = full ? 200'000 : 50'000;
  constexpr std::int64_t kActive = 1'000;
  constexpr std::uint64_t kRollEveryBatch = 61;  // the least segment_bytes: one batch each
  constexpr std::uint64_t kAppendSegmentBytes = 64 << 20;
  raise_fd_limit(n);
  fs::create_directories(dir);

  const auto t_create = BenchClock::now();
  for (std::int64_t i = 0; i < n; ++i) {  // one at a time: 3 segments, closed cleanly
    auto p =
        Partition::open(Env::posix(), partition_dir(dir, i), partition_config(kRollEveryBatch));
    if (!p.ok()) throw std::runtime_error(p.status().to_string());
    for (int b = 0; b < 3; ++b) append_one(**p, b);
    if (Status s = (*p)->close(); !s.ok()) throw std::runtime_error(s.to_string());
  }
  const double create_s = seconds_since(t_create);

  const std::int64_t rss0 = rss_bytes();
  const std::int64_t fds0 = descriptors_in_use();
  auto t0 = BenchClock::now();
  Partitions all = open_all(dir, n, kAppendSegmentBytes);
  const double clean_open_s = seconds_since(t0);
  const std::int64_t rss_per_partition = (rss_bytes() - rss0) / n;
  const std::int64_t fds = descriptors_in_use() - fds0;
  const auto cache = SegmentFileCache::process_default().stats();

  const std::int64_t spread = std::min(kActive, n);
  const double one_rate = append_rate(all, 1, appends);
  const double spread_rate = append_rate(all, spread, appends);
  for (auto& p : all) (void)p->close();
  all.clear();

  // Unclean: a child opens every partition, appends to each and exits without closing.
  const pid_t child = fork();
  if (child == 0) {
    try {
      Partitions opened = open_all(dir, n, kAppendSegmentBytes);
      for (auto& p : opened) append_one(*p, 7);
    } catch (...) {
      _exit(1);
    }
    _exit(0);
  }
  int status = 0;
  waitpid(child, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) throw std::runtime_error("child failed");
  t0 = BenchClock::now();
  all = open_all(dir, n, kAppendSegmentBytes);
  const double unclean_open_s = seconds_since(t0);
  for (auto& p : all) (void)p->close();
  all.clear();

  fmt::print(
      "partitions: N={} (3 segments each, created in {:.1f} s); open after clean shutdown "
      "{:.2f} s ({:.1f} us/partition), after unclean {:.2f} s ({:.1f} us/partition); RSS "
      "{} B/partition; descriptors in use {} ({:.2f}/partition; sealed-segment cache bound "
      "{}, held {}); appends/s one partition {:.0f}, spread over {} {:.0f} (ratio {:.2f})\n",
      n, create_s, clean_open_s, 1e6 * clean_open_s / static_cast<double>(n), unclean_open_s,
      1e6 * unclean_open_s / static_cast<double>(n), rss_per_partition, fds,
      static_cast<double>(fds) / static_cast<double>(n),
      SegmentFileCache::process_default().open_segment_files_max(), cache.open_files, one_rate,
      spread, spread_rate, spread_rate / one_rate);

  std::vector<Row> rows;
  auto row = [&](std::string workload, std::string configuration, std::int64_t records,
                 double seconds) {
    Row r;
    r.workload = std::move(workload);
    r.system = "samsa";
    r.configuration = std::move(configuration);
    r.value_bytes = 14;
    r.batch_records = 1;
    r.records = records;
    r.seconds = seconds;
    rows.push_back(std::move(r));
  };
  row("partitions_open_clean",
      fmt::format("{} partitions x 3 segments; RSS {} B/partition; {} descriptors", n,
                  rss_per_partition, fds),
      n, clean_open_s);
  row("partitions_open_unclean", fmt::format("{} partitions x 3 segments", n), n, unclean_open_s);
  row("partitions_append_one", "1 partition, 1-record batches, page cache", appends,
      static_cast<double>(appends) / one_rate);
  row("partitions_append_spread",
      fmt::format("spread over {} partitions; ratio to one partition {:.2f}", spread,
                  spread_rate / one_rate),
      appends, static_cast<double>(appends) / spread_rate);
  return rows;
}

}  // namespace samsa::bench
