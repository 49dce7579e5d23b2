// Power cuts and I/O faults on FaultyEnv under the default durable flush policy: nothing
// acknowledged is lost, nothing garbled is readable, a failed fsync stops the log, and the
// directory stays in Kafka's format.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "log_test_util.h"
#include "samsa/faulty_env.h"
#include "samsa/log.h"

namespace samsa {
namespace {

using test::LogRecord;
using test::ReadBatch;

constexpr const char* kDir = "data/events-0";
constexpr PowerCutMode kModes[] = {PowerCutMode::drop_unsynced, PowerCutMode::tear_last_write,
                                   PowerCutMode::random_prefix};
// Bounds on the loops that wait for something to happen (a roll, an injected fault).
constexpr int kAppendsUntilRollMax = 1000;
constexpr int kAppendsUntilFaultMax = 200;

// One log on a FaultyEnv, the model of what it must hold, and every batch ever attempted
// (acknowledged, failed or later truncated), by base offset: after a crash the log may hold
// more than was acknowledged, but only whole batches that were really appended.
// How often things happened over a test case, printed when SAMSA_TEST_VERBOSE is set.
std::map<std::string, int>& tally() {
  static std::map<std::string, int> counts;
  return counts;
}

void print_tally(const char* what) {
  if (std::getenv("SAMSA_TEST_VERBOSE") != nullptr) {
    std::fprintf(stderr, "%s:\n", what);
    for (const auto& [outcome, count] : tally()) {
      std::fprintf(stderr, "  %6d  %s\n", count, outcome.c_str());
    }
  }
  tally().clear();
}

class Harness {
 public:
  Harness(std::uint64_t seed, std::uint64_t env_seed, std::uint64_t segment_bytes_min = 4096,
          std::uint64_t segment_bytes_max = 65536)
      : seed_(seed), rng_(seed), env_(env_seed) {
    config_.segment_bytes = rng_.uniform(segment_bytes_min, segment_bytes_max);
    config_.index_interval_bytes = static_cast<std::uint32_t>(rng_.uniform(64, 1024));
    constexpr std::uint32_t kIndexBytes[] = {1024, 4096, 65536};
    config_.segment_index_bytes = kIndexBytes[rng_.uniform(0, 2)];
  }

  FaultyEnv& env() { return env_; }
  Log& log() { return *log_; }
  test::Rng& rng() { return rng_; }
  const test::LogModel& model() const { return model_; }

  std::string context() const {
    return fmt::format(
        "seed {} env seed {} segment_bytes {} index_interval_bytes {} segment_index_bytes {}\n"
        "ops: {}",
        seed_, env_.seed(), config_.segment_bytes, config_.index_interval_bytes,
        config_.segment_index_bytes, trace_);
  }
  void trace(std::string_view what) {
    trace_ += what;
    trace_ += ' ';
  }

  void open() {
    trace("open");
    auto log = Log::open(env_, kDir, config_, clock_);
    INFO(context());
    INFO(log.status().to_string());
    REQUIRE(log.ok());
    log_ = std::move(log).value();
    const RecoveryReport& report = log_->recovery_report();
    ++tally()[report.clean_shutdown ? "open: clean" : "open: unclean"];
    if (report.bytes_truncated > 0) ++tally()["open: cut a torn tail"];
    if (report.segments_removed > 0) ++tally()["open: removed segments"];
    if (report.indexes_rebuilt > 0) ++tally()["open: rebuilt indexes"];
    if (report.bytes_truncated > 0 || report.segments_removed > 0) {
      trace(fmt::format("(recovery cut {} bytes, {} segments)", report.bytes_truncated,
                        report.segments_removed));
    }
  }

  // Appends a batch of random size and codec at the log end; the model takes it when acked.
  Result<AppendInfo> append_random() {
    clock_.advance_ms(rng_.uniform_signed(0, 20));
    const Offset first = log_->log_end_offset();
    if (log_->failure().ok()) {
      // (A fail-stopped log may show the batch whose fsync failed; it refuses this append.)
      INFO(context());
      REQUIRE(first.value() == model_.log_end.value());
    }
    const int count = rng_.percent(10) ? rng_.uniform_int(50, 200) : rng_.uniform_int(1, 20);
    const std::size_t value_bytes_max = rng_.percent(10) ? 2000 : rng_.uniform(0, 300);
    auto records = test::make_records(rng_.next(), first, count, clock_.now(), value_bytes_max);
    for (LogRecord& r : records) r.timestamp = clock_.now() + rng_.uniform_signed(-50, 50);
    const int codec = rng_.uniform_int(0, 9);
    const Compression compression =
        codec == 0 ? Compression::lz4 : (codec == 1 ? Compression::zstd : Compression::none);
    attempts_[first.value()].push_back(records);
    const std::string_view codec_name =
        compression == Compression::none ? std::string_view() : to_string(compression);
    trace(fmt::format("append[{}+{}{}{}]", first.value(), count, codec_name.empty() ? "" : " ",
                      codec_name));
    auto info = test::append_records(*log_, records, compression);
    if (!info.ok()) {
      trace("->" + info.status().to_string());
      return info;
    }
    INFO(context());
    CHECK(info->first_offset.value() == first.value());
    CHECK(info->last_offset.value() == first.value() + count - 1);
    CHECK(info->records == count);
    model_.append(std::move(records));
    return info;
  }

  Status truncate_random() {
    const Offset to(rng_.uniform_signed(model_.log_start.value(), model_.log_end.value()));
    trace(fmt::format("truncate_to[{}]", to.value()));
    Status status = log_->truncate_to(to);
    if (!status.ok()) {
      // Not acknowledged: the log may hold anything from the truncated log to all of it.
      trace("->" + status.to_string());
      test::LogModel truncated = model_;
      truncated.truncate_to(to);
      truncate_floor_ = truncated.log_end;
      return status;
    }
    model_.truncate_to(to);
    INFO(context());
    CHECK(log_->log_end_offset().value() == model_.log_end.value());
    return status;
  }

  Status flush() {
    trace("flush");
    Status status = log_->flush();
    if (!status.ok()) trace("->" + status.to_string());
    return status;
  }

  // Random operations that must all succeed.
  void run_ops(int ops) {
    for (int i = 0; i < ops; ++i) {
      const int pick = rng_.uniform_int(0, 99);
      INFO(context());
      if (pick < 85) {
        auto info = append_random();
        INFO(info.status().to_string());
        REQUIRE(info.ok());
      } else if (pick < 91) {
        Status status = truncate_random();
        INFO(status.to_string());
        REQUIRE(status.ok());
      } else if (pick < 97) {
        Status status = flush();
        INFO(status.to_string());
        REQUIRE(status.ok());
      } else {
        close_and_reopen();
      }
    }
  }

  // A clean close, the directory in Kafka's format, and a reopen that finds it clean.
  void close_and_reopen() {
    trace("close");
    {
      Status status = log_->close();
      INFO(context());
      INFO(status.to_string());
      REQUIRE(status.ok());
    }
    log_.reset();
    {
      Status format = test::check_kafka_format(env_, kDir);
      INFO(context());
      INFO(format.to_string());
      CHECK(format.ok());
    }
    open();
    INFO(context());
    CHECK(log_->recovery_report().clean_shutdown);
    expect_matches_model();
  }

  // The log holds exactly the model.
  void expect_matches_model() {
    INFO(context());
    CHECK(log_->log_start_offset().value() == model_.log_start.value());
    CHECK(log_->log_end_offset().value() == model_.log_end.value());
    auto records = test::read_all(*log_, log_->log_start_offset());
    INFO(records.status().to_string());
    REQUIRE(records.ok());
    CHECK(test::first_difference(model_.records_from(model_.log_start), *records) == "");
  }

  // After a crash or a failed operation: every acknowledged record is there byte for byte,
  // everything readable validates, and past the acknowledged end there are only whole
  // batches that were really appended. With `absorb`, the model takes those in (they are on
  // disk now, part of the log).
  void expect_acked_and_known_tail(bool absorb) {
    INFO(context());
    CHECK(log_->log_start_offset().value() == model_.log_start.value());
    auto batches = test::read_batches(*log_, log_->log_start_offset());
    INFO(batches.status().to_string());
    REQUIRE(batches.ok());
    if (truncate_floor_) {
      // After a failed truncate_to, the log may end anywhere from its target on.
      INFO("after a failed truncate_to, floor " << truncate_floor_->value());
      REQUIRE(log_->log_end_offset() >= *truncate_floor_);
      if (log_->log_end_offset() < model_.log_end) model_.truncate_to(log_->log_end_offset());
      truncate_floor_.reset();
    }
    REQUIRE(log_->log_end_offset() >= model_.log_end);
    std::vector<ReadBatch> acked;
    std::vector<ReadBatch> tail;
    for (ReadBatch& b : *batches) {
      if (b.base_offset < model_.log_end) {
        INFO(fmt::format("batch [{}, {}] straddles the acknowledged end {}", b.base_offset.value(),
                         b.last_offset.value(), model_.log_end.value()));
        CHECK(b.last_offset.value() < model_.log_end.value());
        acked.push_back(std::move(b));
      } else {
        tail.push_back(std::move(b));
      }
    }
    CHECK(test::first_difference(model_.records_from(model_.log_start),
                                 test::records_of(acked, model_.log_start)) == "");
    for (ReadBatch& b : tail) {
      auto it = attempts_.find(b.base_offset.value());
      const bool appended =
          it != attempts_.end() &&
          std::any_of(it->second.begin(), it->second.end(),
                      [&](const std::vector<LogRecord>& r) { return r == b.records; });
      INFO(fmt::format("batch [{}, {}] past the acknowledged end {} was never appended",
                       b.base_offset.value(), b.last_offset.value(), model_.log_end.value()));
      CHECK(appended);
      ++tally()[absorb ? "batches past the acknowledged end kept (after a crash)"
                       : "batches past the acknowledged end visible (before a crash)"];
      if (absorb && appended) {
        trace(fmt::format("(kept unacked [{}, {}])", b.base_offset.value(), b.last_offset.value()));
        model_.append(std::move(b.records));
      }
    }
  }

  // Cuts the power (the process dies with it), reopens, and checks what survived.
  void crash_and_recover(PowerCutMode mode) {
    trace(fmt::format("power_cut[{}]", test::to_string(mode)));
    test::power_cut_and_kill(env_, log_, mode);
    open();
    {
      INFO(context());
      CHECK_FALSE(log_->recovery_report().clean_shutdown);
    }
    expect_acked_and_known_tail(/*absorb=*/true);
  }

  // The log refuses writes after a failure (fail-stop) or takes them as before; which one
  // it is must agree with failure(). Returns whether it stopped.
  // The process exits (the destructor closes the log) without a power cut, and a new one
  // opens the log: what it finds is the log from now on, and once a later append is
  // acknowledged, all of it must survive.
  void reopen_without_power_cut() {
    trace("(reopen without power cut)");
    log_.reset();
    open();
    expect_acked_and_known_tail(/*absorb=*/true);
    auto info = append_random();
    INFO(context());
    INFO(info.status().to_string());
    REQUIRE(info.ok());
  }

  bool expect_stopped_or_working() {
    const bool stopped = !log_->failure().ok();
    trace(stopped ? "(fail-stopped)" : "(still working)");
    ++tally()[stopped ? "after the failure: fail-stopped" : "after the failure: still working"];
    auto info = append_random();
    INFO(context());
    INFO(info.status().to_string());
    if (stopped) {
      CHECK(info.status().code() == StatusCode::failed_precondition);
    } else {
      CHECK(info.ok());
    }
    return stopped;
  }

 private:
  const std::uint64_t seed_;
  test::Rng rng_;
  FaultyEnv env_;
  ManualClock clock_;
  LogConfig config_;
  std::unique_ptr<Log> log_;
  test::LogModel model_;
  std::map<std::int64_t, std::vector<std::vector<LogRecord>>> attempts_;
  std::string trace_;
  std::optional<Offset> truncate_floor_;
};

// Appends until the active segment changes; returns whether it did.
bool append_until_roll(Harness& h) {
  const Offset base = h.log().segments().back().base_offset;
  for (int i = 0; i < kAppendsUntilRollMax; ++i) {
    auto info = h.append_random();
    INFO(h.context());
    INFO(info.status().to_string());
    REQUIRE(info.ok());
    if (info->segment_base_offset != base) return true;
  }
  return false;
}

// Appends until one fails; returns its status (ok when none failed within the bound).
Status append_until_failure(Harness& h) {
  for (int i = 0; i < kAppendsUntilFaultMax; ++i) {
    auto info = h.append_random();
    if (!info.ok()) return info.status();
  }
  return Status();
}

}  // namespace

TEST_CASE("Acknowledged appends survive power cuts in every mode and nothing garbled is readable",
          "[log][durability][power_cut]") {
  const int seeds = 200 * test::test_scale();
  for (int s = 1; s <= seeds; ++s) {
    for (PowerCutMode mode : kModes) {
      const auto seed = static_cast<std::uint64_t>(s);
      if (!test::seed_selected(seed)) continue;
      Harness h(seed, test::mix64(seed * 4 + static_cast<std::uint64_t>(mode)));
      INFO("seed " << seed << " mode " << test::to_string(mode));
      h.open();
      for (int cycle = 0; cycle < 2; ++cycle) {
        h.run_ops(h.rng().uniform_int(1, 60));
        const int variant = h.rng().uniform_int(0, 9);
        if (variant < 4) {
          // Between operations.
        } else if (variant < 6) {
          h.trace("(until roll)");
          INFO(h.context());
          CHECK(append_until_roll(h));
        } else if (variant < 8) {
          // In the middle of an append: written, not yet synced.
          h.env().fail_nth(FaultOp::sync, 1, EIO);
          auto info = h.append_random();
          INFO(h.context());
          CHECK_FALSE(info.ok());
        } else {
          // Right after a truncation.
          Status status = h.truncate_random();
          INFO(h.context());
          REQUIRE(status.ok());
        }
        h.crash_and_recover(mode);
        auto info = h.append_random();  // continues at the log end
        {
          INFO(h.context());
          INFO(info.status().to_string());
          REQUIRE(info.ok());
        }
        h.expect_matches_model();
      }
      h.close_and_reopen();
    }
  }
  print_tally(
      "Acknowledged appends survive power cuts in every mode and nothing garbled is readable");
}

TEST_CASE("A failed fsync fails the append and stops the log until it is reopened",
          "[log][durability][fsync]") {
  const int seeds = 100 * test::test_scale();
  for (int s = 1; s <= seeds; ++s) {
    const auto seed = static_cast<std::uint64_t>(s);
    if (!test::seed_selected(seed)) continue;
    Harness h(seed, test::mix64(seed + 1000));
    INFO("seed " << seed);
    h.open();
    h.run_ops(h.rng().uniform_int(0, 30));
    const auto k = h.rng().uniform(1, 4);
    h.trace(fmt::format("(fail sync #{})", k));
    h.env().fail_nth(FaultOp::sync, k, EIO);
    const Status failed = append_until_failure(h);
    INFO(h.context());
    REQUIRE_FALSE(failed.ok());
    CHECK(failed.code() == StatusCode::io_error);
    CHECK_FALSE(h.log().failure().ok());
    auto refused = h.append_random();
    CHECK(refused.status().code() == StatusCode::failed_precondition);
    // Reads go on while writes are refused.
    h.expect_acked_and_known_tail(/*absorb=*/false);
    if (h.rng().percent(50)) {
      h.crash_and_recover(kModes[h.rng().uniform(0, 2)]);
    } else {
      h.reopen_without_power_cut();
      h.crash_and_recover(kModes[h.rng().uniform(0, 2)]);
    }
    auto info = h.append_random();
    INFO(info.status().to_string());
    REQUIRE(info.ok());
    h.close_and_reopen();
  }
  print_tally("A failed fsync fails the append and stops the log until it is reopened");
}

TEST_CASE("An append that runs out of space fails with no_space naming the file and loses nothing",
          "[log][durability][enospc]") {
  const int seeds = 100 * test::test_scale();
  for (int s = 1; s <= seeds; ++s) {
    const auto seed = static_cast<std::uint64_t>(s);
    if (!test::seed_selected(seed)) continue;
    Harness h(seed, test::mix64(seed + 2000));
    INFO("seed " << seed);
    h.open();
    h.run_ops(h.rng().uniform_int(0, 30));
    const auto k = h.rng().uniform(1, 3);
    h.trace(fmt::format("(ENOSPC on write #{})", k));
    h.env().fail_nth(FaultOp::write, k, ENOSPC);
    const Status failed = append_until_failure(h);
    INFO(h.context());
    REQUIRE_FALSE(failed.ok());
    CHECK(failed.code() == StatusCode::no_space);
    CHECK(failed.message().find(kDir) != std::string::npos);
    // Nothing of the failed append is published.
    CHECK(h.log().log_end_offset().value() == h.model().log_end.value());
    h.expect_acked_and_known_tail(/*absorb=*/false);
    if (!h.expect_stopped_or_working()) h.expect_matches_model();
    h.crash_and_recover(kModes[h.rng().uniform(0, 2)]);
    auto info = h.append_random();
    INFO(info.status().to_string());
    REQUIRE(info.ok());
    h.close_and_reopen();
  }
  print_tally(
      "An append that runs out of space fails with no_space naming the file and loses nothing");
}

TEST_CASE("The bytes of a short write never become readable as data",
          "[log][durability][short_write]") {
  const int seeds = 100 * test::test_scale();
  for (int s = 1; s <= seeds; ++s) {
    const auto seed = static_cast<std::uint64_t>(s);
    if (!test::seed_selected(seed)) continue;
    Harness h(seed, test::mix64(seed + 3000));
    INFO("seed " << seed);
    h.open();
    h.run_ops(h.rng().uniform_int(0, 30));
    const auto k = h.rng().uniform(1, 3);
    const int err = h.rng().percent(50) ? ENOSPC : EIO;
    h.trace(fmt::format("(short write #{} errno {})", k, err));
    h.env().short_write_nth(k, std::nullopt, err);
    const Status failed = append_until_failure(h);
    INFO(h.context());
    REQUIRE_FALSE(failed.ok());
    CHECK((failed.code() == StatusCode::no_space || failed.code() == StatusCode::io_error));
    CHECK(h.log().log_end_offset().value() == h.model().log_end.value());
    h.expect_acked_and_known_tail(/*absorb=*/false);
    if (!h.expect_stopped_or_working()) {
      // Later appends land after the acknowledged data, not after the partial bytes.
      for (int i = 0; i < 5; ++i) REQUIRE(h.append_random().ok());
      h.expect_matches_model();
    }
    if (h.rng().percent(50)) {
      h.crash_and_recover(kModes[h.rng().uniform(0, 2)]);
    } else {
      h.reopen_without_power_cut();
    }
    auto info = h.append_random();
    INFO(info.status().to_string());
    REQUIRE(info.ok());
    h.close_and_reopen();
  }
  print_tally("The bytes of a short write never become readable as data");
}

TEST_CASE("A failed directory sync while rolling fails the append and loses nothing acknowledged",
          "[log][durability][roll]") {
  const int seeds = 100 * test::test_scale();
  for (int s = 1; s <= seeds; ++s) {
    const auto seed = static_cast<std::uint64_t>(s);
    if (!test::seed_selected(seed)) continue;
    Harness h(seed, test::mix64(seed + 4000), 4096, 8192);
    INFO("seed " << seed);
    h.open();
    h.run_ops(h.rng().uniform_int(0, 20));
    const std::size_t segments_before = h.log().segments().size();
    h.trace("(fail next sync_dir)");
    h.env().fail_nth(FaultOp::sync_dir, 1, EIO);
    const Status failed = append_until_failure(h);
    INFO(h.context());
    // A roll creates a file, and a durable append does not return before its directory
    // entry is synced: some append within the bound must meet the failure.
    REQUIRE_FALSE(failed.ok());
    CHECK(h.log().segments().size() >= segments_before);
    CHECK_FALSE(h.log().failure().ok());
    h.expect_acked_and_known_tail(/*absorb=*/false);
    h.expect_stopped_or_working();
    h.crash_and_recover(kModes[h.rng().uniform(0, 2)]);
    // The log rolls again fine after recovery.
    CHECK(append_until_roll(h));
    h.close_and_reopen();
  }
  print_tally(
      "A failed directory sync while rolling fails the append and loses nothing acknowledged");
}

// The truncation to a log end of `truncated_end` happened, or did not, or happened in part
// (later segments first): the log is a prefix of what was written, ending on a batch
// boundary between the two, with no hole, and every record readable is the one written at
// its offset.
void expect_truncated_or_whole(const Log& log, const std::vector<LogRecord>& written,
                               Offset truncated_end) {
  const Offset end(static_cast<std::int64_t>(written.size()));
  const Offset leo = log.log_end_offset();
  std::string segments;
  for (const SegmentInfo& s : log.segments()) {
    segments += fmt::format(" [{}, {})", s.base_offset.value(), s.next_offset.value());
  }
  INFO("log end " << leo.value() << ", segments:" << segments);
  CHECK(leo >= truncated_end);
  CHECK(leo <= end);
  CHECK(leo.value() % 10 == 0);  // batches of 10 records from offset 0
  auto records = test::read_all(log, Offset(0));
  INFO(records.status().to_string());
  CHECK(records.ok());
  if (records.ok() && leo <= end) {
    const std::vector<LogRecord> expected(
        written.begin(), written.begin() + static_cast<std::ptrdiff_t>(leo.value()));
    CHECK(test::first_difference(expected, *records) == "");
  }
}

TEST_CASE("A truncate_to that fails half way leaves a prefix of the log, never a hole",
          "[log][durability][truncate]") {
  constexpr FaultOp kOps[] = {FaultOp::rename, FaultOp::sync_dir, FaultOp::sync};
  constexpr const char* kOpNames[] = {"rename", "sync_dir", "sync"};
  for (std::size_t op = 0; op < 3; ++op) {
    for (const bool power_cut : {false, true}) {
      INFO("failing " << kOpNames[op] << ", power cut before the reopen: " << power_cut);
      FaultyEnv env(7);
      ManualClock clock;
      LogConfig config;
      config.segment_bytes = 4096;
      config.segment_index_bytes = 4096;
      auto opened = Log::open(env, kDir, config, clock);
      REQUIRE(opened.ok());
      std::unique_ptr<Log> log = std::move(opened).value();
      // Batches of 10 records of about 100 bytes, until there are three segments.
      std::vector<LogRecord> written;
      for (int i = 0; i < 200 && log->segments().size() < 3; ++i) {
        auto records = test::make_records(3, log->log_end_offset(), 10, clock.now(), 100);
        REQUIRE(test::append_records(*log, records).ok());
        written.insert(written.end(), records.begin(), records.end());
      }
      REQUIRE(log->segments().size() == 3);
      // Offset 25 lies in the batch [20, 29] of the first segment: the log end becomes 20.
      const Offset target(25);
      const Offset truncated_end(20);
      REQUIRE(log->segments()[1].base_offset > target);
      env.fail_nth(kOps[op], 1, EIO);
      Status truncated = log->truncate_to(target);
      INFO("truncate_to(25): " << truncated.to_string());
      {
        INFO("before the reopen");
        expect_truncated_or_whole(*log, written, truncated_end);
      }
      if (power_cut) {
        test::power_cut_and_kill(env, log, PowerCutMode::drop_unsynced);
      } else {
        log.reset();
      }
      auto reopened = Log::open(env, kDir, config, clock);
      INFO(reopened.status().to_string());
      REQUIRE(reopened.ok());
      INFO("after the reopen");
      expect_truncated_or_whole(**reopened, written, truncated_end);
    }
  }
}

TEST_CASE("An append after truncate_to is durable even below the old truncation target",
          "[log][durability][truncate]") {
  FaultyEnv env(11);
  ManualClock clock;
  LogConfig config;
  auto opened = Log::open(env, kDir, config, clock);
  REQUIRE(opened.ok());
  std::unique_ptr<Log> log = std::move(opened).value();
  std::vector<LogRecord> written;
  auto append = [&](int count) {
    auto records = test::make_records(4, log->log_end_offset(), count, clock.now(), 50);
    auto info = test::append_records(*log, records);
    INFO(info.status().to_string());
    REQUIRE(info.ok());
    written.insert(written.end(), records.begin(), records.end());
  };
  for (int i = 0; i < 10; ++i) append(10);  // batches [0, 9] ... [90, 99]
  // Offset 78 lies in the batch [70, 79]: the log end becomes 70.
  REQUIRE(log->truncate_to(Offset(78)).ok());
  written.resize(70);
  CHECK(log->log_end_offset().value() == 70);
  // Nothing at or past the log end can be known durable.
  CHECK(log->recovery_point().value() <= log->log_end_offset().value());
  append(2);  // [70, 71], acknowledged under the durable policy
  test::power_cut_and_kill(env, log, PowerCutMode::drop_unsynced);
  auto reopened = Log::open(env, kDir, config, clock);
  INFO(reopened.status().to_string());
  REQUIRE(reopened.ok());
  log = std::move(reopened).value();
  CHECK(log->log_end_offset().value() == 72);
  auto records = test::read_all(*log, Offset(0));
  INFO(records.status().to_string());
  REQUIRE(records.ok());
  CHECK(test::first_difference(written, *records) == "");
}

TEST_CASE("Random faults during random operations never lose acknowledged data",
          "[log][durability][faults]") {
  const int seeds = 300 * test::test_scale();
  constexpr FaultOp kOps[] = {FaultOp::write, FaultOp::sync, FaultOp::sync_dir, FaultOp::rename};
  constexpr std::string_view kOpNames[] = {"write", "sync", "sync_dir", "rename"};
  for (int s = 1; s <= seeds; ++s) {
    const auto seed = static_cast<std::uint64_t>(s);
    if (!test::seed_selected(seed)) continue;
    Harness h(seed, test::mix64(seed + 5000));
    INFO("seed " << seed);
    h.open();
    h.run_ops(h.rng().uniform_int(0, 20));
    const auto pick = h.rng().uniform(0, 4);
    const auto n = h.rng().uniform(1, 12);
    const int err = h.rng().percent(50) ? ENOSPC : EIO;
    const bool fsync_fault = pick == 1 || pick == 2;
    if (pick < 4) {
      h.trace(fmt::format("(fail {} #{} errno {})", kOpNames[pick], n, err));
      h.env().fail_nth(kOps[pick], n, err);
    } else {
      h.trace(fmt::format("(short write #{} errno {})", n, err));
      h.env().short_write_nth(n, std::nullopt, err);
    }
    Status failed;
    bool failed_append = false;
    for (int i = 0; i < 60 && failed.ok(); ++i) {
      const int op = h.rng().uniform_int(0, 99);
      if (op < 80) {
        failed = h.append_random().status();
        failed_append = !failed.ok();
      } else if (op < 90) {
        failed = h.truncate_random();
      } else {
        failed = h.flush();
      }
    }
    h.env().clear_faults();
    if (!failed.ok()) {
      INFO(h.context());
      INFO(failed.to_string());
      CHECK(failed.message().find(kDir) != std::string::npos);
      if (fsync_fault) CHECK_FALSE(h.log().failure().ok());
      // Nothing of an append whose write failed is published.
      if (failed_append && !fsync_fault) {
        CHECK(h.log().log_end_offset().value() == h.model().log_end.value());
      }
      h.expect_acked_and_known_tail(/*absorb=*/false);
      h.expect_stopped_or_working();
    }
    if (h.rng().percent(70)) {
      h.crash_and_recover(kModes[h.rng().uniform(0, 2)]);
    } else {
      h.reopen_without_power_cut();
    }
    auto info = h.append_random();
    INFO(h.context());
    INFO(info.status().to_string());
    REQUIRE(info.ok());
    h.close_and_reopen();
  }
  print_tally("Random faults during random operations never lose acknowledged data");
}

}  // namespace samsa
