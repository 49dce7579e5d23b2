// The Log test fixture: a log in FaultyEnv's memory at /data/orders-3 with a manual clock,
// appending records with deterministic keys and reading back what Log::read returns.
#pragma once

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "samsa/faulty_env.h"
#include "samsa/log.h"
#include "test_util.h"

namespace samsa::test {

struct LogFixture {
  FaultyEnv env{7};
  ManualClock clock{Timestamp(1'700'000'000'000)};
  LogConfig config;
  std::unique_ptr<Log> log;
  explicit LogFixture(LogConfig c = {}) : config(std::move(c)) { reopen(); }
  void reopen() {
    log.reset();
    auto opened = Log::open(env, "/data/orders-3", config, clock);
    INFO(opened.status().to_string());
    REQUIRE(opened.ok());
    log = std::move(opened).value();
  }
  AppendInfo append(int records, std::size_t value_bytes = 10, std::optional<Timestamp> ts = {}) {
    RecordBatchBuilder builder;
    const std::string value(value_bytes, 'x');
    for (int i = 0; i < records; ++i) {
      const std::string key = fmt::format("key-{}", i);
      REQUIRE(builder.append(ts.value_or(clock.now()) + i, as_bytes(key), as_bytes(value)).ok());
    }
    auto info = log->append(builder);
    INFO(info.status().to_string());
    REQUIRE(info.ok());
    return *info;
  }
  // The batches of a read, parsed.
  std::vector<std::byte> read_bytes(Offset offset, ReadOptions options = {}) {
    auto slice = log->read(offset, options);
    INFO(slice.status().to_string());
    REQUIRE(slice.ok());
    std::vector<std::byte> bytes;
    REQUIRE(slice->read_into(bytes).ok());
    return bytes;
  }
};

}  // namespace samsa::test
