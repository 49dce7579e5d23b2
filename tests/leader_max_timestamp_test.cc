// A leader's append sets each batch's max timestamp to its records' largest, as Kafka's
// LogValidator does (setMaxTimestamp): Sarama 1.22 sends -1 there, which hid its batches
// from ListOffsets by timestamp. Only a wrong header is rewritten (CRC recomputed); a right
// one is stored as sent, and a follower stores the leader's bytes as they are.
#include <catch2/catch.hpp>

#include "partition_test_util.h"

using namespace samsa;
using namespace samsa::test;

namespace L = samsa::batch_layout;

namespace {

// Three records at 1000, 1007 and 1003 (the largest is not the last), then the header's
// max timestamp set to `header_max` with a valid CRC, as a client would send it.
std::vector<std::byte> batch_with_max(Timestamp header_max,
                                      Compression compression = Compression::none) {
  RecordBatchBuilder builder({.compression = compression});
  for (std::int64_t ts : {1000, 1007, 1003}) {
    const std::string value = fmt::format("at-{}", ts);
    REQUIRE(builder.append(Timestamp(ts), std::nullopt, as_bytes(value)).ok());
  }
  auto built = builder.build();
  REQUIRE(built.ok());
  std::vector<std::byte> bytes(built->begin(), built->end());
  REQUIRE(RecordBatchView::parse(bytes)->max_timestamp() == Timestamp(1007));
  set_max_timestamp(bytes, TimestampType::create_time, header_max);
  REQUIRE(RecordBatchView::validate(bytes).ok());
  return bytes;
}

// The one batch stored from offset 0.
std::vector<std::byte> stored_batch(PartitionFixture& f) {
  std::vector<std::byte> bytes = f.read_bytes(Offset(0), Isolation::log_end);
  REQUIRE(RecordBatchView::parse(bytes).ok());
  REQUIRE(RecordBatchView::parse(bytes)->size_bytes() == bytes.size());
  return bytes;
}

// `sent` with the fields a leader stamps outside the CRC (base offset, leader epoch).
std::vector<std::byte> as_stamped(std::vector<std::byte> sent, Offset base, LeaderEpoch epoch) {
  set_base_offset(sent, base);
  set_partition_leader_epoch(sent, epoch);
  return sent;
}

Offset offset_at_or_after(const Partition& p, Timestamp ts) {
  auto found = p.offset_for_timestamp(ts, Isolation::log_end);
  INFO(found.status().to_string());
  REQUIRE(found.ok());
  REQUIRE(found->has_value());
  return (*found)->offset;
}

}  // namespace

TEST_CASE("A leader append sets a max timestamp of -1 to its records' largest",
          "[partition][max_timestamp]") {
  const Compression compression =
      GENERATE(Compression::none, Compression::lz4, Compression::zstd, Compression::gzip);
  INFO("compression " << to_string(compression));
  PartitionFixture f;
  f.append_plain(2, LeaderEpoch::none(), Timestamp(900));  // offsets 0-1, at 900 and 901
  std::vector<std::byte> sent = batch_with_max(Timestamp::none(), compression);
  auto appended = f.partition->append(sent);
  INFO(appended.status().to_string());
  REQUIRE(appended.ok());
  REQUIRE(appended->info.first_offset == Offset(2));

  const std::vector<std::byte> all = f.read_bytes(Offset(0), Isolation::log_end);
  auto first = RecordBatchView::parse(all);
  REQUIRE(first.ok());
  const ByteSpan stored = ByteSpan(all).subspan(first->size_bytes());
  auto view = RecordBatchView::validate(stored, {.producer_batch = true});
  INFO(view.status().to_string());
  REQUIRE(view.ok());  // the CRC was recomputed over the new max timestamp
  CHECK(view->max_timestamp() == Timestamp(1007));
  CHECK(view->timestamp_type() == TimestampType::create_time);
  CHECK(view->compression() == compression);
  // Nothing but the stamped fields, the max timestamp and the CRC changed.
  std::vector<std::byte> expected = as_stamped(sent, Offset(2), LeaderEpoch(0));
  set_max_timestamp(expected, TimestampType::create_time, Timestamp(1007));
  CHECK(std::vector<std::byte>(stored.begin(), stored.end()) == expected);

  // ListOffsets by time finds the batch: 1001..1007 is the record at 1007 (offset 3), 1004
  // too (the first record at or after it in offset order), 1008 nothing.
  CHECK(offset_at_or_after(*f.partition, Timestamp(901)) == Offset(1));
  CHECK(offset_at_or_after(*f.partition, Timestamp(950)) == Offset(2));
  CHECK(offset_at_or_after(*f.partition, Timestamp(1004)) == Offset(3));
  CHECK(offset_at_or_after(*f.partition, Timestamp(1007)) == Offset(3));
  CHECK_FALSE(f.partition->offset_for_timestamp(Timestamp(1008), Isolation::log_end)->has_value());

  // The time index and segment maximum written from the fixed header survive a reopen.
  f.reopen();
  CHECK(offset_at_or_after(*f.partition, Timestamp(1004)) == Offset(3));
}

TEST_CASE("A leader append lowers a max timestamp above its records' largest",
          "[partition][max_timestamp]") {
  PartitionFixture f;
  std::vector<std::byte> sent = batch_with_max(Timestamp(5000));
  REQUIRE(f.partition->append(sent).ok());
  const std::vector<std::byte> stored = stored_batch(f);
  CHECK(RecordBatchView::validate(stored).ok());
  CHECK(RecordBatchView::parse(stored)->max_timestamp() == Timestamp(1007));
  CHECK_FALSE(f.partition->offset_for_timestamp(Timestamp(1008), Isolation::log_end)->has_value());
}

TEST_CASE("A leader append stores a batch with the right max timestamp byte for byte",
          "[partition][max_timestamp]") {
  const Compression compression = GENERATE(Compression::none, Compression::zstd);
  INFO("compression " << to_string(compression));
  PartitionFixture f;
  std::vector<std::byte> sent = batch_with_max(Timestamp(1007), compression);
  const std::vector<std::byte> original = sent;
  REQUIRE(f.partition->append(sent, LeaderEpoch(4)).ok());
  // Only base offset and leader epoch (outside the CRC) differ from what was sent.
  const std::vector<std::byte> stored = stored_batch(f);
  CHECK(stored == as_stamped(original, Offset(0), LeaderEpoch(4)));
  CHECK(RecordBatchView::parse(stored)->crc() == RecordBatchView::parse(original)->crc());
}

TEST_CASE("A follower append keeps a max timestamp of -1 as the leader sent it",
          "[partition][max_timestamp]") {
  PartitionFixture f;
  // Bytes as a leader that did not fix them would serve them: offset 0, epoch 0.
  const std::vector<std::byte> sent =
      as_stamped(batch_with_max(Timestamp::none(), Compression::lz4), Offset(0), LeaderEpoch(0));
  std::vector<std::byte> copy = sent;
  auto appended = f.partition->append_as_follower(copy);
  INFO(appended.status().to_string());
  REQUIRE(appended.ok());
  CHECK(stored_batch(f) == sent);
  CHECK(RecordBatchView::parse(stored_batch(f))->max_timestamp() == Timestamp::none());
}

TEST_CASE("A log_append_time log stamps the append time, not the records' largest",
          "[partition][max_timestamp]") {
  PartitionConfig config;
  config.log.timestamp_type = TimestampType::log_append_time;
  PartitionFixture f(config);
  std::vector<std::byte> sent = batch_with_max(Timestamp::none());
  REQUIRE(f.partition->append(sent).ok());
  const std::vector<std::byte> stored = stored_batch(f);
  auto view = RecordBatchView::validate(stored);
  REQUIRE(view.ok());
  CHECK(view->timestamp_type() == TimestampType::log_append_time);
  CHECK(view->max_timestamp() == f.clock.now());
}

TEST_CASE("check_records_max_timestamp answers the records' largest timestamp",
          "[record_batch][max_timestamp]") {
  const std::vector<std::byte> bytes = batch_with_max(Timestamp::none(), Compression::lz4);
  auto view = RecordBatchView::parse(bytes);
  REQUIRE(view.ok());
  CHECK(view->check_records_max_timestamp().value() == Timestamp(1007));

  // No records: none, Kafka's NO_TIMESTAMP.
  RecordBatchBuilder empty;
  auto built = empty.build();
  REQUIRE(built.ok());
  CHECK(RecordBatchView::parse(*built)->check_records_max_timestamp().value() == Timestamp::none());
}

TEST_CASE("set_max_timestamp leaves a batch that already says so untouched", "[record_batch]") {
  std::vector<std::byte> bytes = batch_with_max(Timestamp(1007));
  // A CRC that does not match shows nothing was recomputed.
  put_be<std::uint32_t>(bytes.data() + L::kCrc, 0xdeadbeef);
  const std::vector<std::byte> before = bytes;
  CHECK_FALSE(set_max_timestamp(bytes, TimestampType::create_time, Timestamp(1007)));
  CHECK(bytes == before);
  CHECK(set_max_timestamp(bytes, TimestampType::create_time, Timestamp(1008)));
  CHECK(RecordBatchView::validate(bytes).ok());
}
