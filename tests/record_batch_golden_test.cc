// Golden bytes: batches derived by hand from Kafka's RecordBatch v2 spec
// (clients/src/main/java/org/apache/kafka/common/record/DefaultRecordBatch.java and
// DefaultRecord.java), with the CRC computed by an independent bitwise CRC-32C. The builder
// must produce exactly these bytes and the reader must decode them.
#include <catch2/catch.hpp>

#include "samsa/record_batch.h"
#include "test_util.h"

using namespace samsa;
using samsa::test::from_hex;
using samsa::test::to_string;
using samsa::test::to_vector;

namespace {

constexpr Timestamp kTs{1'700'000'000'000};  // 0x0000018BCFE56800

// One record, key "k", value "v", timestamp kTs, defaults everywhere else.
//
//   00 00 00 00 00 00 00 00   BaseOffset            i64  0
//   00 00 00 3a               Length                i32  58 = 70 bytes - 12
//   ff ff ff ff               PartitionLeaderEpoch  i32  -1
//   02                        Magic                 i8   2
//   e9 9b 8d d8               CRC                   u32  CRC-32C of the bytes from Attributes on
//   00 00                     Attributes            i16  no codec, CreateTime, not txn/control
//   00 00 00 00               LastOffsetDelta       i32  0
//   00 00 01 8b cf e5 68 00   BaseTimestamp         i64  1700000000000
//   00 00 01 8b cf e5 68 00   MaxTimestamp          i64  1700000000000
//   ff ff ff ff ff ff ff ff   ProducerId            i64  -1
//   ff ff                     ProducerEpoch         i16  -1
//   ff ff ff ff               BaseSequence          i32  -1
//   00 00 00 01               RecordsCount          i32  1
//   10                        record Length         varint 8 (zigzag 16)
//   00                          Attributes          i8   0
//   00                          TimestampDelta      varlong 0
//   00                          OffsetDelta         varint 0
//   02 6b                       KeyLength 1, "k"
//   02 76                       ValueLength 1, "v"
//   00                          HeaderCount         varint 0
constexpr std::string_view kOneRecord =
    "00 00 00 00 00 00 00 00 00 00 00 3a ff ff ff ff 02 e9 9b 8d d8 00 00 00 00 00 00 00 00"
    "01 8b cf e5 68 00 00 00 01 8b cf e5 68 00 ff ff ff ff ff ff ff ff ff ff ff ff ff ff"
    "00 00 00 01 10 00 00 00 02 6b 02 76 00";

// The same first record, then a tombstone with a null key and one header, 5 ms later, in a
// batch at base offset 100, leader epoch 7, from idempotent producer 1234 epoch 0, seq 0.
//
//   00 00 00 00 00 00 00 64   BaseOffset 100
//   00 00 00 45               Length 69 = 81 - 12
//   00 00 00 07               PartitionLeaderEpoch 7
//   02 66 6f 6f cd            Magic 2, CRC
//   00 00 00 00 00 01         Attributes 0, LastOffsetDelta 1
//   ...68 00 ...68 05         BaseTimestamp kTs, MaxTimestamp kTs + 5
//   00 00 00 00 00 00 04 d2   ProducerId 1234
//   00 00 00 00 00 00         ProducerEpoch 0, BaseSequence 0
//   00 00 00 02               RecordsCount 2
//   10 00 00 00 02 6b 02 76 00            record 0 as above
//   14                        record Length varint 10 (zigzag 20)
//   00 0a 02                  Attributes 0, TimestampDelta varlong 5, OffsetDelta varint 1
//   01 01                     KeyLength -1 (null), ValueLength -1 (null: a tombstone)
//   02                        HeaderCount 1
//   02 68 02 78               header key "h", value "x"
constexpr std::string_view kTwoRecords =
    "00 00 00 00 00 00 00 64 00 00 00 45 00 00 00 07 02 66 6f 6f cd 00 00 00 00 00 01 00 00"
    "01 8b cf e5 68 00 00 00 01 8b cf e5 68 05 00 00 00 00 00 00 04 d2 00 00 00 00 00 00 00 00"
    "00 02 10 00 00 00 02 6b 02 76 00 14 00 0a 02 01 01 02 02 68 02 78";

}  // namespace

TEST_CASE("Builder writes the hand-derived bytes of a one-record batch", "[record_batch][golden]") {
  RecordBatchBuilder builder;
  REQUIRE(builder.append(kTs, as_bytes("k"), as_bytes("v")).ok());
  auto built = builder.build();
  REQUIRE(built.ok());
  CHECK(to_vector(*built) == from_hex(kOneRecord));
}

TEST_CASE("Builder writes the hand-derived bytes of a two-record idempotent batch",
          "[record_batch][golden]") {
  BatchOptions options;
  options.base_offset = Offset(100);
  options.partition_leader_epoch = LeaderEpoch(7);
  options.producer_id = ProducerId(1234);
  options.producer_epoch = ProducerEpoch(0);
  options.base_sequence = Sequence(0);
  RecordBatchBuilder builder(options);
  REQUIRE(builder.append(kTs, as_bytes("k"), as_bytes("v")).ok());
  const RecordHeader header{"h", as_bytes("x")};
  REQUIRE(builder.append(kTs + 5, std::nullopt, std::nullopt, {&header, 1}).ok());
  auto built = builder.build();
  REQUIRE(built.ok());
  CHECK(to_vector(*built) == from_hex(kTwoRecords));
}

TEST_CASE("View decodes every header field of the golden two-record batch",
          "[record_batch][golden]") {
  const auto bytes = from_hex(kTwoRecords);
  auto view = RecordBatchView::validate(bytes);
  REQUIRE(view.ok());
  CHECK(view->size_bytes() == 81);
  CHECK(view->base_offset() == Offset(100));
  CHECK(view->length() == 69);
  CHECK(view->partition_leader_epoch() == LeaderEpoch(7));
  CHECK(view->magic() == 2);
  CHECK(view->crc() == 0x666f6fcdu);
  CHECK(view->compute_crc() == 0x666f6fcdu);
  CHECK(view->attributes() == 0);
  CHECK(view->compression() == Compression::none);
  CHECK(view->timestamp_type() == TimestampType::create_time);
  CHECK_FALSE(view->is_transactional());
  CHECK_FALSE(view->is_control());
  CHECK_FALSE(view->has_delete_horizon());
  CHECK(view->last_offset_delta() == 1);
  CHECK(view->last_offset() == Offset(101));
  CHECK(view->next_offset() == Offset(102));
  CHECK(view->base_timestamp() == kTs);
  CHECK(view->max_timestamp() == kTs + 5);
  CHECK(view->producer_id() == ProducerId(1234));
  CHECK(view->producer_epoch() == ProducerEpoch(0));
  CHECK(view->base_sequence() == Sequence(0));
  CHECK(view->last_sequence() == Sequence(1));
  CHECK(view->records_count() == 2);
}

TEST_CASE("Reader decodes the records of the golden two-record batch", "[record_batch][golden]") {
  const auto bytes = from_hex(kTwoRecords);
  auto view = RecordBatchView::validate(bytes);
  REQUIRE(view.ok());
  RecordReader reader;
  REQUIRE(reader.reset(*view).ok());
  Record r;
  REQUIRE(reader.next(r).value());
  CHECK(r.offset == Offset(100));
  CHECK(r.timestamp == kTs);
  CHECK(r.size_bytes == 9);
  REQUIRE(r.key);
  CHECK(to_string(*r.key) == "k");
  REQUIRE(r.value);
  CHECK(to_string(*r.value) == "v");
  CHECK(r.headers.empty());

  REQUIRE(reader.next(r).value());
  CHECK(r.offset == Offset(101));
  CHECK(r.offset_delta == 1);
  CHECK(r.timestamp == kTs + 5);
  CHECK(r.timestamp_delta == 5);
  CHECK_FALSE(r.key.has_value());
  CHECK_FALSE(r.value.has_value());
  REQUIRE(r.headers.size() == 1);
  const RecordHeader h = *r.headers.begin();
  CHECK(h.key == "h");
  REQUIRE(h.value);
  CHECK(to_string(*h.value) == "x");

  CHECK_FALSE(reader.next(r).value());
}

TEST_CASE("Rewriting base offset and leader epoch keeps the golden CRC valid",
          "[record_batch][golden]") {
  auto bytes = from_hex(kOneRecord);
  set_base_offset(bytes, Offset(0x0102030405060708));
  set_partition_leader_epoch(bytes, LeaderEpoch(42));
  auto view = RecordBatchView::validate(bytes);
  REQUIRE(view.ok());
  CHECK(view->base_offset() == Offset(0x0102030405060708));
  CHECK(view->partition_leader_epoch() == LeaderEpoch(42));
  CHECK(view->crc() == 0xe99b8dd8u);
  const auto expected_prefix = from_hex("01 02 03 04 05 06 07 08 00 00 00 3a 00 00 00 2a");
  CHECK(std::equal(expected_prefix.begin(), expected_prefix.end(), bytes.begin()));
}
