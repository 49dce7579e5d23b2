// samsa-bench --only raft: a 3-voter KRaft quorum in one process, each node a RaftDriver in
// its own directory on the real disk (a samsa Log under FlushPolicy::durable and Kafka's
// quorum-state: fdatasync before anything is sent), each on its own thread, with an
// in-memory transport between them. The leader proposes 100-byte records in batches of
// 100, keeping at most kWindow batches above the high watermark (closed loop).
//
// Rows: the single-node durable append of the same batches, kWindow per append (the
// batching the leader's Ready gives at most), the quorum's committed throughput, commit
// latency at 10% of that rate, and one write()+fdatasync()'s latency in the same run.
#include <fmt/format.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "raw_baselines.h"
#include "samsa/log.h"
#include "samsa/raft_driver.h"
#include "samsa/record_batch.h"
#include "stats.h"

namespace samsa::bench {
namespace {

namespace fs = std::filesystem;
using BenchClock = std::chrono::steady_clock;

constexpr int kVoters = 3;
constexpr int kBatchRecords = 100;
constexpr int kValueBytes = 100;
constexpr int kWindow = 32;  // batches proposed and not yet committed, at most

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(BenchClock::now().time_since_epoch())
      .count();
}

std::vector<std::vector<std::byte>> make_values(int seed) {
  std::vector<std::vector<std::byte>> values;
  std::string value(kValueBytes, 'x');
  for (int i = 0; i < kBatchRecords; ++i) {
    value[static_cast<std::size_t>(i % kValueBytes)] = static_cast<char>('a' + (seed + i) % 26);
    const auto* p = reinterpret_cast<const std::byte*>(value.data());
    values.emplace_back(p, p + value.size());
  }
  return values;
}

struct Mailbox {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<raft::Message> items;
};

class Quorum {
 public:
  // interval_us 0: closed loop at the window; > 0: one batch every interval_us.
  Quorum(const std::string& dir, std::int64_t interval_us) : interval_us_(interval_us) {
    for (int i = 0; i < kVoters; ++i) {
      raft::RaftConfig c;
      c.self = i + 1;
      c.voters = {1, 2, 3};
      c.cluster_id = "bench";
      c.random_seed = static_cast<std::uint64_t>(i + 1);
      c.incarnation = static_cast<std::uint64_t>(now_ms());
      c.election_timeout_ms = i == 0 ? 50 : 5'000;  // node 1 wins the first election
      c.fetch_timeout_ms = 10'000;
      c.request_timeout_ms = 1'000;
      c.fetch_max_wait_ms = 500;
      auto d = raft::RaftDriver::open(Env::posix(), fmt::format("{}/n{}", dir, i + 1), c, now_ms());
      if (!d.ok()) throw std::runtime_error(d.status().to_string());
      drivers_[i] = std::move(*d);
    }
    for (int k = 0; k < 16; ++k) values_.push_back(make_values(k));
    for (int i = 0; i < kVoters; ++i) threads_.emplace_back([this, i] { loop(i); });
  }
  ~Quorum() { stop(); }

  void stop() {
    if (stop_.exchange(true)) return;
    for (auto& m : boxes_) m.cv.notify_all();
    for (auto& t : threads_) t.join();
  }

  // Waits until a leader commits its epoch start; then counting starts.
  bool wait_leader(std::chrono::seconds timeout) {
    const auto deadline = BenchClock::now() + timeout;
    while (BenchClock::now() < deadline) {
      if (ready_.load()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }

  void start_counting() {
    committed_records_ = 0;
    counting_ = true;
    started_ = BenchClock::now();
  }
  std::int64_t committed_records() const { return committed_records_.load(); }
  Histogram latency() {
    std::lock_guard lock(latency_mu_);
    return latency_;
  }

 private:
  void deliver(const std::vector<raft::Message>& messages) {
    for (const auto& m : messages) {
      Mailbox& box = boxes_[m.to - 1];
      {
        std::lock_guard lock(box.mu);
        box.items.push_back(m);
      }
      box.cv.notify_one();
    }
  }

  void take(int i, Result<raft::RaftOutput> out) {
    if (!out.ok()) throw std::runtime_error(out.status().to_string());
    deliver(out->messages);
    if (out->high_watermark && drivers_[i]->quorum().status().role == raft::Role::leader) {
      committed(*out->high_watermark);
    }
  }

  void committed(Offset hw) {
    if (!ready_.load()) ready_ = true;
    while (!in_flight_.empty() && in_flight_.front().first < hw) {
      if (counting_) {
        committed_records_ += kBatchRecords;
        std::lock_guard lock(latency_mu_);
        latency_.add(elapsed_ns(in_flight_.front().second, BenchClock::now()));
      }
      in_flight_.pop_front();
    }
  }

  void propose(int i) {
    raft::RaftQuorum& q = drivers_[i]->quorum();
    if (q.status().role != raft::Role::leader || !ready_.load()) return;
    bool any = false;
    while (static_cast<int>(in_flight_.size()) < kWindow) {
      const auto now = BenchClock::now();
      if (interval_us_ > 0) {
        if (now < next_at_) break;
        next_at_ = std::max(next_at_ + std::chrono::microseconds(interval_us_),
                            now - std::chrono::milliseconds(100));
      }
      auto r = q.propose(values_[proposed_++ % values_.size()], now_ms());
      if (!r.ok()) break;
      in_flight_.push_back({r.last_offset, now});
      any = true;
    }
    if (any) take(i, drivers_[i]->drain(now_ms()));
  }

  void loop(int i) {
    std::deque<raft::Message> items;
    while (!stop_) {
      {
        std::unique_lock lock(boxes_[i].mu);
        boxes_[i].cv.wait_for(lock, std::chrono::microseconds(interval_us_ > 0 ? 200 : 2'000),
                              [&] { return stop_ || !boxes_[i].items.empty(); });
        items.swap(boxes_[i].items);
      }
      for (const auto& m : items) drivers_[i]->quorum().step(m, now_ms());
      items.clear();
      if (i == 0) propose(i);
      drivers_[i]->quorum().tick(now_ms());
      take(i, drivers_[i]->drain(now_ms()));
    }
  }

  std::int64_t interval_us_;
  std::unique_ptr<raft::RaftDriver> drivers_[kVoters];
  Mailbox boxes_[kVoters];
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> ready_{false};
  std::atomic<bool> counting_{false};
  std::atomic<std::int64_t> committed_records_{0};
  BenchClock::time_point started_;
  // Leader thread only (node 1 leads: the others' election timeout is far longer).
  std::vector<std::vector<std::vector<std::byte>>> values_;
  std::uint64_t proposed_ = 0;
  std::deque<std::pair<Offset, BenchClock::time_point>> in_flight_;
  BenchClock::time_point next_at_ = BenchClock::now();
  std::mutex latency_mu_;
  Histogram latency_;
};

Row quorum_row(const std::string& dir, std::int64_t interval_us, std::chrono::milliseconds cell) {
  Quorum q(dir, interval_us);
  if (!q.wait_leader(std::chrono::seconds(10)))
    throw std::runtime_error("raft bench: no leader in 10 s");
  q.start_counting();
  const auto start = BenchClock::now();
  std::this_thread::sleep_for(cell);
  const double seconds = static_cast<double>(elapsed_ns(start, BenchClock::now())) / 1e9;
  const std::int64_t records = q.committed_records();
  q.stop();
  Row row;
  row.workload = interval_us > 0 ? "raft_latency" : "raft";
  row.system = "samsa-raft-3-voters";
  row.configuration =
      interval_us > 0
          ? fmt::format("open loop, one batch every {} us (10% of peak); propose to commit",
                        interval_us)
          : fmt::format("closed loop, at most {} batches above the HW", kWindow);
  row.value_bytes = kValueBytes;
  row.batch_records = kBatchRecords;
  row.durability = "durable";
  row.records = records;
  row.bytes = records * kValueBytes;
  row.seconds = seconds;
  row.set_latency(q.latency());
  return row;
}

}  // namespace

std::vector<Row> run_raft(const std::string& dir, std::chrono::milliseconds cell) {
  std::vector<Row> rows;
  {  // single node, durable, the same batches, kWindow per append
    fs::create_directories(dir + "/single");
    LogConfig config;
    config.max_batch_bytes = 16 << 20;
    auto log = Log::open(Env::posix(), dir + "/single", config);
    if (!log.ok()) throw std::runtime_error(log.status().to_string());
    std::vector<std::byte> group;
    for (int k = 0; k < kWindow; ++k) {
      RecordBatchBuilder b;
      for (const auto& v : make_values(k))
        (void)b.append(Timestamp(1'700'000'000'000), std::nullopt, ByteSpan(v));
      auto built = b.build();
      group.insert(group.end(), built->begin(), built->end());
    }
    Histogram h;
    std::int64_t records = 0;
    const auto start = BenchClock::now();
    while (BenchClock::now() < start + cell) {
      std::vector<std::byte> copy = group;
      const auto t0 = BenchClock::now();
      auto r = (*log)->append(MutableByteSpan(copy));
      if (!r.ok()) throw std::runtime_error(r.status().to_string());
      h.add(elapsed_ns(t0, BenchClock::now()));
      records += static_cast<std::int64_t>(kWindow) * kBatchRecords;
    }
    Row row;
    row.workload = "raft";
    row.system = "samsa-single-node";
    row.configuration = fmt::format("Log::append of {} batches per call, durable", kWindow);
    row.value_bytes = kValueBytes;
    row.batch_records = kBatchRecords;
    row.durability = "durable";
    row.records = records;
    row.bytes = records * kValueBytes;
    row.seconds = static_cast<double>(elapsed_ns(start, BenchClock::now())) / 1e9;
    row.set_latency(h);
    rows.push_back(row);
  }
  Row peak = quorum_row(dir + "/peak", 0, cell);
  rows.push_back(peak);
  const double batches_per_s = peak.records_per_s() / kBatchRecords / 10;
  if (batches_per_s > 0) {
    rows.push_back(
        quorum_row(dir + "/latency", static_cast<std::int64_t>(1e6 / batches_per_s), cell));
  }
  {  // one write()+fdatasync() of one batch, as the latency yardstick
    std::vector<std::vector<std::byte>> one;
    RecordBatchBuilder b;
    for (const auto& v : make_values(0))
      (void)b.append(Timestamp(1'700'000'000'000), std::nullopt, ByteSpan(v));
    auto built = b.build();
    one.emplace_back(built->begin(), built->end());
    rows.push_back(fdatasync_latency_row(dir + "/raw.bin", one, "raft_latency", kValueBytes,
                                         kBatchRecords, cell));
  }
  return rows;
}

}  // namespace samsa::bench
