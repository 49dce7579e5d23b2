// samsa-bench --only replication: 3 replicas of one partition in one process, each a
// Partition in its own directory on the real disk (durable: fdatasync before an append
// returns), each driven by a ReplicaDriver on its own thread (a broker), with an in-memory
// transport between them; acks=all, min ISR 2, 100-byte records in batches of 100.
//
// Rows: the single-node durable append of the same batches from the same producer threads
// (a replicated=false Partition), the replicated throughput, and acks=all latency at 10% of
// the replicated peak beside one write()+fdatasync()'s latency measured in the same run.
#include <fmt/format.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <future>
#include <mutex>
#include <thread>
#include <variant>

#include "raw_baselines.h"
#include "samsa/partition.h"
#include "samsa/partition_election.h"
#include "samsa/record_batch.h"
#include "samsa/replica_driver.h"
#include "stats.h"

namespace samsa::bench {
namespace {

namespace fs = std::filesystem;
using BenchClock = std::chrono::steady_clock;

constexpr int kReplicas = 3;
constexpr int kBatchRecords = 100;
constexpr int kValueBytes = 100;
const int kProducers = std::getenv("SAMSA_BENCH_REPLICATION_PRODUCERS")
                           ? std::atoi(std::getenv("SAMSA_BENCH_REPLICATION_PRODUCERS"))
                           : 16;             // closed-loop producer threads at peak
constexpr std::size_t kLeaderGroupMax = 64;  // produce requests per leader append

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(BenchClock::now().time_since_epoch())
      .count();
}

std::vector<std::byte> make_batch(int seed) {
  RecordBatchBuilder builder;
  std::string value(kValueBytes, 'x');
  for (int i = 0; i < kBatchRecords; ++i) {
    value[static_cast<std::size_t>(i % kValueBytes)] = static_cast<char>('a' + (seed + i) % 26);
    (void)builder.append(Timestamp(1'700'000'000'000), std::nullopt,
                         std::as_bytes(std::span(value.data(), value.size())));
  }
  auto built = builder.build();
  return {built->begin(), built->end()};
}

struct Produce {
  std::vector<std::byte> batch;
  std::promise<KafkaError> done;
  BenchClock::time_point completed;  // set before `done`
};

// A group the leader wrote: its first offset (none: the append failed).
struct Appended {
  std::vector<std::shared_ptr<Produce>> group;
  Offset first = Offset::none();
};

using Item = std::variant<Envelope, std::shared_ptr<Produce>, Appended>;

struct Mailbox {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Item> items;
  void put(Item item) {
    {
      std::lock_guard lock(mu);
      items.push_back(std::move(item));
    }
    cv.notify_one();
  }
};

// Three brokers, one partition; replica 1 leads.
class Brokers {
 public:
  explicit Brokers(const std::string& dir) {
    for (int i = 0; i < kReplicas; ++i) {
      PartitionConfig config;
      config.replicated = true;
      config.log.max_batch_bytes = 16 << 20;
      auto p = Partition::open(Env::posix(), fmt::format("{}/r{}", dir, i + 1), config);
      if (!p.ok()) throw std::runtime_error(p.status().to_string());
      partitions_[i] = std::move(p).value();
      ReplicaSetConfig rc;
      rc.self = BrokerId(i + 1);
      rc.min_insync_replicas = 2;
      rc.fetch_max_wait_ms = 500;
      rc.fetch_max_bytes = 4 << 20;
      drivers_[i] = std::make_unique<ReplicaDriver>(*partitions_[i], rc);
    }
    state_.replicas = {BrokerId(1), BrokerId(2), BrokerId(3)};
    state_.isr = state_.replicas;
    state_.leader = BrokerId(1);
    for (int i = 0; i < kReplicas; ++i) threads_.emplace_back([this, i] { loop(i); });
  }
  ~Brokers() {
    stop_ = true;
    for (auto& m : boxes_) m.cv.notify_all();
    for (auto& t : threads_) t.join();
  }
  void produce(std::shared_ptr<Produce> p) { boxes_[0].put(std::move(p)); }

 private:
  void loop(int i) {
    ReplicaSet& r = drivers_[i]->replica();
    if (i == 0) {
      r.become_leader(state_.leader_epoch, state_.partition_epoch, state_.replicas, state_.isr, {},
                      now_ms());
    } else {
      r.become_follower(BrokerId(1), state_.leader_epoch, now_ms());
    }
    route(i);
    std::deque<Item> items;
    while (!stop_) {
      {
        std::unique_lock lock(boxes_[i].mu);
        boxes_[i].cv.wait_for(lock, std::chrono::milliseconds(10),
                              [&] { return stop_ || !boxes_[i].items.empty(); });
        items.swap(boxes_[i].items);
      }
      std::vector<std::shared_ptr<Produce>> produces;
      for (auto& item : items) {
        if (auto* e = std::get_if<Envelope>(&item)) {
          r.step(*e, now_ms());
          route(i);
        } else if (auto* a = std::get_if<Appended>(&item)) {
          register_appended(*a);
        } else {
          produces.push_back(std::get<std::shared_ptr<Produce>>(item));
        }
      }
      items.clear();
      if (!produces.empty()) lead(produces);
      r.tick(now_ms());
      route(i);
    }
  }

  // The leader appends queued produce requests together: one fdatasync for the group.
  void lead(std::vector<std::shared_ptr<Produce>>& produces) {
    ReplicaSet& r = drivers_[0]->replica();
    for (std::size_t at = 0; at < produces.size(); at += kLeaderGroupMax) {
      const std::size_t end = std::min(produces.size(), at + kLeaderGroupMax);
      const KafkaError refused = r.check_append(Acks::all);
      Appended group;
      for (std::size_t k = at; k < end; ++k) {
        if (refused != KafkaError::none) {
          produces[k]->completed = BenchClock::now();
          produces[k]->done.set_value(refused);
        } else {
          group.group.push_back(produces[k]);
        }
      }
      if (group.group.empty()) continue;
      std::vector<std::byte> bytes;
      for (const auto& p : group.group) bytes.insert(bytes.end(), p->batch.begin(), p->batch.end());
      auto appended = partitions_[0]->append(bytes, r.leader_epoch());
      if (appended.ok()) group.first = appended->info.first_offset;
      register_appended(group);
    }
  }

  void register_appended(Appended& a) {
    ReplicaSet& r = drivers_[0]->replica();
    if (a.first == Offset::none()) {
      for (auto& p : a.group) {
        p->completed = BenchClock::now();
        p->done.set_value(KafkaError::kafka_storage_error);
      }
      return;
    }
    Offset base = a.first;
    for (auto& p : a.group) {
      std::uint64_t id = 0;
      (void)r.appended(base, base + (kBatchRecords - 1), Acks::all, now_ms(), &id);
      waiting_[id] = p;
      base = base + kBatchRecords;
    }
    route(0);
  }

  void route(int i) {
    auto out = drivers_[i]->drain(now_ms());
    if (!out.ok()) throw std::runtime_error(out.status().to_string());
    for (auto& m : out->messages) boxes_[m.to.value() - 1].put(std::move(m));
    if (out->alter_partition) alter(*out->alter_partition);
    for (const auto& c : out->completions) {
      auto it = waiting_.find(c.produce_id);
      if (it == waiting_.end()) continue;
      it->second->completed = BenchClock::now();
      it->second->done.set_value(c.error_code);
      waiting_.erase(it);
    }
  }

  // The controller, in the leader's thread (only the leader proposes).
  void alter(const AlterPartitionRequest& req) {
    auto r = alter_isr(
        state_, req.broker_id, req.leader_epoch, req.partition_epoch, req.new_isr,
        [](BrokerId) { return true; }, ElectionConfig{.min_insync_replicas = 2});
    if (r.error == KafkaError::none) state_ = r.next;
    drivers_[0]->replica().step_alter_partition(
        {r.error, r.next.leader, r.next.leader_epoch, r.next.isr, r.next.partition_epoch},
        now_ms());
    route(0);
  }

  std::unique_ptr<Partition> partitions_[kReplicas];
  std::unique_ptr<ReplicaDriver> drivers_[kReplicas];
  Mailbox boxes_[kReplicas];
  PartitionState state_;
  std::map<std::uint64_t, std::shared_ptr<Produce>> waiting_;  // leader thread only
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
};

// `producers` closed-loop threads for `cell`, each appending a batch then waiting for its ack;
// or, when interval_us > 0, one open-loop producer sending a batch every interval_us.
Row drive(const std::function<KafkaError(const std::vector<std::byte>&)>& append,
          const std::vector<std::vector<std::byte>>& batches, int producers,
          std::chrono::milliseconds cell, const std::string& system) {
  std::atomic<std::int64_t> acked{0};
  std::vector<Histogram> latency(static_cast<std::size_t>(producers));
  const auto deadline = BenchClock::now() + cell;
  const auto start = BenchClock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < producers; ++t) {
    threads.emplace_back([&, t] {
      for (std::size_t k = static_cast<std::size_t>(t); BenchClock::now() < deadline; ++k) {
        const auto t0 = BenchClock::now();
        if (append(batches[k % batches.size()]) != KafkaError::none) continue;
        latency[static_cast<std::size_t>(t)].add(elapsed_ns(t0, BenchClock::now()));
        acked += kBatchRecords;
      }
    });
  }
  for (auto& th : threads) th.join();
  Row row;
  row.workload = "replication";
  row.system = system;
  row.value_bytes = kValueBytes;
  row.batch_records = kBatchRecords;
  row.durability = "durable";
  row.appenders = producers;
  row.records = acked.load();
  row.bytes = row.records * kValueBytes;
  row.seconds = static_cast<double>(elapsed_ns(start, BenchClock::now())) / 1e9;
  Histogram all;
  for (auto& h : latency) all.merge(h);
  row.set_latency(all);
  return row;
}

Row open_loop(Brokers& brokers, const std::vector<std::vector<std::byte>>& batches,
              double batches_per_s, std::chrono::milliseconds cell) {
  Histogram h;
  const auto interval = std::chrono::nanoseconds(static_cast<std::int64_t>(1e9 / batches_per_s));
  const auto start = BenchClock::now();
  struct InFlight {
    BenchClock::time_point sent;
    std::shared_ptr<Produce> produce;
    std::future<KafkaError> done;
  };
  std::deque<InFlight> inflight;
  std::int64_t acked = 0;
  auto next = start;
  for (std::size_t k = 0; BenchClock::now() < start + cell; ++k) {
    std::this_thread::sleep_until(next);
    auto p = std::make_shared<Produce>();
    p->batch = batches[k % batches.size()];
    auto done = p->done.get_future();
    inflight.push_back({next, p, std::move(done)});
    brokers.produce(std::move(p));
    next += interval;
    while (!inflight.empty() &&
           inflight.front().done.wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
      auto& f = inflight.front();
      if (f.done.get() == KafkaError::none) acked += kBatchRecords;
      h.add(elapsed_ns(f.sent, f.produce->completed));  // send to acknowledgement
      inflight.pop_front();
    }
  }
  for (auto& f : inflight) {
    if (f.done.get() == KafkaError::none) acked += kBatchRecords;
    h.add(elapsed_ns(f.sent, f.produce->completed));
  }
  Row row;
  row.workload = "replication_latency";
  row.system = "samsa-3-replicas";
  row.configuration =
      fmt::format("acks=all, open loop at {:.0f} batches/s (10% of peak)", batches_per_s);
  row.value_bytes = kValueBytes;
  row.batch_records = kBatchRecords;
  row.durability = "durable";
  row.records = acked;
  row.bytes = acked * kValueBytes;
  row.seconds = static_cast<double>(elapsed_ns(start, BenchClock::now())) / 1e9;
  row.set_latency(h);
  return row;
}

}  // namespace

std::vector<Row> run_replication(const std::string& dir, std::chrono::milliseconds cell) {
  std::vector<std::vector<std::byte>> batches;
  for (int i = 0; i < 64; ++i) batches.push_back(make_batch(i));
  std::vector<Row> rows;
  {  // single node, durable, the same producers
    fs::create_directories(dir + "/single");
    PartitionConfig config;
    config.log.max_batch_bytes = 16 << 20;
    auto p = Partition::open(Env::posix(), dir + "/single", config);
    if (!p.ok()) throw std::runtime_error(p.status().to_string());
    auto& partition = **p;
    Row r = drive(
        [&](const std::vector<std::byte>& b) {
          std::vector<std::byte> copy = b;
          return partition.append(copy).ok() ? KafkaError::none : KafkaError::kafka_storage_error;
        },
        batches, kProducers, cell, "samsa-single-node");
    r.configuration =
        fmt::format("Partition, durable (fdatasync per group commit), {} producers", kProducers);
    rows.push_back(r);
  }
  double peak_batches_per_s = 0;
  {
    fs::create_directories(dir + "/replicated");
    Brokers brokers(dir + "/replicated");
    Row r = drive(
        [&](const std::vector<std::byte>& b) {
          auto p = std::make_shared<Produce>();
          p->batch = b;
          auto f = p->done.get_future();
          brokers.produce(std::move(p));
          return f.get();
        },
        batches, kProducers, cell, "samsa-3-replicas");
    r.configuration = fmt::format(
        "3 ReplicaSets+drivers, one thread each, own dir + fdatasync each, in-memory transport, "
        "acks=all, min ISR 2, {} producers",
        kProducers);
    r.ratio_to_raw = rows[0].records_per_s() > 0 ? r.records_per_s() / rows[0].records_per_s() : -1;
    peak_batches_per_s = r.records_per_s() / kBatchRecords;
    rows.push_back(r);
    if (peak_batches_per_s > 0)
      rows.push_back(open_loop(brokers, batches, peak_batches_per_s / 10, cell));
  }
  {  // one write()+fdatasync() of one batch, the same bytes, for the latency target
    rows.push_back(fdatasync_latency_row(dir + "/raw.log", batches, "replication_latency",
                                         kValueBytes, kBatchRecords, cell));
  }
  return rows;
}

}  // namespace samsa::bench
