// Decompression bombs (issue 17): every codec's bomb is refused within the bound
// (LogConfig::decompressed_bytes_factor x max_batch_bytes; ValidateOptions'
// kDefaultMaxDecompressedBytes without a log), with decompression_limit naming the partition
// and how far decoding got. Memory is measured by the decompressor's own accounting
// (samsa::internal::last_decompress_memory), never by timing.
// For ZSTD_getFrameHeader: the test checks the window its hostile frame declares.
#define ZSTD_STATIC_LINKING_ONLY
#include <fmt/format.h>
#include <catch2/catch.hpp>

#include "bomb_util.h"
#include "cleaner_test_util.h"
#include "compression.h"
#include "partition_test_util.h"
#include "samsa/replica_driver.h"

using namespace samsa;
using namespace samsa::test;

namespace {

constexpr std::uint64_t kMiB = std::uint64_t{1} << 20;
constexpr std::uint64_t kGiB = std::uint64_t{1} << 30;

// How far each bomb expands: as far as a batch under Kafka's default max.message.bytes
// (1048588) can take that codec (lz4 and snappy have a maximum ratio: about 255 and 21).
std::uint64_t expansion(Bomb b) {
  switch (b) {
    case Bomb::zstd_with_size:
    case Bomb::zstd_without_size:
      return kGiB;
    case Bomb::gzip:
      return 512 * kMiB;
    case Bomb::lz4:
      return 128 * kMiB;
    case Bomb::snappy:
      return 18 * kMiB;
  }
  return 0;
}

void require_ok(const Status& s) {
  INFO(s.to_string());
  REQUIRE(s.ok());
}

constexpr Bomb kBombs[] = {Bomb::zstd_with_size, Bomb::zstd_without_size, Bomb::gzip, Bomb::lz4,
                           Bomb::snappy};

// The bomb batches, made once (the gzip one takes a while to deflate).
const std::vector<std::byte>& bomb(Bomb b) {
  static std::vector<std::byte> made[5];
  auto& out = made[static_cast<int>(b)];
  if (out.empty()) out = bomb_batch(b, expansion(b));
  return out;
}

// What the refused decompression cost, against the bound: the output buffer at most twice
// the bound (the old buffer beside the new one while it grows), the codec's state within
// what compression.h states for it.
void check_memory(Bomb b, std::size_t bound) {
  const samsa::internal::DecompressMemory m = samsa::internal::last_decompress_memory();
  INFO(bomb_name(b) << ": output peak " << m.output_bytes_peak << " codec " << m.codec_bytes_peak
                    << " bound " << bound);
  if (b == Bomb::snappy) {
    CHECK(m.output_bytes_peak == 0);  // refused from the declared block sizes
  } else {
    CHECK(m.output_bytes_peak > bound);
    CHECK(m.output_bytes_peak <= 2 * (bound + 1));
  }
  switch (b) {
    case Bomb::zstd_with_size:
    case Bomb::zstd_without_size:
      CHECK(m.codec_bytes_peak <= samsa::internal::zstd_window_bytes_max(bound) + kMiB);
      break;
    case Bomb::gzip:
      CHECK(m.codec_bytes_peak > 0);
      CHECK(m.codec_bytes_peak <= 64 * 1024);
      break;
    default:
      CHECK(m.codec_bytes_peak == 0);
  }
}

void check_limit_status(Bomb b, const Status& s, std::size_t bound) {
  INFO(bomb_name(b) << ": " << s.to_string());
  REQUIRE(s.code() == StatusCode::decompression_limit);
  CHECK_THAT(s.message(), Catch::Contains(fmt::format("{} compressed records at byte 61",
                                                      to_string(bomb_codec(b)))));
  CHECK_THAT(s.message(), Catch::Contains(fmt::format(
                              "passes the limit of {} bytes at compressed byte", bound)));
  // Snappy refuses from the declared sizes: no record decoded.
  CHECK_THAT(s.message(), Catch::Contains(fmt::format("decoding stopped at record index {} of {}",
                                                      b == Bomb::snappy ? 0 : kSmallRecords,
                                                      kSmallRecords + 1)));
}

}  // namespace

TEST_CASE("EachBombIsRefusedByValidationWithinTheDefaultBound", "[bomb]") {
  for (Bomb b : kBombs) {
    const auto& batch = bomb(b);
    INFO(bomb_name(b) << ": " << batch.size() << " bytes expanding to " << expansion(b));
    CHECK(batch.size() <= 1'048'588);  // what a log accepts by default
    const Status s = RecordBatchView::validate(batch, {.producer_batch = true}).status();
    check_limit_status(b, s, kDefaultMaxDecompressedBytes);
    check_memory(b, kDefaultMaxDecompressedBytes);
  }
}

TEST_CASE("EachBombIsRefusedByPartitionAppendNamingThePartition", "[bomb]") {
  PartitionFixture f;
  const std::size_t bound = f.config.log.max_decompressed_bytes();
  CHECK(bound == 16 * std::size_t{1'048'588});
  for (Bomb b : kBombs) {
    auto batch = bomb(b);
    auto r = f.partition->append(batch);
    check_limit_status(b, r.status(), bound);
    CHECK_THAT(r.status().message(),
               Catch::Contains("append to log /data/orders-3 (decompressed_bytes_factor 16 x "
                               "max_batch_bytes 1048588)"));
    check_memory(b, bound);
    // Followers appending replicated batches: the same bound.
    auto copy = bomb(b);
    auto follower = f.partition->append_as_follower(copy);
    check_limit_status(b, follower.status(), bound);
    check_memory(b, bound);
  }
  CHECK(f.partition->log_end_offset() == Offset(0));
}

TEST_CASE("TheBoundFollowsMaxBatchBytesAndTheFactor", "[bomb]") {
  PartitionConfig config;
  config.log.max_batch_bytes = 64 * 1024;
  config.log.decompressed_bytes_factor = 4;
  PartitionFixture f(config);
  auto batch = bomb(Bomb::zstd_without_size);
  auto r = f.partition->append(batch);
  check_limit_status(Bomb::zstd_without_size, r.status(), 256 * 1024);
  check_memory(Bomb::zstd_without_size, 256 * 1024);
}

TEST_CASE("ABatchWithinTheBoundIsAccepted", "[bomb]") {
  PartitionFixture f;
  for (Bomb b : kBombs) {
    auto batch = bomb_batch(b, b == Bomb::snappy ? 4 * kMiB : 12 * kMiB);
    auto r = f.partition->append(batch);
    INFO(bomb_name(b) << ": " << r.status().to_string());
    CHECK(r.ok());
  }
}

TEST_CASE("ZstdFrameAskingForAHugeWindowIsRefusedBeforeItIsAllocated", "[bomb]") {
  const auto records = zstd_bomb(64 * 1024, /*declare_size=*/false, /*window_log=*/27);
  ZSTD_frameHeader header{};
  REQUIRE(ZSTD_getFrameHeader(&header, records.data(), records.size()) == 0);
  REQUIRE(header.windowSize == (std::uint64_t{1} << 27));
  const auto batch = batch_around(Compression::zstd, records);
  const Status s = RecordBatchView::validate(batch).status();
  INFO(s.to_string());
  REQUIRE(s.code() == StatusCode::decompression_limit);
  CHECK_THAT(s.message(), Catch::Contains("asks for a window above the 16777216 bytes allowed"));
  CHECK(samsa::internal::last_decompress_memory().codec_bytes_peak <= 16 * kMiB + kMiB);
}

TEST_CASE("ABombOnDiskFailsTheCleanerAndReadsWithinTheLogsBound", "[bomb][cleaner]") {
  CompactedLog t;
  require_ok(t.open());
  // 12 MiB: within the bound the log had when the batch was written (16 MiB)...
  auto batch = bomb_batch(Bomb::zstd_without_size, 12 * kMiB);
  require_ok(t.log().append(batch, {}).status());
  require_ok(t.roll());
  // ...past the one it has now: 16 x 64 KiB = 1 MiB.
  t.config().max_batch_bytes = 64 * 1024;
  require_ok(t.open());
  const std::size_t bound = t.log().config().max_decompressed_bytes();
  REQUIRE(bound == kMiB);

  auto cleaned = t.clean();
  check_limit_status(Bomb::zstd_without_size, cleaned.status(), bound);
  check_memory(Bomb::zstd_without_size, bound);

  // The segment search (ListOffsets by time).
  auto found = t.log().offset_for_timestamp(Timestamp(500));
  check_limit_status(Bomb::zstd_without_size, found.status(), bound);
  check_memory(Bomb::zstd_without_size, bound);
}

TEST_CASE("ReplicaDriverGivesTheFollowerItsPartitionsBound", "[bomb][replica]") {
  PartitionConfig config;
  config.replicated = true;
  config.log.decompressed_bytes_factor = 3;
  PartitionFixture f(config);
  ReplicaDriver driver(*f.partition, ReplicaSetConfig{.self = BrokerId(1)});
  CHECK(driver.replica().config().max_decompressed_bytes == 3 * std::size_t{1'048'588});
}
