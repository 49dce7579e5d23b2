// Segment: file names, Kafka's index rule, lookups, truncation and recovery, one named test
// per boundary.
#include <catch2/catch.hpp>

#include "samsa/faulty_env.h"
#include "samsa/record_batch.h"
#include "samsa/segment.h"
#include "test_util.h"

using namespace samsa;

namespace {

// A batch at `base` with `count` records of `value_bytes` each; returns its bytes.
std::vector<std::byte> make_batch(Offset base, int count, std::size_t value_bytes = 10,
                                  Timestamp ts = Timestamp(1000)) {
  BatchOptions options;
  options.base_offset = base;
  RecordBatchBuilder builder(options);
  const std::string value(value_bytes, 'v');
  for (int i = 0; i < count; ++i)
    REQUIRE(builder.append(ts + i, as_bytes("k"), as_bytes(value)).ok());
  auto built = builder.build();
  REQUIRE(built.ok());
  return {built->begin(), built->end()};
}

struct Fixture {
  FaultyEnv env{1};
  SegmentConfig config{.index_interval_bytes = 100, .max_index_bytes = 8 * 1024};
  std::unique_ptr<Segment> seg;
  Fixture() {
    REQUIRE(env.create_dirs("/d").ok());
    seg = Segment::create(env, "/d", Offset(100), config).value();
  }
  // Appends one batch at the segment's next offset.
  std::vector<std::byte> append(int count, std::size_t value_bytes = 10,
                                Timestamp ts = Timestamp(1000)) {
    auto bytes = make_batch(seg->next_offset(), count, value_bytes, ts);
    const auto view = RecordBatchView::parse(bytes).value();
    REQUIRE(seg->append(bytes, view.base_offset(), view.last_offset(), view.max_timestamp(),
                        view.last_offset())
                .ok());
    return bytes;
  }
};

}  // namespace

TEST_CASE("Segment file names are the base offset in 20 digits", "[segment]") {
  CHECK(log_file_name(Offset(42)) == "00000000000000000042.log");
  CHECK(offset_index_file_name(Offset(0)) == "00000000000000000000.index");
  CHECK(time_index_file_name(Offset(9'223'372'036'854'775'807)) ==
        "09223372036854775807.timeindex");
  CHECK(parse_segment_file_name("00000000000000000042.log", ".log") == Offset(42));
  CHECK_FALSE(parse_segment_file_name("0000000000000000042.log", ".log"));
  CHECK_FALSE(parse_segment_file_name("00000000000000000042.index", ".log"));
  CHECK_FALSE(parse_segment_file_name("0000000000000000004x.log", ".log"));
}

TEST_CASE("IndexEntryNotAddedForFirstAppend", "[segment]") {
  Fixture f;
  f.append(20, 100);  // far more than index_interval_bytes
  CHECK(f.seg->offset_index().entries() == 0);
}

TEST_CASE("IndexEntryAddedOnceIntervalBytesPassed, pointing at the append's start", "[segment]") {
  Fixture f;
  const auto first = f.append(5, 50);  // > 100 bytes
  const auto second_pos = f.seg->size_bytes();
  f.append(3);
  REQUIRE(f.seg->offset_index().entries() == 1);
  // Kafka: (largest offset of the append, position where the append starts).
  CHECK(f.seg->offset_index().entry(0) == OffsetPosition{Offset(107), Position(second_pos)});
  CHECK(f.seg->time_index().entries() == 1);
  CHECK(f.seg->time_index().entry(0).timestamp == Timestamp(1004));
}

TEST_CASE("find_batch returns the batch holding an offset, using the index", "[segment]") {
  Fixture f;
  std::vector<std::uint64_t> positions;
  for (int i = 0; i < 30; ++i) {
    positions.push_back(f.seg->size_bytes());
    f.append(4, 40);
  }
  CHECK(f.seg->offset_index().entries() > 5);
  for (int i = 0; i < 30; ++i) {
    for (int r = 0; r < 4; ++r) {
      auto found = f.seg->find_batch(Offset(100 + i * 4 + r));
      REQUIRE(found.ok());
      REQUIRE(found->has_value());
      CHECK((*found)->base_offset == Offset(100 + i * 4));
      CHECK((*found)->position == Position(positions[static_cast<std::size_t>(i)]));
    }
  }
  CHECK_FALSE(f.seg->find_batch(Offset(100 + 120)).value().has_value());
}

TEST_CASE("TruncateInsideBatchRemovesTheWholeBatch", "[segment]") {
  Fixture f;
  f.append(5);
  const auto cut_at = f.seg->size_bytes();
  f.append(5);
  f.append(5);
  auto removed = f.seg->truncate_to(Offset(107));
  REQUIRE(removed.ok());
  CHECK(f.seg->size_bytes() == cut_at);
  CHECK(f.seg->next_offset() == Offset(105));
  f.append(2);  // appends continue at the new end
  CHECK(f.seg->next_offset() == Offset(107));
}

TEST_CASE("TruncatedTrailingBatchIsCut on recovery", "[segment]") {
  Fixture f;
  f.append(5);
  const auto whole = f.seg->size_bytes();
  const auto last = f.append(5);
  REQUIRE(f.seg->close().ok());
  // Cut the last batch in half, as a crash in the middle of its write would.
  auto file = f.env.open("/d/" + log_file_name(Offset(100)), {}).value();
  REQUIRE(file->truncate(whole + last.size() / 2).ok());
  REQUIRE(file->close().ok());
  auto seg = Segment::open(f.env, "/d", Offset(100), f.config, true).value();
  CHECK_FALSE(seg->sanity_check().ok());
  auto rec = seg->recover();
  REQUIRE(rec.ok());
  CHECK(rec->valid_bytes == whole);
  CHECK(rec->truncated_bytes == last.size() / 2);
  CHECK(rec->batches == 1);
  CHECK(rec->next_offset == Offset(105));
  CHECK_THAT(rec->stopped_by.message(), Catch::Contains("declares"));
  CHECK(seg->size_bytes() == whole);
  CHECK(f.env.file_size("/d/" + log_file_name(Offset(100))).value() == whole);
}

TEST_CASE("CrcMismatchInMiddleStopsRecoveryThere", "[segment]") {
  Fixture f;
  f.append(5);
  const auto second = f.seg->size_bytes();
  f.append(5);
  f.append(5);
  REQUIRE(f.seg->close().ok());
  auto file = f.env.open("/d/" + log_file_name(Offset(100)), {}).value();
  std::byte b[1];
  REQUIRE(file->read_at(second + 70, b).ok());
  b[0] ^= std::byte{0x10};
  REQUIRE(file->write_at(second + 70, b).ok());
  auto seg = Segment::open(f.env, "/d", Offset(100), f.config, true).value();
  SECTION("cut when allowed") {
    auto rec = seg->recover();
    REQUIRE(rec.ok());
    CHECK(rec->valid_bytes == second);
    CHECK_THAT(rec->stopped_by.message(), Catch::Contains("CRC-32C mismatch"));
    CHECK_THAT(rec->stopped_by.message(), Catch::Contains(log_file_name(Offset(100))));
  }
  SECTION("reported, and nothing cut, below keep_below") {
    auto rec = seg->recover(Offset(115));
    REQUIRE_FALSE(rec.ok());
    CHECK(rec.status().code() == StatusCode::corruption);
    CHECK_THAT(rec.status().message(), Catch::Contains("at position " + std::to_string(second)));
    CHECK(f.env.file_size("/d/" + log_file_name(Offset(100))).value() > second);
  }
}

TEST_CASE("Recovery rebuilds the indexes Kafka's way", "[segment]") {
  Fixture f;
  for (int i = 0; i < 20; ++i) f.append(3, 60);
  const auto entries = f.seg->offset_index().entries();
  REQUIRE(entries > 3);
  auto rec = f.seg->recover();
  REQUIRE(rec.ok());
  CHECK(rec->truncated_bytes == 0);
  CHECK(rec->batches == 20);
  // Per batch rather than per append: the same here, one batch per append.
  CHECK(f.seg->offset_index().entries() == entries);
}

TEST_CASE("Roll trims the preallocated index files to their entries", "[segment]") {
  Fixture f;
  const auto index_path = "/d/" + offset_index_file_name(Offset(100));
  CHECK(f.env.file_size(index_path).value() == 8 * 1024);
  for (int i = 0; i < 10; ++i) f.append(3, 60);
  const auto entries = f.seg->offset_index().entries();
  REQUIRE(f.seg->roll().ok());
  CHECK(f.env.file_size(index_path).value() == entries * 8);
  CHECK(f.env.file_size("/d/" + time_index_file_name(Offset(100))).value() ==
        f.seg->time_index().entries() * 12);
}

TEST_CASE("find_offset_by_timestamp finds the first record at or after a time", "[segment]") {
  Fixture f;
  f.append(5, 10, Timestamp(1000));  // 1000..1004
  f.append(5, 10, Timestamp(2000));  // 2000..2004
  auto at = [&](std::int64_t ts) {
    return f.seg->find_offset_by_timestamp(Timestamp(ts), Offset(0)).value();
  };
  CHECK(at(0) == TimestampOffset{Timestamp(1000), Offset(100)});
  CHECK(at(1003) == TimestampOffset{Timestamp(1003), Offset(103)});
  CHECK(at(1500) == TimestampOffset{Timestamp(2000), Offset(105)});
  CHECK(at(2004) == TimestampOffset{Timestamp(2004), Offset(109)});
  CHECK_FALSE(at(2005).has_value());
}
