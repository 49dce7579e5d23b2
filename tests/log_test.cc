// Log: appends, reads, rolls, timestamps, truncation, retention, locking, fail-stop,
// tailing and group commit. One named test per behaviour.
#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <thread>

#include "counting_env.h"
#include "log_fixture.h"
#include "samsa/faulty_env.h"
#include "samsa/log.h"
#include "samsa/segment.h"
#include "test_util.h"

using namespace samsa;

namespace {

using Fixture = test::LogFixture;

// What a test needs of a batch it read; values, since the bytes are gone after the call.
struct BatchSummary {
  Offset base;
  Offset last;
  std::size_t size = 0;
  Offset base_offset() const { return base; }
  Offset last_offset() const { return last; }
  std::size_t size_bytes() const { return size; }
};

std::vector<BatchSummary> batches_of(const std::vector<std::byte>& bytes) {
  std::vector<BatchSummary> out;
  for (std::size_t at = 0; at < bytes.size();) {
    auto view = RecordBatchView::validate(ByteSpan(bytes).subspan(at), {}, at);
    REQUIRE(view.ok());
    out.push_back({view->base_offset(), view->last_offset(), view->size_bytes()});
    at += view->size_bytes();
  }
  return out;
}

}  // namespace

TEST_CASE("Appends get consecutive offsets from zero", "[log]") {
  Fixture f;
  CHECK(f.log->log_end_offset() == Offset(0));
  const auto a = f.append(3);
  const auto b = f.append(2);
  CHECK(a.first_offset == Offset(0));
  CHECK(a.last_offset == Offset(2));
  CHECK(b.first_offset == Offset(3));
  CHECK(b.last_offset == Offset(4));
  CHECK(b.position == Position(a.bytes));
  CHECK(f.log->log_end_offset() == Offset(5));
  CHECK(f.log->recovery_point() == Offset(5));  // durable by default
}

TEST_CASE("Append rewrites only base offset and leader epoch of a client's batch", "[log]") {
  Fixture f;
  f.append(10);
  RecordBatchBuilder builder;
  REQUIRE(builder.append(Timestamp(5), as_bytes("k"), as_bytes("v")).ok());
  const auto original = test::to_vector(builder.build().value());
  auto sent = original;
  auto info = f.log->append(sent, {.leader_epoch = LeaderEpoch(7)});
  REQUIRE(info.ok());
  CHECK(info->first_offset == Offset(10));
  const auto stored = f.read_bytes(Offset(10));
  REQUIRE(stored.size() == original.size());
  for (std::size_t i = 0; i < stored.size(); ++i) {
    if (i < 8 || (i >= 12 && i < 16)) continue;  // base offset, leader epoch
    INFO("byte " << i);
    CHECK(stored[i] == original[i]);
  }
  const auto view = RecordBatchView::validate(stored).value();
  CHECK(view.base_offset() == Offset(10));
  CHECK(view.partition_leader_epoch() == LeaderEpoch(7));
}

TEST_CASE("Append refuses a corrupt or oversized batch and stores nothing", "[log]") {
  Fixture f(LogConfig{.max_batch_bytes = 2000});
  RecordBatchBuilder builder;
  REQUIRE(builder.append(Timestamp(5), as_bytes("k"), as_bytes("v")).ok());
  auto bytes = test::to_vector(builder.build().value());
  bytes.back() ^= std::byte{1};
  auto bad = f.log->append(bytes);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().code() == StatusCode::corruption);
  RecordBatchBuilder big;
  REQUIRE(big.append(Timestamp(5), {}, as_bytes(std::string(3000, 'x'))).ok());
  auto too_big = f.log->append(big.build().value());
  REQUIRE_FALSE(too_big.ok());
  CHECK(too_big.status().code() == StatusCode::record_too_large);
  CHECK_THAT(too_big.status().message(), Catch::Contains("max_batch_bytes 2000"));
  CHECK(f.log->log_end_offset() == Offset(0));
  CHECK(f.log->size_bytes() == 0);
}

TEST_CASE("Several batches in one append are numbered in order", "[log]") {
  Fixture f;
  std::vector<std::byte> request;
  for (int b = 0; b < 3; ++b) {
    RecordBatchBuilder builder;
    for (int i = 0; i <= b; ++i) REQUIRE(builder.append(Timestamp(i), {}, as_bytes("v")).ok());
    const auto bytes = builder.build().value();
    request.insert(request.end(), bytes.begin(), bytes.end());
  }
  auto info = f.log->append(request);
  REQUIRE(info.ok());
  CHECK(info->batches == 3);
  CHECK(info->records == 6);
  CHECK(info->last_offset == Offset(5));
  const auto batches = batches_of(f.read_bytes(Offset(0)));
  REQUIRE(batches.size() == 3);
  CHECK(batches[1].base_offset() == Offset(1));
  CHECK(batches[2].base_offset() == Offset(3));
}

TEST_CASE("A read starts at the batch holding the offset", "[log]") {
  Fixture f;
  f.append(5);
  f.append(5);
  const auto batches = batches_of(f.read_bytes(Offset(7)));
  REQUIRE_FALSE(batches.empty());
  CHECK(batches[0].base_offset() == Offset(5));
}

TEST_CASE("A read returns one whole batch even past max_bytes (KIP-74)", "[log]") {
  Fixture f;
  const auto big = f.append(50, 100);
  f.append(1);
  const auto batches = batches_of(f.read_bytes(Offset(0), {.max_bytes = 10}));
  REQUIRE(batches.size() == 1);
  CHECK(batches[0].size_bytes() == big.bytes);
  auto strict = f.log->read(Offset(0), {.max_bytes = 10, .min_one_batch = false});
  REQUIRE(strict.ok());
  CHECK(strict->empty());
}

TEST_CASE("A read stops at a batch boundary within max_bytes", "[log]") {
  Fixture f;
  const auto a = f.append(3);
  f.append(3);
  f.append(3);
  const auto batches = batches_of(f.read_bytes(Offset(0), {.max_bytes = a.bytes * 2 + 5}));
  CHECK(batches.size() == 2);
}

TEST_CASE("Reads at the end are empty and outside the log are out of range", "[log]") {
  Fixture f;
  f.append(3);
  auto end = f.log->read(Offset(3));
  REQUIRE(end.ok());
  CHECK(end->empty());
  auto past = f.log->read(Offset(4));
  CHECK(past.status().code() == StatusCode::out_of_range);
  CHECK_THAT(past.status().message(), Catch::Contains("offset 4"));
  REQUIRE(f.log->delete_records_before(Offset(2)).ok());
  CHECK(f.log->read(Offset(1)).status().code() == StatusCode::out_of_range);
}

TEST_CASE("max_offset bounds a read (a high watermark)", "[log]") {
  Fixture f;
  f.append(3);
  f.append(3);
  const auto batches = batches_of(f.read_bytes(Offset(0), {.max_offset = Offset(4)}));
  REQUIRE(batches.size() == 1);
  CHECK(batches[0].last_offset() == Offset(2));
  CHECK(f.read_bytes(Offset(3), {.max_offset = Offset(4)}).empty());
}

TEST_CASE("Segments roll on size and reads cross them", "[log]") {
  Fixture f(LogConfig{.segment_bytes = 1000});
  for (int i = 0; i < 20; ++i) f.append(2, 100);
  const auto segments = f.log->segments();
  CHECK(segments.size() > 5);
  for (std::size_t i = 1; i < segments.size(); ++i) {
    CHECK(segments[i].base_offset == segments[i - 1].next_offset);
    CHECK(segments[i - 1].size_bytes <= 1000);
  }
  // Every batch can be read from every offset.
  for (std::int64_t o = 0; o < 40; ++o) {
    const auto batches = batches_of(f.read_bytes(Offset(o)));
    REQUIRE_FALSE(batches.empty());
    CHECK(batches[0].base_offset() == Offset(o - o % 2));
  }
}

TEST_CASE("Segments roll on segment_ms, from the first batch's timestamp", "[log]") {
  Fixture f(LogConfig{.segment_ms = 60'000});
  f.append(1);
  f.clock.advance_ms(30'000);
  f.append(1);
  CHECK(f.log->segments().size() == 1);
  f.clock.advance_ms(40'000);
  f.append(1);
  CHECK(f.log->segments().size() == 2);
  CHECK(f.log->segments()[1].base_offset == Offset(2));
}

TEST_CASE("Segments roll when the index is full", "[log]") {
  Fixture f(LogConfig{.index_interval_bytes = 1, .segment_index_bytes = 24});  // 3 entries
  for (int i = 0; i < 10; ++i) f.append(1);
  CHECK(f.log->segments().size() >= 2);
}

TEST_CASE("offset_for_timestamp follows Kafka's ListOffsets", "[log]") {
  Fixture f;
  f.append(3, 10, Timestamp(1000));  // offsets 0..2 at 1000..1002
  f.append(3, 10, Timestamp(2000));  // offsets 3..5 at 2000..2002
  auto at = [&](std::int64_t ts) { return f.log->offset_for_timestamp(Timestamp(ts)).value(); };
  CHECK(at(kEarliestTimestamp.value())->offset == Offset(0));
  CHECK(at(kLatestTimestamp.value())->offset == Offset(6));
  CHECK(at(0)->offset == Offset(0));
  CHECK(at(1001)->offset == Offset(1));
  CHECK(at(1500)->offset == Offset(3));
  CHECK(at(1500)->timestamp == Timestamp(2000));
  CHECK_FALSE(at(3000).has_value());
}

TEST_CASE("truncate_to drops a suffix across segments and appends continue", "[log]") {
  Fixture f(LogConfig{.segment_bytes = 500});
  for (int i = 0; i < 20; ++i) f.append(2, 50);
  REQUIRE(f.log->segments().size() > 3);
  REQUIRE(f.log->truncate_to(Offset(11)).ok());  // inside the batch 10..11
  CHECK(f.log->log_end_offset() == Offset(10));
  CHECK(f.log->segments().back().next_offset == Offset(10));
  const auto next = f.append(1);
  CHECK(next.first_offset == Offset(10));
  f.reopen();
  CHECK(f.log->log_end_offset() == Offset(11));
}

TEST_CASE("truncate_to at or below the start empties the log and restarts there", "[log]") {
  Fixture f;
  f.append(5);
  REQUIRE(f.log->truncate_to(Offset(0)).ok());
  CHECK(f.log->log_end_offset() == Offset(0));
  CHECK(f.log->size_bytes() == 0);
  CHECK(f.append(1).first_offset == Offset(0));
}

TEST_CASE("delete_records_before advances the start; retention then deletes segments", "[log]") {
  Fixture f(LogConfig{.segment_bytes = 500, .file_delete_delay_ms = 1000});
  for (int i = 0; i < 20; ++i) f.append(2, 50);
  const auto before = f.log->segments().size();
  REQUIRE(f.log->delete_records_before(Offset(17)).ok());
  CHECK(f.log->log_start_offset() == Offset(17));
  CHECK(f.log->delete_records_before(Offset(99)).code() == StatusCode::out_of_range);
  auto report = f.log->apply_retention();
  REQUIRE(report.ok());
  CHECK(report->segments_deleted > 0);
  CHECK(f.log->segments().size() == before - static_cast<std::size_t>(report->segments_deleted));
  CHECK(f.log->segments().front().base_offset <= Offset(17));
  CHECK(f.log->log_start_offset() == Offset(17));
  // Renamed .deleted now, removed once file_delete_delay_ms has passed.
  auto names = f.env.list_dir("/data/orders-3").value();
  CHECK(std::count_if(names.begin(), names.end(), [](auto& n) { return n.ends_with(".deleted"); }) >
        0);
  f.clock.advance_ms(1001);
  REQUIRE(f.log->apply_retention().ok());
  names = f.env.list_dir("/data/orders-3").value();
  CHECK(std::count_if(names.begin(), names.end(),
                      [](auto& n) { return n.ends_with(".deleted"); }) == 0);
  CHECK(f.read_bytes(Offset(17)).size() > 0);
}

TEST_CASE("retention_bytes deletes the oldest whole segments", "[log]") {
  Fixture f(LogConfig{.segment_bytes = 500, .retention_bytes = 1500});
  for (int i = 0; i < 30; ++i) f.append(2, 50);
  REQUIRE(f.log->apply_retention().ok());
  CHECK(f.log->size_bytes() <= 1500 + 500);
  CHECK(f.log->size_bytes() > 1000);
  CHECK(f.log->log_start_offset() == f.log->segments().front().base_offset);
}

TEST_CASE("retention_ms deletes segments whose newest record is old enough", "[log]") {
  Fixture f(LogConfig{.segment_bytes = 500, .retention_ms = 10'000});
  for (int i = 0; i < 10; ++i) f.append(2, 50);
  f.clock.advance_ms(20'000);
  for (int i = 0; i < 10; ++i) f.append(2, 50);
  auto report = f.log->apply_retention();
  REQUIRE(report.ok());
  CHECK(report->segments_deleted >= 2);
  CHECK(f.log->log_start_offset() > Offset(0));
  CHECK(f.log->log_start_offset() <= Offset(20));
}

namespace {
// Bytes of one append(2, 50) batch, so that a test can size segments in whole batches.
std::uint64_t two_record_batch_bytes() {
  return Fixture().append(2, 50).bytes;
}
}  // namespace

TEST_CASE("retention_bytes keeps the newest segments that together reach it", "[log]") {
  const std::uint64_t batch = two_record_batch_bytes();
  // 3 batches (6 offsets) a segment; 24 batches: 8 full segments, the 8th the active one.
  Fixture f(LogConfig{.segment_bytes = 3 * batch,
                      .retention_bytes = static_cast<std::int64_t>(6 * batch)});
  for (int i = 0; i < 24; ++i) f.append(2, 50);
  REQUIRE(f.log->segments().size() == 8);
  auto report = f.log->apply_retention();
  REQUIRE(report.ok());
  // Kafka's rule: a segment goes while what is left still holds retention_bytes; two
  // segments hold exactly that.
  CHECK(report->segments_deleted == 6);
  CHECK(report->bytes_deleted == 18 * batch);
  CHECK(f.log->log_start_offset() == Offset(36));
  CHECK(f.log->size_bytes() == 6 * batch);
  CHECK(f.read_bytes(Offset(46)).size() == batch);
  // One byte more than two segments: three stay.
  f.config.retention_bytes += 1;
  f.reopen();
  for (int i = 0; i < 6; ++i) f.append(2, 50);
  report = f.log->apply_retention();
  REQUIRE(report.ok());
  CHECK(report->segments_deleted == 1);
  CHECK(f.log->log_start_offset() == Offset(42));
  CHECK(f.log->size_bytes() == 9 * batch);
}

// The server's MaintenanceAppliesRetention (issue 19) failed on tmpfs because its batches
// carried timestamps years old: time, not size, decided, and a maintenance pass after the
// last produce took every segment up to the high watermark, the active one too. That is
// Kafka's rule (deletableSegments, and a roll when all go); this pins it.
TEST_CASE(
    "retention_ms expires old create times that retention_bytes would keep, the active "
    "segment too, below the upper bound",
    "[log]") {
  const std::uint64_t batch = two_record_batch_bytes();
  Fixture f(LogConfig{.segment_bytes = 3 * batch,
                      .retention_bytes = static_cast<std::int64_t>(6 * batch + 1)});
  REQUIRE(f.config.retention_ms == 7LL * 24 * 3600 * 1000);  // the default
  const Timestamp years_ago = f.clock.now() + -3LL * 365 * 24 * 3600 * 1000;
  for (int i = 0; i < 24; ++i) f.append(2, 50, years_ago);
  REQUIRE(f.log->segments().size() == 8);
  // Below an upper bound inside the active segment, the active segment stays.
  auto bounded = f.log->apply_retention(Offset(45));
  REQUIRE(bounded.ok());
  CHECK(bounded->segments_deleted == 7);
  CHECK(f.log->log_start_offset() == Offset(42));
  CHECK(f.read_bytes(Offset(46)).size() == batch);
  // At the log end it goes as well: the log rolls first and keeps one empty segment.
  auto all = f.log->apply_retention(Offset(48));
  REQUIRE(all.ok());
  CHECK(all->segments_deleted == 1);
  CHECK(f.log->log_start_offset() == Offset(48));
  CHECK(f.log->log_end_offset() == Offset(48));
  REQUIRE(f.log->segments().size() == 1);
  CHECK(f.log->segments().front().base_offset == Offset(48));
  CHECK(f.log->segments().front().size_bytes == 0);
  CHECK(f.log->read(Offset(46)).status().code() == StatusCode::out_of_range);
  CHECK(f.append(2, 50).first_offset == Offset(48));
}

TEST_CASE("retention never deletes past the upper bound (high watermark)", "[log]") {
  Fixture f(LogConfig{.segment_bytes = 500});
  for (int i = 0; i < 20; ++i) f.append(2, 50);
  REQUIRE(f.log->delete_records_before(Offset(30)).ok());
  REQUIRE(f.log->apply_retention(Offset(2)).ok());
  CHECK(f.log->segments().front().base_offset == Offset(0));
}

TEST_CASE("A second open of the same directory fails with busy", "[log]") {
  Fixture f;
  auto second = Log::open(f.env, "/data/orders-3", f.config, f.clock);
  REQUIRE_FALSE(second.ok());
  CHECK(second.status().code() == StatusCode::busy);
  CHECK_THAT(second.status().message(), Catch::Contains("/data/orders-3"));
}

TEST_CASE("After an fsync error the log refuses writes until reopened", "[log]") {
  Fixture f;
  f.append(2);
  f.env.fail_nth(FaultOp::sync, 1, EIO);
  RecordBatchBuilder builder;
  REQUIRE(builder.append(Timestamp(1), {}, as_bytes("v")).ok());
  auto failed = f.log->append(builder);
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.status().code() == StatusCode::io_error);
  CHECK_FALSE(f.log->failure().ok());
  RecordBatchBuilder again;
  REQUIRE(again.append(Timestamp(1), {}, as_bytes("v")).ok());
  auto refused = f.log->append(again);
  CHECK(refused.status().code() == StatusCode::failed_precondition);
  CHECK_THAT(refused.status().message(), Catch::Contains("reopen"));
  f.env.power_cut(PowerCutMode::drop_unsynced);
  f.reopen();
  CHECK(f.log->log_end_offset() == Offset(2));
  CHECK(f.append(1).first_offset == Offset(2));
}

// The recovery point drops before the log end moves: a truncation that stops midway (its
// directory fsync failed) left it above the log end, at the offset asked for, while the
// log ended at the start of the batch holding that offset.
TEST_CASE("A truncation that fails midway leaves the recovery point at or below the log end",
          "[log]") {
  Fixture f;
  f.append(3);  // [0, 3)
  f.append(1);  // [3, 4)
  REQUIRE(f.log->recovery_point() == Offset(4));
  f.env.fail_nth(FaultOp::sync_dir, 1, EIO);
  const Status cut = f.log->truncate_to(Offset(2));  // inside [0, 3): the log ends at 0
  CHECK(cut.code() == StatusCode::io_error);
  CHECK(f.log->log_end_offset() == Offset(0));
  CHECK(f.log->recovery_point() <= f.log->log_end_offset());
  CHECK_FALSE(f.log->failure().ok());
}

TEST_CASE("A tailing reader wakes when data arrives, or times out", "[log]") {
  Fixture f;
  CHECK_FALSE(f.log->wait_for_data(Offset(0), std::chrono::milliseconds(10)));
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    RecordBatchBuilder builder;
    (void)builder.append(Timestamp(1), {}, as_bytes("v"));
    (void)f.log->append(builder);
  });
  CHECK(f.log->wait_for_data(Offset(0), std::chrono::seconds(10)));
  writer.join();
  CHECK(f.log->log_end_offset() == Offset(1));
}

TEST_CASE("Concurrent readers see only whole batches while one thread appends", "[log]") {
  Fixture f(LogConfig{.segment_bytes = 4000});
  std::atomic<bool> done{false};
  std::atomic<long> batches_read{0};
  std::vector<std::thread> readers;
  std::atomic<int> errors{0};
  std::atomic<int> started{0};
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&] {
      ++started;
      while (!done.load()) {
        const Offset end = f.log->log_end_offset();
        for (Offset o(0); o < end; o = o + 7) {
          auto slice = f.log->read(o, {.max_bytes = 3000});
          if (!slice.ok()) {
            ++errors;
            continue;
          }
          std::vector<std::byte> bytes;
          if (!slice->read_into(bytes).ok()) {
            ++errors;
            continue;
          }
          for (std::size_t at = 0; at < bytes.size();) {
            auto view = RecordBatchView::validate(ByteSpan(bytes).subspan(at));
            if (!view.ok()) {
              ++errors;
              break;
            }
            ++batches_read;
            at += view->size_bytes();
          }
        }
      }
    });
  }
  // Appends start once both readers run, and the readers stop only after reading something.
  while (started.load() < 2) std::this_thread::yield();
  for (int i = 0; i < 300; ++i) f.append(3, 40);
  while (batches_read.load() == 0 && errors.load() == 0) std::this_thread::yield();
  done = true;
  for (auto& t : readers) t.join();
  CHECK(errors.load() == 0);
  CHECK(batches_read.load() > 0);
}

TEST_CASE("Concurrent durable appenders share fdatasyncs (group commit)", "[log]") {
  FaultyEnv memory(3);
  // Each fdatasync takes 2 ms, as on a real disk: appenders arriving meanwhile must queue
  // behind it and be covered by the next one, not each pay for their own.
  test::CountingEnv env(memory, std::chrono::milliseconds(2));
  auto log = Log::open(env, "/gc-0", LogConfig{}).value();
  constexpr int kThreads = 8;
  constexpr int kAppends = 25;
  const auto syncs_before = env.syncs();
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kAppends; ++i) {
        RecordBatchBuilder builder;
        (void)builder.append(Timestamp(i), as_bytes(fmt::format("t{}", t)), as_bytes("v"));
        if (!log->append(builder).ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  const auto syncs = env.syncs() - syncs_before;
  INFO(syncs << " fdatasyncs for " << kThreads * kAppends << " durable appends");
  CHECK(failures.load() == 0);
  CHECK(log->log_end_offset() == Offset(kThreads * kAppends));
  CHECK(log->recovery_point() == Offset(kThreads * kAppends));
  // With no sharing there would be one per append; 8 appenders behind a 2 ms fdatasync share
  // most of them (about 4 appends a sync here), even on a loaded machine.
  CHECK(syncs < kThreads * kAppends * 3 / 4);
  CHECK(syncs >= kAppends);  // at most 8 appends per sync: one per thread
}

TEST_CASE("Checkpoints use Kafka's text format and the directory's topic-partition", "[log]") {
  Fixture f;
  f.append(4);
  REQUIRE(f.log->close().ok());
  const auto text =
      test::to_string(read_file(f.env, "/data/orders-3/recovery-point-offset-checkpoint").value());
  CHECK(text == "0\n1\norders 3 4\n");
  const auto start =
      test::to_string(read_file(f.env, "/data/orders-3/log-start-offset-checkpoint").value());
  CHECK(start == "0\n1\norders 3 0\n");
  CHECK(f.env.exists("/data/orders-3/.kafka_cleanshutdown").value());
}

TEST_CASE("Partition directory names parse as <topic>-<N>, nothing else", "[log]") {
  CHECK(parse_partition_dir_name("orders-3") == TopicPartition{"orders", 3});
  CHECK(parse_partition_dir_name("my-topic-12") == TopicPartition{"my-topic", 12});
  CHECK(parse_partition_dir_name("t-2147483647") == TopicPartition{"t", 2147483647});
  CHECK(parse_partition_dir_name("orders--3") == TopicPartition{"orders-", 3});  // the last '-'
  for (const char* bad :
       {"orders", "orders-", "-3", "orders-+3", "orders-3a", "orders-2147483648", ""}) {
    INFO(bad);
    CHECK_FALSE(parse_partition_dir_name(bad).has_value());
  }
}
