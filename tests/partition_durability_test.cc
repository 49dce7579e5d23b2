// Partition durability: idempotent producers across simulated power cuts (FaultyEnv, every
// mode, durable and manual flush policies) and across real SIGKILLs of a forked producer
// process that, like a Kafka producer, retries its unacknowledged batch after the restart.
// What must hold: every acknowledged batch is in the log once; producer state after recovery
// describes exactly the batches the log holds; a retry of a batch that landed is answered as
// a duplicate with its original offsets, and one that did not land is appended.
#include <catch2/catch.hpp>

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <map>
#include <optional>

#include "log_test_util.h"
#include "partition_test_util.h"

namespace samsa {
namespace {

using test::Rng;

// A producer's batches form a chain fixed by the sequence: the batch starting at sequence s
// holds records_at(s) records, so whoever knows s can rebuild the exact retry.
int records_at(std::int64_t seq) {
  return 1 + static_cast<int>(test::mix64(static_cast<std::uint64_t>(seq) * 31 + 7) % 8);
}

// Timestamps must be recent for the clock in use: producers idle for
// producer_id_expiration_ms (by their batches' timestamps) are dropped at recovery.
std::vector<std::byte> chain_batch(ProducerId pid, std::int64_t seq,
                                   Timestamp ts = Timestamp(1'700'000'000'000)) {
  return test::producer_batch(pid, ProducerEpoch(0), Sequence(static_cast<std::int32_t>(seq)),
                              records_at(seq), ts, fmt::format("p{}", pid.value()));
}

struct LoggedBatch {
  ProducerId pid;
  Sequence first_seq;
  Sequence last_seq;
  Offset first;
  Offset last;
};

// Every batch in the partition's log, checked against its chain: each producer's batches
// follow each other exactly, so nothing is missing in the middle or stored twice.
std::vector<LoggedBatch> logged_batches(test::PartitionFixture& f) {
  std::vector<LoggedBatch> out;
  std::map<std::int64_t, std::int64_t> next_seq;
  const std::vector<std::byte> bytes =
      f.read_bytes(f.partition->log_start_offset(), Isolation::log_end);
  for (std::size_t pos = 0; pos < bytes.size();) {
    auto view = RecordBatchView::validate(ByteSpan(bytes).subspan(pos), {});
    INFO(view.status().to_string());
    REQUIRE(view.ok());
    const std::int64_t pid = view->producer_id().value();
    auto [it, fresh] = next_seq.try_emplace(pid, 0);
    INFO("producer " << pid << " batch at offset " << view->base_offset().value());
    CHECK(view->base_sequence().value() == it->second);
    CHECK(view->records_count() == records_at(it->second));
    it->second = view->base_sequence().value() + view->records_count();
    out.push_back({view->producer_id(), view->base_sequence(), view->last_sequence(),
                   view->base_offset(), view->last_offset()});
    pos += view->size_bytes();
  }
  return out;
}

// The recovered producer state must name each producer's last batch in the log.
void check_state_matches_log(test::PartitionFixture& f, const std::vector<LoggedBatch>& log,
                             int producers) {
  for (int p = 1; p <= producers; ++p) {
    const ProducerId pid(p);
    const LoggedBatch* last = nullptr;
    for (const auto& b : log) {
      if (b.pid == pid) last = &b;
    }
    const auto entry = f.partition->producer(pid);
    INFO("producer " << p);
    if (last == nullptr) {
      CHECK_FALSE(entry.has_value());
      continue;
    }
    REQUIRE(entry.has_value());
    CHECK(entry->last_sequence() == last->last_seq);
    CHECK(entry->last_offset() == last->last);
  }
}

struct PowerCutHarness {
  static constexpr int kProducers = 3;
  test::PartitionFixture f;
  Rng rng;
  std::map<std::int64_t, std::int64_t> next_seq;  // per producer: the next batch's sequence
  std::map<std::int64_t, std::pair<Offset, Offset>> acked;  // first seq -> offsets, per pid*1e9
  bool durable;

  PowerCutHarness(std::uint64_t seed, FlushPolicy policy)
      : f(config(policy), "/data/events-0"), rng(seed), durable(policy == FlushPolicy::durable) {}

  static PartitionConfig config(FlushPolicy policy) {
    PartitionConfig c;
    c.log.flush_policy = policy;
    c.log.segment_bytes = 1500;  // rolls (and producer snapshots) every few batches
    c.log.index_interval_bytes = 256;
    return c;
  }

  void produce() {
    const ProducerId pid(rng.uniform_int(1, kProducers));
    const std::int64_t seq = next_seq[pid.value()];
    auto bytes = chain_batch(pid, seq);
    auto r = f.partition->append(bytes);
    INFO(r.status().to_string());
    REQUIRE(r.ok());
    REQUIRE_FALSE(r->duplicate);
    acked[pid.value() * 1'000'000'000 + seq] = {r->info.first_offset, r->info.last_offset};
    next_seq[pid.value()] = seq + records_at(seq);
  }

  // After a restart each producer retries from what it last knows was acknowledged; here
  // the test retries the log's last batch of each producer, which must be a duplicate.
  void retry_last_batches(const std::vector<LoggedBatch>& log) {
    for (int p = 1; p <= kProducers; ++p) {
      const LoggedBatch* last = nullptr;
      for (const auto& b : log) {
        if (b.pid == ProducerId(p)) last = &b;
      }
      if (last == nullptr) continue;
      auto bytes = chain_batch(ProducerId(p), last->first_seq.value());
      auto r = f.partition->append(bytes);
      INFO("retry of producer " << p << ": " << r.status().to_string());
      REQUIRE(r.ok());
      CHECK(r->duplicate);
      CHECK(r->info.first_offset == last->first);
      CHECK(r->info.last_offset == last->last);
    }
  }

  void crash_and_check(PowerCutMode mode) {
    f.env.power_cut(mode);
    for (FaultOp op : {FaultOp::write, FaultOp::sync, FaultOp::sync_dir, FaultOp::rename}) {
      f.env.fail_always(op, 5 /* EIO */);
    }
    f.partition.reset();
    f.env.clear_faults();
    f.env.power_cut(PowerCutMode::drop_unsynced);
    f.reopen();
    const auto log = logged_batches(f);
    if (durable) {
      // Everything acknowledged is there, at the offsets it was acknowledged with.
      for (const auto& [key, offsets] : acked) {
        const std::int64_t pid = key / 1'000'000'000;
        const std::int64_t seq = key % 1'000'000'000;
        bool found = false;
        for (const auto& b : log) {
          if (b.pid.value() == pid && b.first_seq.value() == seq) {
            found = b.first == offsets.first && b.last == offsets.second;
          }
        }
        INFO("acknowledged batch of producer " << pid << " at sequence " << seq);
        CHECK(found);
      }
    }
    check_state_matches_log(f, log, kProducers);
    retry_last_batches(log);
    // Producers continue after what the log holds (a manual-flush log may have lost some).
    next_seq.clear();
    acked.clear();
    for (const auto& b : log) {
      next_seq[b.pid.value()] = b.last_seq.value() + 1;
      acked[b.pid.value() * 1'000'000'000 + b.first_seq.value()] = {b.first, b.last};
    }
  }
};

constexpr PowerCutMode kModes[] = {PowerCutMode::drop_unsynced, PowerCutMode::tear_last_write,
                                   PowerCutMode::random_prefix};

}  // namespace

TEST_CASE("Producer state and acknowledged batches survive power cuts in every mode",
          "[partition][durability][power_cut]") {
  const int seeds = 12 * test::test_scale();
  for (int s = 1; s <= seeds; ++s) {
    const auto seed = static_cast<std::uint64_t>(s);
    if (!test::seed_selected(seed)) continue;
    for (FlushPolicy policy : {FlushPolicy::durable, FlushPolicy::manual_may_lose_unflushed}) {
      INFO("seed " << seed << " policy " << to_string(policy));
      PowerCutHarness h(seed, policy);
      for (int step = 0; step < 60; ++step) {
        const int dice = h.rng.uniform_int(0, 99);
        if (dice < 80) {
          h.produce();
        } else if (dice < 85) {
          REQUIRE(h.f.partition->flush().ok());
        } else if (dice < 90) {
          h.f.reopen();  // a clean close, then open
        } else {
          h.crash_and_check(kModes[h.rng.uniform(0, 2)]);
        }
      }
      h.crash_and_check(kModes[h.rng.uniform(0, 2)]);
    }
  }
}

// ------------------------------------------------------------------------ SIGKILL

namespace {

constexpr ProducerId kCrashProducer(77);

PartitionConfig crash_config() {
  PartitionConfig c;
  c.log.segment_bytes = 8 << 10;  // rolls, with a producer snapshot, every few dozen batches
  c.log.index_interval_bytes = 512;
  return c;
}

// The child produces along the chain from `seq`; its first batch is the retry of whatever
// the previous child had in flight. Reports "first_seq first_offset last_offset dup\n" per
// acknowledgement. Never returns (_exit).
[[noreturn]] void producer_child(const std::string& dir, std::int64_t seq, int ack_fd) {
  auto opened = Partition::open(Env::posix(), dir, crash_config());
  if (!opened.ok()) {
    std::fprintf(stderr, "crash child: open: %s\n", opened.status().to_string().c_str());
    ::_exit(2);
  }
  Partition& partition = **opened;
  for (int i = 0; i < 1'000'000; ++i) {
    auto bytes = chain_batch(kCrashProducer, seq, SystemClock::instance().now());
    auto r = partition.append(bytes);
    if (!r.ok()) {
      std::fprintf(stderr, "crash child: append at seq %lld: %s\n", static_cast<long long>(seq),
                   r.status().to_string().c_str());
      ::_exit(3);
    }
    char line[96];
    const int n =
        std::snprintf(line, sizeof line, "%lld %lld %lld %d\n", static_cast<long long>(seq),
                      static_cast<long long>(r->info.first_offset.value()),
                      static_cast<long long>(r->info.last_offset.value()), r->duplicate ? 1 : 0);
    if (n <= 0 || ::write(ack_fd, line, static_cast<std::size_t>(n)) != n) ::_exit(4);
    seq += records_at(seq);
  }
  ::_exit(0);
}

struct CrashAck {
  long long seq = 0, first = 0, last = 0;
  int dup = 0;
};

// Reads the child's acknowledgements for `window`, or until EOF when `window` is none (after
// the kill: what the child wrote before it died must be counted too).
void read_acks(int fd, std::optional<std::chrono::milliseconds> window, std::string& buffer) {
  const auto deadline = std::chrono::steady_clock::now() + window.value_or(std::chrono::hours(1));
  char chunk[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd pfd{fd, POLLIN, 0};
    const int ready = ::poll(&pfd, 1, static_cast<int>(std::max<long long>(left.count(), 0)));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) break;
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    buffer.append(chunk, static_cast<std::size_t>(n));
  }
}

std::vector<CrashAck> parse_acks(const std::string& buffer) {
  std::vector<CrashAck> acks;
  std::size_t start = 0;
  for (std::size_t nl = buffer.find('\n'); nl != std::string::npos; nl = buffer.find('\n', start)) {
    CrashAck a;
    if (std::sscanf(buffer.c_str() + start, "%lld %lld %lld %d", &a.seq, &a.first, &a.last,
                    &a.dup) == 4) {
      acks.push_back(a);
    }
    start = nl + 1;
  }
  return acks;
}

}  // namespace

TEST_CASE("An idempotent producer killed with SIGKILL and retrying stores each batch once",
          "[partition][durability][crash]") {
  const int cycles = 20 * test::test_scale();
  test::Rng rng(20261122);
  test::TempDir tmp;
  REQUIRE_FALSE(tmp.path().empty());
  const std::string dir = join_path(tmp.path(), "events-0");
  std::int64_t next_seq = 0;  // after the last acknowledged batch: the next child retries it
  std::map<long long, std::pair<long long, long long>> acked;  // seq -> offsets
  for (int cycle = 0; cycle < cycles; ++cycle) {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::close(fds[0]);
      producer_child(dir, next_seq, fds[1]);
    }
    ::close(fds[1]);
    std::string buffer;
    read_acks(fds[0], std::chrono::milliseconds(rng.uniform_signed(50, 400)), buffer);
    ::kill(pid, SIGKILL);
    int wait_status = 0;
    REQUIRE(::waitpid(pid, &wait_status, 0) == pid);
    read_acks(fds[0], std::nullopt, buffer);  // the pipe is at EOF now that the child is gone
    ::close(fds[0]);
    const std::vector<CrashAck> acks = parse_acks(buffer);
    INFO("cycle " << cycle << ", " << acks.size() << " acks from sequence " << next_seq);
    CHECK(WIFSIGNALED(wait_status));
    for (const CrashAck& a : acks) {
      // A duplicate answer must repeat the offsets the first acknowledgement gave.
      auto [it, fresh] = acked.try_emplace(a.seq, a.first, a.last);
      if (!fresh) {
        CHECK(a.dup == 1);
        CHECK(it->second == std::make_pair(a.first, a.last));
      }
      next_seq = std::max<std::int64_t>(next_seq, a.seq + records_at(a.seq));
    }
  }
  // Recovery in this process: every acknowledged batch once, at its offsets, in chain order.
  auto opened = Partition::open(Env::posix(), dir, crash_config());
  INFO(opened.status().to_string());
  REQUIRE(opened.ok());
  std::vector<std::byte> bytes;
  Offset at = (*opened)->log_start_offset();
  for (int reads = 0; reads < 100'000; ++reads) {
    auto r = (*opened)->read(at, {.isolation = Isolation::log_end});
    REQUIRE(r.ok());
    if (r->slice.empty()) break;
    REQUIRE(r->slice.read_into(bytes).ok());
    at = r->slice.next_offset;
  }
  std::int64_t expected_seq = 0;
  std::map<long long, std::pair<long long, long long>> logged;
  for (std::size_t pos = 0; pos < bytes.size();) {
    auto view = RecordBatchView::validate(ByteSpan(bytes).subspan(pos), {});
    REQUIRE(view.ok());
    CHECK(view->base_sequence().value() == expected_seq);
    logged[view->base_sequence().value()] = {view->base_offset().value(),
                                             view->last_offset().value()};
    expected_seq = view->base_sequence().value() + view->records_count();
    pos += view->size_bytes();
  }
  for (const auto& [seq, offsets] : acked) {
    INFO("acknowledged sequence " << seq);
    REQUIRE(logged.count(seq) == 1);
    CHECK(logged[seq] == offsets);
  }
  CHECK(!acked.empty());
  if (std::getenv("SAMSA_TEST_VERBOSE") != nullptr) {
    std::fprintf(stderr, "producer crash cycles: %zu batches acknowledged, %zu in the log\n",
                 acked.size(), logged.size());
  }
  const auto state = (*opened)->producer(kCrashProducer);
  REQUIRE(state.has_value());
  CHECK(state->last_sequence().value() == expected_seq - 1);
}

}  // namespace samsa
