// Every boundary of the validator for untrusted batches: each malformed input is a
// corruption (or not_supported) error that names the byte position, never a crash or an
// over-read (the sanitizer build and the fuzzer check the latter).
#include <fmt/format.h>
#include <catch2/catch.hpp>

#include "samsa/crc32c.h"
#include "samsa/record_batch.h"
#include "test_util.h"

using namespace samsa;
using samsa::test::from_hex;

namespace {

namespace L = batch_layout;

// A batch header (base offset 0, no producer) followed by hand-written record bytes; the
// length field and CRC are made consistent so that only the records are wrong.
std::vector<std::byte> batch_with_records(std::string_view records_hex, std::int32_t count,
                                          std::int32_t last_offset_delta,
                                          std::uint16_t attributes = 0) {
  std::vector<std::byte> b(L::kHeaderSize);
  put_be<std::int64_t>(&b[L::kBaseOffset], 0);
  put_be<std::int32_t>(&b[L::kPartitionLeaderEpoch], -1);
  b[L::kMagic] = std::byte{2};
  put_be<std::uint16_t>(&b[L::kAttributes], attributes);
  put_be<std::int32_t>(&b[L::kLastOffsetDelta], last_offset_delta);
  put_be<std::int64_t>(&b[L::kBaseTimestamp], 1000);
  put_be<std::int64_t>(&b[L::kMaxTimestamp], 1000);
  put_be<std::int64_t>(&b[L::kProducerId], -1);
  put_be<std::int16_t>(&b[L::kProducerEpoch], -1);
  put_be<std::int32_t>(&b[L::kBaseSequence], -1);
  put_be<std::int32_t>(&b[L::kRecordsCount], count);
  const auto records = from_hex(records_hex);
  b.insert(b.end(), records.begin(), records.end());
  put_be<std::int32_t>(&b[L::kLength], static_cast<std::int32_t>(b.size() - L::kLogOverhead));
  put_be<std::uint32_t>(&b[L::kCrc], crc32c(ByteSpan(b).subspan(L::kAttributes)));
  return b;
}

// A well-formed record: offset delta `delta`, key "k", value "v", no headers.
std::string good_record(int delta) {
  return fmt::format("10 00 00 {:02x} 02 6b 02 76 00", delta * 2);
}

Status validate(const std::vector<std::byte>& b, ValidateOptions options = {},
                std::uint64_t position = 0) {
  return RecordBatchView::validate(b, options, position).status();
}

void require_corruption(const Status& s, std::string_view needle) {
  INFO(s.to_string());
  REQUIRE(s.code() == StatusCode::corruption);
  CHECK_THAT(s.message(), Catch::Contains(std::string(needle)));
}

const std::vector<std::byte>& two_records() {
  static const auto b = batch_with_records(good_record(0) + good_record(1), 2, 1);
  return b;
}

}  // namespace

TEST_CASE("A well-formed hand-made batch validates", "[record_batch][validate]") {
  REQUIRE(validate(two_records()).ok());
  REQUIRE(validate(two_records(), {.producer_batch = true}).ok());
}

TEST_CASE("Every cut inside the batch is corruption, never a crash", "[record_batch][validate]") {
  const auto& full = two_records();
  for (std::size_t cut = 0; cut < full.size(); ++cut) {
    const std::vector<std::byte> part(full.begin(), full.begin() + static_cast<long>(cut));
    const Status s = validate(part);
    INFO("cut at " << cut << ": " << s.to_string());
    REQUIRE(s.code() == StatusCode::corruption);
    if (cut < L::kHeaderSize) {
      CHECK_THAT(s.message(), Catch::Contains("a batch header needs 61"));
    } else {
      CHECK_THAT(s.message(), Catch::Contains("only " + std::to_string(cut) + " are present"));
    }
  }
}

TEST_CASE("A cut record inside a consistent length is corruption naming the record",
          "[record_batch][validate]") {
  // The length field is made to match the cut bytes, so the records themselves are short.
  const std::string records = good_record(0) + good_record(1);
  const auto all = from_hex(records);
  for (std::size_t cut = 9; cut < all.size(); ++cut) {
    std::string hex;
    for (std::size_t i = 0; i < cut; ++i) hex += fmt::format("{:02x} ", static_cast<int>(all[i]));
    const Status s = validate(batch_with_records(hex, 2, 1));
    INFO("records cut at " << cut << ": " << s.to_string());
    REQUIRE(s.code() == StatusCode::corruption);
    // Two records need at least 14 bytes; fewer is caught before decoding.
    CHECK_THAT(s.message(),
               Catch::Contains(cut < 14 ? "records count 2 cannot fit" : "record 1 of 2"));
  }
}

TEST_CASE("Length field smaller than a header is corruption naming byte 8",
          "[record_batch][validate]") {
  auto b = two_records();
  put_be<std::int32_t>(&b[L::kLength], 48);
  require_corruption(validate(b, {}, 4096), "length field 48 (at byte 4104)");
}

TEST_CASE("Length field past the end is corruption", "[record_batch][validate]") {
  auto b = two_records();
  put_be<std::int32_t>(&b[L::kLength], 1 << 30);
  require_corruption(validate(b), "length field says 1073741836 bytes but only 79 are present");
  put_be<std::int32_t>(&b[L::kLength], -5);
  require_corruption(validate(b), "length field -5");
}

TEST_CASE("Old message formats are not supported, other magics are corruption",
          "[record_batch][validate]") {
  auto b = two_records();
  b[L::kMagic] = std::byte{1};
  const Status v1 = validate(b);
  CHECK(v1.code() == StatusCode::not_supported);
  CHECK_THAT(v1.message(), Catch::Contains("magic 1 (at byte 16)"));
  b[L::kMagic] = std::byte{3};
  require_corruption(validate(b), "magic 3");
}

TEST_CASE("CRC mismatch in the middle is reported with both values and the range",
          "[record_batch][validate]") {
  auto b = two_records();
  b[70] ^= std::byte{0x01};
  const Status s = validate(b, {}, 1000);
  require_corruption(s, "CRC-32C mismatch");
  CHECK_THAT(s.message(), Catch::Contains("batch at position 1000"));
  CHECK_THAT(s.message(), Catch::Contains("(at byte 1017)"));
  CHECK_THAT(s.message(), Catch::Contains("over bytes [1021, 1079)"));
}

TEST_CASE("Each header byte flipped fails the CRC or a header check", "[record_batch][validate]") {
  // Base offset, length, leader epoch and magic lie outside the CRC; every other byte is in.
  for (std::size_t i = L::kAttributes; i < two_records().size(); ++i) {
    auto b = two_records();
    b[i] ^= std::byte{0x40};
    const Status s = validate(b);
    INFO("flipped byte " << i);
    CHECK_FALSE(s.ok());
  }
}

TEST_CASE("Records count larger than the records present is corruption",
          "[record_batch][validate]") {
  require_corruption(validate(batch_with_records(good_record(0) + good_record(1), 3, 2)),
                     "records count 3 cannot fit in 18 bytes");
  // Enough bytes for three minimal records, but the third is an empty husk.
  require_corruption(
      validate(batch_with_records(good_record(0) + good_record(1) + "00 00 00", 3, 2)),
      "record 2 of 3 at byte 80: record fields: truncated");
  require_corruption(validate(batch_with_records(good_record(0), 1000, 999)),
                     "records count 1000 cannot fit in 9 bytes");
}

TEST_CASE("Records count smaller than the records present is corruption",
          "[record_batch][validate]") {
  require_corruption(validate(batch_with_records(good_record(0) + good_record(1), 1, 1)),
                     "9 bytes left after the last of 1 records, at byte 70");
}

TEST_CASE("Negative records count or last offset delta is corruption", "[record_batch][validate]") {
  require_corruption(validate(batch_with_records(good_record(0), -1, 0)),
                     "records count -1 (at byte 57) is negative");
  require_corruption(validate(batch_with_records(good_record(0), 1, -2)),
                     "last offset delta -2 (at byte 23) is negative");
  require_corruption(validate(batch_with_records(good_record(0) + good_record(1), 2, 0)),
                     "2 records cannot fit in last offset delta 0");
}

TEST_CASE("Record length varint longer than five bytes is corruption", "[record_batch][validate]") {
  // ff ff ff ff ff: the fifth byte still says "more".
  require_corruption(validate(batch_with_records("ff ff ff ff ff 01 00 00 00 00 00 00", 1, 0)),
                     "varint too long");
  // A fifth byte with bits beyond 32.
  require_corruption(validate(batch_with_records("ff ff ff ff 7f 00 00 00 00 00 00 00", 1, 0)),
                     "varint too long");
}

TEST_CASE("Timestamp delta varlong longer than ten bytes is corruption",
          "[record_batch][validate]") {
  require_corruption(
      validate(batch_with_records("20 00 ff ff ff ff ff ff ff ff ff ff 01 00 00 00 00 00 00 00 00 "
                                  "00 00 00 00 00 00 00 00 00 00 00 00",
                                  1, 0)),
      "varint too long");
}

TEST_CASE("Record length past the records is corruption", "[record_batch][validate]") {
  require_corruption(validate(batch_with_records("7e 00 00 00 02 6b 02 76 00", 1, 0)),
                     "length 63 passes the 8 bytes left");
  require_corruption(validate(batch_with_records("01 00 00 00 02 6b 02 76 00", 1, 0)),
                     "length -1 passes");
}

TEST_CASE("Key and value lengths are bounded by the record", "[record_batch][validate]") {
  // Key length 4 in a record whose body holds 1 key byte.
  require_corruption(validate(batch_with_records("10 00 00 00 12 6b 02 76 00", 1, 0)),
                     "key (length 9): truncated");
  // Key length -2.
  require_corruption(validate(batch_with_records("10 00 00 00 03 6b 02 76 00", 1, 0)),
                     "key (length -2): invalid");
  // Value length 100.
  require_corruption(validate(batch_with_records("10 00 00 00 02 6b c8 01 00", 1, 0)),
                     "value (length 100): truncated");
  // Value length -3.
  require_corruption(validate(batch_with_records("10 00 00 00 02 6b 05 76 00", 1, 0)),
                     "value (length -3): invalid");
}

TEST_CASE("Header count and header lengths are bounded", "[record_batch][validate]") {
  // Header count -1.
  require_corruption(validate(batch_with_records("10 00 00 00 02 6b 02 76 01", 1, 0)),
                     "header count -1 does not fit");
  // Header count 1000 in a 1-byte tail.
  require_corruption(validate(batch_with_records("12 00 00 00 02 6b 02 76 d0 0f", 1, 0)),
                     "header count 1000 does not fit");
  // One header whose key length is -1.
  require_corruption(validate(batch_with_records("14 00 00 00 02 6b 02 76 02 01 01", 1, 0)),
                     "header 0 key (length -1): negative");
  // One header whose value length passes the record.
  require_corruption(validate(batch_with_records("18 00 00 00 02 6b 02 76 02 02 68 0a 78", 1, 0)),
                     "header 0 value (length 5): truncated");
  // Value length -2.
  require_corruption(validate(batch_with_records("18 00 00 00 02 6b 02 76 02 02 68 03 78", 1, 0)),
                     "header 0 value (length -2): invalid");
}

TEST_CASE("Bytes left over inside a record's length are corruption", "[record_batch][validate]") {
  require_corruption(validate(batch_with_records("12 00 00 00 02 6b 02 76 00 ee", 1, 0)),
                     "1 bytes left over inside the record's length 9");
}

TEST_CASE("Offset deltas must increase and stay within the last offset delta",
          "[record_batch][validate]") {
  require_corruption(validate(batch_with_records(good_record(1) + good_record(1), 2, 1)),
                     "offset delta 1 does not follow the previous 1");
  require_corruption(validate(batch_with_records(good_record(0) + good_record(5), 2, 4)),
                     "offset delta 5 passes the batch's last offset delta 4");
  // A compacted batch may have gaps; a producer batch may not.
  const auto gappy = batch_with_records(good_record(0) + good_record(3), 2, 5);
  CHECK(validate(gappy).ok());
  require_corruption(validate(gappy, {.producer_batch = true}),
                     "last offset delta 5 does not match 2 records");
  require_corruption(
      validate(batch_with_records(good_record(0) + good_record(2), 2, 1), {.producer_batch = true}),
      "offset delta 2 where 1 was expected");
}

TEST_CASE("An unknown compression codec is corruption naming the attributes",
          "[record_batch][validate]") {
  require_corruption(validate(batch_with_records(good_record(0), 1, 0, 5)),
                     "unknown compression codec 5 in attributes (at byte 21)");
}

TEST_CASE("Garbage in a compressed batch is corruption naming the codec",
          "[record_batch][validate]") {
  for (const auto codec :
       {Compression::gzip, Compression::snappy, Compression::lz4, Compression::zstd}) {
    const auto b = batch_with_records("de ad be ef 00 11 22 33 44 55 66 77 88 99", 1, 0,
                                      static_cast<std::uint16_t>(codec));
    const Status s = validate(b);
    INFO(to_string(codec) << ": " << s.to_string());
    REQUIRE(s.code() == StatusCode::corruption);
    CHECK_THAT(s.message(), Catch::Contains(std::string(to_string(codec))));
    CHECK_THAT(s.message(), Catch::Contains("records at byte 61"));
  }
}

TEST_CASE("A decompression bomb stops at the configured limit", "[record_batch][validate]") {
  BatchOptions options;
  options.compression = Compression::zstd;
  RecordBatchBuilder builder(options);
  const std::string big(1 << 20, 'a');
  REQUIRE(builder.append(Timestamp(1), std::nullopt, as_bytes(big)).ok());
  auto built = builder.build();
  REQUIRE(built.ok());
  CHECK(built->size() < 1000);
  const std::vector<std::byte> b(built->begin(), built->end());
  const Status s = validate(b, {.max_decompressed_bytes = 64 * 1024});
  INFO(s.to_string());
  CHECK(s.code() == StatusCode::decompression_limit);
  CHECK(validate(b, {.max_decompressed_bytes = 2 << 20}).ok());
}

TEST_CASE("Errors name positions relative to where the batch sits", "[record_batch][validate]") {
  const Status s = validate(batch_with_records("10 00 00 00 12 6b 02 76 00", 1, 0), {}, 5000);
  require_corruption(s, "batch at position 5000");
  // The key length field sits 4 bytes into the records, which start at byte 61.
  CHECK_THAT(s.message(), Catch::Contains("at byte 5065"));
}
