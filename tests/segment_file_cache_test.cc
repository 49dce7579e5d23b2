// The bounded cache of sealed segments' open files (include/samsa/segment_file_cache.h):
// descriptors counted through a counting Env, eviction under readers, retention and
// truncation, and a reopen after an unclean shutdown.
#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <filesystem>

#include "counting_env.h"
#include "log_test_util.h"
#include "samsa/faulty_env.h"
#include "samsa/log.h"
#include "samsa/segment_file_cache.h"
#include "test_util.h"

namespace samsa {
namespace {

constexpr int kSegments = 8;
constexpr std::size_t kCacheMax = 2;

// One batch per segment: segment_bytes 61 rolls before every append but the first.
LogConfig tiny_segments(SegmentFileCache& cache) {
  LogConfig config;
  config.segment_bytes = 61;  // the least allowed: below one batch
  config.segment_index_bytes = 4096;
  config.file_delete_delay_ms = 0;
  config.segment_file_cache = &cache;
  return config;
}

void append_value(Log& log, int i) {
  RecordBatchBuilder builder;
  const std::string value = fmt::format("value-{}", i);
  REQUIRE(builder.append(Timestamp(1000 + i), {}, as_bytes(value)).ok());
  REQUIRE(log.append(builder).ok());
}

std::string value_at(const Log& log, int i) {
  auto slice = log.read(Offset(i));
  REQUIRE(slice.ok());
  std::vector<std::byte> bytes;
  REQUIRE(slice->read_into(bytes).ok());
  auto batch = RecordBatchView::validate(bytes);
  REQUIRE(batch.ok());
  RecordReader reader;
  REQUIRE(reader.reset(*batch).ok());
  Record record;
  auto more = reader.next(record);
  REQUIRE(more.ok());
  REQUIRE(*more);
  REQUIRE(record.value.has_value());
  return std::string(test::to_string(*record.value));
}

std::string fresh_dir(const char* name) {
  const auto dir = std::filesystem::temp_directory_path() / fmt::format("samsa-fdcache-{}", name);
  std::filesystem::remove_all(dir);
  return dir.string();
}

TEST_CASE("SegmentFileCacheBoundsOpenLogFiles", "[segment_file_cache]") {
  test::CountingEnv env(Env::posix(), std::chrono::microseconds(0));
  SegmentFileCache cache(kCacheMax);
  const std::string dir = fresh_dir("bound");
  {
    auto log = Log::open(env, dir, tiny_segments(cache));
    REQUIRE(log.ok());
    for (int i = 0; i < kSegments; ++i) append_value(**log, i);
    REQUIRE((*log)->segments().size() == kSegments);
    // The active segment's .log plus at most kCacheMax sealed ones.
    CHECK(env.open_files_ending(".log") <= 1 + static_cast<std::int64_t>(kCacheMax));
    // Sealed segments hold no index descriptors: only the active segment's two.
    CHECK(env.open_files_ending("index") == 2);
    REQUIRE((*log)->close().ok());
  }
  CHECK(env.open_files() == 0);
  auto log = Log::open(env, dir, tiny_segments(cache));
  REQUIRE(log.ok());
  CHECK(env.open_files_ending(".log") <= 1 + static_cast<std::int64_t>(kCacheMax));
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < kSegments; ++i) {
      CHECK(value_at(**log, i) == fmt::format("value-{}", i));
      CHECK(env.open_files_ending(".log") <= 1 + static_cast<std::int64_t>(kCacheMax));
      CHECK(cache.stats().open_files <= kCacheMax);
    }
  }
  CHECK(cache.stats().evictions > 0);
  CHECK(cache.stats().opens > kCacheMax);
}

TEST_CASE("SegmentEvictedWhileReadStaysReadable", "[segment_file_cache]") {
  test::CountingEnv env(Env::posix(), std::chrono::microseconds(0));
  SegmentFileCache cache(1);
  auto log = Log::open(env, fresh_dir("evicted"), tiny_segments(cache));
  REQUIRE(log.ok());
  for (int i = 0; i < kSegments; ++i) append_value(**log, i);
  auto slice = (*log)->read(Offset(0));
  REQUIRE(slice.ok());
  const std::uint64_t evictions = cache.stats().evictions;
  // Reading every other sealed segment evicts segment 0's file from the one-file cache.
  for (int i = 1; i < kSegments - 1; ++i) CHECK(value_at(**log, i) == fmt::format("value-{}", i));
  CHECK(cache.stats().evictions > evictions);
  std::vector<std::byte> bytes;
  REQUIRE(slice->read_into(bytes).ok());
  auto batch = RecordBatchView::validate(bytes);
  REQUIRE(batch.ok());
  CHECK(batch->base_offset() == Offset(0));
  // Held by the slice and by nobody else: one more .log than the bound.
  CHECK(env.open_files_ending(".log") == 3);
  slice = Status::not_found("dropped");
  CHECK(env.open_files_ending(".log") <= 2);
}

TEST_CASE("RetentionDeletesEvictedSegments", "[segment_file_cache]") {
  test::CountingEnv env(Env::posix(), std::chrono::microseconds(0));
  SegmentFileCache cache(1);
  const std::string dir = fresh_dir("retention");
  LogConfig config = tiny_segments(cache);
  auto log = Log::open(env, dir, config);
  REQUIRE(log.ok());
  for (int i = 0; i < kSegments; ++i) append_value(**log, i);
  REQUIRE((*log)->close().ok());
  config.retention_bytes = 1;  // every sealed segment goes (Kafka rolls the last one too)
  ManualClock clock;
  log = Log::open(env, dir, config, clock);
  REQUIRE(log.ok());
  auto report = (*log)->apply_retention();
  REQUIRE(report.ok());
  INFO("log start " << (*log)->log_start_offset().value() << ", segments "
                    << (*log)->segments().size() << ", end " << (*log)->log_end_offset().value());
  CHECK((*log)->log_start_offset() == Offset(kSegments));
  CHECK((*log)->segments().size() == 1);
  append_value(**log, 100);
  CHECK(value_at(**log, kSegments) == "value-100");
  clock.advance_ms(1);
  REQUIRE((*log)->apply_retention().ok());  // removes the .deleted files (delay 0)
  int logs = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().string().ends_with(".log") || e.path().string().ends_with(".deleted")) ++logs;
  }
  CHECK(logs == 1);
  CHECK(env.open_files_ending(".log") == 1);
}

TEST_CASE("TruncationIntoAnEvictedSegment", "[segment_file_cache]") {
  test::CountingEnv env(Env::posix(), std::chrono::microseconds(0));
  SegmentFileCache cache(1);
  const std::string dir = fresh_dir("truncate");
  auto log = Log::open(env, dir, tiny_segments(cache));
  REQUIRE(log.ok());
  for (int i = 0; i < kSegments; ++i) append_value(**log, i);
  CHECK(value_at(**log, kSegments - 2) == fmt::format("value-{}", kSegments - 2));  // evicts 1
  REQUIRE((*log)->truncate_to(Offset(1)).ok());  // segment 1 (sealed, evicted) goes whole
  CHECK((*log)->log_end_offset() == Offset(1));
  append_value(**log, 100);
  CHECK(value_at(**log, 0) == "value-0");
  CHECK(value_at(**log, 1) == "value-100");
  REQUIRE((*log)->close().ok());
  CHECK(env.open_files() == 0);
  log = Log::open(env, dir, tiny_segments(cache));
  REQUIRE(log.ok());
  CHECK((*log)->log_end_offset() == Offset(2));
  CHECK(value_at(**log, 1) == "value-100");
}

TEST_CASE("ReopenAfterUncleanShutdownWithEvictedSegments", "[segment_file_cache]") {
  FaultyEnv faulty(7);
  SegmentFileCache cache(1);
  const std::string dir = "/data/fdcache";
  std::unique_ptr<Log> log;
  {
    auto opened = Log::open(faulty, dir, tiny_segments(cache));
    REQUIRE(opened.ok());
    log = std::move(*opened);
  }
  for (int i = 0; i < kSegments; ++i) append_value(*log, i);  // durable by default
  test::power_cut_and_kill(faulty, log, PowerCutMode::tear_last_write);
  test::CountingEnv env(faulty, std::chrono::microseconds(0));
  auto reopened = Log::open(env, dir, tiny_segments(cache));
  REQUIRE(reopened.ok());
  CHECK_FALSE((*reopened)->recovery_report().clean_shutdown);
  CHECK((*reopened)->log_end_offset() == Offset(kSegments));
  CHECK(env.open_files_ending(".log") <= 2);
  for (int i = 0; i < kSegments; ++i) CHECK(value_at(**reopened, i) == fmt::format("value-{}", i));
  CHECK(env.open_files_ending(".log") <= 2);
}

}  // namespace
}  // namespace samsa
