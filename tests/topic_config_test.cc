// Kafka's topic config names onto LogConfig (samsa/topic_config.h).
#include <catch2/catch.hpp>

#include "samsa/topic_config.h"

using namespace samsa;

TEST_CASE("topic configs set LogConfig fields by Kafka's names and units", "[topic_config]") {
  auto c = with_topic_configs(LogConfig{}, {{"cleanup.policy", "compact,delete"},
                                            {"retention.ms", "-1"},
                                            {"retention.bytes", "1048576"},
                                            {"segment.bytes", "4096"},
                                            {"max.message.bytes", "2000000"},
                                            {"message.timestamp.type", "LogAppendTime"},
                                            {"min.cleanable.dirty.ratio", "0.25"},
                                            {"delete.retention.ms", "5"}});
  REQUIRE(c.ok());
  CHECK(c->cleanup_policy.compact);
  CHECK(c->cleanup_policy.delete_old);
  CHECK(c->retention_ms == -1);
  CHECK(c->retention_bytes == 1048576);
  CHECK(c->segment_bytes == 4096);
  CHECK(c->max_batch_bytes == 2000000);
  CHECK(c->timestamp_type == TimestampType::log_append_time);
  CHECK(c->min_cleanable_dirty_ratio == 0.25);
  CHECK(c->delete_retention_ms == 5);
  // And back, in Kafka's spelling.
  const TopicConfigs shown = topic_configs(*c);
  const auto value = [&](const std::string& name) {
    for (const auto& [n, v] : shown) {
      if (n == name) return v;
    }
    return std::string("(missing)");
  };
  CHECK(value("cleanup.policy") == "compact,delete");
  CHECK(value("retention.ms") == "-1");
  CHECK(value("message.timestamp.type") == "LogAppendTime");
  CHECK(value("segment.bytes") == "4096");
  CHECK(shown.size() == 14);
  for (const auto& [n, v] : shown) CHECK(is_topic_config(n));
}

TEST_CASE("bad topic configs name what is wrong and change nothing", "[topic_config]") {
  LogConfig c;
  const LogConfig before = c;
  Status s = set_topic_config(c, "retention.ms", "soon");
  CHECK(s.code() == StatusCode::invalid_argument);
  CHECK(s.message().find("retention.ms: 'soon' is not an integer") != std::string::npos);
  s = set_topic_config(c, "retention.ms", "-2");
  CHECK(s.message().find("outside") != std::string::npos);
  s = set_topic_config(c, "segment.bytes", "10");
  CHECK(!s.ok());
  s = set_topic_config(c, "compression.type", "zstd");
  CHECK(s.message().find("unknown topic config 'compression.type'") != std::string::npos);
  s = set_topic_config(c, "cleanup.policy", "sometimes");
  CHECK(!s.ok());
  s = set_topic_config(c, "min.cleanable.dirty.ratio", "1.5");
  CHECK(!s.ok());
  CHECK(c.retention_ms == before.retention_ms);
  CHECK(c.segment_bytes == before.segment_bytes);
  // All or nothing: the good first config is not applied when the second is bad.
  auto r = with_topic_configs(LogConfig{}, {{"retention.ms", "5"}, {"segment.bytes", "x"}});
  CHECK(!r.ok());
}
