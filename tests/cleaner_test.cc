// The Cleaner: one named test per boundary of Kafka's compaction rules (the model test of
// random workloads and the crash tests are in cleaner_crash_test.cc).
#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <algorithm>

#include "cleaner_test_util.h"
#include "compaction.h"
#include "samsa/cleaner.h"

namespace samsa {
namespace {

using test::CompactedLog;
using test::KV;
using test::LogRecord;

std::string v(int i) {
  return fmt::format("value-{}", i);
}

void require_ok(const Status& s) {
  INFO(s.to_string());
  REQUIRE(s.ok());
}

std::vector<LogRecord> records_of(CompactedLog& t) {
  auto records = t.records();
  INFO(records.status().to_string());
  REQUIRE(records.ok());
  return *records;
}

CleanResult clean_ok(CompactedLog& t, std::optional<Offset> upper_bound = std::nullopt) {
  auto result = t.clean(upper_bound);
  INFO(result.status().to_string());
  REQUIRE(result.ok());
  return *result;
}

std::vector<std::vector<std::byte>> raw_batches(CompactedLog& t) {
  auto raw = t.raw_batches();
  INFO(raw.status().to_string());
  REQUIRE(raw.ok());
  return *raw;
}

RecordBatchView view_of(const std::vector<std::byte>& bytes) {
  return RecordBatchView::parse(bytes).value();
}

// The records of `key` in `records`.
std::vector<LogRecord> of_key(const std::vector<LogRecord>& records, std::string_view key) {
  std::vector<LogRecord> out;
  for (const LogRecord& r : records) {
    if (r.key && *r.key == key) out.push_back(r);
  }
  return out;
}

// Five keys written `rounds` times, one record per batch; the last round's values win.
void write_rounds(CompactedLog& t, int rounds) {
  for (int round = 0; round < rounds; ++round) {
    for (int k = 0; k < 5; ++k) {
      require_ok(t.append({{fmt::format("key{}", k), v(round * 10 + k)}}).status());
    }
  }
}

TEST_CASE("Cleaning keeps only the latest record of each key", "[cleaner]") {
  CompactedLog t;
  require_ok(t.open());
  write_rounds(t, 10);
  require_ok(t.roll());
  const auto before = records_of(t);
  const CleanResult result = clean_ok(t);
  CHECK(result.cleaned);
  CHECK_FALSE(result.abandoned);
  CHECK(result.range.first_dirty_offset == Offset(0));
  CHECK(result.cleaned_up_to == result.range.first_uncleanable_offset);
  CHECK(result.stats.records_read == 50);
  CHECK(result.stats.records_kept == 5);
  CHECK(result.stats.records_removed == 45);
  CHECK(result.stats.map_entries == 5);
  CHECK(result.stats.segments_cleaned >= 2);
  const auto after = records_of(t);
  CHECK(test::latest_per_key(after) == test::latest_per_key(before));
  for (int k = 0; k < 5; ++k) {
    const auto kept = of_key(after, fmt::format("key{}", k));
    REQUIRE(kept.size() == 1);
    CHECK(kept[0].value == v(90 + k));
    CHECK(kept[0].offset == Offset(45 + k));  // offsets never change
  }
  // A clean log is not cleaned again by run_once: its dirty ratio is 0.
  auto range = t.cleaner().cleanable_range(t.log());
  REQUIRE(range.ok());
  CHECK(range->cleanable_bytes == 0);
  CHECK_FALSE(range->needs_cleaning);
}

TEST_CASE("Records without a key are dropped from a compacted log", "[cleaner]") {
  CompactedLog t;
  require_ok(t.open());
  require_ok(
      t.append({{std::nullopt, "no key"}, {"a", "1"}, {std::nullopt, "again no key"}}).status());
  require_ok(t.roll());
  const CleanResult result = clean_ok(t);
  CHECK(result.stats.keyless_removed == 2);
  const auto after = records_of(t);
  for (const LogRecord& r : after) CHECK(r.key.has_value());
  REQUIRE(of_key(after, "a").size() == 1);
  CHECK(of_key(after, "a")[0].offset == Offset(1));
}

TEST_CASE("A tombstone is kept with the delete horizon set until the horizon passes", "[cleaner]") {
  LogConfig config = test::compacted_config();
  config.delete_retention_ms = 10'000;
  CompactedLog t(1, config);
  require_ok(t.open());
  require_ok(t.append_each({{"a", "1"}, {"b", "1"}, {"a", "2"}}));
  const Timestamp deleted_at = t.clock().now();
  require_ok(t.append({{"a", std::nullopt}}).status());
  require_ok(t.roll());
  const Timestamp first_pass = t.clock().now();
  clean_ok(t);
  auto after = records_of(t);
  auto a = of_key(after, "a");
  REQUIRE(a.size() == 1);
  CHECK_FALSE(a[0].value.has_value());
  CHECK(a[0].offset == Offset(3));
  CHECK(a[0].timestamp == deleted_at);  // the record keeps its own timestamp
  for (const auto& bytes : raw_batches(t)) {
    const RecordBatchView batch = view_of(bytes);
    if (batch.base_offset() != Offset(3)) {
      CHECK_FALSE(batch.has_delete_horizon());
      continue;
    }
    CHECK(batch.has_delete_horizon());
    CHECK((batch.attributes() & batch_layout::kDeleteHorizonBit) != 0);
    REQUIRE(batch.delete_horizon().has_value());
    CHECK(*batch.delete_horizon() == first_pass + 10'000);
    CHECK(batch.base_timestamp() == first_pass + 10'000);
  }
  // Before the horizon a later pass keeps it, and keeps the horizon it has.
  t.clock().advance_ms(9'999);
  CHECK(clean_ok(t).stats.tombstones_removed == 0);
  REQUIRE(of_key(records_of(t), "a").size() == 1);
  // At the horizon it goes; the other key stays.
  t.clock().advance_ms(1);
  const CleanResult result = clean_ok(t);
  CHECK(result.stats.tombstones_removed == 1);
  after = records_of(t);
  CHECK(of_key(after, "a").empty());
  REQUIRE(of_key(after, "b").size() == 1);
}

TEST_CASE("The active segment is never cleaned", "[cleaner]") {
  CompactedLog t;
  require_ok(t.open());
  require_ok(t.append_each({{"a", "1"}, {"a", "2"}, {"a", "3"}}));
  const auto before = records_of(t);
  const CleanResult result = clean_ok(t);
  CHECK_FALSE(result.cleaned);
  CHECK(result.range.first_uncleanable_offset == Offset(0));
  CHECK(records_of(t) == before);
  // With segments before it, those are cleaned and the active one is left as it is.
  require_ok(t.roll());
  require_ok(t.append_each({{"b", "1"}, {"b", "2"}}));
  const Offset active_base = t.log().segments().back().base_offset;
  clean_ok(t);
  const auto after = records_of(t);
  CHECK(of_key(after, "a").size() == 1);
  CHECK(of_key(after, "b").size() == 2);
  for (const LogRecord& r : records_of(t)) {
    if (r.offset >= active_base) CHECK(r.key != std::optional<std::string>("a"));
  }
}

TEST_CASE("Segments younger than min_compaction_lag_ms are not cleaned", "[cleaner]") {
  LogConfig config = test::compacted_config();
  config.min_compaction_lag_ms = 60'000;
  config.segment_ms = 1'000;
  CompactedLog t(1, config);
  require_ok(t.open());
  require_ok(t.append_each({{"a", "1"}, {"a", "2"}}));
  t.clock().advance_ms(61'000);  // the next append rolls: the first segment is old enough
  require_ok(t.append_each({{"a", "3"}, {"a", "4"}}));
  t.clock().advance_ms(1'001);  // rolls again; the second segment is 1 s old
  require_ok(t.append({{"z", "active"}}).status());
  const auto segments = t.log().segments();
  REQUIRE(segments.size() == 3);
  const CleanResult result = clean_ok(t);
  CHECK(result.range.first_uncleanable_offset == segments[1].base_offset);
  auto a = of_key(records_of(t), "a");
  // a=1 is superseded by a=2 (the map covers only the first segment); a=3 and a=4 wait.
  REQUIRE(a.size() == 3);
  CHECK(a[0].value == "2");
  // Once the lag has passed, the second segment is cleaned too.
  t.clock().advance_ms(60'000);
  clean_ok(t);
  a = of_key(records_of(t), "a");
  REQUIRE(a.size() == 1);
  CHECK(a[0].value == "4");
}

TEST_CASE("max_compaction_lag_ms makes a log below the dirty ratio need cleaning", "[cleaner]") {
  for (const bool lag_passed : {false, true}) {
    LogConfig config = test::compacted_config();
    config.max_compaction_lag_ms = lag_passed ? 10'000 : 7'200'000;
    CompactedLog t(1, config);
    require_ok(t.open());
    write_rounds(t, 20);
    require_ok(t.roll());
    clean_ok(t);
    // A little dirty data: a low ratio.
    require_ok(t.append_each({{"key0", "new"}, {"key1", "new"}}));
    require_ok(t.roll());  // an hour later
    auto range = t.cleaner().cleanable_range(t.log());
    REQUIRE(range.ok());
    CHECK(range->cleanable_bytes > 0);
    CHECK(range->dirty_ratio < 0.5);
    CHECK(range->max_lag_exceeded == lag_passed);
    CHECK(range->needs_cleaning == lag_passed);
    Log* logs[] = {&t.log()};
    const CleanerRun run = t.cleaner().run_once(logs);
    CHECK(run.logs_checked == 1);
    CHECK((run.cleaned_log == &t.log()) == lag_passed);
  }
}

TEST_CASE("run_once cleans a log only above min_cleanable_dirty_ratio", "[cleaner]") {
  CompactedLog t;
  require_ok(t.open());
  write_rounds(t, 20);
  require_ok(t.roll());
  clean_ok(t);
  Log* logs[] = {&t.log()};
  CHECK(t.cleaner().run_once(logs).cleaned_log == nullptr);
  // Dirty bytes below the threshold: not cleaned; above it: cleaned.
  require_ok(t.append_each({{"key0", "x"}}));
  require_ok(t.roll());
  auto range = t.cleaner().cleanable_range(t.log());
  REQUIRE(range.ok());
  // ratio = dirty / (clean + dirty), from the segments' sizes.
  std::uint64_t clean = 0;
  std::uint64_t dirty = 0;
  for (const SegmentInfo& s : t.log().segments()) {
    if (s.base_offset >= range->first_uncleanable_offset) break;
    (s.base_offset < range->first_dirty_offset ? clean : dirty) += s.size_bytes;
  }
  CHECK(range->clean_bytes == clean);
  CHECK(range->cleanable_bytes == dirty);
  CHECK(range->dirty_ratio ==
        Approx(static_cast<double>(dirty) / static_cast<double>(clean + dirty)));
  REQUIRE(range->dirty_ratio < 0.5);
  CleanerRun run = t.cleaner().run_once(logs);
  CHECK(run.cleaned_log == nullptr);
  CHECK(run.dirtiest_ratio == Approx(range->dirty_ratio));
  write_rounds(t, 20);
  require_ok(t.roll());
  range = t.cleaner().cleanable_range(t.log());
  REQUIRE(range.ok());
  REQUIRE(range->dirty_ratio > 0.5);
  run = t.cleaner().run_once(logs);
  CHECK(run.cleaned_log == &t.log());
  CHECK(run.result.cleaned);
}

TEST_CASE("A rewritten batch keeps its codec (lz4, zstd)", "[cleaner]") {
  for (const Compression codec : {Compression::lz4, Compression::zstd}) {
    CompactedLog t;
    require_ok(t.open());
    require_ok(t.append({{"a", "1"}, {"b", "1"}, {"c", "1"}}, {.compression = codec}).status());
    require_ok(
        t.append({{"x", "kept whole"}, {"y", "kept whole"}}, {.compression = codec}).status());
    require_ok(t.append({{"a", "2"}, {"c", "2"}}).status());
    require_ok(t.roll());
    const auto before = raw_batches(t);
    const CleanResult result = clean_ok(t);
    CHECK(result.stats.batches_rewritten == 1);
    CHECK(result.stats.batches_copied >= 2);
    const auto after = raw_batches(t);
    REQUIRE(after.size() == before.size());
    const RecordBatchView rewritten = view_of(after[0]);
    CHECK(rewritten.compression() == codec);
    CHECK(rewritten.records_count() == 1);
    CHECK(rewritten.base_offset() == Offset(0));
    CHECK(rewritten.last_offset() == Offset(2));
    CHECK(rewritten.check_crc().ok());
    CHECK(rewritten.check_records().ok());
    CHECK(after[1] == before[1]);  // every record kept: copied byte for byte
    const auto b = of_key(records_of(t), "b");
    REQUIRE(b.size() == 1);
    CHECK(b[0].offset == Offset(1));
  }
}

TEST_CASE("A rewritten batch keeps its base offset, producer fields and leader epoch",
          "[cleaner]") {
  CompactedLog t;
  require_ok(t.open());
  const BatchOptions producer{.producer_id = ProducerId(42),
                              .producer_epoch = ProducerEpoch(3),
                              .base_sequence = Sequence(7)};
  require_ok(t.append({{"a", "1"}}).status());
  require_ok(t.append({{"b", "1"}, {"c", "1"}, {"d", "1"}, {"e", "1"}}, producer,
                      {.leader_epoch = LeaderEpoch(5)})
                 .status());
  require_ok(t.append({{"c", "2"}, {"e", "2"}}).status());
  require_ok(t.roll());
  clean_ok(t);
  const auto after = raw_batches(t);
  const RecordBatchView batch = view_of(after[1]);
  CHECK(batch.base_offset() == Offset(1));
  CHECK(batch.last_offset() == Offset(4));  // the last sequence stays 7 + 3
  CHECK(batch.records_count() == 2);
  CHECK(batch.producer_id() == ProducerId(42));
  CHECK(batch.producer_epoch() == ProducerEpoch(3));
  CHECK(batch.base_sequence() == Sequence(7));
  CHECK(batch.last_sequence() == Sequence(10));
  CHECK(batch.partition_leader_epoch() == LeaderEpoch(5));
  CHECK(batch.timestamp_type() == TimestampType::create_time);
  RecordReader reader;
  REQUIRE(reader.reset(batch).ok());
  std::vector<std::int64_t> offsets;
  Record record;
  while (reader.next(record).value()) offsets.push_back(record.offset.value());
  CHECK(offsets == std::vector<std::int64_t>{1, 3});
}

TEST_CASE("A rewritten batch keeps its records' headers and timestamps", "[cleaner]") {
  CompactedLog t;
  require_ok(t.open());
  RecordBatchBuilder builder;
  const std::string header_value = "trace-7";
  const RecordHeader headers[] = {{"trace", as_bytes(header_value)}, {"flag", std::nullopt}};
  const Timestamp ts = t.clock().now();
  require_ok(builder.append(ts + -5, as_bytes("a"), as_bytes("1")));
  require_ok(builder.append(ts + -1, as_bytes("b"), as_bytes("1"), headers));
  require_ok(t.log().append(builder).status());
  require_ok(t.append({{"a", "2"}}).status());
  require_ok(t.roll());
  CHECK(clean_ok(t).stats.batches_rewritten == 1);
  const auto batches = raw_batches(t);
  const RecordBatchView batch = view_of(batches[0]);
  REQUIRE(batch.records_count() == 1);
  RecordReader reader;
  REQUIRE(reader.reset(batch).ok());
  Record record;
  REQUIRE(reader.next(record).value());
  CHECK(record.offset == Offset(1));
  CHECK(record.timestamp == ts + -1);
  std::vector<std::pair<std::string, std::optional<std::string>>> got;
  for (const RecordHeader& h : record.headers) {
    got.emplace_back(std::string(h.key),
                     h.value ? std::optional(std::string(as_chars(*h.value))) : std::nullopt);
  }
  CHECK(got == std::vector<std::pair<std::string, std::optional<std::string>>>{
                   {"trace", "trace-7"}, {"flag", std::nullopt}});
}

TEST_CASE("A rewritten batch of a LogAppendTime log keeps its timestamp type and time",
          "[cleaner]") {
  LogConfig config = test::compacted_config();
  config.timestamp_type = TimestampType::log_append_time;
  CompactedLog t(1, config);
  require_ok(t.open());
  const Timestamp appended = t.clock().now();
  require_ok(t.append({{"a", "1"}, {"b", "1"}}).status());
  t.clock().advance_ms(10);
  require_ok(t.append({{"a", "2"}}).status());
  require_ok(t.roll());
  clean_ok(t);
  const auto batches = raw_batches(t);
  const RecordBatchView batch = view_of(batches[0]);
  CHECK(batch.records_count() == 1);
  CHECK(batch.timestamp_type() == TimestampType::log_append_time);
  CHECK(batch.max_timestamp() == appended);
  const auto b = of_key(records_of(t), "b");
  REQUIRE(b.size() == 1);
  CHECK(b[0].timestamp == appended);
}

TEST_CASE("The last batch of each producer stays, empty, when all its records go", "[cleaner]") {
  CompactedLog t;
  require_ok(t.open());
  auto producer = [](std::int64_t id, std::int32_t seq) {
    return BatchOptions{.producer_id = ProducerId(id),
                        .producer_epoch = ProducerEpoch(1),
                        .base_sequence = Sequence(seq)};
  };
  require_ok(t.append({{"a", "1"}}, producer(42, 0)).status());              // offset 0
  require_ok(t.append({{"b", "1"}, {"c", "1"}}, producer(42, 1)).status());  // 1-2
  require_ok(t.append({{"a", "2"}, {"b", "2"}, {"c", "2"}}).status());       // 3-5
  require_ok(t.roll());
  const CleanResult result = clean_ok(t);
  CHECK(result.stats.empty_batches_kept >= 1);
  auto batches = raw_batches(t);
  std::vector<Offset> bases;
  for (const auto& b : batches) bases.push_back(view_of(b).base_offset());
  // The producer's first batch is gone; its last is kept empty with its producer state.
  CHECK(std::find(bases.begin(), bases.end(), Offset(0)) == bases.end());
  const auto kept = std::find(bases.begin(), bases.end(), Offset(1));
  REQUIRE(kept != bases.end());
  const RecordBatchView empty = view_of(batches[static_cast<std::size_t>(kept - bases.begin())]);
  CHECK(empty.records_count() == 0);
  CHECK(empty.last_offset() == Offset(2));
  CHECK(empty.producer_id() == ProducerId(42));
  CHECK(empty.producer_epoch() == ProducerEpoch(1));
  CHECK(empty.base_sequence() == Sequence(1));
  CHECK(empty.last_sequence() == Sequence(2));
  CHECK(empty.compression() == Compression::none);
  CHECK(empty.check_crc().ok());
  // Once the producer writes again, the empty batch is no longer its last and goes.
  require_ok(t.append({{"z", "1"}}, producer(42, 3)).status());
  require_ok(t.roll());
  clean_ok(t);
  bases.clear();
  for (const auto& b : raw_batches(t)) bases.push_back(view_of(b).base_offset());
  CHECK(std::find(bases.begin(), bases.end(), Offset(1)) == bases.end());
}

TEST_CASE("An offset map too small for the dirty part cleans part way, correctly", "[cleaner]") {
  // 12 slots, 10 keys at most; 30 distinct keys written twice.
  CompactedLog t(1, test::compacted_config(), {.offset_map_bytes = 12 * 24});
  require_ok(t.open());
  for (int round = 0; round < 2; ++round) {
    for (int k = 0; k < 30; ++k) {
      require_ok(t.append({{fmt::format("k{}", k), v(round)}}).status());
    }
  }
  require_ok(t.roll());
  const auto before = test::latest_per_key(records_of(t));
  CleanResult result = clean_ok(t);
  CHECK(result.stats.map_full);
  CHECK(result.stats.map_entries == 10);
  CHECK(result.cleaned_up_to == Offset(10));  // k0..k9 indexed
  CHECK(result.cleaned_up_to < result.range.first_uncleanable_offset);
  CHECK(test::latest_per_key(records_of(t)) == before);
  // Later passes go on from the checkpoint until the whole log is clean.
  for (int pass = 0; pass < 10; ++pass) {
    result = clean_ok(t);
    CHECK(test::latest_per_key(records_of(t)) == before);
    if (!result.stats.map_full) break;
  }
  CHECK_FALSE(result.stats.map_full);
  const auto after = records_of(t);
  for (int k = 0; k < 30; ++k) {
    const auto kept = of_key(after, fmt::format("k{}", k));
    REQUIRE(kept.size() == 1);
    CHECK(kept[0].offset == Offset(30 + k));
  }
}

TEST_CASE("The offset map grows, starts over in its largest table, then fills", "[cleaner]") {
  // 100,000 slots: the 65,536-slot first table cannot double within the memory.
  internal::OffsetMap map(100'000 * 24, 0.9);
  map.clear();
  CHECK(map.slots() == 65'536);
  CHECK(map.max_entries() == 90'000);
  auto key = [](std::int64_t i) { return internal::hash_key(as_bytes(fmt::format("key{}", i))); };
  std::int64_t restarts = 0;
  std::int64_t i = 0;
  for (; i < 200'000; ++i) {
    const auto put = map.put(key(i), Offset(i));
    if (put == internal::OffsetMap::Put::full) break;
    if (put == internal::OffsetMap::Put::restart) {
      ++restarts;
      REQUIRE(restarts == 1);
      CHECK(map.slots() == 100'000);
      CHECK(map.size() == 0);
      for (std::int64_t j = 0; j < i; ++j) {
        REQUIRE(map.put(key(j), Offset(j)) == internal::OffsetMap::Put::ok);
      }
      --i;  // put key i again
    }
  }
  CHECK(restarts == 1);
  CHECK(i == 90'000);
  CHECK(map.size() == 90'000);
  for (std::int64_t j = 0; j < 90'000; j += 997) CHECK(map.get(key(j)) == Offset(j));
  CHECK_FALSE(map.get(key(90'000)).has_value());
  CHECK(map.put(key(5), Offset(123'456)) == internal::OffsetMap::Put::ok);  // an update fits
  CHECK(map.get(key(5)) == Offset(123'456));
  map.clear();
  CHECK(map.size() == 0);
  CHECK(map.slots() == 65'536);
  CHECK_FALSE(map.get(key(5)).has_value());
}

TEST_CASE("A pass whose offset map starts over in its largest table cleans correctly",
          "[cleaner]") {
  LogConfig config = test::compacted_config();
  config.segment_bytes = 1 << 20;
  CompactedLog t(1, config, {.offset_map_bytes = 100'000 * 24});
  require_ok(t.open());
  for (int round = 0; round < 2; ++round) {
    for (int batch = 0; batch < 400; ++batch) {
      std::vector<KV> records;
      for (int k = batch * 100; k < batch * 100 + 100; ++k) {
        records.push_back({fmt::format("k{}", k), v(round)});
      }
      require_ok(t.append(records).status());
    }
  }
  require_ok(t.roll());
  const CleanResult result = clean_ok(t);
  CHECK_FALSE(result.stats.map_full);
  CHECK(result.stats.map_entries == 40'000);
  CHECK(result.stats.map_slots == 100'000);
  CHECK(result.stats.map_records == 80'000);
  CHECK(result.stats.records_kept == 40'000);
  const auto after = records_of(t);
  REQUIRE(after.size() == 40'001);  // and the roll marker
  for (std::size_t i = 0; i < 40'000; ++i) {
    CHECK(after[i].offset == Offset(40'000 + static_cast<std::int64_t>(i)));
    CHECK(after[i].value == v(1));
  }
}

TEST_CASE("An offset map that cannot hold one batch's keys fails and marks the log uncleanable",
          "[cleaner]") {
  CompactedLog t(1, test::compacted_config(), {.offset_map_bytes = 4 * 24});
  require_ok(t.open());
  require_ok(t.append({{"a", "1"}, {"b", "1"}, {"c", "1"}, {"d", "1"}, {"e", "1"}}).status());
  require_ok(t.roll());
  const auto before = records_of(t);
  auto result = t.clean();
  REQUIRE_FALSE(result.ok());
  CHECK(result.status().message().find("offset map") != std::string::npos);
  const auto bad = t.cleaner().uncleanable();
  REQUIRE(bad.size() == 1);
  CHECK(bad[0].dir == t.log().dir());
  CHECK(records_of(t) == before);
  Log* logs[] = {&t.log()};
  CHECK(t.cleaner().run_once(logs).logs_checked == 0);  // skipped from now on
  t.cleaner().clear_uncleanable(t.log().dir());
  CHECK(t.cleaner().uncleanable().empty());
}

TEST_CASE("A read at an offset that cleaning removed lands on the next batch", "[cleaner]") {
  CompactedLog t;
  require_ok(t.open());
  write_rounds(t, 4);  // offsets 0-19; 15-19 are the latest
  require_ok(t.roll());
  clean_ok(t);
  for (const std::int64_t removed : {0, 7, 14}) {
    auto slice = t.log().read(Offset(removed));
    REQUIRE(slice.ok());
    REQUIRE_FALSE(slice->empty());
    CHECK(slice->first_offset == Offset(15));
  }
  // The log start stays where it was: offset 0 is still inside the log.
  CHECK(t.log().log_start_offset() == Offset(0));
}

TEST_CASE("The cleaner checkpoint is Kafka's offset checkpoint in the log directory", "[cleaner]") {
  CompactedLog t;
  require_ok(t.open());
  write_rounds(t, 2);
  require_ok(t.roll());
  const CleanResult result = clean_ok(t);
  auto text = read_file(t.env(), join_path(t.dir(), kCleanerCheckpointFile));
  REQUIRE(text.ok());
  CHECK(as_chars(*text) == fmt::format("0\n1\ntable 0 {}\n", result.cleaned_up_to.value()));
  auto range = t.cleaner().cleanable_range(t.log());
  REQUIRE(range.ok());
  CHECK(range->first_dirty_offset == result.cleaned_up_to);
}

TEST_CASE("A log whose cleanup policy is delete is not cleaned", "[cleaner]") {
  LogConfig config = test::compacted_config();
  config.cleanup_policy = CleanupPolicy{};
  CompactedLog t(1, config);
  require_ok(t.open());
  write_rounds(t, 2);
  require_ok(t.roll());
  auto result = t.clean();
  REQUIRE_FALSE(result.ok());
  CHECK(result.status().code() == StatusCode::invalid_argument);
  CHECK(t.cleaner().uncleanable().empty());  // a misuse, not a broken log
  Log* logs[] = {&t.log()};
  CHECK(t.cleaner().run_once(logs).logs_checked == 0);
}

TEST_CASE("A cleaned log reopens as it was and its files are in Kafka's format", "[cleaner]") {
  CompactedLog t;
  require_ok(t.open());
  write_rounds(t, 10);
  require_ok(t.append({{"gone", std::nullopt}}).status());
  require_ok(t.roll());
  clean_ok(t);
  const auto cleaned = records_of(t);
  require_ok(t.log().close());
  require_ok(test::check_compacted_format(t.env(), t.dir()));
  require_ok(t.open());
  CHECK(t.log().recovery_report().clean_shutdown);
  // Only the replaced segments' files, still waiting for file_delete_delay_ms at close.
  for (const std::string& resolved : t.log().recovery_report().files_resolved) {
    CHECK(resolved.find(".deleted (removed)") != std::string::npos);
  }
  CHECK(records_of(t) == cleaned);
}

TEST_CASE("Cleaning the first segment again within file_delete_delay_ms leaves retention working",
          "[cleaner]") {
  LogConfig config = test::compacted_config();
  config.file_delete_delay_ms = 60'000;
  CompactedLog t(1, config);
  require_ok(t.open());
  for (int pass = 0; pass < 3; ++pass) {
    write_rounds(t, 3);
    require_ok(t.roll());
    clean_ok(t);
  }
  t.clock().advance_ms(61'000);
  auto retention = t.log().apply_retention();
  INFO(retention.status().to_string());
  REQUIRE(retention.ok());
  CHECK(retention->files_removed > 0);
  auto names = t.env().list_dir(t.dir());
  REQUIRE(names.ok());
  for (const std::string& name : *names) CHECK_FALSE(name.ends_with(".deleted"));
  CHECK(test::latest_per_key(records_of(t)).size() == 6);  // key0-4 and the roll marker
}

TEST_CASE("Nothing at or past the upper bound's segment is cleaned", "[cleaner]") {
  CompactedLog t;
  require_ok(t.open());
  write_rounds(t, 10);
  require_ok(t.roll());
  const auto segments = t.log().segments();
  REQUIRE(segments.size() >= 3);
  const Offset bound = segments[1].base_offset + 1;  // inside the second segment
  const auto before = records_of(t);
  const CleanResult result = clean_ok(t, bound);
  CHECK(result.range.first_uncleanable_offset == segments[1].base_offset);
  const auto after = records_of(t);
  for (const LogRecord& r : before) {
    if (r.offset < segments[1].base_offset) continue;
    CHECK(std::find(after.begin(), after.end(), r) != after.end());
  }
}

TEST_CASE("Control batches are kept as they are", "[cleaner]") {
  CompactedLog t;
  require_ok(t.open());
  require_ok(t.append({{"a", "1"}}).status());
  RecordBatchBuilder builder({.control = true});
  const auto key = control_record_key(ControlRecordType::leader_change);
  require_ok(builder.append(t.clock().now(), ByteSpan(key), as_bytes(std::string_view("v"))));
  require_ok(t.log().append(builder).status());
  require_ok(t.append({{"a", "2"}}).status());
  require_ok(t.roll());
  const auto before = raw_batches(t);
  clean_ok(t);
  const auto after = raw_batches(t);
  REQUIRE(after.size() == before.size() - 1);
  CHECK(after[0] == before[1]);
}

TEST_CASE("run_once cleans the dirtiest of several logs", "[cleaner]") {
  CompactedLog less(1, test::compacted_config(), {}, "data/less-0");
  CompactedLog more(2, test::compacted_config(), {}, "data/more-0");
  require_ok(less.open());
  require_ok(more.open());
  for (CompactedLog* t : {&less, &more}) {
    write_rounds(*t, 10);
    require_ok(t->roll());
    clean_ok(*t);
  }
  write_rounds(less, 10);
  require_ok(less.roll());
  write_rounds(more, 30);
  require_ok(more.roll());
  Cleaner cleaner({}, less.clock());
  Log* logs[] = {&less.log(), &more.log()};
  const CleanerRun run = cleaner.run_once(logs);
  CHECK(run.logs_checked == 2);
  CHECK(run.cleaned_log == &more.log());
  CHECK(run.failed.empty());
}

TEST_CASE("Truncation below the cleaner checkpoint lowers it first", "[cleaner]") {
  CompactedLog t;
  require_ok(t.open());
  write_rounds(t, 4);  // offsets 0-19, one record per batch
  require_ok(t.roll());
  write_rounds(t, 2);  // 20-29 in the active segment
  CHECK(clean_ok(t).cleaned);
  const std::string checkpoint = join_path(t.dir(), kCleanerCheckpointFile);
  auto read_checkpoint = [&] {
    auto text = read_file(t.env(), checkpoint);
    REQUIRE(text.ok());
    return std::string(reinterpret_cast<const char*>(text->data()), text->size());
  };
  CHECK(read_checkpoint() == "0\n1\ntable 0 20\n");
  // Kafka's maybeTruncateCheckpoint: offsets 12.. will be appended again and are dirty.
  require_ok(t.log().truncate_to(Offset(12)));
  CHECK(read_checkpoint() == "0\n1\ntable 0 12\n");
  // A truncation above it leaves it alone.
  write_rounds(t, 1);
  require_ok(t.log().truncate_to(Offset(15)));
  CHECK(read_checkpoint() == "0\n1\ntable 0 12\n");
}

}  // namespace
}  // namespace samsa
