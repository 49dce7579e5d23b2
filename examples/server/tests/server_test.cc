// The server end to end over a socket with hand-built requests: bad input gets Kafka's
// answer (an error code, or a closed connection where Kafka closes it), nothing stored is
// lost, and produce, fetch and long polls behave as clients expect.
#include <fmt/format.h>
#include <unistd.h>
#include <zlib.h>

#include <catch2/catch.hpp>

#include <filesystem>
#include <limits>
#include <random>

#include "codec/messages.h"
#include "tests/test_client.h"

namespace samsa_server {
namespace {

using testing::Client;
using testing::RequestBuilder;
using testing::TestServer;

struct ProduceResult {
  std::int32_t correlation_id = 0;
  std::int16_t error = -100;
  std::int64_t base_offset = -100;
};

ProduceResult parse_produce(std::vector<std::byte> frame) {
  testing::ResponseReader rr(std::move(frame));
  Reader& r = rr.r;
  ProduceResult out;
  out.correlation_id = r.i32();
  REQUIRE(r.array_length(1) == 1);
  (void)r.string();
  REQUIRE(r.array_length(1) == 1);
  (void)r.i32();
  out.error = r.i16();
  out.base_offset = r.i64();
  REQUIRE(!r.failed());
  return out;
}

struct FetchResult {
  std::int16_t top_error = -100;
  std::int16_t error = -100;
  std::int64_t high_watermark = -100;
  std::int64_t last_stable_offset = -100;
  std::int64_t log_start_offset = -100;
  std::int32_t preferred_read_replica = -100;
  std::vector<std::byte> records;
};

FetchResult parse_fetch(std::vector<std::byte> frame) {
  testing::ResponseReader rr(std::move(frame));
  Reader& r = rr.r;
  FetchResult out;
  (void)r.i32();  // correlation id
  (void)r.i32();  // throttle
  out.top_error = r.i16();
  (void)r.i32();  // session id
  if (r.array_length(1) != 1) return out;
  (void)r.string();
  REQUIRE(r.array_length(1) == 1);
  (void)r.i32();
  out.error = r.i16();
  out.high_watermark = r.i64();
  out.last_stable_offset = r.i64();
  out.log_start_offset = r.i64();
  CHECK(r.array_length(16, true) <= 0);  // aborted transactions: none
  out.preferred_read_replica = r.i32();
  auto records = r.nullable_bytes();
  REQUIRE(!r.failed());
  if (records) out.records.assign(records->begin(), records->end());
  return out;
}

ProduceResult produce(Client& c, std::int32_t id, const std::string& topic, std::int32_t p,
                      const std::vector<std::byte>& batch, std::int16_t acks = -1) {
  c.send(testing::produce_request(id, topic, p, batch, acks));
  auto frame = c.receive();
  REQUIRE(frame);
  return parse_produce(std::move(*frame));
}

void create_topic(Client& c, const std::string& topic) {
  c.send(testing::metadata_request(1, {topic}));
  REQUIRE(c.receive());
}

std::int16_t metadata_topic_error(Client& c, const std::string& topic) {
  c.send(testing::metadata_request(2, {topic}));
  auto frame = c.receive();
  REQUIRE(frame);
  testing::ResponseReader rr(std::move(*frame));
  Reader& r = rr.r;
  (void)r.i32();  // correlation
  (void)r.i32();  // throttle
  const std::int32_t brokers = r.array_length(1);
  for (std::int32_t i = 0; i < brokers; ++i) {
    (void)r.i32();
    (void)r.string();
    (void)r.i32();
    (void)r.nullable_string();
  }
  (void)r.nullable_string();  // cluster id
  (void)r.i32();              // controller
  REQUIRE(r.array_length(1) == 1);
  const std::int16_t error = r.i16();
  CHECK(r.string() == topic);
  REQUIRE(!r.failed());
  return error;
}

std::vector<std::byte> api_versions_request(std::int32_t id, std::int16_t version) {
  RequestBuilder b(18, version, id, version >= 3);
  if (version >= 3) {
    b.body().compact_string("samsa-test");
    b.body().compact_string("1.0");
    b.body().empty_tagged_fields();
  }
  return b.frame();
}

}  // namespace

TEST_CASE("ApiVersionsV3AnsweredWithResponseHeaderV0") {
  TestServer s;
  Client c(s.port());
  c.send(api_versions_request(77, 3));
  auto frame = c.receive();
  REQUIRE(frame);
  testing::ResponseReader rr(std::move(*frame));
  CHECK(rr.r.i32() == 77);
  CHECK(rr.r.i16() == 0);  // error code right after the correlation id: no tag byte
  CHECK(rr.r.compact_array_length(7) == static_cast<std::int32_t>(supported_apis().size()));
}

TEST_CASE("ApiVersionsUnknownVersionGetsError35InV0AndKeepsTheConnection") {
  TestServer s;
  Client c(s.port());
  c.send(api_versions_request(5, 9));
  auto frame = c.receive();
  REQUIRE(frame);
  testing::ResponseReader rr(std::move(*frame));
  CHECK(rr.r.i32() == 5);
  CHECK(rr.r.i16() == error::kUnsupportedVersion);
  CHECK(rr.r.array_length(6) == static_cast<std::int32_t>(supported_apis().size()));
  c.send(api_versions_request(6, 2));  // the client retries lower: still connected
  auto again = c.receive();
  REQUIRE(again);
  testing::ResponseReader rr2(std::move(*again));
  CHECK(rr2.r.i32() == 6);
  CHECK(rr2.r.i16() == 0);
}

TEST_CASE("UnknownApiKeyClosesTheConnection") {
  TestServer s;
  Client c(s.port());
  RequestBuilder b(99, 0, 1);
  c.send(b.frame());
  CHECK(c.closed_by_server());
}

TEST_CASE("UnsupportedVersionClosesTheConnection") {
  TestServer s;
  Client c(s.port());
  RequestBuilder b(1, 3, 1);  // Fetch v3: before RecordBatch v2
  c.send(b.frame());
  CHECK(c.closed_by_server());
}

TEST_CASE("FrameOverTheMaximumClosesTheConnection") {
  ServerOptions o = TestServer::defaults();
  o.max_frame_bytes = 1024;
  TestServer s(o);
  Client c(s.port());
  Writer w;
  w.i32(1025);
  c.send(w.take());
  CHECK(c.closed_by_server());
}

TEST_CASE("NegativeFrameSizeClosesTheConnection") {
  TestServer s;
  Client c(s.port());
  Writer w;
  w.i32(-5);
  c.send(w.take());
  CHECK(c.closed_by_server());
}

TEST_CASE("MalformedBodyClosesTheConnection") {
  TestServer s;
  Client c(s.port());
  RequestBuilder b(3, 1, 1);
  b.body().i32(5);  // five topics, none present
  c.send(b.frame());
  CHECK(c.closed_by_server());
}

TEST_CASE("EmptyFrameClosesTheConnection") {
  TestServer s;
  Client c(s.port());
  Writer w;
  w.i32(0);
  c.send(w.take());
  CHECK(c.closed_by_server());
}

TEST_CASE("InvalidTopicNamesGetError17AndCreateNothing") {
  TestServer s;
  Client c(s.port());
  for (const std::string& name : {std::string("../escape"), std::string("a/b"), std::string(".."),
                                  std::string(250, 'x'), std::string("sp ace")}) {
    CHECK(metadata_topic_error(c, name) == error::kInvalidTopicException);
  }
  CHECK(!std::filesystem::exists(s.dir().parent_path() / "escape-0"));
  for (const auto& entry : std::filesystem::directory_iterator(s.dir())) {
    CHECK(entry.path().filename().string().find("escape") == std::string::npos);
  }
}

TEST_CASE("MetadataWithoutAutoCreateAnswersUnknownTopic") {
  ServerOptions o = TestServer::defaults();
  o.auto_create = false;
  TestServer s(o);
  Client c(s.port());
  CHECK(metadata_topic_error(c, "nope") == error::kUnknownTopicOrPartition);
}

TEST_CASE("ProduceToUnknownTopicGetsError3") {
  TestServer s;
  Client c(s.port());
  CHECK(produce(c, 1, "missing", 0, testing::make_batch(2)).error ==
        error::kUnknownTopicOrPartition);
  create_topic(c, "present");
  CHECK(produce(c, 2, "present", 9, testing::make_batch(2)).error ==
        error::kUnknownTopicOrPartition);
}

TEST_CASE("ProduceWithInvalidAcksGetsError21") {
  TestServer s;
  Client c(s.port());
  create_topic(c, "t");
  CHECK(produce(c, 1, "t", 0, testing::make_batch(2), 2).error == error::kInvalidRequiredAcks);
}

TEST_CASE("CorruptBatchGetsError2AndStoresNothing") {
  TestServer s;
  Client c(s.port());
  create_topic(c, "t");
  CHECK(produce(c, 1, "t", 0, testing::make_batch(3)).base_offset == 0);
  auto bad = testing::make_batch(3);
  bad.back() ^= std::byte{0x40};  // a record byte: the CRC no longer matches
  CHECK(produce(c, 2, "t", 0, bad).error == error::kCorruptMessage);
  auto truncated = testing::make_batch(3);
  truncated.resize(truncated.size() - 5);
  CHECK(produce(c, 3, "t", 0, truncated).error == error::kCorruptMessage);
  CHECK(produce(c, 4, "t", 0, {}).error == error::kCorruptMessage);
  auto two = testing::make_batch(1);
  auto second = testing::make_batch(1);
  two.insert(two.end(), second.begin(), second.end());
  CHECK(produce(c, 5, "t", 0, two).error == error::kCorruptMessage);  // v3+: one batch
  // What was stored before is intact, and the next good batch follows it.
  CHECK(produce(c, 6, "t", 0, testing::make_batch(2)).base_offset == 3);
  c.send(testing::fetch_request(7, "t", 0, 0));
  FetchResult f = parse_fetch(*c.receive());
  CHECK(f.error == 0);
  CHECK(f.high_watermark == 5);
  auto first = samsa::RecordBatchView::validate(f.records);
  REQUIRE(first.ok());
  CHECK(first->records_count() == 3);
}

TEST_CASE("BatchOverMaxMessageBytesGetsError10") {
  ServerOptions o = TestServer::defaults();
  o.partition.log.max_batch_bytes = 200;
  TestServer s(o);
  Client c(s.port());
  create_topic(c, "t");
  CHECK(produce(c, 1, "t", 0, testing::make_batch(40)).error == error::kMessageTooLarge);
  CHECK(produce(c, 2, "t", 0, testing::make_batch(1)).error == 0);
}

// A batch whose records decompress past LogConfig::max_decompressed_bytes() (16 MiB by
// default) gets CORRUPT_MESSAGE, what Kafka answers for records it cannot read from a
// compressed batch, never UNKNOWN_SERVER_ERROR (-1); nothing is stored.
TEST_CASE("CompressedBombGetsError2AndStoresNothing") {
  TestServer s;
  Client c(s.port());
  create_topic(c, "t");
  std::int32_t id = 1;
  for (auto codec : {samsa::Compression::zstd, samsa::Compression::gzip, samsa::Compression::lz4,
                     samsa::Compression::snappy}) {
    INFO(samsa::to_string(codec));
    samsa::BatchOptions options;
    options.compression = codec;
    samsa::RecordBatchBuilder builder(options);
    // snappy expands at most ~21x: 18 MiB fits in a 1 MiB batch; the others expand further.
    const std::size_t zeros = codec == samsa::Compression::snappy ? 18 << 20 : 64 << 20;
    const std::vector<std::byte> value(zeros);
    REQUIRE(builder.append(samsa::Timestamp(1), std::nullopt, value).ok());
    auto built = builder.build();
    REQUIRE(built.ok());
    const std::vector<std::byte> bomb(built->begin(), built->end());
    REQUIRE(bomb.size() < 1'048'588);
    CHECK(produce(c, id++, "t", 0, bomb).error == error::kCorruptMessage);
  }
  CHECK(produce(c, id++, "t", 0, testing::make_batch(1)).base_offset == 0);
}

namespace {

// CRC-32 (IEEE, reflected 0xEDB88320) bit by bit: a legacy message's checksum.
std::uint32_t crc32_ieee(std::span<const std::byte> bytes) {
  std::uint32_t crc = 0xFFFFFFFFu;
  for (std::byte b : bytes) {
    crc ^= static_cast<std::uint8_t>(b);
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

struct LegacyMessage {
  std::int64_t timestamp;
  std::string key;
  std::string value;
};

// One legacy message: offset, size, crc, magic, attributes, [timestamp,] key, value.
void put_legacy(Writer& set, std::int64_t offset, std::int8_t magic, std::int8_t attributes,
                std::int64_t timestamp, std::span<const std::byte> key,
                std::span<const std::byte> value) {
  Writer body;
  body.i8(magic);
  body.i8(attributes);
  if (magic == 1) body.i64(timestamp);
  for (std::span<const std::byte> field : {key, value}) {
    body.i32(static_cast<std::int32_t>(field.size()));
    body.raw(field);
  }
  const std::vector<std::byte> b = body.take();
  set.i64(offset);
  set.i32(static_cast<std::int32_t>(b.size() + 4));
  set.i32(static_cast<std::int32_t>(crc32_ieee(b)));
  set.raw(b);
}

// A magic 1 message set as kafka-go 0.2 sends it with Produce v2 (no compression,
// CreateTime).
std::vector<std::byte> magic1_set(const std::vector<LegacyMessage>& messages) {
  Writer set;
  for (std::size_t i = 0; i < messages.size(); ++i) {
    put_legacy(set, static_cast<std::int64_t>(i), 1, 0, messages[i].timestamp,
               samsa::as_bytes(messages[i].key), samsa::as_bytes(messages[i].value));
  }
  return set.take();
}

std::vector<std::byte> gzip(std::span<const std::byte> in) {
  z_stream zs{};
  REQUIRE(deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::vector<std::byte> out(deflateBound(&zs, static_cast<uLong>(in.size())) + 32);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&zs, Z_FINISH) == Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

}  // namespace

TEST_CASE("MagicOneSetInProduceV2IsStoredAsAV2Batch") {
  TestServer s;
  Client c(s.port());
  create_topic(c, "t");
  const std::vector<LegacyMessage> sent = {{1'700'000'000'100, "k0", "v0"},
                                           {1'700'000'000'050, "k1", "v1"},
                                           {1'700'000'000'200, "k2", "v2"}};
  c.send(testing::produce_request(1, "t", 0, magic1_set(sent), -1, 2));
  auto frame = c.receive();
  REQUIRE(frame);
  {
    // ProduceResponse v2: [name [index error_code base_offset log_append_time_ms]]
    // throttle_time_ms.
    testing::ResponseReader rr(std::move(*frame));
    Reader& r = rr.r;
    CHECK(r.i32() == 1);
    REQUIRE(r.array_length(1) == 1);
    CHECK(r.string() == "t");
    REQUIRE(r.array_length(1) == 1);
    CHECK(r.i32() == 0);
    CHECK(r.i16() == 0);
    CHECK(r.i64() == 0);   // base offset
    CHECK(r.i64() == -1);  // log append time: CreateTime
    CHECK(r.i32() == 0);   // throttle
    CHECK(!r.failed());
  }
  REQUIRE(produce(c, 2, "t", 0, testing::make_batch(1)).base_offset == 3);

  c.send(testing::fetch_request(3, "t", 0, 0));
  FetchResult f = parse_fetch(*c.receive());
  REQUIRE(f.error == 0);
  auto view = samsa::RecordBatchView::validate(f.records, {.producer_batch = true});
  INFO(view.status().to_string());
  REQUIRE(view.ok());
  CHECK(view->magic() == 2);
  CHECK(view->base_offset() == samsa::Offset(0));
  CHECK(view->records_count() == 3);
  CHECK(view->max_timestamp() == samsa::Timestamp(1'700'000'000'200));
  CHECK(view->producer_id() == samsa::ProducerId::none());
  samsa::RecordReader reader;
  REQUIRE(reader.reset(*view).ok());
  samsa::Record record;
  for (const LegacyMessage& m : sent) {
    REQUIRE(reader.next(record).value());
    CHECK(record.timestamp == samsa::Timestamp(m.timestamp));
    CHECK(samsa::as_chars(*record.key) == m.key);
    CHECK(samsa::as_chars(*record.value) == m.value);
  }
  CHECK_FALSE(reader.next(record).value());
}

TEST_CASE("GzipMagicZeroSetInProduceV0IsStoredAsAGzipV2Batch") {
  TestServer s;
  Client c(s.port());
  create_topic(c, "t");
  Writer inner;
  for (int i = 0; i < 3; ++i) {
    const std::string value = fmt::format("old-{}", i);
    put_legacy(inner, i, 0, 0, -1, samsa::as_bytes("k"), samsa::as_bytes(value));
  }
  Writer set;
  put_legacy(set, 0, 0, /*gzip*/ 1, -1, {}, gzip(inner.take()));
  c.send(testing::produce_request(1, "t", 0, set.take(), -1, 0));
  auto frame = c.receive();
  REQUIRE(frame);
  {
    // ProduceResponse v0: [name [index error_code base_offset]], no throttle time.
    testing::ResponseReader rr(std::move(*frame));
    Reader& r = rr.r;
    CHECK(r.i32() == 1);
    REQUIRE(r.array_length(1) == 1);
    CHECK(r.string() == "t");
    REQUIRE(r.array_length(1) == 1);
    CHECK(r.i32() == 0);
    CHECK(r.i16() == 0);
    CHECK(r.i64() == 0);
    CHECK(r.remaining() == 0);
    CHECK(!r.failed());
  }
  c.send(testing::fetch_request(2, "t", 0, 0));
  FetchResult f = parse_fetch(*c.receive());
  REQUIRE(f.error == 0);
  CHECK(f.high_watermark == 3);
  auto view = samsa::RecordBatchView::validate(f.records, {.producer_batch = true});
  INFO(view.status().to_string());
  REQUIRE(view.ok());
  CHECK(view->compression() == samsa::Compression::gzip);
  CHECK(view->max_timestamp() == samsa::Timestamp::none());  // magic 0 has no timestamps
  samsa::RecordReader reader;
  REQUIRE(reader.reset(*view).ok());
  samsa::Record record;
  for (int i = 0; i < 3; ++i) {
    REQUIRE(reader.next(record).value());
    CHECK(samsa::as_chars(*record.value) == fmt::format("old-{}", i));
    CHECK(record.timestamp == samsa::Timestamp::none());
  }
  CHECK_FALSE(reader.next(record).value());
}

TEST_CASE("BatchWithMaxTimestampMinusOneIsFoundByListOffsets") {
  // Sarama 1.22 sends v2 batches whose header max timestamp is -1; the leader sets it from
  // the records (as Kafka's LogValidator does), so ListOffsets by time finds them.
  TestServer s;
  Client c(s.port());
  create_topic(c, "t");
  auto batch = testing::make_batch(3);  // records at 1700000000000 + 0, 1, 2
  samsa::set_max_timestamp(batch, samsa::TimestampType::create_time, samsa::Timestamp(-1));
  REQUIRE(produce(c, 1, "t", 0, batch).error == 0);
  RequestBuilder b(2, 1, 2);  // ListOffsets v1
  b.body().i32(-1);           // replica id
  b.body().array_length(1);
  b.body().string("t");
  b.body().array_length(1);
  b.body().i32(0);
  b.body().i64(1'700'000'000'001);
  c.send(b.frame());
  testing::ResponseReader rr(std::move(*c.receive()));
  Reader& r = rr.r;
  CHECK(r.i32() == 2);
  REQUIRE(r.array_length(1) == 1);
  CHECK(r.string() == "t");
  REQUIRE(r.array_length(1) == 1);
  CHECK(r.i32() == 0);
  CHECK(r.i16() == 0);
  CHECK(r.i64() == 1'700'000'000'001);  // the record's timestamp
  CHECK(r.i64() == 1);                  // its offset
  CHECK(!r.failed());
}

TEST_CASE("CorruptMagicOneSetInProduceV2GetsError2AndStoresNothing") {
  TestServer s;
  Client c(s.port());
  create_topic(c, "t");
  auto set = magic1_set({{1'700'000'000'000, "k", "v"}});
  set.back() ^= std::byte{0x01};  // the CRC-32 no longer matches
  c.send(testing::produce_request(1, "t", 0, set, -1, 2));
  testing::ResponseReader rr(std::move(*c.receive()));
  (void)rr.r.i32();
  REQUIRE(rr.r.array_length(1) == 1);
  (void)rr.r.string();
  REQUIRE(rr.r.array_length(1) == 1);
  (void)rr.r.i32();
  CHECK(rr.r.i16() == error::kCorruptMessage);
  c.send(testing::fetch_request(2, "t", 0, 0));
  CHECK(parse_fetch(*c.receive()).high_watermark == 0);
}

TEST_CASE("PipelinedRequestsAreAnsweredInOrder") {
  TestServer s;
  Client c(s.port());
  create_topic(c, "t");
  std::vector<std::byte> all;
  for (int i = 0; i < 20; ++i) {
    auto req = (i % 3 == 0) ? testing::metadata_request(100 + i, {"t"})
                            : testing::produce_request(100 + i, "t", i % 2, testing::make_batch(2));
    all.insert(all.end(), req.begin(), req.end());
  }
  c.send(all);
  std::int64_t next[2] = {0, 0};
  for (int i = 0; i < 20; ++i) {
    auto frame = c.receive();
    REQUIRE(frame);
    CHECK(samsa::get_be<std::int32_t>(frame->data()) == 100 + i);
    if (i % 3 != 0) {
      ProduceResult p = parse_produce(std::move(*frame));
      CHECK(p.base_offset == next[i % 2]);  // a connection's batches keep their order
      next[i % 2] += 2;
    }
  }
}

TEST_CASE("AcksZeroGetsNoResponseButIsStored") {
  TestServer s;
  Client c(s.port());
  create_topic(c, "t");
  c.send(testing::produce_request(1, "t", 0, testing::make_batch(4), 0));
  c.send(testing::fetch_request(2, "t", 0, 0, 2000, 1));
  auto frame = c.receive();
  REQUIRE(frame);
  CHECK(samsa::get_be<std::int32_t>(frame->data()) == 2);
  FetchResult f = parse_fetch(std::move(*frame));
  CHECK(f.high_watermark == 4);
}

TEST_CASE("AcksZeroWithAPartitionErrorClosesTheConnection") {
  TestServer s;
  Client c(s.port());
  create_topic(c, "t");
  // Partition 99 does not exist: Kafka cannot answer acks=0, so it closes the connection.
  c.send(testing::produce_request(1, "t", 99, testing::make_batch(1), 0));
  CHECK_FALSE(c.receive().has_value());
  // A new connection works, and nothing was stored.
  Client again(s.port());
  again.send(testing::fetch_request(2, "t", 0, 0, 0, 1));
  auto frame = again.receive();
  REQUIRE(frame);
  CHECK(parse_fetch(std::move(*frame)).high_watermark == 0);
}

TEST_CASE("FetchOutsideTheLogGetsError1") {
  TestServer s;
  Client c(s.port());
  create_topic(c, "t");
  REQUIRE(produce(c, 1, "t", 0, testing::make_batch(3)).error == 0);
  c.send(testing::fetch_request(2, "t", 0, 4));
  FetchResult past = parse_fetch(*c.receive());
  CHECK(past.error == error::kOffsetOutOfRange);
  CHECK(past.high_watermark == -1);  // Kafka: unknown on an error
  CHECK(past.records.empty());
  c.send(testing::fetch_request(3, "t", 0, -1));
  CHECK(parse_fetch(*c.receive()).error == error::kOffsetOutOfRange);
  c.send(testing::fetch_request(4, "t", 0, 3));  // the log end: empty, no error
  FetchResult end = parse_fetch(*c.receive());
  CHECK(end.error == 0);
  CHECK(end.records.empty());
  CHECK(end.high_watermark == 3);
  CHECK(end.last_stable_offset == 3);
  CHECK(end.log_start_offset == 0);
  CHECK(end.preferred_read_replica == -1);
}

TEST_CASE("FetchReturnsTheFirstBatchEvenWhenLargerThanMaxBytes") {
  TestServer s;
  Client c(s.port());
  create_topic(c, "t");
  auto big = testing::make_batch(100);
  REQUIRE(produce(c, 1, "t", 0, big).error == 0);
  REQUIRE(produce(c, 2, "t", 0, testing::make_batch(1)).error == 0);
  c.send(testing::fetch_request(3, "t", 0, 0, 0, 1, 10));  // max 10 bytes
  FetchResult f = parse_fetch(*c.receive());
  CHECK(f.records.size() == big.size());  // KIP-74: exactly the first whole batch
}

namespace {

// Waits (a bounded loop, no assertion on time) until `n` fetches wait in the server.
void wait_for_waiting_fetches(TestServer& s, std::size_t n) {
  for (int attempt = 0; attempt < 60'000 && s.server().waiting_fetches() < n; ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  REQUIRE(s.server().waiting_fetches() == n);
}

// A max_wait no test outlives (24 days): an answer can only come from data arriving.
constexpr std::int32_t kMaxWaitForever = std::numeric_limits<std::int32_t>::max();

}  // namespace

TEST_CASE("LongPollFetchIsAnsweredWhenDataArrives") {
  TestServer s;
  Client consumer(s.port());
  Client producer(s.port());
  create_topic(producer, "t");
  consumer.send(testing::fetch_request(1, "t", 1, 0, kMaxWaitForever, 1));
  wait_for_waiting_fetches(s, 1);
  REQUIRE(produce(producer, 2, "t", 1, testing::make_batch(2)).error == 0);
  auto frame = consumer.receive(std::chrono::seconds(60));
  REQUIRE(frame);
  CHECK(s.server().waiting_fetches() == 0);
  FetchResult f = parse_fetch(std::move(*frame));
  CHECK(f.high_watermark == 2);
  CHECK(!f.records.empty());
}

TEST_CASE("LongPollFetchTimesOutEmpty") {
  TestServer s;
  Client c(s.port());
  create_topic(c, "t");
  const auto start = std::chrono::steady_clock::now();
  c.send(testing::fetch_request(1, "t", 0, 0, 300, 1));
  auto frame = c.receive();
  REQUIRE(frame);
  const auto waited = std::chrono::steady_clock::now() - start;
  CHECK(waited >= std::chrono::milliseconds(290));
  CHECK(parse_fetch(std::move(*frame)).records.empty());
}

TEST_CASE("ManyLongPollsHoldNoThreads") {
  // More waiting fetches than request threads: a Metadata request still gets through.
  TestServer s;
  Client admin(s.port());
  create_topic(admin, "t");
  std::vector<std::unique_ptr<Client>> waiting;
  for (int i = 0; i < 16; ++i) {
    waiting.push_back(std::make_unique<Client>(s.port()));
    waiting.back()->send(testing::fetch_request(i, "t", 0, 0, kMaxWaitForever, 1));
  }
  wait_for_waiting_fetches(s, 16);
  admin.send(testing::metadata_request(99, {"t"}));
  auto frame = admin.receive(std::chrono::seconds(60));
  CHECK(frame);
  CHECK(s.server().waiting_fetches() == 16);
}

TEST_CASE("IdempotentRetryGetsTheOriginalOffset") {
  TestServer s;
  Client c(s.port());
  create_topic(c, "t");
  RequestBuilder init(22, 1, 1);
  init.body().nullable_string(std::nullopt);
  init.body().i32(60000);
  c.send(init.frame());
  testing::ResponseReader rr(std::move(*c.receive()));
  (void)rr.r.i32();
  (void)rr.r.i32();
  REQUIRE(rr.r.i16() == 0);
  const std::int64_t pid = rr.r.i64();
  CHECK(rr.r.i16() == 0);  // epoch
  CHECK(produce(c, 2, "t", 0, testing::make_batch(3, pid, 0)).base_offset == 0);
  CHECK(produce(c, 3, "t", 0, testing::make_batch(2, pid, 3)).base_offset == 3);
  ProduceResult retry = produce(c, 4, "t", 0, testing::make_batch(3, pid, 0));
  CHECK(retry.error == 0);
  CHECK(retry.base_offset == 0);
  CHECK(produce(c, 5, "t", 0, testing::make_batch(1, pid, 9)).error ==
        error::kOutOfOrderSequenceNumber);
  CHECK(produce(c, 6, "t", 0, testing::make_batch(1, pid + 1000, 5)).error ==
        error::kUnknownProducerId);
}

TEST_CASE("ProducerIdsAreNotReusedAcrossRestarts") {
  std::filesystem::path dir;
  auto init_pid = [](Client& c) {
    RequestBuilder init(22, 0, 1);
    init.body().nullable_string(std::nullopt);
    init.body().i32(60000);
    c.send(init.frame());
    testing::ResponseReader rr(std::move(*c.receive()));
    (void)rr.r.i32();
    (void)rr.r.i32();
    REQUIRE(rr.r.i16() == 0);
    return rr.r.i64();
  };
  ServerOptions o = TestServer::defaults();
  // Per process: another run of the suite on this machine may share the directory.
  o.data_dir =
      (std::filesystem::temp_directory_path() / fmt::format("samsa-server-pid-test-{}", ::getpid()))
          .string();
  std::filesystem::remove_all(o.data_dir);
  std::int64_t first = 0;
  {
    auto s = Server::open(o);
    REQUIRE(s.ok());
    std::thread t([&] { (void)(*s)->run(); });
    Client c((*s)->port());
    first = init_pid(c);
    CHECK(init_pid(c) == first + 1);
    (*s)->stop();
    t.join();
  }
  auto s = Server::open(o);
  REQUIRE(s.ok());
  std::thread t([&] { (void)(*s)->run(); });
  Client c((*s)->port());
  CHECK(init_pid(c) > first + 1);
  (*s)->stop();
  t.join();
  s = samsa::Status::invalid_argument("done");
  std::filesystem::remove_all(o.data_dir);
}

}  // namespace samsa_server

namespace samsa_server {

TEST_CASE("SecondServerOnTheSameDirectoryIsRefused") {
  TestServer s;
  ServerOptions o = TestServer::defaults();
  o.data_dir = s.dir().string();
  auto second = Server::open(o);
  REQUIRE(!second.ok());
  CHECK(second.status().code() == samsa::StatusCode::busy);
}

}  // namespace samsa_server

namespace samsa_server {

TEST_CASE("RandomAndMutatedRequestsNeverCrashTheServer") {
  TestServer s;
  std::mt19937 rng(20240611);
  {
    Client setup(s.port());
    create_topic(setup, "t");
  }
  const std::vector<std::vector<std::byte>> valid = {
      testing::produce_request(1, "t", 0, testing::make_batch(5)),
      testing::fetch_request(2, "t", 0, 0, 0, 1), testing::metadata_request(3, {"t", "u"}, 6),
      testing::produce_request(4, "t", 1, testing::make_batch(3, 7, 0), 1, 3)};
  for (int round = 0; round < 150; ++round) {
    Client c(s.port());
    for (const auto& request : valid) {
      std::vector<std::byte> mutated = request;
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int i = 0; i < flips; ++i) {
        // Keep the size prefix: a wrong one only makes the server wait for more bytes.
        const std::size_t at = 4 + rng() % (mutated.size() - 4);
        mutated[at] ^= static_cast<std::byte>(1u << (rng() % 8));
      }
      c.send(mutated);
    }
    // Whatever it answered, the server is alive and answers a new connection.
    (void)c.closed_by_server(std::chrono::milliseconds(50));
  }
  for (int round = 0; round < 100; ++round) {
    Client c(s.port());
    const auto apis = supported_apis();
    const ApiVersionRange& api = apis[rng() % apis.size()];
    RequestBuilder b(api.api_key, api.min_version, round);
    const std::size_t n = rng() % 64;
    for (std::size_t i = 0; i < n; ++i) b.body().i8(static_cast<std::int8_t>(rng()));
    c.send(b.frame());
    (void)c.closed_by_server(std::chrono::milliseconds(50));
  }
  Client c(s.port());
  c.send(api_versions_request(1, 3));
  CHECK(c.receive());
}

}  // namespace samsa_server

namespace samsa_server {
namespace {

std::vector<std::byte> fetch_two(std::int32_t id, const std::string& topic, std::int32_t max_bytes,
                                 std::int32_t partition_max_bytes) {
  RequestBuilder b(1, 11, id);
  Writer& w = b.body();
  w.i32(-1);
  w.i32(0);  // max wait
  w.i32(1);  // min bytes
  w.i32(max_bytes);
  w.i8(0);
  w.i32(0);
  w.i32(-1);
  w.array_length(1);
  w.string(topic);
  w.array_length(2);
  for (std::int32_t p = 0; p < 2; ++p) {
    w.i32(p);
    w.i32(-1);
    w.i64(0);
    w.i64(-1);
    w.i32(partition_max_bytes);
  }
  w.array_length(0);
  w.string("");
  return b.frame();
}

// (high watermark, record bytes) of each partition of a two-partition fetch response.
std::vector<std::pair<std::int64_t, std::size_t>> parse_fetch_two(std::vector<std::byte> frame) {
  testing::ResponseReader rr(std::move(frame));
  Reader& r = rr.r;
  (void)r.i32();
  (void)r.i32();
  (void)r.i16();
  (void)r.i32();
  REQUIRE(r.array_length(1) == 1);
  (void)r.string();
  std::vector<std::pair<std::int64_t, std::size_t>> out;
  const std::int32_t n = r.array_length(1);
  for (std::int32_t i = 0; i < n; ++i) {
    (void)r.i32();
    CHECK(r.i16() == 0);
    const std::int64_t hw = r.i64();
    (void)r.i64();
    (void)r.i64();
    (void)r.array_length(16, true);
    (void)r.i32();
    auto records = r.nullable_bytes();
    out.emplace_back(hw, records ? records->size() : 0);
  }
  REQUIRE(!r.failed());
  return out;
}

}  // namespace

TEST_CASE("FetchTotalMaxBytesGivesTheFirstBatchOnlyToTheFirstPartition") {
  TestServer s;
  Client c(s.port());
  create_topic(c, "t");
  const auto batch = testing::make_batch(50);
  REQUIRE(produce(c, 1, "t", 0, batch).error == 0);
  REQUIRE(produce(c, 2, "t", 1, batch).error == 0);
  c.send(fetch_two(3, "t", 10, 1 << 20));  // total max 10 bytes
  auto parts = parse_fetch_two(*c.receive());
  REQUIRE(parts.size() == 2);
  CHECK(parts[0] == std::make_pair(std::int64_t{50}, batch.size()));    // KIP-74
  CHECK(parts[1] == std::make_pair(std::int64_t{50}, std::size_t{0}));  // offsets, no bytes
  c.send(fetch_two(4, "t", 1 << 20, 1 << 20));
  parts = parse_fetch_two(*c.receive());
  CHECK(parts[0].second == batch.size());
  CHECK(parts[1].second == batch.size());
}

}  // namespace samsa_server

namespace samsa_server {

TEST_CASE("MaintenanceAppliesRetention") {
  ServerOptions o = TestServer::defaults();
  o.partition.log.segment_bytes = 2048;
  o.partition.log.retention_bytes = 4096;
  // Size only: make_batch's timestamps are from 2023, so under the default retention.ms
  // (7 days) every segment would be expired by time, the active one too.
  REQUIRE(o.partition.log.retention_ms == -1);
  o.maintenance_interval = std::chrono::milliseconds(20);
  TestServer s(o);
  Client c(s.port());
  create_topic(c, "t");
  // 5 batches of 20 records fill a segment (the 6th would pass 2048 bytes): 8 segments of
  // 1755 bytes. Retention keeps the newest 3 (5265 bytes; 2 would be under 4096).
  const auto batch = testing::make_batch(20);
  REQUIRE(batch.size() == 351);
  std::int64_t end = 0;
  for (int i = 0; i < 40; ++i) {
    ProduceResult r = produce(c, i, "t", 0, batch);
    REQUIRE(r.error == 0);
    end = r.base_offset + 20;
  }
  REQUIRE(end == 800);
  // Wait for a maintenance pass that began after the last produce was acknowledged.
  const std::uint64_t passes = s.server().maintenance_passes();
  for (int attempt = 0; attempt < 1000 && s.server().maintenance_passes() < passes + 2; ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  REQUIRE(s.server().maintenance_passes() >= passes + 2);
  c.send(testing::fetch_request(100, "t", 0, 0));
  CHECK(parse_fetch(*c.receive()).error == error::kOffsetOutOfRange);
  c.send(testing::fetch_request(101, "t", 0, end - 20));
  FetchResult tail = parse_fetch(*c.receive());
  CHECK(tail.error == 0);
  CHECK(tail.log_start_offset == 500);
  CHECK(tail.high_watermark == end);
}

// The network loop's limits (issue 17, items 2 and 3): NetConfig in net.h.

namespace {

// True when an ApiVersions request on `c` is answered within `timeout`.
bool answered(Client& c, std::int32_t id,
              std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  c.send(api_versions_request(id, 0));
  auto frame = c.receive(timeout);
  if (!frame) return false;
  testing::ResponseReader rr(std::move(*frame));
  return rr.r.i32() == id;
}

// Waits (at most 10 s) until `done` holds; returns whether it did.
template <typename F>
bool eventually(F done) {
  for (int i = 0; i < 1000; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

}  // namespace

TEST_CASE("IdleConnectionIsClosedAfterTheIdleTimeout") {
  ServerOptions o = TestServer::defaults();
  o.connections_max_idle_ms = 200;
  TestServer s(o);
  Client c(s.port());
  REQUIRE(answered(c, 1));
  CHECK(c.closed_by_server(std::chrono::seconds(10)));
  CHECK(s.server().metrics().net().closed_idle.load() == 1);
  CHECK(eventually([&] { return s.server().metrics().net().connections_open.load() == 0; }));
}

TEST_CASE("ConnectionWithALongPollUnderWayIsNotIdle") {
  ServerOptions o = TestServer::defaults();
  o.connections_max_idle_ms = 200;
  TestServer s(o);
  Client c(s.port());
  create_topic(c, "t");
  c.send(testing::fetch_request(1, "t", 0, 0, 1000, 1));  // waits 1 s: five idle timeouts
  auto frame = c.receive();
  REQUIRE(frame);
  CHECK(parse_fetch(std::move(*frame)).records.empty());  // answered on the same connection
  CHECK(s.server().metrics().net().closed_idle.load() == 0);
}

TEST_CASE("HalfSentFramesAreClosedAfterTheIdleTimeout") {
  ServerOptions o = TestServer::defaults();
  o.connections_max_idle_ms = 200;
  TestServer s(o);
  // A small frame (inside the read buffer) and a large one (its own buffer, counted in the
  // request budget from its size prefix on): the size and part of the body, then nothing.
  Client small(s.port());
  Writer w;
  w.i32(100);
  w.raw(std::vector<std::byte>(10, std::byte{1}));
  small.send(w.take());
  Client large(s.port());
  Writer w2;
  w2.i32(1 << 20);
  w2.raw(std::vector<std::byte>(100 << 10, std::byte{1}));
  large.send(w2.take());
  CHECK(small.closed_by_server(std::chrono::seconds(10)));
  CHECK(large.closed_by_server(std::chrono::seconds(10)));
  const NetStats& net = s.server().metrics().net();
  CHECK(net.closed_idle.load() == 2);
  CHECK(net.request_bytes_peak.load() == 1u << 20);
  CHECK(eventually([&] { return net.request_bytes_in_use.load() == 0; }));
}

TEST_CASE("ConnectionsBeyondMaxConnectionsWaitForASlot") {
  // As Kafka's acceptor: at max.connections nothing more is accepted; the next connection
  // waits in the listen backlog and is served once one of the first closes.
  ServerOptions o = TestServer::defaults();
  o.max_connections = 3;
  TestServer s(o);
  std::vector<std::unique_ptr<Client>> first;
  for (int i = 0; i < 3; ++i) {
    first.push_back(std::make_unique<Client>(s.port()));
    REQUIRE(answered(*first.back(), i));
  }
  Client extra(s.port());  // the kernel completes the handshake: it sits in the backlog
  extra.send(api_versions_request(10, 0));
  bool timed_out = false;
  CHECK(!extra.receive(std::chrono::milliseconds(300), &timed_out));
  CHECK(timed_out);
  CHECK(s.server().metrics().net().accept_pauses.load() >= 1);
  for (int i = 0; i < 3; ++i) CHECK(answered(*first[i], 20 + i));  // the first three work
  first.front().reset();
  auto frame = extra.receive(std::chrono::seconds(10));
  REQUIRE(frame);
  testing::ResponseReader rr(std::move(*frame));
  CHECK(rr.r.i32() == 10);
  CHECK(s.server().metrics().net().connections_open.load() == 3);
}

TEST_CASE("MaxConnectionsPerIpClosesTheNextFromThatAddressOnly") {
  ServerOptions o = TestServer::defaults();
  o.max_connections_per_ip = 2;
  TestServer s(o);
  Client a(s.port());
  Client b(s.port());
  REQUIRE(answered(a, 1));
  REQUIRE(answered(b, 2));
  Client third(s.port());  // accepted, then closed at once
  CHECK(third.closed_by_server(std::chrono::seconds(10)));
  CHECK(s.server().metrics().net().refused_per_ip.load() == 1);
  std::unique_ptr<Client> other;
  try {
    other = std::make_unique<Client>(s.port(), "127.0.0.2");
  } catch (const std::exception& e) {
    WARN("no second loopback address (" << e.what() << "): per-address part skipped");
  }
  if (other) {
    CHECK(answered(*other, 3));
  }
  CHECK(answered(a, 4));
  CHECK(answered(b, 5));
}

TEST_CASE("ClientThatNeverReadsIsCutOffAndOthersAreStillAnswered") {
  ServerOptions o = TestServer::defaults();
  o.max_queued_reply_bytes = 256 << 10;
  TestServer s(o);
  Client other(s.port());
  create_topic(other, "t");
  const auto batch = testing::make_batch(5000);  // about 70 KiB
  for (int i = 0; i < 8; ++i) REQUIRE(produce(other, 100 + i, "t", 0, batch).error == 0);
  // Fetches of the whole partition (over 500 KiB each), their replies never read: once the
  // socket buffers are full, the replies queue on the server until past the bound.
  Client slow(s.port());
  int sent = 0;
  for (int round = 0; round < 20 && s.server().metrics().net().closed_slow_reader.load() == 0;
       ++round) {
    for (int i = 0; i < 20; ++i) slow.send(testing::fetch_request(sent++, "t", 0, 0));
    // The other client is answered meanwhile.
    REQUIRE(produce(other, 1000 + round, "t", 1, testing::make_batch(3)).error == 0);
    other.send(testing::fetch_request(2000 + round, "t", 0, 0));
    auto frame = other.receive();
    REQUIRE(frame);
    CHECK(parse_fetch(std::move(*frame)).error == 0);
  }
  CHECK(eventually([&] { return s.server().metrics().net().closed_slow_reader.load() == 1; }));
  CHECK(slow.closed_by_server(std::chrono::seconds(10)));
  CHECK(answered(other, 3000));
}

TEST_CASE("RequestBudgetStopsReadingAndEveryRequestIsAnsweredOnceTheLoadEnds") {
  ServerOptions o = TestServer::defaults();
  o.queued_max_request_bytes = 256 << 10;
  TestServer s(o);
  Client admin(s.port());
  create_topic(admin, "t");
  const auto batch = testing::make_batch(25000);  // about 370 KiB: more than the budget
  const std::uint64_t frame_bytes = testing::produce_request(0, "t", 0, batch).size() - 4;
  REQUIRE(frame_bytes > o.queued_max_request_bytes);
  constexpr int kConns = 4;
  constexpr int kPerConn = 4;
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < kConns; ++i) clients.push_back(std::make_unique<Client>(s.port()));
  // Every connection sends its frames at once, from its own thread (a send may block while
  // the server does not read it).
  std::vector<std::thread> senders;
  for (int i = 0; i < kConns; ++i) {
    senders.emplace_back([&clients, &batch, i] {
      for (int j = 0; j < kPerConn; ++j) {
        clients[i]->send(testing::produce_request(i * 100 + j, "t", i % 2, batch));
      }
    });
  }
  for (auto& t : senders) t.join();
  std::int64_t records = 0;
  for (int i = 0; i < kConns; ++i) {
    for (int j = 0; j < kPerConn; ++j) {
      auto frame = clients[i]->receive(std::chrono::seconds(30));
      REQUIRE(frame);
      ProduceResult r = parse_produce(std::move(*frame));
      CHECK(r.correlation_id == i * 100 + j);
      CHECK(r.error == 0);
      records += 25000;
    }
  }
  CHECK(records == kConns * kPerConn * 25000);
  const NetStats& net = s.server().metrics().net();
  // A frame is taken only while the bytes in use are under the budget.
  CHECK(net.request_bytes_peak.load() <= o.queued_max_request_bytes + frame_bytes);
  CHECK(net.request_bytes_peak.load() >= frame_bytes);
  CHECK(net.budget_waits.load() > 0);
  CHECK(eventually([&] { return net.request_bytes_in_use.load() == 0; }));
  const std::string text = s.server().metrics().render(s.server().broker());
  CHECK(text.find("samsa_request_bytes_in_use 0\n") != std::string::npos);
  CHECK(answered(admin, 7));
}

}  // namespace samsa_server
