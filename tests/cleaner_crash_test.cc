// The Cleaner against a model and when the world moves under it. Faults and crashes on
// FaultyEnv: every write, fsync, directory fsync and rename of a pass fails in turn, then
// the process dies (with or without a power cut, in every power cut mode); the reopened log
// holds the log before the pass or after it, group by group in order, never anything else,
// and a later pass finishes the job. Then appends, retention and truncation running during
// passes, and random keyed workloads checked against a model.
#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "cleaner_test_util.h"
#include "samsa/cleaner.h"

namespace samsa {
namespace {

using test::CompactedLog;
using test::KV;
using test::LogRecord;

constexpr int kEio = 5;
constexpr int kFaultsPerOpMax = 200;  // bounds the loop over the nth operation to fail

enum class Crash : std::uint8_t { kill, drop_unsynced, tear_last_write, random_prefix };
constexpr Crash kCrashes[] = {Crash::kill, Crash::drop_unsynced, Crash::tear_last_write,
                              Crash::random_prefix};

std::string_view to_string(Crash c) {
  switch (c) {
    case Crash::kill:
      return "kill";
    case Crash::drop_unsynced:
      return "power cut, drop_unsynced";
    case Crash::tear_last_write:
      return "power cut, tear_last_write";
    case Crash::random_prefix:
      return "power cut, random_prefix";
  }
  return "?";
}

std::string_view to_string(FaultOp op) {
  switch (op) {
    case FaultOp::write:
      return "write";
    case FaultOp::sync:
      return "sync";
    case FaultOp::sync_dir:
      return "sync_dir";
    case FaultOp::rename:
      return "rename";
  }
  return "?";
}

void require_ok(const Status& s) {
  INFO(s.to_string());
  REQUIRE(s.ok());
}

std::string v(int i) {
  return fmt::format("value-{}", i);
}

// The records of `key` in `records`.
std::vector<LogRecord> of_key(const std::vector<LogRecord>& records, std::string_view key) {
  std::vector<LogRecord> out;
  for (const LogRecord& r : records) {
    if (r.key && *r.key == key) out.push_back(r);
  }
  return out;
}

CleanResult clean_ok(CompactedLog& t) {
  auto result = t.clean();
  INFO(result.status().to_string());
  REQUIRE(result.ok());
  return *result;
}

std::vector<LogRecord> records_of(CompactedLog& t) {
  auto records = t.records();
  INFO(records.status().to_string());
  REQUIRE(records.ok());
  return *records;
}

// Several segments of keyed records with tombstones, keyless records, an lz4 batch and an
// idempotent producer's batches, all flushed. `one_group`: small segments rolled by time
// that the pass cleans into one; otherwise segments rolled by size, cleaned in groups.
LogConfig crash_config(bool one_group) {
  LogConfig config = test::compacted_config();
  config.segment_bytes = one_group ? 64 * 1024 : 900;
  config.segment_ms = 1000;
  return config;
}

void build(CompactedLog& t, std::uint64_t seed) {
  require_ok(t.open());
  test::Rng rng(seed);
  std::int32_t sequence = 0;
  for (int batch = 0; batch < 40; ++batch) {
    if (batch % 8 == 7) t.clock().advance_ms(1001);  // the next append rolls
    std::vector<KV> records;
    const int n = rng.uniform_int(1, 4);
    for (int i = 0; i < n; ++i) {
      KV r;
      if (!rng.percent(5)) r.key = fmt::format("key{}", rng.uniform_int(0, 7));
      if (!rng.percent(15)) r.value = fmt::format("v{}-{}", batch, i);
      records.push_back(std::move(r));
    }
    BatchOptions options;
    if (batch % 5 == 0) options.compression = Compression::lz4;
    if (batch % 7 == 3) {
      options.producer_id = ProducerId(77);
      options.producer_epoch = ProducerEpoch(0);
      options.base_sequence = Sequence(sequence);
      sequence += n;
    }
    require_ok(t.append(records, options).status());
  }
  require_ok(t.roll());
  require_ok(t.log().flush());
}

// The log before and after a fault-free pass, and where its groups start: after a crash,
// the log must be the pass's result up to one of these offsets and the old log from there.
struct Expected {
  std::vector<LogRecord> before;
  std::vector<LogRecord> after;
  std::vector<Offset> boundaries;
};

Expected expected(std::uint64_t seed, bool one_group) {
  CompactedLog t(seed, crash_config(one_group));
  build(t, seed);
  Expected e;
  e.before = records_of(t);
  auto result = t.clean();
  INFO(result.status().to_string());
  REQUIRE(result.ok());
  REQUIRE(result->cleaned);
  e.after = records_of(t);
  REQUIRE(e.after != e.before);
  REQUIRE(result->stats.records_removed > 0);
  for (const SegmentInfo& s : t.log().segments()) {
    if (s.base_offset >= result->range.first_uncleanable_offset) break;
    e.boundaries.push_back(s.base_offset);
  }
  e.boundaries.push_back(result->range.first_uncleanable_offset);
  if (one_group) REQUIRE(e.boundaries.size() == 2);
  if (!one_group) REQUIRE(e.boundaries.size() > 3);
  return e;
}

// Which state `records` is: "before", "after", "groups<k>", or "" for none of them.
std::string state_of(const std::vector<LogRecord>& records, const Expected& e) {
  if (records == e.before) return "before";
  if (records == e.after) return "after";
  for (std::size_t k = 1; k + 1 < e.boundaries.size(); ++k) {
    std::vector<LogRecord> mixed;
    for (const LogRecord& r : e.after) {
      if (r.offset < e.boundaries[k]) mixed.push_back(r);
    }
    for (const LogRecord& r : e.before) {
      if (r.offset >= e.boundaries[k]) mixed.push_back(r);
    }
    if (records == mixed) return fmt::format("groups{}", k);
  }
  return "";
}

void crash(CompactedLog& t, Crash how) {
  if (how == Crash::kill) {
    // The process dies: nothing it does on the way out reaches the disk, nothing is lost.
    for (FaultOp op : {FaultOp::write, FaultOp::sync, FaultOp::sync_dir, FaultOp::rename}) {
      t.env().fail_always(op, kEio);
    }
    t.log_ptr().reset();
    t.env().clear_faults();
    return;
  }
  const PowerCutMode mode = how == Crash::drop_unsynced     ? PowerCutMode::drop_unsynced
                            : how == Crash::tear_last_write ? PowerCutMode::tear_last_write
                                                            : PowerCutMode::random_prefix;
  test::power_cut_and_kill(t.env(), t.log_ptr(), mode);
}

// Fails the nth `op` of a pass, crashes, reopens and checks. False once the pass did fewer
// than n such operations (it ran to its end).
bool fault_crash_reopen(std::uint64_t seed, bool one_group, const Expected& e, FaultOp op, int n,
                        Crash how, std::map<std::string, int>& seen) {
  CompactedLog t(seed, crash_config(one_group));
  build(t, seed);
  const std::uint64_t ops_before = t.env().count(op);
  t.env().fail_nth(op, static_cast<std::uint64_t>(n), kEio);
  auto result = t.clean();
  const bool hit = t.env().count(op) - ops_before >= static_cast<std::uint64_t>(n);
  INFO(fmt::format("seed {} {} {} #{} then {}: the pass said {}", seed,
                   one_group ? "one group" : "groups", to_string(op), n, to_string(how),
                   result.ok() ? "ok" : result.status().to_string()));
  if (!hit) CHECK(result.ok());
  // Until the log is reopened its readers see one of the states too.
  CHECK(state_of(records_of(t), e) != "");
  if (!result.ok()) {
    const auto marked = t.cleaner().uncleanable();
    REQUIRE(marked.size() == 1);
    CHECK(marked[0].dir == t.dir());
  }
  crash(t, how);
  require_ok(t.open());
  const std::string state = state_of(records_of(t), e);
  CHECK(state != "");
  ++seen[state];
  // A pass after the crash finishes the job, and the directory is in Kafka's format.
  auto again = t.clean();
  INFO(again.status().to_string());
  REQUIRE(again.ok());
  CHECK(records_of(t) == e.after);
  require_ok(t.log().close());
  require_ok(test::check_compacted_format(t.env(), t.dir()));
  return hit;
}

void fault_every_step(std::uint64_t seed, bool one_group) {
  const Expected e = expected(seed, one_group);
  std::map<std::string, int> seen;
  for (const FaultOp op : {FaultOp::write, FaultOp::sync, FaultOp::sync_dir, FaultOp::rename}) {
    for (const Crash how : kCrashes) {
      int n = 1;
      while (n <= kFaultsPerOpMax && fault_crash_reopen(seed, one_group, e, op, n, how, seen)) {
        ++n;
      }
      CHECK(n > 1);  // the pass does every kind of operation at least once
      CHECK(n <= kFaultsPerOpMax);
    }
  }
  // Both ends were reached: crashes before the swap and after it.
  CHECK(seen["before"] > 0);
  CHECK(seen["after"] > 0);
  if (!one_group) CHECK(seen.size() > 2);
  if (std::getenv("SAMSA_TEST_VERBOSE") != nullptr) {
    for (const auto& [state, count] : seen) fmt::print(stderr, "  {}: {}\n", state, count);
  }
}

TEST_CASE("A crash at any step of writing or swapping one cleaned segment leaves old or new",
          "[cleaner][crash]") {
  for (std::uint64_t seed = 1; seed <= 2; ++seed) fault_every_step(seed, /*one_group=*/true);
}

TEST_CASE("A crash during a pass of several groups leaves each group old or new, in order",
          "[cleaner][crash]") {
  fault_every_step(3, /*one_group=*/false);
}

TEST_CASE("A failing pass marks only that log uncleanable; run_once cleans the others",
          "[cleaner][crash]") {
  // One Cleaner knows logs by directory: the two logs have different ones.
  CompactedLog bad(1, crash_config(false), {}, "data/bad-0");
  CompactedLog good(2, crash_config(false), {}, "data/good-0");
  build(bad, 1);
  build(good, 2);
  // The bad log is the dirtier one, so run_once tries it first.
  build(bad, 11);
  const auto bad_before = records_of(bad);
  const auto good_before = records_of(good);
  bad.env().fail_always(FaultOp::write, kEio);
  Cleaner cleaner({}, bad.clock());
  Log* logs[] = {&bad.log(), &good.log()};
  CleanerRun run = cleaner.run_once(logs);
  CHECK(run.logs_checked == 2);
  REQUIRE(run.failed.size() == 1);
  CHECK(run.failed[0].dir == bad.dir());
  CHECK(run.failed[0].error.code() == StatusCode::io_error);
  CHECK(run.cleaned_log == &good.log());
  CHECK(run.result.cleaned);
  CHECK(records_of(good) != good_before);
  CHECK(test::latest_per_key(records_of(good)) == test::latest_per_key(good_before));
  // The failed pass left the bad log as it was, and working.
  bad.env().clear_faults();
  CHECK(records_of(bad) == bad_before);
  require_ok(bad.log().failure());
  require_ok(bad.append({{"still", "writable"}}).status());
  const auto marked = cleaner.uncleanable();
  REQUIRE(marked.size() == 1);
  CHECK(marked[0].dir == bad.dir());
  // From now on run_once leaves it alone, until the host clears the mark.
  run = cleaner.run_once(logs);
  CHECK(run.logs_checked == 1);
  CHECK(run.failed.empty());
  cleaner.clear_uncleanable(bad.dir());
  run = cleaner.run_once(logs);
  CHECK(run.cleaned_log == &bad.log());
  CHECK(cleaner.uncleanable().empty());
}

// ------------------------------------------------------------------------ concurrent changes

TEST_CASE("Appends continue while the log is cleaned", "[cleaner]") {
  LogConfig config = test::compacted_config();
  config.segment_bytes = 1024;
  CompactedLog t(3, config);
  require_ok(t.open());
  constexpr int kAppends = 1500;
  constexpr int kKeys = 40;
  std::atomic<bool> done{false};
  Status append_status;
  std::thread appender([&] {
    for (int i = 0; i < kAppends && append_status.ok(); ++i) {
      append_status = t.append({{fmt::format("k{}", i % kKeys), v(i)}}).status();
    }
    done = true;
  });
  int passes = 0;
  while (!done.load() && passes < 10'000) {
    auto result = t.clean();
    INFO(result.status().to_string());
    REQUIRE(result.ok());
    ++passes;
  }
  appender.join();
  require_ok(append_status);
  require_ok(t.roll());
  clean_ok(t);
  const auto after = records_of(t);
  for (int k = 0; k < kKeys; ++k) {
    const auto kept = of_key(after, fmt::format("k{}", k));
    REQUIRE(kept.size() == 1);
    const int last = (kAppends - 1 - k) / kKeys * kKeys + k;  // the last i with i % kKeys == k
    CHECK(kept[0].value == v(last));
    CHECK(kept[0].offset == Offset(last));
  }
}

TEST_CASE("Retention and truncation during cleaning stop a pass, never fail it", "[cleaner]") {
  LogConfig config = test::compacted_config();
  config.segment_bytes = 1024;
  config.cleanup_policy = CleanupPolicy{.delete_old = true, .compact = true};
  config.retention_bytes = 8 * 1024;
  config.file_delete_delay_ms = 0;
  CompactedLog t(5, config);
  require_ok(t.open());
  std::atomic<bool> done{false};
  Status writer_status;
  std::thread writer([&] {
    test::Rng rng(5);
    for (int i = 0; i < 3000 && writer_status.ok(); ++i) {
      writer_status = t.append({{fmt::format("k{}", rng.uniform_int(0, 30)), v(i)}}).status();
      if (writer_status.ok() && i % 50 == 0) writer_status = t.log().apply_retention().status();
      if (writer_status.ok() && i % 400 == 399) {
        const Offset end = t.log().log_end_offset();
        writer_status = t.log().truncate_to(end - 30);
      }
    }
    done = true;
  });
  int passes = 0;
  int abandoned = 0;
  while (!done.load() && passes < 100'000) {
    auto result = t.clean();
    INFO(result.status().to_string());
    REQUIRE(result.ok());
    abandoned += result->abandoned ? 1 : 0;
    ++passes;
  }
  writer.join();
  require_ok(writer_status);
  INFO(fmt::format("{} passes, {} abandoned", passes, abandoned));
  records_of(t);  // reads back whole and in order
  require_ok(t.log().close());
  require_ok(test::check_compacted_format(t.env(), t.dir()));
  require_ok(t.open());
}

// ------------------------------------------------------------------------ model test

// Random keyed appends with tombstones and keyless records, rolls, cleanings and time
// passing, checked after each pass against what the log held before it.
class ModelRun {
 public:
  // Odd seeds get an offset map of 10 keys at most (the workload has 31 keys and the
  // roll marker): passes that stop where the map filled.
  explicit ModelRun(std::uint64_t seed)
      : seed_(seed),
        rng_(seed),
        t_(seed, config(seed),
           {.offset_map_bytes = seed % 2 == 1 ? 12 * 24 : std::uint64_t{1} << 20}) {}

  static LogConfig config(std::uint64_t seed) {
    test::Rng rng(seed * 7919);
    LogConfig c = test::compacted_config();
    c.segment_bytes = rng.uniform(600, 4000);
    c.index_interval_bytes = static_cast<std::uint32_t>(rng.uniform(64, 512));
    c.delete_retention_ms = 50'000;
    return c;
  }

  void run(int steps) {
    require_ok(t_.open());
    for (int step = 0; step < steps; ++step) {
      const int dice = rng_.uniform_int(0, 99);
      if (dice < 80) {
        append_random();
      } else if (dice < 88) {
        roll();
      } else if (dice < 95) {
        clean_and_check();
      } else {
        t_.clock().advance_ms(rng_.uniform_signed(1'000, 40'000));
      }
    }
    // Every tombstone below the active segment gets a horizon, then passes it (passes
    // repeat while the map fills before the dirty part's end).
    roll();
    clean_until_whole();
    t_.clock().advance_ms(50'000);
    const CleanResult last = clean_until_whole();
    const auto after = records_of(t_);
    CHECK(test::live_keys(test::latest_per_key(after)) == test::live_keys(model_));
    for (const LogRecord& r : after) {
      const bool deleted = r.key && !model_.at(*r.key).has_value();
      if (deleted) CHECK(r.offset >= last.range.first_uncleanable_offset);
    }
  }

 private:
  std::string context() const { return fmt::format("seed {} ops: {}", seed_, trace_); }

  void roll() {
    trace_ += "roll ";
    require_ok(t_.roll());
    model_["roll-marker"] = "x";
  }

  void append_random() {
    std::vector<KV> batch;
    const int n = rng_.uniform_int(1, 6);
    for (int i = 0; i < n; ++i) {
      KV r;
      if (!rng_.percent(5)) r.key = fmt::format("key{}", rng_.uniform_int(0, 30));
      if (!rng_.percent(10))
        r.value = fmt::format("v{}-{}", counter_++, std::string(rng_.uniform(0, 60), 'x'));
      if (r.key) model_[*r.key] = r.value;
      batch.push_back(std::move(r));
    }
    const int codec = rng_.uniform_int(0, 5);
    const Compression c = codec == 0   ? Compression::lz4
                          : codec == 1 ? Compression::zstd
                                       : Compression::none;
    trace_ += fmt::format("a{} ", n);
    require_ok(t_.append(batch, {.compression = c}).status());
  }

  CleanResult clean_until_whole() {
    CleanResult result = clean_and_check();
    for (int pass = 0; pass < 100 && result.stats.map_full; ++pass) result = clean_and_check();
    REQUIRE_FALSE(result.stats.map_full);
    return result;
  }

  CleanResult clean_and_check() {
    trace_ += "clean ";
    INFO(context());
    const auto before = records_of(t_);
    const CleanResult result = clean_ok(t_);
    if (result.stats.map_full) trace_ += "(map full) ";
    const auto after = records_of(t_);
    // The latest value of every key is unchanged; a tombstone may be gone.
    CHECK(test::live_keys(test::latest_per_key(after)) ==
          test::live_keys(test::latest_per_key(before)));
    // Every record left was there before, at the same offset; nothing at or past the
    // first uncleanable offset changed.
    std::map<std::int64_t, LogRecord> was;
    for (const LogRecord& r : before) was.emplace(r.offset.value(), r);
    for (const LogRecord& r : after) {
      auto it = was.find(r.offset.value());
      REQUIRE(it != was.end());
      CHECK(it->second == r);
    }
    const Offset fu = result.range.first_uncleanable_offset;
    std::vector<LogRecord> tail_before, tail_after;
    for (const LogRecord& r : before)
      if (r.offset >= fu) tail_before.push_back(r);
    for (const LogRecord& r : after)
      if (r.offset >= fu) tail_after.push_back(r);
    CHECK(tail_before == tail_after);
    // Below the map's end: no keyless record and at most one record per key.
    if (result.cleaned) {
      std::set<std::string> seen;
      for (const LogRecord& r : after) {
        if (r.offset >= result.cleaned_up_to) break;
        CHECK(r.key.has_value());
        if (r.key) CHECK(seen.insert(*r.key).second);
      }
    }
    return result;
  }

  std::uint64_t seed_;
  test::Rng rng_;
  CompactedLog t_;
  test::Latest model_;
  int counter_ = 0;
  std::string trace_;
};

TEST_CASE("Random keyed workloads keep the latest value of every key (model)", "[cleaner]") {
  const int seeds = 6 * test::test_scale();
  for (std::uint64_t seed = 1; seed <= static_cast<std::uint64_t>(seeds); ++seed) {
    if (!test::seed_selected(seed)) continue;
    INFO("seed " << seed);
    ModelRun(seed).run(400);
  }
}

}  // namespace
}  // namespace samsa
