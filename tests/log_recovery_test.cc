// Log recovery boundaries: clean shutdown, recovery point, torn tails, corruption before the
// recovery point, missing indexes, leftover files. One named test per boundary.
#include <catch2/catch.hpp>

#include "samsa/faulty_env.h"
#include "samsa/log.h"
#include "samsa/segment.h"
#include "test_util.h"

using namespace samsa;

namespace {

constexpr const char* kDir = "/logs/t-0";

struct Fixture {
  FaultyEnv env{11};
  ManualClock clock;
  LogConfig config{.segment_bytes = 600};
  std::unique_ptr<Log> log;

  Result<std::unique_ptr<Log>> open(LogOpenOptions options = {}) {
    return Log::open(env, kDir, config, clock, options);
  }
  void reopen(LogOpenOptions options = {}) {
    log.reset();
    auto opened = open(options);
    INFO(opened.status().to_string());
    REQUIRE(opened.ok());
    log = std::move(opened).value();
  }
  void append_batches(int n) {
    for (int i = 0; i < n; ++i) {
      RecordBatchBuilder builder;
      for (int r = 0; r < 2; ++r) {
        REQUIRE(builder
                    .append(clock.now(), as_bytes("key"),
                            as_bytes(std::string(60, static_cast<char>('a' + r))))
                    .ok());
      }
      REQUIRE(log->append(builder).ok());
    }
  }
  std::string path(Offset base, std::string_view suffix) {
    return join_path(kDir, segment_file_prefix(base) + std::string(suffix));
  }
  void flip_byte(const std::string& path, std::uint64_t at) {
    auto file = env.open(path, {}).value();
    std::byte b[1];
    REQUIRE(file->read_at(at, b).value() == 1);
    b[0] ^= std::byte{0x01};
    REQUIRE(file->write_at(at, b).ok());
    REQUIRE(file->sync().ok());
  }
  // Drops the clean-shutdown marker, as if the process had died after its last flush.
  void forget_clean_shutdown() {
    REQUIRE(env.remove(join_path(kDir, ".kafka_cleanshutdown")).ok());
    REQUIRE(env.sync_dir(kDir).ok());
  }
};

}  // namespace

TEST_CASE("CleanShutdownSkipsTheRescan", "[log][recovery]") {
  Fixture f;
  f.reopen();
  f.append_batches(20);
  REQUIRE(f.log->close().ok());
  f.reopen();
  CHECK(f.log->recovery_report().clean_shutdown);
  CHECK(f.log->recovery_report().segments_rescanned == 0);
  CHECK(f.log->log_end_offset() == Offset(40));
  // The marker is gone as soon as the log is open: a crash now is not a clean shutdown.
  CHECK_FALSE(f.env.exists(join_path(kDir, ".kafka_cleanshutdown")).value());
}

TEST_CASE("UncleanShutdownRescansOnlyFromTheRecoveryPointSegment", "[log][recovery]") {
  Fixture f;
  f.reopen();
  f.append_batches(20);
  const auto segments = f.log->segments().size();
  REQUIRE(segments > 3);
  REQUIRE(f.log->flush().ok());
  f.env.power_cut(PowerCutMode::drop_unsynced);
  f.reopen();
  const auto& report = f.log->recovery_report();
  CHECK_FALSE(report.clean_shutdown);
  CHECK(report.segments_rescanned == 1);
  CHECK(report.bytes_truncated == 0);
  CHECK(f.log->log_end_offset() == Offset(40));
}

TEST_CASE("TornTailAfterTheRecoveryPointIsCut", "[log][recovery]") {
  Fixture f;
  f.config.flush_policy = FlushPolicy::manual_may_lose_unflushed;
  f.config.segment_bytes = 1 << 20;
  f.reopen();
  f.append_batches(3);
  REQUIRE(f.log->flush().ok());
  f.append_batches(3);  // never synced
  f.env.power_cut(PowerCutMode::tear_last_write);
  f.reopen();
  const auto& report = f.log->recovery_report();
  CHECK(report.bytes_truncated > 0);
  CHECK(f.log->log_end_offset() >= Offset(6));
  CHECK(f.log->log_end_offset() < Offset(12));
  REQUIRE_FALSE(report.notes.empty());
  CHECK_THAT(report.notes[0], Catch::Contains(segment_file_prefix(Offset(0)) + ".log"));
}

TEST_CASE("CorruptionBeforeTheRecoveryPointIsReportedAndNothingIsCut", "[log][recovery]") {
  Fixture f;
  f.reopen();
  f.append_batches(20);
  REQUIRE(f.log->close().ok());
  f.log.reset();
  f.forget_clean_shutdown();
  // The last segment holds the recovery point and is rescanned: corrupt its first batch.
  const Offset last_base = [&] {
    auto names = f.env.list_dir(kDir).value();
    Offset b(0);
    for (auto& n : names)
      if (auto o = parse_segment_file_name(n, ".log")) b = std::max(b, *o);
    return b;
  }();
  const auto size_before = f.env.file_size(f.path(last_base, ".log")).value();
  f.flip_byte(f.path(last_base, ".log"), 70);
  auto failed = f.open();
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.status().code() == StatusCode::corruption);
  CHECK_THAT(failed.status().message(), Catch::Contains(segment_file_prefix(last_base) + ".log"));
  CHECK_THAT(failed.status().message(), Catch::Contains("position 0"));
  CHECK(f.env.file_size(f.path(last_base, ".log")).value() == size_before);

  SECTION("truncate_corruption cuts there instead") {
    f.reopen({.truncate_corruption = true});
    CHECK(f.log->log_end_offset() == last_base);
    CHECK(f.log->recovery_report().bytes_truncated == size_before);
  }
}

TEST_CASE("rescan_all finds corruption in a segment the recovery point vouches for",
          "[log][recovery]") {
  Fixture f;
  f.reopen();
  f.append_batches(20);
  REQUIRE(f.log->close().ok());
  f.log.reset();
  f.flip_byte(f.path(Offset(0), ".log"), 200);
  // A clean shutdown: the default open trusts the flushed segments.
  f.reopen();
  CHECK(f.log->recovery_report().segments_rescanned == 0);
  REQUIRE(f.log->close().ok());
  f.log.reset();
  auto strict = f.open({.rescan_all = true});
  REQUIRE_FALSE(strict.ok());
  CHECK(strict.status().code() == StatusCode::corruption);
  CHECK_THAT(strict.status().message(), Catch::Contains(segment_file_prefix(Offset(0)) + ".log"));
}

TEST_CASE("CutSegmentDropsEveryLaterSegment", "[log][recovery]") {
  Fixture f;
  f.reopen();
  f.append_batches(20);
  const auto segments = f.log->segments();
  REQUIRE(segments.size() > 3);
  REQUIRE(f.log->close().ok());
  f.log.reset();
  f.flip_byte(f.path(segments[1].base_offset, ".log"), 30);
  f.reopen({.truncate_corruption = true, .rescan_all = true});
  CHECK(f.log->log_end_offset() == segments[1].base_offset);
  CHECK(f.log->segments().size() == 2);
  CHECK(f.log->recovery_report().segments_removed ==
        static_cast<std::int64_t>(segments.size()) - 2);
}

TEST_CASE("MissingIndexIsRebuilt", "[log][recovery]") {
  Fixture f;
  f.config.index_interval_bytes = 100;
  f.reopen();
  f.append_batches(20);
  REQUIRE(f.log->close().ok());
  f.log.reset();
  REQUIRE(f.env.remove(f.path(Offset(0), ".index")).ok());
  f.reopen();
  CHECK(f.log->recovery_report().indexes_rebuilt == 1);
  CHECK(f.env.file_size(f.path(Offset(0), ".index")).value() > 0);
  auto slice = f.log->read(Offset(3));
  REQUIRE(slice.ok());
  CHECK(slice->first_offset == Offset(2));
}

TEST_CASE("CorruptIndexIsRebuilt", "[log][recovery]") {
  Fixture f;
  f.config.index_interval_bytes = 100;
  f.reopen();
  f.append_batches(20);
  REQUIRE(f.log->close().ok());
  f.log.reset();
  auto index = f.env.open(f.path(Offset(0), ".index"), {}).value();
  const std::vector<std::byte> garbage(8, std::byte{0x7f});
  REQUIRE(index->append(garbage).ok());
  REQUIRE(index->close().ok());
  f.reopen();
  CHECK(f.log->recovery_report().indexes_rebuilt == 1);
  for (std::int64_t o = 0; o < 40; ++o) {
    auto slice = f.log->read(Offset(o));
    REQUIRE(slice.ok());
    CHECK(slice->first_offset == Offset(o - o % 2));
  }
}

TEST_CASE("LeftoverDeletedCleanedAndTmpFilesAreRemoved", "[log][recovery]") {
  Fixture f;
  f.reopen();
  f.append_batches(2);
  REQUIRE(f.log->close().ok());
  f.log.reset();
  for (const char* name :
       {"00000000000000000099.log.deleted", "00000000000000000000.log.cleaned",
        "recovery-point-offset-checkpoint.tmp", "00000000000000000000.index.swap"}) {
    REQUIRE(f.env.open(join_path(kDir, name), {.create = true}).ok());
  }
  f.reopen();
  CHECK(f.log->recovery_report().files_resolved.size() == 4);
  for (const auto& name : f.env.list_dir(kDir).value()) {
    INFO(name);
    CHECK_FALSE(name.ends_with(".deleted"));
    CHECK_FALSE(name.ends_with(".cleaned"));
    CHECK_FALSE(name.ends_with(".tmp"));
    CHECK_FALSE(name.ends_with(".swap"));
  }
  CHECK(f.log->log_end_offset() == Offset(4));
}

TEST_CASE("A .log.swap replaces the segments it covers", "[log][recovery]") {
  Fixture f;
  f.reopen();
  f.append_batches(20);
  const auto segments = f.log->segments();
  REQUIRE(segments.size() >= 3);
  REQUIRE(f.log->close().ok());
  f.log.reset();
  // A cleaned copy of the first two segments: one batch with their last offset.
  BatchOptions options;
  options.base_offset = Offset(0);
  RecordBatchBuilder builder(options);
  REQUIRE(
      builder.append_with_offset_delta(0, Timestamp(1), as_bytes("key"), as_bytes("kept")).ok());
  builder.set_last_offset_delta(static_cast<std::int32_t>(segments[2].base_offset.value() - 1));
  const auto batch = builder.build().value();
  auto swap = f.env.open(f.path(Offset(0), ".log.swap"), {.create = true}).value();
  REQUIRE(swap->append(batch).ok());
  REQUIRE(swap->close().ok());
  f.reopen();
  const auto after = f.log->segments();
  CHECK(after.size() == segments.size() - 1);
  CHECK(after[0].base_offset == Offset(0));
  CHECK(after[0].next_offset == segments[2].base_offset);
  CHECK_FALSE(f.env.exists(f.path(segments[1].base_offset, ".log")).value());
  CHECK(f.log->log_end_offset() == Offset(40));
}

TEST_CASE("A new log starts at zero and a reopened empty log stays empty", "[log][recovery]") {
  Fixture f;
  f.reopen();
  CHECK(f.log->log_end_offset() == Offset(0));
  CHECK(f.log->log_start_offset() == Offset(0));
  f.reopen();
  CHECK(f.log->log_end_offset() == Offset(0));
  CHECK(f.log->segments().size() == 1);
}
