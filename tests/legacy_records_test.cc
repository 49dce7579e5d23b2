// Legacy message sets (magic 0 and 1) converted to one RecordBatch v2, as Kafka's broker
// converts old clients' produce data: hand-built sets (their CRC-32 computed here bit by
// bit, independently of zlib), plain and gzip-wrapped, and one named test per bad input.
#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <vector>

#include "compression.h"
#include "samsa/coding.h"
#include "samsa/legacy_records.h"
#include "samsa/record_batch.h"

using namespace samsa;

namespace LL = samsa::legacy_layout;

namespace {

// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), bit by bit.
std::uint32_t crc32_bitwise(ByteSpan bytes) {
  std::uint32_t crc = 0xFFFFFFFFu;
  for (std::byte b : bytes) {
    crc ^= static_cast<std::uint8_t>(b);
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

void put_i32(std::vector<std::byte>& out, std::int32_t v) {
  std::byte b[4];
  put_be<std::int32_t>(b, v);
  out.insert(out.end(), b, b + 4);
}
void put_i64(std::vector<std::byte>& out, std::int64_t v) {
  std::byte b[8];
  put_be<std::int64_t>(b, v);
  out.insert(out.end(), b, b + 8);
}
void put_field(std::vector<std::byte>& out, const std::optional<std::string>& s) {
  if (!s) return put_i32(out, -1);
  put_i32(out, static_cast<std::int32_t>(s->size()));
  const ByteSpan bytes = as_bytes(*s);
  out.insert(out.end(), bytes.begin(), bytes.end());
}

struct Message {
  std::int8_t magic = 1;
  std::uint8_t attributes = 0;
  std::int64_t timestamp = -1;  // magic 1
  std::optional<std::string> key;
  std::optional<std::string> value;
  std::int64_t offset = 0;
};

// One message as Kafka's LegacyRecord writes it: offset, size, crc, then the body.
std::vector<std::byte> encode(const Message& m) {
  std::vector<std::byte> body;  // from magic on: what the CRC covers
  body.push_back(static_cast<std::byte>(m.magic));
  body.push_back(static_cast<std::byte>(m.attributes));
  if (m.magic == 1) put_i64(body, m.timestamp);
  put_field(body, m.key);
  put_field(body, m.value);
  std::vector<std::byte> out;
  put_i64(out, m.offset);
  put_i32(out, static_cast<std::int32_t>(body.size() + 4));
  std::byte crc[4];
  put_be<std::uint32_t>(crc, crc32_bitwise(body));
  out.insert(out.end(), crc, crc + 4);
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

std::vector<std::byte> encode_set(const std::vector<Message>& messages) {
  std::vector<std::byte> out;
  for (const Message& m : messages) {
    const std::vector<std::byte> one = encode(m);
    out.insert(out.end(), one.begin(), one.end());
  }
  return out;
}

// A wrapper of `codec` (1 gzip) around `inner`, with the wrapper's own timestamp.
std::vector<std::byte> wrap(const std::vector<Message>& inner, std::int8_t magic,
                            std::uint8_t attributes, std::int64_t timestamp = -1) {
  const std::vector<std::byte> plain = encode_set(inner);
  std::vector<std::byte> compressed;
  const auto codec = static_cast<Compression>(attributes & LL::kCodecMask);
  REQUIRE(internal::compress(codec, 0, plain, compressed).ok());
  Message w{.magic = magic, .attributes = attributes, .timestamp = timestamp};
  w.value = std::string(reinterpret_cast<const char*>(compressed.data()), compressed.size());
  w.offset = static_cast<std::int64_t>(inner.size()) - 1;  // magic 1: the last inner offset
  return encode(w);
}

struct Converted {
  std::vector<std::byte> bytes;
  std::vector<std::string> records;  // "timestamp key value" each, "null" for null
};

std::string text(const std::optional<ByteSpan>& b) {
  return b ? std::string(as_chars(*b)) : "null";
}

Converted convert_ok(const std::vector<std::byte>& set) {
  auto converted = convert_legacy_message_set(set);
  INFO(converted.status().to_string());
  REQUIRE(converted.ok());
  Converted out{std::move(*converted), {}};
  auto view = RecordBatchView::validate(out.bytes, {.producer_batch = true});
  INFO(view.status().to_string());
  REQUIRE(view.ok());
  REQUIRE(view->size_bytes() == out.bytes.size());
  CHECK(view->base_offset() == Offset(0));
  CHECK(view->producer_id() == ProducerId::none());
  CHECK(view->timestamp_type() == TimestampType::create_time);
  RecordReader reader;
  REQUIRE(reader.reset(*view).ok());
  Record r;
  while (reader.next(r).value()) {
    out.records.push_back(fmt::format("{} {} {}", r.timestamp.value(), text(r.key), text(r.value)));
  }
  return out;
}

std::string error_of(const std::vector<std::byte>& set, LegacyConvertOptions options = {}) {
  auto converted = convert_legacy_message_set(set, options);
  REQUIRE_FALSE(converted.ok());
  return converted.status().to_string();
}

}  // namespace

TEST_CASE("A magic 1 set converts to one v2 batch with its timestamps, keys and values",
          "[legacy_records]") {
  const auto set =
      encode_set({{.magic = 1, .timestamp = 1'700'000'000'005, .key = "k0", .value = "v0"},
                  {.magic = 1,
                   .timestamp = 1'700'000'000'001,
                   .key = std::nullopt,
                   .value = "v1",
                   .offset = 1},
                  {.magic = 1,
                   .timestamp = 1'700'000'000'009,
                   .key = "k2",
                   .value = std::nullopt,
                   .offset = 2}});
  REQUIRE(is_legacy_message_set(set));
  const Converted c = convert_ok(set);
  CHECK(c.records == std::vector<std::string>{"1700000000005 k0 v0", "1700000000001 null v1",
                                              "1700000000009 k2 null"});
  auto view = RecordBatchView::parse(c.bytes);
  CHECK(view->compression() == Compression::none);
  CHECK(view->max_timestamp() == Timestamp(1'700'000'000'009));
  CHECK(view->records_count() == 3);
}

TEST_CASE("A magic 0 set converts with no timestamps (-1)", "[legacy_records]") {
  const auto set =
      encode_set({{.magic = 0, .key = "a", .value = "x"}, {.magic = 0, .key = "b", .value = "y"}});
  const Converted c = convert_ok(set);
  CHECK(c.records == std::vector<std::string>{"-1 a x", "-1 b y"});
  CHECK(RecordBatchView::parse(c.bytes)->max_timestamp() == Timestamp::none());
}

TEST_CASE("A gzip wrapper converts to a gzip v2 batch of its inner messages", "[legacy_records]") {
  SECTION("magic 1, CreateTime: the inner messages' own timestamps") {
    const auto set = wrap({{.magic = 1, .timestamp = 100, .key = "k0", .value = "v0"},
                           {.magic = 1, .timestamp = 300, .key = "k1", .value = "v1", .offset = 1}},
                          1, /*gzip*/ 1, /*wrapper timestamp*/ 300);
    const Converted c = convert_ok(set);
    CHECK(c.records == std::vector<std::string>{"100 k0 v0", "300 k1 v1"});
    CHECK(RecordBatchView::parse(c.bytes)->compression() == Compression::gzip);
  }
  SECTION("magic 1, LogAppendTime wrapper: its timestamp for every inner message") {
    const auto set = wrap({{.magic = 1, .timestamp = 100, .key = "k0", .value = "v0"},
                           {.magic = 1, .timestamp = 200, .key = "k1", .value = "v1", .offset = 1}},
                          1, 1 | LL::kTimestampTypeBit, 777);
    CHECK(convert_ok(set).records == std::vector<std::string>{"777 k0 v0", "777 k1 v1"});
  }
  SECTION("magic 0") {
    const auto set = wrap({{.magic = 0, .value = "a"}, {.magic = 0, .value = "b"}}, 0, 1);
    const Converted c = convert_ok(set);
    CHECK(c.records == std::vector<std::string>{"-1 null a", "-1 null b"});
    CHECK(RecordBatchView::parse(c.bytes)->compression() == Compression::gzip);
  }
}

TEST_CASE("LegacyCrcMismatchIsReportedAtItsMessage", "[legacy_records]") {
  auto set = encode_set({{.value = "first"}, {.value = "second", .offset = 1}});
  const std::size_t second = encode({.value = "first"}).size();
  set[set.size() - 1] ^= std::byte{0x01};  // a bit of the second message's value
  const std::string e = error_of(set);
  CHECK_THAT(e, Catch::Contains("corruption"));
  CHECK_THAT(e, Catch::Contains(fmt::format("message at byte {}: CRC-32 mismatch", second)));
  CHECK_THAT(e, Catch::Contains(fmt::format("(at byte {})", second + LL::kCrc)));
}

TEST_CASE("LegacyTruncatedSetIsReported", "[legacy_records]") {
  const auto whole = encode_set({{.value = "first"}, {.value = "second", .offset = 1}});
  const std::size_t second = encode({.value = "first"}).size();
  SECTION("cut inside the second message's body: its size passes the set") {
    std::vector<std::byte> set(whole.begin(), whole.end() - 3);
    CHECK_THAT(error_of(set), Catch::Contains(fmt::format("message at byte {}: size", second)) &&
                                  Catch::Contains("passes the end of the set"));
  }
  SECTION("cut inside the second message's offset and size") {
    std::vector<std::byte> set(whole.begin(), whole.begin() + second + 5);
    CHECK_THAT(error_of(set),
               Catch::Contains(fmt::format("message at byte {}: truncated: 5 bytes left", second)));
  }
}

TEST_CASE("LegacyKeyLengthPastTheMessageIsReported", "[legacy_records]") {
  // A key length that passes the message, CRC made right so the length is what fails.
  auto set = encode({.magic = 0, .key = "abc", .value = "x"});
  put_be<std::int32_t>(set.data() + LL::kAttributes + 1, 1000);
  put_be<std::uint32_t>(set.data() + LL::kCrc, crc32_bitwise(ByteSpan(set).subspan(LL::kMagic)));
  CHECK_THAT(error_of(set), Catch::Contains("message at byte 0: key length 1000 (at byte 18)"));
}

TEST_CASE("LegacyNestedCompressionIsRefused", "[legacy_records]") {
  // A gzip wrapper whose inner message says gzip too (refused before its value is read).
  const auto set = wrap({{.magic = 1, .attributes = 1, .value = "deep"}}, 1, 1);
  CHECK_THAT(error_of(set), Catch::Contains("decompressed byte 0 of the gzip wrapper message at "
                                            "byte 0: compressed (codec 1) inside a compressed "
                                            "wrapper"));
}

TEST_CASE("LegacyWrapperBesideOtherMessagesIsRefused", "[legacy_records]") {
  auto set = wrap({{.value = "a"}}, 1, 1);
  const std::size_t second = set.size();
  const auto plain = encode({.value = "b"});
  set.insert(set.end(), plain.begin(), plain.end());
  CHECK_THAT(error_of(set), Catch::Contains(fmt::format("message at byte {}: follows", second)));
}

TEST_CASE("LegacyMixedMagicIsRefused", "[legacy_records]") {
  const auto set = encode_set({{.magic = 1, .value = "a"}, {.magic = 0, .value = "b"}});
  CHECK_THAT(error_of(set), Catch::Contains("magic 0 where the set's first message has magic 1"));
}

TEST_CASE("LegacyUnknownCodecAndMagicAreRefused", "[legacy_records]") {
  CHECK_THAT(error_of(encode({.attributes = 4, .value = "z"})),
             Catch::Contains("codec 4 in its attributes (at byte 17)"));
  auto set = encode({.value = "x"});
  set[LL::kMagic] = std::byte{2};
  CHECK_FALSE(is_legacy_message_set(set));
  CHECK_THAT(error_of(set), Catch::Contains("magic 2 (at byte 16) is not 0 or 1"));
}

TEST_CASE("LegacyWrapperPastTheDecompressionBoundIsRefused", "[legacy_records]") {
  const auto set = wrap({{.value = std::string(10'000, 'a')}}, 1, 1);
  auto converted = convert_legacy_message_set(set, {.max_decompressed_bytes = 1'000});
  REQUIRE_FALSE(converted.ok());
  CHECK(converted.status().code() == StatusCode::decompression_limit);
  CHECK_THAT(converted.status().message(),
             Catch::Contains("legacy message set: gzip wrapper message at byte 0"));
}

TEST_CASE("Snappy and lz4 wrappers convert to batches of the same codec", "[legacy_records]") {
  const auto codec = GENERATE(Compression::snappy, Compression::lz4);
  INFO(to_string(codec));
  const auto set = wrap({{.magic = 1, .timestamp = 5, .key = "k", .value = "v"}}, 1,
                        static_cast<std::uint8_t>(codec));
  const Converted c = convert_ok(set);
  CHECK(c.records == std::vector<std::string>{"5 k v"});
  CHECK(RecordBatchView::parse(c.bytes)->compression() == codec);
}

TEST_CASE("LegacyGoldenMessageConvertsToTheGoldenBatch", "[legacy_records]") {
  // docs/FORMAT.md's worked example (its CRC-32 from zlib), and the v2 batch of the worked
  // example beside it (tests/record_batch_golden_test.cc).
  const std::vector<std::uint8_t> golden = {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                            0x00, 0x00, 0x18, 0x39, 0x26, 0x8c, 0x33, 0x01, 0x00,
                                            0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, 0x00,
                                            0x00, 0x00, 0x01, 0x6b, 0x00, 0x00, 0x00, 0x01, 0x76};
  std::vector<std::byte> set;
  for (std::uint8_t b : golden) set.push_back(std::byte{b});
  CHECK(set == encode({.magic = 1, .timestamp = 1'700'000'000'000, .key = "k", .value = "v"}));
  const Converted c = convert_ok(set);
  CHECK(c.records == std::vector<std::string>{"1700000000000 k v"});
  CHECK(c.bytes.size() == 70);
  CHECK(RecordBatchView::parse(c.bytes)->crc() == 0xe99b8dd8u);
}

TEST_CASE("A magic 0 lz4 wrapper with Kafka's broken header checksum converts",
          "[legacy_records]") {
  // Before 0.10 Kafka's writers put a wrong descriptor checksum in magic 0 lz4 frames
  // (KAFKA-3160) and Kafka's readers ignore it for magic 0. Here the byte is simply wrong.
  const std::vector<std::byte> plain = encode_set({{.magic = 0, .key = "k", .value = "v"}});
  std::vector<std::byte> frame;
  REQUIRE(internal::compress(Compression::lz4, 0, plain, frame).ok());
  const std::size_t hc = 4 + 2 + ((static_cast<std::uint8_t>(frame[4]) & 0x08) ? 8 : 0);
  frame[hc] ^= std::byte{0x5a};
  Message w{.magic = 0, .attributes = 3};
  w.value = std::string(reinterpret_cast<const char*>(frame.data()), frame.size());
  const Converted c = convert_ok(encode(w));
  CHECK(c.records == std::vector<std::string>{"-1 k v"});
  CHECK(RecordBatchView::parse(c.bytes)->compression() == Compression::lz4);

  // Magic 1 frames were always written right, and a wrong checksum there is corruption.
  w.magic = 1;
  CHECK_THAT(error_of(encode(w)),
             Catch::Contains("legacy message set: lz4 wrapper message at byte 0: "));
}

TEST_CASE("Inner messages need not have their wrapper's magic, as in Kafka", "[legacy_records]") {
  // A magic 1 LogAppendTime wrapper: its magic 1 inner message takes the wrapper's
  // timestamp, its magic 0 one has none.
  const auto set =
      wrap({{.magic = 1, .timestamp = 5, .value = "new"}, {.magic = 0, .value = "old"}}, 1,
           1 | LL::kTimestampTypeBit, 900);
  CHECK(convert_ok(set).records == std::vector<std::string>{"900 null new", "-1 null old"});
}
