// Helpers for the Partition tests: a partition on a FaultyEnv, idempotent producer batches,
// reading back, and copying a leader's batches to a follower.
#pragma once

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "samsa/faulty_env.h"
#include "samsa/partition.h"
#include "samsa/record_batch.h"
#include "test_util.h"

namespace samsa::test {

// One batch of `count` records "<tag>-<i>" from a producer (producer id none: a plain one),
// as bytes the caller owns.
inline std::vector<std::byte> producer_batch(ProducerId pid, ProducerEpoch epoch, Sequence seq,
                                             int count, Timestamp ts = Timestamp(1000),
                                             std::string_view tag = "v") {
  BatchOptions options;
  options.producer_id = pid;
  options.producer_epoch = epoch;
  options.base_sequence = seq;
  RecordBatchBuilder builder(options);
  for (int i = 0; i < count; ++i) {
    const std::string key = fmt::format("k{}", seq.value() + i);
    const std::string value = fmt::format("{}-{}", tag, seq.value() + i);
    REQUIRE(builder.append(ts + i, as_bytes(key), as_bytes(value)).ok());
  }
  auto built = builder.build();
  REQUIRE(built.ok());
  return {built->begin(), built->end()};
}

struct BatchRead {
  Offset base_offset;
  Offset last_offset;
  LeaderEpoch leader_epoch;
};

struct PartitionFixture {
  FaultyEnv env{11};
  ManualClock clock{Timestamp(1'700'000'000'000)};
  PartitionConfig config;
  std::string dir;
  std::unique_ptr<Partition> partition;
  int plain_records = 0;

  explicit PartitionFixture(PartitionConfig c = {}, std::string d = "/data/orders-3")
      : config(std::move(c)), dir(std::move(d)) {
    reopen();
  }
  void reopen() {
    partition.reset();
    auto opened = Partition::open(env, dir, config, clock);
    INFO(opened.status().to_string());
    REQUIRE(opened.ok());
    partition = std::move(opened).value();
  }
  // Simulated power loss (nothing unsynced survives), then recovery.
  void power_cut_and_reopen() {
    // The process dies with the power: nothing the old Partition does afterwards reaches
    // the disk (its destructor's close() fails).
    env.power_cut(PowerCutMode::drop_unsynced);
    for (FaultOp op : {FaultOp::write, FaultOp::sync, FaultOp::sync_dir, FaultOp::rename}) {
      env.fail_always(op, 5 /* EIO */);
    }
    partition.reset();
    env.clear_faults();
    env.power_cut(PowerCutMode::drop_unsynced);
    reopen();
  }
  AppendInfo append_plain(int count, LeaderEpoch epoch = LeaderEpoch::none(),
                          Timestamp ts = Timestamp(1000)) {
    RecordBatchBuilder builder;
    for (int i = 0; i < count; ++i) {
      const std::string value = fmt::format("plain-{}", plain_records++);
      REQUIRE(builder.append(ts + i, std::nullopt, as_bytes(value)).ok());
    }
    auto r = partition->append(builder, epoch);
    INFO(r.status().to_string());
    REQUIRE(r.ok());
    return r->info;
  }
  Result<PartitionAppendResult> produce(ProducerId pid, ProducerEpoch epoch, Sequence seq,
                                        int count, LeaderEpoch leader_epoch = LeaderEpoch::none()) {
    auto bytes = producer_batch(pid, epoch, seq, count, clock.now());
    return partition->append(bytes, leader_epoch);
  }
  std::vector<std::byte> read_bytes(Offset from, Isolation isolation) {
    std::vector<std::byte> out;
    Offset at = from;
    for (int reads = 0; reads < 10'000; ++reads) {
      auto r = partition->read(at, {.isolation = isolation});
      INFO(r.status().to_string());
      REQUIRE(r.ok());
      if (r->slice.empty()) break;
      REQUIRE(r->slice.read_into(out).ok());
      at = r->slice.next_offset;
    }
    return out;
  }
  std::vector<BatchRead> read_batches(Offset from, Isolation isolation) {
    const std::vector<std::byte> bytes = read_bytes(from, isolation);
    std::vector<BatchRead> out;
    for (std::size_t pos = 0; pos < bytes.size();) {
      auto view = RecordBatchView::parse(ByteSpan(bytes).subspan(pos));
      REQUIRE(view.ok());
      out.push_back({view->base_offset(), view->last_offset(), view->partition_leader_epoch()});
      pos += view->size_bytes();
    }
    return out;
  }
  // "offset:value" of every record readable from `from`.
  std::vector<std::string> read_values(Offset from, Isolation isolation) {
    const std::vector<std::byte> bytes = read_bytes(from, isolation);
    std::vector<std::string> out;
    RecordReader reader;
    for (std::size_t pos = 0; pos < bytes.size();) {
      auto view = RecordBatchView::parse(ByteSpan(bytes).subspan(pos));
      REQUIRE(view.ok());
      REQUIRE(reader.reset(*view).ok());
      Record record;
      while (reader.next(record).value()) {
        if (record.offset < from) continue;
        std::string value = record.value
                                ? std::string(reinterpret_cast<const char*>(record.value->data()),
                                              record.value->size())
                                : "null";
        out.push_back(fmt::format("{}:{}", record.offset.value(), value));
      }
      pos += view->size_bytes();
    }
    return out;
  }
};

// Copies what the follower lacks from the leader's log (uncommitted reads, as a follower
// fetches), then the follower's high watermark follows the leader's.
inline void replicate(PartitionFixture& leader, PartitionFixture& follower) {
  const Offset from = follower.partition->log_end_offset();
  std::vector<std::byte> bytes = leader.read_bytes(from, Isolation::log_end);
  if (!bytes.empty()) {
    auto r = follower.partition->append_as_follower(bytes);
    INFO(r.status().to_string());
    REQUIRE(r.ok());
  }
  if (follower.config.replicated) {
    REQUIRE(follower.partition->update_high_watermark(leader.partition->high_watermark()).ok());
  }
}

}  // namespace samsa::test
