// The admin APIs end to end over a socket: CreateTopics' checks (Kafka's, for a cluster of
// this one node), each answered with Kafka's error code and message; topic configs applied
// to the new partitions and kept across a restart.
#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <thread>

#include "codec/admin_messages.h"
#include "tests/test_client.h"

namespace samsa_server {
namespace {

using testing::Client;
using testing::RequestBuilder;
using testing::TestServer;

struct Topic {
  std::string name;
  std::int32_t partitions = -1;
  std::int16_t replication = -1;
  std::vector<std::pair<std::int32_t, std::vector<std::int32_t>>> assignments;
  std::vector<std::pair<std::string, std::optional<std::string>>> configs;
};

std::vector<std::byte> create_topics_request(std::int32_t id, const std::vector<Topic>& topics,
                                             bool validate_only = false, std::int16_t version = 4) {
  RequestBuilder b(19, version, id);
  Writer& w = b.body();
  w.array_length(topics.size());
  for (const Topic& t : topics) {
    w.string(t.name);
    w.i32(t.partitions);
    w.i16(t.replication);
    w.array_length(t.assignments.size());
    for (const auto& [p, brokers] : t.assignments) {
      w.i32(p);
      w.array_length(brokers.size());
      for (std::int32_t broker : brokers) w.i32(broker);
    }
    w.array_length(t.configs.size());
    for (const auto& [k, v] : t.configs) {
      w.string(k);
      w.nullable_string(v);
    }
  }
  w.i32(30000);
  if (version >= 1) w.boolean(validate_only);
  return b.frame();
}

struct Result {
  std::string name;
  std::int16_t error = -100;
  std::optional<std::string> message;
};

std::vector<Result> create_topics(Client& c, std::int32_t id, const std::vector<Topic>& topics,
                                  bool validate_only = false, std::int16_t version = 4) {
  c.send(create_topics_request(id, topics, validate_only, version));
  auto frame = c.receive();
  REQUIRE(frame);
  testing::ResponseReader rr(std::move(*frame));
  Reader& r = rr.r;
  CHECK(r.i32() == id);
  if (version >= 2) CHECK(r.i32() == 0);  // throttle
  std::vector<Result> out;
  const std::int32_t n = r.array_length(4);
  for (std::int32_t i = 0; i < n; ++i) {
    Result& x = out.emplace_back();
    x.name = r.string();
    x.error = r.i16();
    if (version >= 1) x.message = r.nullable_string();
  }
  REQUIRE(!r.failed());
  CHECK(r.remaining() == 0);
  return out;
}

}  // namespace

TEST_CASE("CreateTopicsChecksAsKafkaDoesOnOneNode") {
  TestServer server;
  Client c(server.port());
  auto rs =
      create_topics(c, 1,
                    {{"fine", 3, 1, {}, {{"segment.bytes", "4096"}, {"cleanup.policy", "compact"}}},
                     {"defaults", -1, -1, {}, {}},
                     {"manual", -1, -1, {{0, {0}}, {1, {0}}}, {}},
                     {"three-replicas", 1, 3, {}, {}},
                     {"no-partitions", 0, 1, {}, {}},
                     {"too-many", 10001, 1, {}, {}},
                     {"bad-config", 1, 1, {}, {{"retention.ms", "soon"}}},
                     {"unknown-config", 1, 1, {}, {{"compression.type", "zstd"}}},
                     {"null-config", 1, 1, {}, {{"retention.ms", std::nullopt}}},
                     {"elsewhere", -1, -1, {{0, {5}}}, {}},
                     {"both", 2, -1, {{0, {0}}}, {}},
                     {"a/b", 1, 1, {}, {}},
                     {"__consumer_offsets", 1, 1, {}, {}},
                     {"twice", 1, 1, {}, {}},
                     {"twice", 1, 1, {}, {}}});
  REQUIRE(rs.size() == 14);  // "twice" answered once
  std::map<std::string, Result> by;
  for (const Result& x : rs) by[x.name] = x;
  CHECK(by["fine"].error == 0);
  CHECK(!by["fine"].message);
  CHECK(by["defaults"].error == 0);
  CHECK(by["manual"].error == 0);
  CHECK(by["three-replicas"].error == error::kInvalidReplicationFactor);
  CHECK(by["no-partitions"].error == error::kInvalidPartitions);
  CHECK(by["too-many"].error == error::kInvalidPartitions);
  CHECK(by["bad-config"].error == error::kInvalidConfig);
  CHECK(by["bad-config"].message.value_or("").find("retention.ms: 'soon'") != std::string::npos);
  CHECK(by["unknown-config"].error == error::kInvalidConfig);
  CHECK(by["unknown-config"].message.value_or("").find("compression.type") != std::string::npos);
  CHECK(by["null-config"].error == error::kInvalidConfig);
  CHECK(by["elsewhere"].error == error::kInvalidReplicaAssignment);
  CHECK(by["both"].error == error::kInvalidRequest);
  CHECK(by["a/b"].error == error::kInvalidTopicException);
  CHECK(by["__consumer_offsets"].error == error::kTopicAlreadyExists);
  CHECK(by["twice"].error == error::kInvalidRequest);

  Broker& broker = server.server().broker();
  REQUIRE(broker.find("fine"));
  CHECK(broker.find("fine")->partitions.size() == 3);
  CHECK(broker.find("defaults")->partitions.size() == 2);  // the server's default
  CHECK(broker.find("manual")->partitions.size() == 2);
  const samsa::LogConfig& lc = broker.find("fine")->partitions[2]->partition->log().config();
  CHECK(lc.segment_bytes == 4096);
  CHECK(lc.cleanup_policy.compact);
  CHECK(!lc.cleanup_policy.delete_old);
  for (const char* refused : {"three-replicas", "bad-config", "elsewhere", "a/b", "twice"}) {
    CHECK(!broker.find(refused));
  }
  CHECK(!std::filesystem::exists(server.dir() / "bad-config-0"));

  // Again: TOPIC_ALREADY_EXISTS; v0 has no message.
  auto again = create_topics(c, 2, {{"fine", 1, 1, {}, {}}}, false, 0);
  REQUIRE(again.size() == 1);
  CHECK(again[0].error == error::kTopicAlreadyExists);
  // validate_only: checked, answered NONE, nothing created.
  auto dry = create_topics(c, 3, {{"dry-run", 4, 1, {}, {{"retention.ms", "1000"}}}}, true, 1);
  REQUIRE(dry.size() == 1);
  CHECK(dry[0].error == 0);
  CHECK(!broker.find("dry-run"));
  CHECK(!std::filesystem::exists(server.dir() / "dry-run.config"));
}

TEST_CASE("TopicConfigsFromCreateTopicsSurviveARestart") {
  const auto dir =
      std::filesystem::temp_directory_path() / fmt::format("samsa-admin-restart-{}", ::getpid());
  std::filesystem::remove_all(dir);
  ServerOptions o = TestServer::defaults();
  o.data_dir = dir.string();
  for (int round = 0; round < 2; ++round) {
    auto opened = Server::open(o);
    REQUIRE(opened.ok());
    auto server = std::move(opened).value();
    std::thread loop([&] { (void)server->run(); });
    if (round == 0) {
      Client c(server->port());
      auto rs = create_topics(
          c, 1,
          {{"kept",
            2,
            1,
            {},
            {{"retention.bytes", "123456"}, {"message.timestamp.type", "LogAppendTime"}}}});
      REQUIRE(rs.size() == 1);
      CHECK(rs[0].error == 0);
    }
    auto topic = server->broker().find("kept");
    REQUIRE(topic);
    CHECK(topic->partitions.size() == 2);
    const samsa::LogConfig& lc = topic->partitions[1]->partition->log().config();
    CHECK(lc.retention_bytes == 123456);
    CHECK(lc.timestamp_type == samsa::TimestampType::log_append_time);
    server->stop();
    loop.join();
    CHECK(server->shutdown().ok());
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("CreateTopicsCodecReadsEveryVersion") {
  for (std::int16_t v = 0; v <= 4; ++v) {
    auto frame = create_topics_request(
        7, {{"t", 2, 1, {{0, {0, 1}}}, {{"k", "v"}, {"n", std::nullopt}}}}, true, v);
    // The frame without its size prefix; the header is v1 (key, version, id, client id).
    MutableByteSpan body(frame);
    auto header = decode_request_header(body.subspan(4));
    REQUIRE(header.ok());
    Reader r(body.subspan(4 + header->body_offset));
    auto m = decode_create_topics(r, v);
    REQUIRE(m.ok());
    REQUIRE(m->topics.size() == 1);
    CHECK(m->topics[0].name == "t");
    CHECK(m->topics[0].num_partitions == 2);
    CHECK(m->topics[0].assignments.at(0).broker_ids == std::vector<std::int32_t>{0, 1});
    CHECK(m->topics[0].configs.at(1).name == "n");
    CHECK(!m->topics[0].configs.at(1).value);
    CHECK(m->timeout_ms == 30000);
    CHECK(m->validate_only == (v >= 1));
    CHECK(r.remaining() == 0);
    // Cut anywhere: an error naming the API.
    for (std::size_t cut = 0; cut < r.offset(); ++cut) {
      Reader short_r(body.subspan(4 + header->body_offset, cut));
      auto bad = decode_create_topics(short_r, v);
      REQUIRE(!bad.ok());
      CHECK(bad.status().message().find("CreateTopics") != std::string::npos);
    }
  }
}

}  // namespace samsa_server

namespace samsa_server {
namespace {

struct Described {
  std::int16_t error = -100;
  std::string name;
  std::map<std::string, std::pair<std::optional<std::string>, std::int8_t>> configs;  // source
  std::map<std::string, std::int8_t> types;
};

std::vector<Described> describe_configs(
    Client& c, std::int32_t id, const std::vector<std::pair<std::int8_t, std::string>>& resources,
    std::optional<std::vector<std::string>> keys, std::int16_t version) {
  RequestBuilder b(32, version, id);
  Writer& w = b.body();
  w.array_length(resources.size());
  for (const auto& [type, name] : resources) {
    w.i8(type);
    w.string(name);
    if (keys) {
      w.array_length(keys->size());
      for (const std::string& k : *keys) w.string(k);
    } else {
      w.i32(-1);
    }
  }
  if (version >= 1) w.boolean(true);
  if (version >= 3) w.boolean(false);
  c.send(b.frame());
  auto frame = c.receive();
  REQUIRE(frame);
  testing::ResponseReader rr(std::move(*frame));
  Reader& r = rr.r;
  CHECK(r.i32() == id);
  (void)r.i32();
  std::vector<Described> out;
  const std::int32_t n = r.array_length(1);
  for (std::int32_t i = 0; i < n; ++i) {
    Described& d = out.emplace_back();
    d.error = r.i16();
    (void)r.nullable_string();
    (void)r.i8();
    d.name = r.string();
    const std::int32_t configs = r.array_length(1);
    for (std::int32_t k = 0; k < configs; ++k) {
      const std::string name = r.string();
      auto value = r.nullable_string();
      (void)r.boolean();  // read only
      std::int8_t source = 0;
      if (version == 0) source = r.boolean() ? 5 : 1;  // is_default
      if (version >= 1) source = r.i8();
      (void)r.boolean();  // sensitive
      if (version >= 1) {
        const std::int32_t syn = r.array_length(1);
        for (std::int32_t s = 0; s < syn; ++s) {
          CHECK(r.string() == name);
          CHECK(r.nullable_string() == value);
          CHECK(r.i8() == source);
        }
      }
      if (version >= 3) {
        d.types[name] = r.i8();
        (void)r.nullable_string();
      }
      d.configs[name] = {value, source};
    }
  }
  REQUIRE(!r.failed());
  CHECK(r.remaining() == 0);
  return out;
}

}  // namespace

TEST_CASE("DescribeConfigsShowsATopicsOwnConfigsAndTheDefaults") {
  TestServer server;
  Client c(server.port());
  REQUIRE(create_topics(c, 1, {{"described", 1, 1, {}, {{"retention.ms", "1234"}}}})[0].error == 0);
  for (std::int16_t v = 0; v <= 3; ++v) {
    auto all = describe_configs(c, 2, {{2, "described"}, {2, "missing"}, {4, "0"}, {7, "x"}},
                                std::nullopt, v);
    REQUIRE(all.size() == 4);
    CHECK(all[0].error == 0);
    CHECK(all[0].configs.size() == 14);
    CHECK(all[0].configs["retention.ms"].first == "1234");
    CHECK(all[0].configs["retention.ms"].second == 1);  // DYNAMIC_TOPIC_CONFIG
    CHECK(all[0].configs["cleanup.policy"].first == "delete");
    CHECK(all[0].configs["cleanup.policy"].second == 5);  // DEFAULT_CONFIG
    if (v >= 3) {
      CHECK(all[0].types["cleanup.policy"] == 7);  // LIST
      CHECK(all[0].types["retention.ms"] == 5);    // LONG
    }
    CHECK(all[1].error == error::kUnknownTopicOrPartition);
    CHECK(all[2].error == 0);
    CHECK(all[2].configs.empty());
    CHECK(all[3].error == error::kInvalidRequest);
  }
  auto some =
      describe_configs(c, 3, {{2, "described"}}, std::vector<std::string>{"segment.bytes"}, 2);
  REQUIRE(some.size() == 1);
  REQUIRE(some[0].configs.size() == 1);
  CHECK(some[0].configs.count("segment.bytes"));
}

}  // namespace samsa_server
