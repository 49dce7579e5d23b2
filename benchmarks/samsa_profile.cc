// samsa-profile: a fixed amount of one samsa workload, for profilers. samsa-bench stops its
// cells on time, so under valgrind it would measure fewer records; this driver always does
// the same work, so callgrind's instruction counts compare before and after a change
// exactly (noise from other work on the machine cannot fake them).
//
// Usage: samsa-profile append|durable|scan|get|timestamp [--records N] [--batch B] [--value BYTES]
//                      [--codec none|lz4|zstd] [--dir DIR] [--threads T] [--sync-delay-us D]
//   append: appends N records, B per batch, through the same Store as samsa-bench (no fsync).
//   durable: the same with the durable flush policy from T threads; counts the syncs and
//           prints batches per sync (group commit: ideally T). --sync-delay-us adds D us to
//           every fdatasync: with --dir /dev/shm (tmpfs, where fdatasync is nearly free)
//           that is a disk with a fixed sync latency, free of this machine's noisy one.
//   scan:   loads N records (100 B, 100/batch), reopens, then scans them three times, timing
//           each (for callgrind, --toggle-collect='*SamsaStore::scan*' leaves the load out).
//   get:    loads N records, then reads N / 10 random offsets one by one.
//   timestamp: loads N records, then looks up N / 10 random timestamps (time index).
// Prints the records done and the wall time (meaningless under valgrind).
#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "counting_env.h"
#include "store.h"

namespace samsa::bench {
namespace {

struct Options {
  std::string workload;
  std::int64_t records = 200'000;
  std::int64_t batch = 100;
  std::int64_t value = 100;
  Compression codec = Compression::none;
  std::string dir = "/tmp";
  int threads = 1;
  std::int64_t sync_delay_us = 0;
};

// Incompressible values for none, word salad (2-4x compressible) for the codecs.
std::string make_pool(Compression codec) {
  std::mt19937_64 rng(7);
  std::string pool;
  static const char* const kWords[] = {"order", "shipped", "customer", "payment", "id", "amount",
                                       "EUR",   "status",  "{",        "}",       "ok", "pending"};
  while (pool.size() < (std::size_t{4} << 20)) {
    if (codec == Compression::none) {
      const std::uint64_t v = rng();
      pool.append(reinterpret_cast<const char*>(&v), sizeof(v));
    } else {
      pool += kWords[rng() % 12];
      pool += ' ';
    }
  }
  return pool;
}

void fill(std::vector<Record>& batch, std::int64_t first, const Options& o, const std::string& pool,
          const std::vector<std::string>& keys) {
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const auto seq = first + static_cast<std::int64_t>(i);
    const auto at = static_cast<std::size_t>(seq * 4099) % (pool.size() - 65536);
    batch[i].key = keys[static_cast<std::size_t>(seq) % keys.size()];
    batch[i].value = std::string_view(pool).substr(at, static_cast<std::size_t>(o.value));
    batch[i].timestamp_ms = 1'700'000'000'000 + seq;
  }
}

[[noreturn]] void die(const std::string& what, const Status& s) {
  fmt::print(stderr, "samsa-profile: {}: {}\n", what, s.to_string());
  std::exit(1);
}

// Appends o.records records from o.threads threads, each taking the next batch's
// sequence numbers as it goes.
void load(Store& store, const Options& o) {
  const std::string pool = make_pool(o.codec);
  std::vector<std::string> keys;
  for (int i = 0; i < 4096; ++i) keys.push_back(fmt::format("{:016x}", i * 0x9E3779B1));
  std::atomic<std::int64_t> next{0};
  auto work = [&] {
    std::vector<Record> batch(static_cast<std::size_t>(o.batch));
    for (;;) {
      const std::int64_t seq = next.fetch_add(o.batch);
      if (seq + o.batch > o.records) return;
      fill(batch, seq, o, pool, keys);
      if (Status s = store.append(batch); !s.ok()) die("append", s);
    }
  };
  std::vector<std::thread> threads;
  for (int t = 1; t < o.threads; ++t) threads.emplace_back(work);
  work();
  for (auto& t : threads) t.join();
}

std::int64_t run(const Options& o) {
  const std::string dir = fmt::format("{}/samsa-profile-{}", o.dir, ::getpid());
  std::filesystem::create_directories(dir);
  test::CountingEnv env(Env::posix(), std::chrono::microseconds(o.sync_delay_us));
  auto store = make_samsa_store(o.codec, &env);
  const bool durable = o.workload == "durable";
  const StoreOptions so{dir, durable ? Durability::durable : Durability::none, 1000};
  if (Status s = store->open(so); !s.ok()) die("open", s);
  load(*store, o);
  std::int64_t done = o.records;
  if (durable) {
    const std::int64_t batches = o.records / o.batch;
    fmt::print("durable: {} threads, {} batches, {} syncs: {:.2f} batches per sync\n", o.threads,
               batches, env.syncs(),
               static_cast<double>(batches) / static_cast<double>(env.syncs()));
  }
  if (o.workload != "append" && !durable) {
    if (Status s = store->close(); !s.ok()) die("close", s);
    if (Status s = store->open(so); !s.ok()) die("reopen", s);
  }
  if (o.workload == "scan") {
    // Three scans (the first after open), each timed alone: the load is not part of them.
    for (int rep = 0; rep < 3; ++rep) {
      const auto start = std::chrono::steady_clock::now();
      auto n = store->scan([](std::string_view, std::string_view) {});
      if (!n.ok()) die("scan", n.status());
      const double s =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      fmt::print("scan {}: {} records in {:.3f} s ({:.3g} records/s)\n", rep, *n, s,
                 static_cast<double>(*n) / s);
      done = *n;
    }
  } else if (o.workload == "timestamp") {
    std::mt19937_64 rng(11);
    done = o.records / 10;
    for (std::int64_t i = 0; i < done; ++i) {
      const auto at = static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(o.records));
      auto found = store->offset_for_timestamp(1'700'000'000'000 + at);
      if (!found.ok()) die("offset_for_timestamp", found.status());
      if (*found != at) die("offset_for_timestamp", Status::corruption("wrong offset"));
    }
  } else if (o.workload == "get") {
    std::mt19937_64 rng(11);
    std::string value;
    done = o.records / 10;
    for (std::int64_t i = 0; i < done; ++i) {
      const auto at = static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(o.records));
      if (Status s = store->get(at, value); !s.ok()) die("get", s);
    }
  }
  if (Status s = store->close(); !s.ok()) die("close", s);
  std::filesystem::remove_all(dir);
  return done;
}

int parse(int argc, char** argv, Options& o) {
  if (argc < 2) return 2;
  o.workload = argv[1];
  if (!std::set<std::string>{"append", "durable", "scan", "get", "timestamp"}.count(o.workload))
    return 2;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::string value = argv[i + 1];
    if (flag == "--records") {
      o.records = std::stoll(value);
    } else if (flag == "--batch") {
      o.batch = std::stoll(value);
    } else if (flag == "--value") {
      o.value = std::stoll(value);
    } else if (flag == "--codec") {
      auto c = parse_compression(value);
      if (!c.ok()) return 2;
      o.codec = *c;
    } else if (flag == "--dir") {
      o.dir = value;
    } else if (flag == "--threads") {
      o.threads = std::stoi(value);
    } else if (flag == "--sync-delay-us") {
      o.sync_delay_us = std::stoll(value);
    } else {
      return 2;
    }
  }
  return (argc % 2 == 0) ? 0 : 2;
}

}  // namespace
}  // namespace samsa::bench

int main(int argc, char** argv) {
  samsa::bench::Options o;
  if (samsa::bench::parse(argc, argv, o) != 0) {
    fmt::print(stderr,
               "usage: samsa-profile append|durable|scan|get|timestamp [--records N] [--batch B] "
               "[--value BYTES] [--codec none|lz4|zstd] [--dir DIR] [--threads T] "
               "[--sync-delay-us D]\n");
    return 2;
  }
  const auto start = std::chrono::steady_clock::now();
  const std::int64_t done = samsa::bench::run(o);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  fmt::print("{} {} records in {:.3f} s ({:.3g} records/s, including the load)\n", o.workload, done,
             s, static_cast<double>(done) / s);
  return 0;
}
