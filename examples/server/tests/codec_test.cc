// The codecs on hand-built bytes: request decoding (including malformed input) and response
// layouts per version.
#include <catch2/catch.hpp>

#include "broker.h"
#include "codec/messages.h"
#include "tests/test_client.h"

namespace samsa_server {
namespace {

std::vector<std::byte> bytes_of(std::initializer_list<int> v) {
  std::vector<std::byte> out;
  for (int b : v) out.push_back(static_cast<std::byte>(b));
  return out;
}

}  // namespace

TEST_CASE("ReaderFailsOnTruncatedIntAndStaysFailed") {
  auto b = bytes_of({0, 1, 0});
  Reader r(b);
  CHECK(r.i16() == 1);
  CHECK(r.i16() == 0);
  CHECK(r.failed());
  CHECK(r.i8() == 0);  // sticky: later reads give zeros
  CHECK(r.error().find("at byte 2") != std::string::npos);
}

TEST_CASE("ReaderRefusesNegativeStringLength") {
  auto b = bytes_of({0xff, 0xfe, 'a'});
  Reader r(b);
  (void)r.nullable_string();
  CHECK(r.failed());
}

TEST_CASE("ReaderNullStringWhereRequiredFails") {
  auto b = bytes_of({0xff, 0xff});
  Reader r(b);
  (void)r.string();
  CHECK(r.failed());
}

TEST_CASE("ReaderArrayLengthLargerThanBytesLeftFailsWithoutAllocating") {
  auto b = bytes_of({0x7f, 0xff, 0xff, 0xff, 0, 0});
  Reader r(b);
  CHECK(r.array_length(4) == 0);
  CHECK(r.failed());
}

TEST_CASE("ReaderNullArrayOnlyWhereNullable") {
  auto b = bytes_of({0xff, 0xff, 0xff, 0xff});
  Reader nullable(b);
  CHECK(nullable.array_length(2, true) == -1);
  CHECK(!nullable.failed());
  Reader required(b);
  (void)required.array_length(2, false);
  CHECK(required.failed());
}

TEST_CASE("ReaderUnsignedVarintTooLongFails") {
  auto b = bytes_of({0xff, 0xff, 0xff, 0xff, 0xff, 0x01});
  Reader r(b);
  (void)r.unsigned_varint();
  CHECK(r.failed());
}

TEST_CASE("ReaderCompactStringAndTaggedFields") {
  Writer w;
  w.compact_string("abc");
  w.unsigned_varint(1);  // one tagged field
  w.unsigned_varint(7);  // tag
  w.unsigned_varint(2);  // size
  w.i16(0x0102);
  w.i8(9);
  auto b = w.take();
  Reader r(b);
  CHECK(r.compact_string() == "abc");
  r.skip_tagged_fields();
  CHECK(r.i8() == 9);
  CHECK(!r.failed());
}

TEST_CASE("RequestHeaderV1") {
  testing::RequestBuilder b(3, 1, 42);
  auto frame = b.frame();
  auto h = decode_request_header(MutableByteSpan(frame).subspan(4));
  REQUIRE(h.ok());
  CHECK(h->api_key == 3);
  CHECK(h->api_version == 1);
  CHECK(h->correlation_id == 42);
  CHECK(h->client_id == "protocol-test");
  CHECK(h->body_offset == frame.size() - 4);
}

TEST_CASE("RequestHeaderV2SkipsTaggedFieldsOfApiVersionsV3") {
  testing::RequestBuilder b(18, 3, 7, /*flexible=*/true);
  auto frame = b.frame();
  auto h = decode_request_header(MutableByteSpan(frame).subspan(4));
  REQUIRE(h.ok());
  CHECK(h->body_offset == frame.size() - 4);
}

TEST_CASE("RequestHeaderTruncatedFails") {
  auto b = bytes_of({0, 3, 0, 1, 0, 0});
  CHECK(!decode_request_header(b).ok());
}

TEST_CASE("ApiVersionsV0ResponseLayout") {
  ApiVersionsResponse m;
  m.api_keys = {{0, 0, 7}};
  Writer w;
  encode(m, 0, w);
  CHECK(w.buffer() == bytes_of({0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 7}));
}

TEST_CASE("ApiVersionsV3ResponseIsCompactWithTaggedFields") {
  ApiVersionsResponse m;
  m.api_keys = {{0, 0, 7}};
  Writer w;
  encode(m, 3, w);
  // error, compact array (n+1), key min max + tags, throttle, tags
  CHECK(w.buffer() == bytes_of({0, 0, 2, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0}));
}

TEST_CASE("ApiVersionsUnknownVersionEncodesAsV0") {
  ApiVersionsResponse m;
  m.error_code = error::kUnsupportedVersion;
  m.api_keys = {{0, 0, 7}};
  Writer w;
  encode(m, 9, w);
  CHECK(w.buffer() == bytes_of({0, 35, 0, 0, 0, 1, 0, 0, 0, 0, 0, 7}));
}

TEST_CASE("AdvertisedVersionsAreExactlyTheImplementedOnes") {
  std::vector<ApiVersionRange> want{{0, 0, 7},  {1, 4, 11}, {2, 0, 3},  {3, 0, 6},  {8, 0, 7},
                                    {9, 0, 5},  {10, 0, 2}, {11, 0, 5}, {12, 0, 3}, {13, 0, 3},
                                    {14, 0, 3}, {15, 0, 4}, {16, 0, 2}, {18, 0, 3}, {19, 0, 4},
                                    {22, 0, 1}, {32, 0, 3}, {42, 0, 1}, {47, 0, 0}};
  std::vector<ApiVersionRange> got(supported_apis().begin(), supported_apis().end());
  CHECK(got == want);
  CHECK(!is_supported(1, 3));   // Fetch before RecordBatch v2
  CHECK(!is_supported(1, 12));  // flexible Fetch
  CHECK(!is_supported(8, 8));   // flexible OffsetCommit
  CHECK(!is_supported(11, 6));  // flexible JoinGroup
}

TEST_CASE("ClientSoftwareFieldsFollowKip511") {
  CHECK(valid_client_software_field("librdkafka"));
  CHECK(valid_client_software_field("2.0.2"));
  CHECK(!valid_client_software_field(""));
  CHECK(!valid_client_software_field("-x"));
  CHECK(!valid_client_software_field("a b"));
}

TEST_CASE("MetadataV0EmptyListMeansAllTopics") {
  auto b = bytes_of({0, 0, 0, 0});
  Reader r(b);
  auto m = decode_metadata(r, 0);
  REQUIRE(m.ok());
  CHECK(!m->topics);
}

TEST_CASE("MetadataV1NullMeansAllEmptyMeansNone") {
  auto null_list = bytes_of({0xff, 0xff, 0xff, 0xff});
  Reader r1(null_list);
  CHECK(!decode_metadata(r1, 1)->topics);
  auto empty = bytes_of({0, 0, 0, 0});
  Reader r2(empty);
  auto m = decode_metadata(r2, 1);
  REQUIRE(m->topics);
  CHECK(m->topics->empty());
}

TEST_CASE("MetadataV4ReadsAutoCreateFlag") {
  Writer w;
  w.array_length(1);
  w.string("t");
  w.boolean(false);
  auto b = w.take();
  Reader r(b);
  auto m = decode_metadata(r, 4);
  REQUIRE(m.ok());
  CHECK(!m->allow_auto_topic_creation);
  CHECK(*m->topics == std::vector<std::string>{"t"});
}

TEST_CASE("MetadataV0ResponseHasNoRackControllerOrInternalFlag") {
  MetadataResponse m;
  m.brokers.push_back({0, "h", 9, std::nullopt});
  m.topics.push_back({0, "t", false, {{0, 0, 0, {0}, {0}, {}}}});
  Writer v0, v1;
  encode(m, 0, v0);
  encode(m, 1, v1);
  // v1 adds rack (2), controller id (4) and is_internal (1).
  CHECK(v1.size() == v0.size() + 7);
}

TEST_CASE("ProduceRequestRecordsViewTheFrame") {
  auto batch = testing::make_batch(3);
  auto frame = testing::produce_request(5, "t", 1, batch, 1);
  auto h = decode_request_header(MutableByteSpan(frame).subspan(4));
  Reader r(MutableByteSpan(frame).subspan(4 + h->body_offset));
  auto m = decode_produce(r, 7);
  REQUIRE(m.ok());
  CHECK(m->acks == 1);
  REQUIRE(m->topics.size() == 1);
  CHECK(m->topics[0].partitions[0].index == 1);
  CHECK(m->topics[0].partitions[0].records->size() == batch.size());
  CHECK(m->topics[0].partitions[0].records->data() >= frame.data());
}

TEST_CASE("ProduceRequestTruncatedRecordsFail") {
  auto frame = testing::produce_request(5, "t", 0, testing::make_batch(3), 1);
  frame.resize(frame.size() - 10);
  auto h = decode_request_header(MutableByteSpan(frame).subspan(4));
  Reader r(MutableByteSpan(frame).subspan(4 + h->body_offset));
  CHECK(!decode_produce(r, 7).ok());
}

TEST_CASE("ProduceResponseFieldsByVersion") {
  ProduceResponse m;
  m.responses.push_back({"t", {{0, 0, 5, -1, 0}}});
  Writer v0, v1, v2, v5;
  encode(m, 0, v0);
  encode(m, 1, v1);
  encode(m, 2, v2);
  encode(m, 5, v5);
  CHECK(v1.size() == v0.size() + 4);  // throttle time
  CHECK(v2.size() == v1.size() + 8);  // log append time
  CHECK(v5.size() == v2.size() + 8);  // log start offset
}

TEST_CASE("FetchRequestV11Decodes") {
  auto frame = testing::fetch_request(9, "topic", 3, 77, 500, 1, 1000);
  auto h = decode_request_header(MutableByteSpan(frame).subspan(4));
  Reader r(MutableByteSpan(frame).subspan(4 + h->body_offset));
  auto m = decode_fetch(r, 11);
  REQUIRE(m.ok());
  CHECK(m->max_wait_ms == 500);
  CHECK(m->max_bytes == 1000);
  REQUIRE(m->topics.size() == 1);
  CHECK(m->topics[0].topic == "topic");
  CHECK(m->topics[0].partitions[0].partition == 3);
  CHECK(m->topics[0].partitions[0].fetch_offset == 77);
  CHECK(r.remaining() == 0);
}

TEST_CASE("FetchResponseV4HasNoLogStartOrPreferredReplica") {
  FetchResponse m;
  m.responses.push_back({"t", {FetchPartitionResponse{}}});
  ResponseWriter v4(1), v5(1), v11(1);
  REQUIRE(encode(m, 4, v4).ok());
  REQUIRE(encode(m, 5, v5).ok());
  REQUIRE(encode(m, 11, v11).ok());
  const auto s4 = v4.finish().size_bytes();
  const auto s5 = v5.finish().size_bytes();
  const auto s11 = v11.finish().size_bytes();
  CHECK(s5 == s4 + 8);       // log start offset
  CHECK(s11 == s5 + 6 + 4);  // error code + session id (v7), preferred read replica (v11)
}

TEST_CASE("ListOffsetsV0UsesOldStyleOffsets") {
  ListOffsetsResponse m;
  m.topics.push_back({"t", {{0, 0, {12}, -1, 12}}});
  Writer v0, v1;
  encode(m, 0, v0);
  encode(m, 1, v1);
  // v0: array of one i64 (4 + 8); v1: timestamp + offset (16)
  CHECK(v1.size() == v0.size() + 4);
}

TEST_CASE("ListOffsetsV0RequestHasMaxNumOffsets") {
  Writer w;
  w.i32(-1);
  w.array_length(1);
  w.string("t");
  w.array_length(1);
  w.i32(0);
  w.i64(-2);
  w.i32(1);
  auto b = w.take();
  Reader r(b);
  auto m = decode_list_offsets(r, 0);
  REQUIRE(m.ok());
  CHECK(m->topics[0].partitions[0].timestamp == -2);
  CHECK(r.remaining() == 0);
}

TEST_CASE("TopicNamesFollowKafkasRule") {
  CHECK(valid_topic_name("orders"));
  CHECK(valid_topic_name("a.b_c-D9"));
  CHECK(valid_topic_name(std::string(249, 'x')));
  CHECK(!valid_topic_name(std::string(250, 'x')));
  CHECK(!valid_topic_name(""));
  CHECK(!valid_topic_name("."));
  CHECK(!valid_topic_name(".."));
  CHECK(!valid_topic_name("../etc"));
  CHECK(!valid_topic_name("a/b"));
  CHECK(!valid_topic_name("a b"));
  CHECK(!valid_topic_name(std::string("a\0b", 3)));
}

}  // namespace samsa_server
