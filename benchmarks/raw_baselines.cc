// samsa-bench raw baselines: write(), write()+fdatasync() and read() on the same bytes.
#include "raw_baselines.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <thread>

namespace samsa::bench {
namespace {

constexpr std::size_t kReadChunkBytes = std::size_t{1} << 20;

[[noreturn]] void die(const std::string& what) {
  fmt::print(stderr, "samsa-bench: {}: {}\n", what, std::strerror(errno));
  std::exit(1);
}

void write_all(int fd, const std::byte* p, std::size_t n, const std::string& path) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      die("write " + path);
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

}  // namespace

RawResult raw_write(const std::string& path, const std::vector<std::vector<std::byte>>& ring,
                    std::int64_t count, int group, std::chrono::milliseconds time_cap) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) die("open " + path);
  RawResult r;
  std::vector<std::byte> gathered;  // group >= 2: one write() per group, like group commit
  const std::size_t per_ack = static_cast<std::size_t>(std::max(group, 1));
  const auto start = Clock::now();
  const auto deadline = start + time_cap;
  const auto total = static_cast<std::size_t>(count);
  auto batch = [&](std::size_t i) -> const std::vector<std::byte>& {
    return ring[i % ring.size()];
  };
  for (std::size_t i = 0; i < total; i += per_ack) {
    const std::size_t end = std::min(total, i + per_ack);
    const auto t0 = Clock::now();
    if (t0 > deadline) break;
    if (end - i == 1) {
      write_all(fd, batch(i).data(), batch(i).size(), path);
    } else {
      gathered.clear();
      for (std::size_t j = i; j < end; ++j)
        gathered.insert(gathered.end(), batch(j).begin(), batch(j).end());
      write_all(fd, gathered.data(), gathered.size(), path);
    }
    if (group >= 1 && ::fdatasync(fd) != 0) die("fdatasync " + path);
    r.latency.add(elapsed_ns(t0, Clock::now()));
    for (std::size_t j = i; j < end; ++j) r.bytes += batch(j).size();
    r.batches += static_cast<std::int64_t>(end - i);
  }
  r.seconds = static_cast<double>(elapsed_ns(start, Clock::now())) / 1e9;
  ::close(fd);
  return r;
}

RawResult raw_write_threads(const std::string& path,
                            const std::vector<std::vector<std::byte>>& ring, std::int64_t count,
                            int threads, std::chrono::milliseconds time_cap) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) die("open " + path);
  RawResult r;
  std::mutex mu;  // merges each thread's figures at its end
  std::atomic<std::int64_t> next{0};
  const auto start = Clock::now();
  const auto deadline = start + time_cap;
  auto work = [&] {
    Histogram latency;
    std::int64_t batches = 0;
    std::uint64_t bytes = 0;
    for (;;) {
      const std::int64_t i = next.fetch_add(1);
      const auto t0 = Clock::now();
      if (i >= count || t0 > deadline) break;
      const auto& batch = ring[static_cast<std::size_t>(i) % ring.size()];
      write_all(fd, batch.data(), batch.size(), path);  // O_APPEND: one write() lands whole
      if (::fdatasync(fd) != 0) die("fdatasync " + path);
      latency.add(elapsed_ns(t0, Clock::now()));
      ++batches;
      bytes += batch.size();
    }
    std::lock_guard lock(mu);
    r.latency.merge(latency);
    r.batches += batches;
    r.bytes += bytes;
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(work);
  for (auto& t : pool) t.join();
  r.seconds = static_cast<double>(elapsed_ns(start, Clock::now())) / 1e9;
  ::close(fd);
  return r;
}

RawResult raw_read(const std::vector<std::string>& paths) {
  RawResult r;
  std::vector<std::byte> buffer(kReadChunkBytes);
  std::uint64_t sum = 0;
  const auto start = Clock::now();
  for (const std::string& path : paths) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) die("open " + path);
    for (;;) {
      const auto t0 = Clock::now();
      const ssize_t n = ::read(fd, buffer.data(), buffer.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        die("read " + path);
      }
      if (n == 0) break;
      // Touch one word per cache line, as a reader that parses would.
      for (ssize_t k = 0; k < n; k += 64) sum += static_cast<std::uint8_t>(buffer[k]);
      r.latency.add(elapsed_ns(t0, Clock::now()));
      r.bytes += static_cast<std::uint64_t>(n);
    }
    ::close(fd);
  }
  r.seconds = static_cast<double>(elapsed_ns(start, Clock::now())) / 1e9;
  r.batches = static_cast<std::int64_t>(sum & 1);  // keeps `sum` alive; callers ignore it
  return r;
}

std::vector<std::string> segment_files(const std::string& dir) {
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    if (entry.path().extension() == ".log") files.push_back(entry.path().string());
  std::sort(files.begin(), files.end());  // zero-padded base offsets sort as numbers
  return files;
}

Row fdatasync_latency_row(const std::string& path,
                          const std::vector<std::vector<std::byte>>& batches,
                          const std::string& workload, std::int64_t value_bytes,
                          std::int64_t batch_records, std::chrono::milliseconds cell) {
  const RawResult raw = raw_write(path, batches, 2'000, 1, cell);
  Row r;
  r.workload = workload;
  r.system = "raw-write+fdatasync";
  r.configuration = "one write() of one batch then fdatasync(), one writer";
  r.value_bytes = value_bytes;
  r.batch_records = batch_records;
  r.durability = "durable";
  r.records = raw.batches * batch_records;
  r.bytes = r.records * value_bytes;
  r.seconds = raw.seconds;
  r.set_latency(raw.latency);
  return r;
}

}  // namespace samsa::bench
