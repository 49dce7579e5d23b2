// Round trips through RecordBatchBuilder -> RecordBatchView::validate -> RecordReader for
// every header field and every codec.
#include <catch2/catch.hpp>

#include <random>
#include <string>

#include "samsa/record_batch.h"
#include "test_util.h"

using namespace samsa;
using samsa::test::to_string;

namespace {

struct TestRecord {
  Timestamp timestamp;
  std::optional<std::string> key;
  std::optional<std::string> value;
  std::vector<std::pair<std::string, std::optional<std::string>>> headers;
};

std::optional<ByteSpan> opt_bytes(const std::optional<std::string>& s) {
  if (!s) return std::nullopt;
  return as_bytes(*s);
}

std::vector<TestRecord> random_records(std::mt19937_64& rng, int n) {
  std::vector<TestRecord> out;
  std::uniform_int_distribution<int> len(0, 300);
  auto text = [&](int size) {
    std::string s(static_cast<std::size_t>(size), '\0');
    for (auto& c : s) c = static_cast<char>('a' + rng() % 26);
    return s;
  };
  for (int i = 0; i < n; ++i) {
    TestRecord r;
    // Timestamps go backwards too: deltas may be negative.
    r.timestamp = Timestamp(1'700'000'000'000 + static_cast<std::int64_t>(rng() % 20000) - 10000);
    if (rng() % 5 != 0) r.key = text(len(rng) % 40);
    if (rng() % 7 != 0) r.value = text(len(rng));
    const int headers = static_cast<int>(rng() % 4);
    for (int h = 0; h < headers; ++h) {
      std::optional<std::string> v;
      if (rng() % 3 != 0) v = text(len(rng) % 20);
      r.headers.emplace_back(text(1 + len(rng) % 10), v);
    }
    out.push_back(std::move(r));
  }
  return out;
}

void append_all(RecordBatchBuilder& builder, const std::vector<TestRecord>& records) {
  for (const auto& r : records) {
    std::vector<RecordHeader> headers;
    for (const auto& [k, v] : r.headers) headers.push_back({k, opt_bytes(v)});
    REQUIRE(builder.append(r.timestamp, opt_bytes(r.key), opt_bytes(r.value), headers).ok());
  }
}

// Reads every record of `view` and checks it against `expected`.
void check_records(const RecordBatchView& view, const std::vector<TestRecord>& expected,
                   std::optional<Timestamp> log_append_time = std::nullopt) {
  RecordReader reader;
  REQUIRE(reader.reset(view).ok());
  Record r;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    INFO("record " << i);
    REQUIRE(reader.next(r).value());
    CHECK(r.offset == view.base_offset() + static_cast<std::int64_t>(i));
    CHECK(r.timestamp == log_append_time.value_or(expected[i].timestamp));
    REQUIRE(r.key.has_value() == expected[i].key.has_value());
    if (r.key) CHECK(to_string(*r.key) == *expected[i].key);
    REQUIRE(r.value.has_value() == expected[i].value.has_value());
    if (r.value) CHECK(to_string(*r.value) == *expected[i].value);
    REQUIRE(r.headers.size() == static_cast<std::int32_t>(expected[i].headers.size()));
    std::size_t h = 0;
    for (const RecordHeader& header : r.headers) {
      CHECK(header.key == expected[i].headers[h].first);
      REQUIRE(header.value.has_value() == expected[i].headers[h].second.has_value());
      if (header.value) CHECK(to_string(*header.value) == *expected[i].headers[h].second);
      ++h;
    }
    CHECK(h == expected[i].headers.size());
  }
  CHECK_FALSE(reader.next(r).value());
}

}  // namespace

TEST_CASE("Every codec round-trips random records with keys, values, nulls and headers",
          "[record_batch]") {
  const auto codec = GENERATE(Compression::none, Compression::gzip, Compression::snappy,
                              Compression::lz4, Compression::zstd);
  const int count = GENERATE(1, 7, 500);
  std::mt19937_64 rng(static_cast<std::uint64_t>(count) * 31 + static_cast<int>(codec));
  const auto records = random_records(rng, count);
  BatchOptions options;
  options.compression = codec;
  options.base_offset = Offset(1'000'000);
  RecordBatchBuilder builder(options);
  append_all(builder, records);
  CHECK(builder.record_count() == count);
  auto built = builder.build();
  REQUIRE(built.ok());
  auto view = RecordBatchView::validate(*built, {.producer_batch = true});
  INFO(to_string(codec) << " x " << count << ": " << view.status().to_string());
  REQUIRE(view.ok());
  CHECK(view->compression() == codec);
  CHECK(view->records_count() == count);
  CHECK(view->last_offset_delta() == count - 1);
  CHECK(view->base_timestamp() == records.front().timestamp);
  Timestamp max = records.front().timestamp;
  for (const auto& r : records) max = std::max(max, r.timestamp);
  CHECK(view->max_timestamp() == max);
  check_records(*view, records);
}

TEST_CASE("Producer, transactional and control fields round-trip", "[record_batch]") {
  BatchOptions options;
  options.base_offset = Offset(42);
  options.partition_leader_epoch = LeaderEpoch(9);
  options.producer_id = ProducerId(0x123456789);
  options.producer_epoch = ProducerEpoch(3);
  options.base_sequence = Sequence(17);
  options.transactional = true;
  options.control = true;
  RecordBatchBuilder builder(options);
  const auto key = control_record_key(ControlRecordType::commit);
  CHECK(test::to_vector(key) == test::from_hex("00 00 00 01"));
  const auto value = test::from_hex("00 00 00 00 00 05");  // version 0, coordinator epoch 5
  REQUIRE(builder.append(Timestamp(5), ByteSpan(key), ByteSpan(value)).ok());
  auto view = RecordBatchView::validate(builder.build().value());
  REQUIRE(view.ok());
  CHECK(view->base_offset() == Offset(42));
  CHECK(view->partition_leader_epoch() == LeaderEpoch(9));
  CHECK(view->producer_id() == ProducerId(0x123456789));
  CHECK(view->producer_epoch() == ProducerEpoch(3));
  CHECK(view->base_sequence() == Sequence(17));
  CHECK(view->last_sequence() == Sequence(17));
  CHECK(view->is_transactional());
  CHECK(view->is_control());
  CHECK(view->attributes() == 0x30);
}

TEST_CASE("Last sequence wraps from INT32_MAX to 0", "[record_batch]") {
  BatchOptions options;
  options.producer_id = ProducerId(1);
  options.producer_epoch = ProducerEpoch(0);
  options.base_sequence = Sequence(std::numeric_limits<std::int32_t>::max() - 1);
  RecordBatchBuilder builder(options);
  for (int i = 0; i < 4; ++i)
    REQUIRE(builder.append(Timestamp(i), std::nullopt, as_bytes("x")).ok());
  auto view = RecordBatchView::validate(builder.build().value());
  REQUIRE(view.ok());
  // Sequences MAX-1, MAX, 0, 1.
  CHECK(view->last_sequence() == Sequence(1));
}

TEST_CASE("LogAppendTime batches give every record the batch's max timestamp", "[record_batch]") {
  BatchOptions options;
  options.timestamp_type = TimestampType::log_append_time;
  options.log_append_time = Timestamp(1'800'000'000'000);
  RecordBatchBuilder builder(options);
  std::mt19937_64 rng(7);
  const auto records = random_records(rng, 5);
  append_all(builder, records);
  auto view = RecordBatchView::validate(builder.build().value());
  REQUIRE(view.ok());
  CHECK(view->timestamp_type() == TimestampType::log_append_time);
  CHECK(view->attributes() == 0x08);
  CHECK(view->max_timestamp() == Timestamp(1'800'000'000'000));
  check_records(*view, records, Timestamp(1'800'000'000'000));
}

TEST_CASE("set_max_timestamp switches to LogAppendTime and keeps the CRC valid", "[record_batch]") {
  RecordBatchBuilder builder;
  REQUIRE(builder.append(Timestamp(10), as_bytes("k"), as_bytes("v")).ok());
  auto built = builder.build().value();
  std::vector<std::byte> bytes(built.begin(), built.end());
  set_max_timestamp(bytes, TimestampType::log_append_time, Timestamp(99));
  auto view = RecordBatchView::validate(bytes);
  REQUIRE(view.ok());
  CHECK(view->timestamp_type() == TimestampType::log_append_time);
  CHECK(view->max_timestamp() == Timestamp(99));
  RecordReader reader;
  REQUIRE(reader.reset(*view).ok());
  Record r;
  REQUIRE(reader.next(r).value());
  CHECK(r.timestamp == Timestamp(99));
}

TEST_CASE("Delete horizon is stored as the base timestamp with bit 6 set", "[record_batch]") {
  BatchOptions options;
  options.delete_horizon = Timestamp(2'000'000'000'000);
  RecordBatchBuilder builder(options);
  REQUIRE(builder.append(Timestamp(1'700'000'000'000), as_bytes("k"), std::nullopt).ok());
  REQUIRE(builder.append(Timestamp(1'700'000'000'005), as_bytes("j"), as_bytes("v")).ok());
  auto view = RecordBatchView::validate(builder.build().value());
  REQUIRE(view.ok());
  CHECK(view->has_delete_horizon());
  CHECK(view->attributes() == 0x40);
  CHECK(view->base_timestamp() == Timestamp(2'000'000'000'000));
  CHECK(view->delete_horizon() == Timestamp(2'000'000'000'000));
  RecordReader reader;
  REQUIRE(reader.reset(*view).ok());
  Record r;
  REQUIRE(reader.next(r).value());
  CHECK(r.timestamp == Timestamp(1'700'000'000'000));
  CHECK(r.timestamp_delta < 0);
  REQUIRE(reader.next(r).value());
  CHECK(r.timestamp == Timestamp(1'700'000'000'005));
}

TEST_CASE("An empty batch has count 0 and no timestamps", "[record_batch]") {
  BatchOptions options;
  options.base_offset = Offset(10);
  RecordBatchBuilder builder(options);
  builder.set_last_offset_delta(4);  // a compacted batch that kept its last offset
  auto view = RecordBatchView::validate(builder.build().value());
  REQUIRE(view.ok());
  CHECK(view->records_count() == 0);
  CHECK(view->size_bytes() == batch_layout::kHeaderSize);
  CHECK(view->base_timestamp() == Timestamp::none());
  CHECK(view->max_timestamp() == Timestamp::none());
  CHECK(view->last_offset() == Offset(14));
}

TEST_CASE("Compacted batches keep gaps in offset deltas and their last offset", "[record_batch]") {
  BatchOptions options;
  options.compression = Compression::lz4;
  RecordBatchBuilder builder(options);
  REQUIRE(builder.append_with_offset_delta(2, Timestamp(1), as_bytes("a"), as_bytes("1")).ok());
  REQUIRE(builder.append_with_offset_delta(5, Timestamp(2), as_bytes("b"), as_bytes("2")).ok());
  const Status backwards = builder.append_with_offset_delta(5, Timestamp(3), as_bytes("c"), {});
  CHECK(backwards.code() == StatusCode::invalid_argument);
  builder.set_last_offset_delta(9);
  auto view = RecordBatchView::validate(builder.build().value());
  REQUIRE(view.ok());
  CHECK(view->records_count() == 2);
  CHECK(view->last_offset_delta() == 9);
  RecordReader reader;
  REQUIRE(reader.reset(*view).ok());
  Record r;
  REQUIRE(reader.next(r).value());
  CHECK(r.offset == Offset(2));
  REQUIRE(reader.next(r).value());
  CHECK(r.offset == Offset(5));
  CHECK_FALSE(reader.next(r).value());
}

TEST_CASE("A builder is reusable after reset", "[record_batch]") {
  RecordBatchBuilder builder;
  REQUIRE(builder.append(Timestamp(1), as_bytes("first"), as_bytes("batch")).ok());
  const auto first = test::to_vector(builder.build().value());
  BatchOptions options;
  options.compression = Compression::zstd;
  options.base_offset = Offset(1);
  builder.reset(options);
  CHECK(builder.record_count() == 0);
  CHECK(builder.uncompressed_size() == batch_layout::kHeaderSize);
  REQUIRE(builder.append(Timestamp(2), as_bytes("second"), as_bytes("batch")).ok());
  auto second = RecordBatchView::validate(builder.build().value());
  REQUIRE(second.ok());
  CHECK(second->base_offset() == Offset(1));
  CHECK(second->compression() == Compression::zstd);
  CHECK(RecordBatchView::validate(first).ok());
}

TEST_CASE("Consecutive batches in one buffer parse one after another", "[record_batch]") {
  std::vector<std::byte> log;
  for (int b = 0; b < 3; ++b) {
    BatchOptions options;
    options.base_offset = Offset(b * 10);
    RecordBatchBuilder builder(options);
    for (int i = 0; i <= b; ++i) REQUIRE(builder.append(Timestamp(i), {}, as_bytes("v")).ok());
    const auto bytes = builder.build().value();
    log.insert(log.end(), bytes.begin(), bytes.end());
  }
  std::uint64_t position = 0;
  int batches = 0;
  while (position < log.size()) {
    auto view = RecordBatchView::validate(ByteSpan(log).subspan(position), {}, position);
    REQUIRE(view.ok());
    CHECK(view->position() == position);
    CHECK(view->base_offset() == Offset(batches * 10));
    CHECK(view->records_count() == batches + 1);
    position += view->size_bytes();
    ++batches;
  }
  CHECK(batches == 3);
}

TEST_CASE("Compression names parse and print", "[record_batch]") {
  for (auto c : {Compression::none, Compression::gzip, Compression::snappy, Compression::lz4,
                 Compression::zstd}) {
    CHECK(parse_compression(to_string(c)).value() == c);
  }
  const auto bad = parse_compression("brotli");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().code() == StatusCode::invalid_argument);
  CHECK_THAT(bad.status().message(), Catch::Contains("brotli"));
}
