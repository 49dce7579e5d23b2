// Partition: the high watermark, idempotent appends through the log, the leader epoch cache
// kept with the log, recovery of both, truncation and maintenance. One named test per
// behaviour; the leader-epoch scenarios of KIP-101 and KIP-279 are in
// partition_epoch_test.cc.
#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include "partition_test_util.h"

using namespace samsa;
using namespace samsa::test;

namespace {

std::vector<std::string> snapshot_files(FaultyEnv& env, const std::string& dir) {
  std::vector<std::string> out;
  for (const std::string& name : env.list_dir(dir).value()) {
    if (name.ends_with(".snapshot")) out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Producer 3 writes 12 batches of 2 records (sequences 0-23) into 400-byte segments: at
// least three segments, so at least two rolls.
std::vector<SegmentInfo> produce_over_segments(PartitionFixture& f) {
  for (int i = 0; i < 12; ++i) {
    REQUIRE(f.produce(ProducerId(3), ProducerEpoch(0), Sequence(2 * i), 2).ok());
  }
  auto segments = f.partition->log().segments();
  REQUIRE(segments.size() >= 3);
  return segments;
}

}  // namespace

TEST_CASE("An unreplicated partition's high watermark follows acknowledged appends",
          "[partition]") {
  PartitionFixture f;
  CHECK(f.partition->high_watermark() == Offset(0));
  f.append_plain(3);
  f.append_plain(2);
  CHECK(f.partition->log_end_offset() == Offset(5));
  CHECK(f.partition->high_watermark() == Offset(5));
  CHECK(f.partition->last_stable_offset() == Offset(5));
  CHECK(f.read_values(Offset(0), Isolation::committed).size() == 5);
}

TEST_CASE("Committed reads stop at the high watermark of a replicated partition", "[partition]") {
  PartitionConfig config;
  config.replicated = true;
  PartitionFixture f(config);
  f.append_plain(3);  // offsets 0-2
  f.append_plain(2);  // offsets 3-4
  CHECK(f.partition->high_watermark() == Offset(0));
  CHECK(f.read_values(Offset(0), Isolation::committed).empty());
  CHECK(f.read_values(Offset(0), Isolation::log_end).size() == 5);

  REQUIRE(f.partition->update_high_watermark(Offset(3)).ok());
  CHECK(f.read_values(Offset(0), Isolation::committed).size() == 3);
  // Moves forward only, and never past the log end.
  REQUIRE(f.partition->update_high_watermark(Offset(1)).ok());
  CHECK(f.partition->high_watermark() == Offset(3));
  REQUIRE(f.partition->update_high_watermark(Offset(99)).ok());
  CHECK(f.partition->high_watermark() == Offset(5));
}

TEST_CASE("A read reports the offsets it was served at", "[partition]") {
  PartitionConfig config;
  config.replicated = true;
  PartitionFixture f(config);
  f.append_plain(4);
  REQUIRE(f.partition->update_high_watermark(Offset(4)).ok());
  f.append_plain(1);
  auto read = f.partition->read(Offset(0));
  REQUIRE(read.ok());
  CHECK(read->high_watermark == Offset(4));
  CHECK(read->last_stable_offset == Offset(4));
  CHECK(read->log_start_offset == Offset(0));
  CHECK(read->log_end_offset == Offset(5));
  CHECK(read->slice.next_offset == Offset(4));
}

TEST_CASE("update_high_watermark is refused on an unreplicated partition", "[partition]") {
  PartitionFixture f;
  const Status s = f.partition->update_high_watermark(Offset(0));
  CHECK(s.code() == StatusCode::invalid_argument);
}

TEST_CASE("The high watermark is checkpointed in Kafka's format and restored clamped",
          "[partition]") {
  PartitionConfig config;
  config.replicated = true;
  PartitionFixture f(config);
  f.append_plain(5);
  f.append_plain(5);
  REQUIRE(f.partition->update_high_watermark(Offset(7)).ok());
  REQUIRE(f.partition->flush().ok());
  auto text = read_file(f.env, f.dir + "/replication-offset-checkpoint");
  REQUIRE(text.ok());
  CHECK(std::string(reinterpret_cast<const char*>(text->data()), text->size()) ==
        "0\n1\norders 3 7\n");
  f.reopen();
  CHECK(f.partition->high_watermark() == Offset(7));
  // A checkpoint above the log end (the tail was lost) is clamped to it.
  REQUIRE(f.partition->truncate_to(Offset(5)).ok());
  CHECK(f.partition->high_watermark() == Offset(5));
}

TEST_CASE("An unreplicated partition reopens with its whole recovered log committed",
          "[partition]") {
  PartitionFixture f;
  f.append_plain(6);
  f.reopen();
  CHECK(f.partition->high_watermark() == Offset(6));
}

TEST_CASE("A retried batch returns its original offsets and appends nothing", "[partition]") {
  PartitionFixture f;
  f.append_plain(2);  // offsets 0-1, no producer
  auto first = f.produce(ProducerId(1000), ProducerEpoch(0), Sequence(0), 3);  // 2-4
  REQUIRE(first.ok());
  CHECK_FALSE(first->duplicate);
  auto retry = f.produce(ProducerId(1000), ProducerEpoch(0), Sequence(0), 3);
  REQUIRE(retry.ok());
  CHECK(retry->duplicate);
  CHECK(retry->info.first_offset == Offset(2));
  CHECK(retry->info.last_offset == Offset(4));
  CHECK(f.partition->log_end_offset() == Offset(5));
}

TEST_CASE("Each of the last five batches is recognised as a duplicate, the sixth-oldest not",
          "[partition]") {
  PartitionFixture f;
  const ProducerId pid(7);
  for (int i = 0; i < 6; ++i) {
    REQUIRE(f.produce(pid, ProducerEpoch(0), Sequence(i * 2), 2).ok());  // offsets 2i, 2i+1
  }
  for (int i = 1; i < 6; ++i) {
    auto retry = f.produce(pid, ProducerEpoch(0), Sequence(i * 2), 2);
    INFO("batch " << i);
    REQUIRE(retry.ok());
    CHECK(retry->duplicate);
    CHECK(retry->info.first_offset == Offset(2 * i));
  }
  auto oldest = f.produce(pid, ProducerEpoch(0), Sequence(0), 2);
  CHECK(oldest.status().code() == StatusCode::out_of_order_sequence);
  CHECK(f.partition->log_end_offset() == Offset(12));
}

TEST_CASE("Producer errors each have their own code and append nothing", "[partition]") {
  PartitionFixture f;
  const ProducerId pid(5);
  REQUIRE(f.produce(pid, ProducerEpoch(3), Sequence(0), 2).ok());
  CHECK(f.produce(pid, ProducerEpoch(3), Sequence(5), 1).status().code() ==
        StatusCode::out_of_order_sequence);
  CHECK(f.produce(pid, ProducerEpoch(2), Sequence(2), 1).status().code() ==
        StatusCode::invalid_producer_epoch);
  CHECK(f.produce(ProducerId(6), ProducerEpoch(0), Sequence(9), 1).status().code() ==
        StatusCode::unknown_producer_id);
  CHECK(f.partition->log_end_offset() == Offset(2));
  // An epoch bump starts again at sequence 0.
  REQUIRE(f.produce(pid, ProducerEpoch(4), Sequence(0), 1).ok());
  CHECK(f.partition->producer(pid)->epoch == ProducerEpoch(4));
}

TEST_CASE("One append of several batches of one producer is checked batch after batch",
          "[partition]") {
  PartitionFixture f;
  std::vector<std::byte> bytes = producer_batch(ProducerId(9), ProducerEpoch(0), Sequence(0), 2);
  const auto second = producer_batch(ProducerId(9), ProducerEpoch(0), Sequence(2), 3);
  bytes.insert(bytes.end(), second.begin(), second.end());
  auto r = f.partition->append(bytes);
  REQUIRE(r.ok());
  CHECK(r->info.last_offset == Offset(4));
  CHECK(f.partition->producer(ProducerId(9))->last_sequence() == Sequence(4));
  // A gap in the second batch refuses both.
  std::vector<std::byte> bad = producer_batch(ProducerId(9), ProducerEpoch(0), Sequence(5), 1);
  const auto gap = producer_batch(ProducerId(9), ProducerEpoch(0), Sequence(9), 1);
  bad.insert(bad.end(), gap.begin(), gap.end());
  CHECK(f.partition->append(bad).status().code() == StatusCode::out_of_order_sequence);
  CHECK(f.partition->log_end_offset() == Offset(5));
}

TEST_CASE("Producer state survives a clean reopen through the snapshot at the log end",
          "[partition]") {
  PartitionFixture f;
  REQUIRE(f.produce(ProducerId(1), ProducerEpoch(0), Sequence(0), 4).ok());
  f.reopen();
  CHECK(snapshot_files(f.env, f.dir) == std::vector<std::string>{"00000000000000000004.snapshot"});
  auto retry = f.produce(ProducerId(1), ProducerEpoch(0), Sequence(0), 4);
  REQUIRE(retry.ok());
  CHECK(retry->duplicate);
  REQUIRE(f.produce(ProducerId(1), ProducerEpoch(0), Sequence(4), 1).ok());
}

TEST_CASE("Producer state is rebuilt from the log after a power cut", "[partition]") {
  PartitionFixture f;
  REQUIRE(f.produce(ProducerId(1), ProducerEpoch(0), Sequence(0), 2).ok());
  REQUIRE(f.produce(ProducerId(2), ProducerEpoch(1), Sequence(0), 3).ok());
  f.power_cut_and_reopen();
  CHECK(f.partition->log_end_offset() == Offset(5));
  CHECK(snapshot_files(f.env, f.dir).empty());
  auto retry = f.produce(ProducerId(2), ProducerEpoch(1), Sequence(0), 3);
  REQUIRE(retry.ok());
  CHECK(retry->duplicate);
  CHECK(retry->info.first_offset == Offset(2));
  CHECK(f.produce(ProducerId(1), ProducerEpoch(0), Sequence(3), 1).status().code() ==
        StatusCode::out_of_order_sequence);
}

TEST_CASE("A producer snapshot is taken at each roll and replay starts from it", "[partition]") {
  PartitionConfig config;
  config.log.segment_bytes = 400;
  PartitionFixture f(config);
  const auto segments = produce_over_segments(f);
  const auto snapshots = snapshot_files(f.env, f.dir);
  // One per rolled segment: the base offset of each segment after the first.
  REQUIRE(snapshots.size() == segments.size() - 1);
  for (std::size_t i = 1; i < segments.size(); ++i) {
    CHECK(snapshots[i - 1] == fmt::format("{:020}.snapshot", segments[i].base_offset.value()));
  }
  f.power_cut_and_reopen();
  CHECK(f.partition->producer(ProducerId(3))->last_sequence() == Sequence(23));
}

TEST_CASE("A corrupt producer snapshot is skipped and the state rebuilt from the log",
          "[partition]") {
  PartitionFixture f;
  REQUIRE(f.produce(ProducerId(4), ProducerEpoch(0), Sequence(0), 3).ok());
  REQUIRE(f.partition->close().ok());
  const std::string snapshot = f.dir + "/00000000000000000003.snapshot";
  auto bytes = read_file(f.env, snapshot);
  REQUIRE(bytes.ok());
  (*bytes)[bytes->size() - 1] ^= std::byte{1};
  REQUIRE(write_file_atomically(f.env, snapshot, *bytes).ok());
  f.reopen();
  CHECK(f.partition->producer(ProducerId(4))->last_sequence() == Sequence(2));
}

TEST_CASE("Leader epochs are stamped, cached and checkpointed", "[partition]") {
  PartitionFixture f;
  f.append_plain(2, LeaderEpoch(1));  // 0-1
  f.append_plain(3, LeaderEpoch(1));  // 2-4
  f.append_plain(1, LeaderEpoch(3));  // 5
  CHECK(f.partition->epoch_entries() ==
        std::vector<EpochEntry>{{LeaderEpoch(1), Offset(0)}, {LeaderEpoch(3), Offset(5)}});
  CHECK(f.partition->end_offset_for_epoch(LeaderEpoch(1)) ==
        EpochEndOffset{LeaderEpoch(1), Offset(5)});
  CHECK(f.partition->end_offset_for_epoch(LeaderEpoch(2)) ==
        EpochEndOffset{LeaderEpoch(1), Offset(5)});
  CHECK(f.partition->end_offset_for_epoch(LeaderEpoch(3)) ==
        EpochEndOffset{LeaderEpoch(3), Offset(6)});
  // An append without an epoch is stamped with the latest one.
  f.append_plain(1);
  auto read = f.read_batches(Offset(6), Isolation::log_end);
  REQUIRE(read.size() == 1);
  CHECK(read[0].leader_epoch == LeaderEpoch(3));
  auto text = read_file(f.env, f.dir + "/leader-epoch-checkpoint");
  REQUIRE(text.ok());
  CHECK(std::string(reinterpret_cast<const char*>(text->data()), text->size()) ==
        "0\n2\n1 0\n3 5\n");
}

TEST_CASE("A lost leader-epoch-checkpoint is rebuilt from the batches", "[partition]") {
  PartitionFixture f;
  f.append_plain(2, LeaderEpoch(0));
  f.append_plain(2, LeaderEpoch(2));
  REQUIRE(f.partition->close().ok());
  REQUIRE(f.env.remove(f.dir + "/leader-epoch-checkpoint").ok());
  f.reopen();
  CHECK(f.partition->epoch_entries() ==
        std::vector<EpochEntry>{{LeaderEpoch(0), Offset(0)}, {LeaderEpoch(2), Offset(2)}});
}

TEST_CASE("Epochs of batches written after the last checkpoint are relearned at recovery",
          "[partition]") {
  PartitionFixture f;
  f.append_plain(2, LeaderEpoch(0));
  REQUIRE(f.partition->flush().ok());
  // Rewind the checkpoint to before epoch 4 began, as if it had not been written.
  f.append_plain(2, LeaderEpoch(4));
  REQUIRE(write_file_atomically(f.env, f.dir + "/leader-epoch-checkpoint",
                                as_bytes(std::string_view("0\n1\n0 0\n")))
              .ok());
  f.power_cut_and_reopen();
  CHECK(f.partition->epoch_entries() ==
        std::vector<EpochEntry>{{LeaderEpoch(0), Offset(0)}, {LeaderEpoch(4), Offset(2)}});
}

TEST_CASE("Truncation rebuilds producer state to the new log end", "[partition]") {
  PartitionConfig config;
  config.replicated = true;
  PartitionFixture f(config);
  for (int i = 0; i < 5; ++i)
    REQUIRE(f.produce(ProducerId(8), ProducerEpoch(0), Sequence(i), 1).ok());
  REQUIRE(f.partition->update_high_watermark(Offset(5)).ok());
  REQUIRE(f.partition->truncate_to(Offset(3)).ok());
  CHECK(f.partition->log_end_offset() == Offset(3));
  CHECK(f.partition->high_watermark() == Offset(3));
  CHECK(f.partition->producer(ProducerId(8))->last_sequence() == Sequence(2));
  // Sequence 3 is new again (not a duplicate), and appended at offset 3.
  auto again = f.produce(ProducerId(8), ProducerEpoch(0), Sequence(3), 1);
  REQUIRE(again.ok());
  CHECK_FALSE(again->duplicate);
  CHECK(again->info.first_offset == Offset(3));
}

// The log end moves before the directory fsync of a truncation: one that failed there
// returned before lowering the high watermark, which stayed past the log end.
TEST_CASE("A truncation that fails midway still lowers the high watermark to the log end",
          "[partition]") {
  PartitionConfig config;
  config.replicated = true;
  PartitionFixture f(config);
  f.append_plain(3);  // [0, 3)
  f.append_plain(2);  // [3, 5)
  REQUIRE(f.partition->update_high_watermark(Offset(5)).ok());
  f.env.fail_nth(FaultOp::sync_dir, 1, EIO);
  CHECK_FALSE(f.partition->truncate_to(Offset(3)).ok());
  CHECK(f.partition->log_end_offset() == Offset(3));
  CHECK(f.partition->high_watermark() == Offset(3));
}

TEST_CASE("Truncation drops epoch entries from the new end", "[partition]") {
  PartitionFixture f;
  f.append_plain(2, LeaderEpoch(0));
  f.append_plain(2, LeaderEpoch(1));
  f.append_plain(2, LeaderEpoch(2));
  REQUIRE(f.partition->truncate_to(Offset(3)).ok());
  // The batch [2, 3] of epoch 1 is dropped whole (batch granularity): the log ends at 2.
  CHECK(f.partition->log_end_offset() == Offset(2));
  CHECK(f.partition->epoch_entries() == std::vector<EpochEntry>{{LeaderEpoch(0), Offset(0)}});
}

TEST_CASE("Truncating everything forgets every producer", "[partition]") {
  PartitionFixture f;
  REQUIRE(f.produce(ProducerId(8), ProducerEpoch(0), Sequence(0), 2).ok());
  REQUIRE(f.partition->truncate_to(Offset(0)).ok());
  CHECK_FALSE(f.partition->producer(ProducerId(8)).has_value());
  CHECK(f.produce(ProducerId(8), ProducerEpoch(0), Sequence(2), 1).status().code() ==
        StatusCode::unknown_producer_id);
}

TEST_CASE("Records are deleted only below the high watermark", "[partition]") {
  PartitionConfig config;
  config.replicated = true;
  PartitionFixture f(config);
  f.append_plain(4, LeaderEpoch(0));
  f.append_plain(4, LeaderEpoch(1));
  REQUIRE(f.partition->update_high_watermark(Offset(6)).ok());
  CHECK(f.partition->delete_records_before(Offset(7)).code() == StatusCode::out_of_range);
  REQUIRE(f.partition->delete_records_before(Offset(5)).ok());
  CHECK(f.partition->log_start_offset() == Offset(5));
  CHECK(f.partition->epoch_entries() == std::vector<EpochEntry>{{LeaderEpoch(1), Offset(5)}});
}

TEST_CASE("ListOffsets by time and latest are bounded by the high watermark", "[partition]") {
  PartitionConfig config;
  config.replicated = true;
  PartitionFixture f(config);
  f.append_plain(2, LeaderEpoch::none(), Timestamp(1000));  // 0-1 at 1000, 1001
  f.append_plain(2, LeaderEpoch::none(), Timestamp(2000));  // 2-3 at 2000, 2001
  REQUIRE(f.partition->update_high_watermark(Offset(2)).ok());
  auto latest = f.partition->offset_for_timestamp(kLatestTimestamp);
  REQUIRE(latest.ok());
  CHECK((*latest)->offset == Offset(2));
  auto by_time = f.partition->offset_for_timestamp(Timestamp(1500));
  REQUIRE(by_time.ok());
  CHECK_FALSE(by_time->has_value());  // offset 2 is not committed yet
  auto uncommitted = f.partition->offset_for_timestamp(Timestamp(1500), Isolation::log_end);
  REQUIRE(uncommitted.ok());
  CHECK((*uncommitted)->offset == Offset(2));
  auto earliest = f.partition->offset_for_timestamp(kEarliestTimestamp);
  REQUIRE(earliest.ok());
  CHECK((*earliest)->offset == Offset(0));
}

TEST_CASE("A committed reader waits for the high watermark, not the log end", "[partition]") {
  PartitionConfig config;
  config.replicated = true;
  PartitionFixture f(config);
  f.append_plain(1);
  CHECK_FALSE(
      f.partition->wait_for_data(Offset(0), Isolation::committed, std::chrono::milliseconds(10)));
  CHECK(f.partition->wait_for_data(Offset(0), Isolation::log_end, std::chrono::milliseconds(10)));
  std::atomic<bool> woke{false};
  std::atomic<bool> started{false};
  std::thread reader([&] {
    started = true;
    woke = f.partition->wait_for_data(Offset(0), Isolation::committed, std::chrono::seconds(20));
  });
  while (!started) std::this_thread::yield();
  REQUIRE(f.partition->update_high_watermark(Offset(1)).ok());
  reader.join();
  CHECK(woke);
}

TEST_CASE("Maintenance deletes segments below the high watermark and their snapshots",
          "[partition]") {
  PartitionConfig config;
  config.replicated = true;
  config.log.segment_bytes = 400;
  config.log.retention_bytes = 0;
  config.log.file_delete_delay_ms = 0;
  PartitionFixture f(config);
  const auto segments = produce_over_segments(f);
  REQUIRE(f.partition->update_high_watermark(segments[2].base_offset).ok());
  auto report = f.partition->maintain();
  INFO(report.status().to_string());
  REQUIRE(report.ok());
  CHECK(report->retention.segments_deleted == 2);
  CHECK(f.partition->log_start_offset() == segments[2].base_offset);
  CHECK(report->snapshots_deleted == 1);
  CHECK(snapshot_files(f.env, f.dir).front() ==
        fmt::format("{:020}.snapshot", segments[2].base_offset.value()));
  CHECK(report->high_watermark_checkpointed);
  // Producer state outlives the segments that held its batches.
  CHECK(f.partition->producer(ProducerId(3))->last_sequence() == Sequence(23));
}

TEST_CASE("Producers expire after producer_id_expiration_ms without a batch", "[partition]") {
  PartitionConfig config;
  config.producer_id_expiration_ms = 60'000;
  PartitionFixture f(config);
  REQUIRE(f.produce(ProducerId(1), ProducerEpoch(0), Sequence(0), 1).ok());
  f.clock.advance_ms(59'999);
  REQUIRE(f.partition->maintain()->producers_expired == 0);
  f.clock.advance_ms(1);
  REQUIRE(f.partition->maintain()->producers_expired == 1);
  CHECK_FALSE(f.partition->producer(ProducerId(1)).has_value());
}

TEST_CASE("A follower appends a leader's batches keeping their offsets and epochs", "[partition]") {
  PartitionFixture leader;
  PartitionFixture follower(PartitionConfig{.replicated = true}, "/data/orders-3-follower");
  leader.append_plain(2, LeaderEpoch(0));
  REQUIRE(leader.produce(ProducerId(2), ProducerEpoch(0), Sequence(0), 3, LeaderEpoch(1)).ok());
  replicate(leader, follower);
  CHECK(follower.partition->log_end_offset() == Offset(5));
  CHECK(follower.partition->epoch_entries() == leader.partition->epoch_entries());
  CHECK(follower.partition->producer(ProducerId(2))->last_sequence() == Sequence(2));
  CHECK(follower.read_values(Offset(0), Isolation::log_end) ==
        leader.read_values(Offset(0), Isolation::log_end));
  // Offsets below the follower's end are refused.
  auto old = leader.partition->read(Offset(0), {.isolation = Isolation::log_end});
  REQUIRE(old.ok());
  std::vector<std::byte> bytes;
  REQUIRE(old->slice.read_into(bytes).ok());
  CHECK(follower.partition->append_as_follower(bytes).status().code() ==
        StatusCode::invalid_argument);
}

TEST_CASE("Concurrent idempotent producers each get their own offsets", "[partition]") {
  PartitionFixture f;
  constexpr int kThreads = 4;
  constexpr int kBatches = 50;
  // Built before the threads start: producer_batch REQUIREs, and Catch2's assertions are
  // not thread-safe (TSan).
  std::vector<std::vector<std::vector<std::byte>>> batches(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    for (int b = 0; b < kBatches; ++b) {
      batches[static_cast<std::size_t>(t)].push_back(
          producer_batch(ProducerId(100 + t), ProducerEpoch(0), Sequence(b * 2), 2));
    }
  }
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (auto& bytes : batches[static_cast<std::size_t>(t)]) {
        auto r = f.partition->append(bytes);
        if (!r.ok() || r->duplicate) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(failures == 0);
  CHECK(f.partition->log_end_offset() == Offset(kThreads * kBatches * 2));
  CHECK(f.partition->high_watermark() == f.partition->log_end_offset());
  for (int t = 0; t < kThreads; ++t) {
    CHECK(f.partition->producer(ProducerId(100 + t))->last_sequence() ==
          Sequence(kBatches * 2 - 1));
  }
}

TEST_CASE("A producer's own leader epoch is overwritten: a new partition leads in epoch 0",
          "[partition]") {
  PartitionFixture f;
  BatchOptions options;
  options.partition_leader_epoch = LeaderEpoch(7);
  RecordBatchBuilder builder(options);
  REQUIRE(builder.append(Timestamp(1000), std::nullopt, as_bytes(std::string_view("v"))).ok());
  REQUIRE(f.partition->append(builder).ok());
  CHECK(f.read_batches(Offset(0), Isolation::log_end).front().leader_epoch == LeaderEpoch(0));
  CHECK(f.partition->epoch_entries() == std::vector<EpochEntry>{{LeaderEpoch(0), Offset(0)}});
}
