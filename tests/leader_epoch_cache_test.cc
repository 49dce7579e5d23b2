// LeaderEpochCache: Kafka's LeaderEpochFileCache rules (assign, end_offset_for, truncation),
// the leader-epoch-checkpoint file byte for byte, corrupt files, failed writes and power
// cuts. One named test per rule.
#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <cerrno>
#include <optional>
#include <string>
#include <vector>

#include "samsa/faulty_env.h"
#include "samsa/leader_epoch_cache.h"
#include "test_util.h"

using namespace samsa;

template <>
struct Catch::StringMaker<samsa::EpochEntry> {
  static std::string convert(const samsa::EpochEntry& e) {
    return "(epoch " + std::to_string(e.epoch.value()) + ", start " +
           std::to_string(e.start_offset.value()) + ")";
  }
};
template <>
struct Catch::StringMaker<samsa::EpochEndOffset> {
  static std::string convert(const samsa::EpochEndOffset& e) {
    return "(epoch " + std::to_string(e.epoch.value()) + ", end " +
           std::to_string(e.end_offset.value()) + ")";
  }
};

namespace {

constexpr const char* kDir = "/data/orders-0";
const std::string kPath = std::string(kDir) + "/leader-epoch-checkpoint";

EpochEntry entry(std::int32_t epoch, std::int64_t start) {
  return {LeaderEpoch(epoch), Offset(start)};
}

struct Fixture {
  FaultyEnv env{11};
  std::optional<LeaderEpochCache> cache;

  Fixture() {
    REQUIRE(env.create_dirs(kDir).ok());
    reopen();
  }
  void reopen() {
    cache.reset();
    auto opened = LeaderEpochCache::open(env, kDir);
    INFO(opened.status().to_string());
    REQUIRE(opened.ok());
    cache.emplace(std::move(opened).value());
  }
  void assign(std::int32_t epoch, std::int64_t start) {
    const Status s = cache->assign(LeaderEpoch(epoch), Offset(start));
    INFO(s.to_string());
    REQUIRE(s.ok());
  }
  EpochEndOffset end_for(std::int32_t epoch, std::int64_t log_end = 1000) const {
    return cache->end_offset_for(LeaderEpoch(epoch), Offset(log_end));
  }
  std::string file_text() {
    auto bytes = read_file(env, kPath);
    INFO(bytes.status().to_string());
    REQUIRE(bytes.ok());
    return test::to_string(*bytes);
  }
  void write_file_text(std::string_view text) {
    REQUIRE(write_file_atomically(env, kPath, as_bytes(text)).ok());
  }
  // How many checkpoint files were written so far (each write ends in one rename).
  std::uint64_t writes() const { return env.count(FaultOp::rename); }
};

using Entries = std::vector<EpochEntry>;

}  // namespace

// --- assign

TEST_CASE("assign appends entries in order and checkpoints each", "[epoch]") {
  Fixture f;
  f.assign(0, 0);
  f.assign(1, 10);
  f.assign(3, 25);
  CHECK(f.cache->entries() == Entries{entry(0, 0), entry(1, 10), entry(3, 25)});
  CHECK(f.writes() == 3);
  CHECK(f.file_text() == "0\n3\n0 0\n1 10\n3 25\n");
}

TEST_CASE("assign of the latest epoch at a later offset is ignored", "[epoch]") {
  Fixture f;
  f.assign(2, 100);
  const auto writes = f.writes();
  f.assign(2, 150);
  f.assign(2, 100);
  CHECK(f.cache->entries() == Entries{entry(2, 100)});
  CHECK(f.writes() == writes);  // nothing changed, nothing written
}

TEST_CASE("assign of the latest epoch at an earlier offset replaces it", "[epoch]") {
  Fixture f;
  f.assign(1, 0);
  f.assign(2, 100);
  f.assign(2, 80);
  CHECK(f.cache->entries() == Entries{entry(1, 0), entry(2, 80)});
  CHECK(f.file_text() == "0\n2\n1 0\n2 80\n");
}

TEST_CASE("assign of a lower epoch removes every higher epoch (KIP-279)", "[epoch]") {
  // A replica that had appended epoch 3 learns the real leader's epoch 2 went further.
  Fixture f;
  f.assign(0, 0);
  f.assign(3, 100);
  f.assign(2, 150);
  CHECK(f.cache->entries() == Entries{entry(0, 0), entry(2, 150)});
}

TEST_CASE("assign of an earlier epoch entry replaces it and drops those after", "[epoch]") {
  Fixture f;
  f.assign(1, 0);
  f.assign(2, 10);
  f.assign(3, 20);
  f.assign(2, 5);
  CHECK(f.cache->entries() == Entries{entry(1, 0), entry(2, 5)});
}

TEST_CASE("assign removes entries starting at or after the new start offset", "[epoch]") {
  Fixture f;
  f.assign(0, 0);
  f.assign(1, 10);
  f.assign(2, 20);
  f.assign(5, 10);
  CHECK(f.cache->entries() == Entries{entry(0, 0), entry(5, 10)});
}

TEST_CASE("assign refuses a none epoch or offset and changes nothing", "[epoch]") {
  Fixture f;
  f.assign(1, 5);
  const Status no_epoch = f.cache->assign(LeaderEpoch::none(), Offset(10));
  const Status no_offset = f.cache->assign(LeaderEpoch(2), Offset::none());
  CHECK(no_epoch.code() == StatusCode::invalid_argument);
  CHECK(no_offset.code() == StatusCode::invalid_argument);
  CHECK_THAT(no_epoch.message(), Catch::Contains(kPath));
  CHECK(f.cache->entries() == Entries{entry(1, 5)});
}

// --- end_offset_for (Kafka's endOffsetFor)

TEST_CASE("end_offset_for an undefined epoch is undefined", "[epoch]") {
  Fixture f;
  f.assign(1, 0);
  CHECK(f.end_for(-1) == EpochEndOffset{});
  CHECK(f.end_for(-1) == EpochEndOffset{LeaderEpoch::none(), Offset::none()});
}

TEST_CASE("end_offset_for on an empty cache is undefined", "[epoch]") {
  Fixture f;
  CHECK(f.end_for(0) == EpochEndOffset{});
}

TEST_CASE("end_offset_for the latest epoch is the log end", "[epoch]") {
  Fixture f;
  f.assign(1, 0);
  f.assign(4, 50);
  CHECK(f.end_for(4, 77) == EpochEndOffset{LeaderEpoch(4), Offset(77)});
}

TEST_CASE("end_offset_for a known epoch ends where the next epoch starts", "[epoch]") {
  Fixture f;
  f.assign(1, 0);
  f.assign(3, 100);
  f.assign(5, 200);
  CHECK(f.end_for(1) == EpochEndOffset{LeaderEpoch(1), Offset(100)});
  CHECK(f.end_for(3) == EpochEndOffset{LeaderEpoch(3), Offset(200)});
}

TEST_CASE("end_offset_for an epoch between entries answers the one below", "[epoch]") {
  Fixture f;
  f.assign(1, 0);
  f.assign(3, 100);
  f.assign(5, 200);
  CHECK(f.end_for(2) == EpochEndOffset{LeaderEpoch(1), Offset(100)});
  CHECK(f.end_for(4) == EpochEndOffset{LeaderEpoch(3), Offset(200)});
}

TEST_CASE("end_offset_for an epoch below the earliest ends at the earliest start", "[epoch]") {
  // Its records were removed from the log; the follower truncates to where ours begin.
  Fixture f;
  f.assign(2, 10);
  f.assign(4, 100);
  CHECK(f.end_for(1) == EpochEndOffset{LeaderEpoch(1), Offset(10)});
  CHECK(f.end_for(0) == EpochEndOffset{LeaderEpoch(0), Offset(10)});
}

TEST_CASE("end_offset_for an epoch above the latest is undefined", "[epoch]") {
  Fixture f;
  f.assign(2, 10);
  f.assign(4, 100);
  CHECK(f.end_for(5) == EpochEndOffset{});
}

// --- lookups

TEST_CASE("latest, previous and earliest follow the entries", "[epoch]") {
  Fixture f;
  CHECK_FALSE(f.cache->latest_epoch().has_value());
  CHECK_FALSE(f.cache->earliest_entry().has_value());
  f.assign(2, 10);
  CHECK(f.cache->latest_epoch() == LeaderEpoch(2));
  CHECK_FALSE(f.cache->previous_epoch().has_value());
  f.assign(4, 100);
  CHECK(f.cache->latest_epoch() == LeaderEpoch(4));
  CHECK(f.cache->previous_epoch() == LeaderEpoch(2));
  CHECK(f.cache->earliest_entry() == entry(2, 10));
  CHECK(f.cache->latest_entry() == entry(4, 100));
}

TEST_CASE("epoch_for_offset is the epoch of the latest entry starting at or below", "[epoch]") {
  Fixture f;
  f.assign(2, 10);
  f.assign(4, 100);
  CHECK_FALSE(f.cache->epoch_for_offset(Offset(9)).has_value());
  CHECK(f.cache->epoch_for_offset(Offset(10)) == LeaderEpoch(2));
  CHECK(f.cache->epoch_for_offset(Offset(99)) == LeaderEpoch(2));
  CHECK(f.cache->epoch_for_offset(Offset(100)) == LeaderEpoch(4));
  CHECK(f.cache->epoch_for_offset(Offset(5000)) == LeaderEpoch(4));
}

// --- truncate_from_end

TEST_CASE("truncate_from_end removes entries starting at or after the end", "[epoch]") {
  Fixture f;
  f.assign(0, 0);
  f.assign(1, 10);
  f.assign(2, 20);
  REQUIRE(f.cache->truncate_from_end(Offset(10)).ok());
  CHECK(f.cache->entries() == Entries{entry(0, 0)});
  CHECK(f.file_text() == "0\n1\n0 0\n");
}

TEST_CASE("truncate_from_end inside the latest epoch changes nothing", "[epoch]") {
  Fixture f;
  f.assign(0, 0);
  f.assign(1, 10);
  const auto writes = f.writes();
  REQUIRE(f.cache->truncate_from_end(Offset(11)).ok());
  CHECK(f.cache->entries() == Entries{entry(0, 0), entry(1, 10)});
  CHECK(f.writes() == writes);
}

TEST_CASE("truncate_from_end at the earliest start empties the cache", "[epoch]") {
  Fixture f;
  f.assign(3, 5);
  f.assign(4, 10);
  REQUIRE(f.cache->truncate_from_end(Offset(5)).ok());
  CHECK(f.cache->entries().empty());
  f.reopen();
  CHECK(f.cache->entries().empty());
}

TEST_CASE("truncate_from_end refuses a none offset", "[epoch]") {
  Fixture f;
  f.assign(0, 0);
  CHECK(f.cache->truncate_from_end(Offset::none()).code() == StatusCode::invalid_argument);
  CHECK(f.cache->entries() == Entries{entry(0, 0)});
}

// --- truncate_from_start

TEST_CASE("truncate_from_start moves the covering entry's start up", "[epoch]") {
  Fixture f;
  f.assign(0, 0);
  f.assign(1, 10);
  f.assign(2, 20);
  REQUIRE(f.cache->truncate_from_start(Offset(15)).ok());
  CHECK(f.cache->entries() == Entries{entry(1, 15), entry(2, 20)});
  CHECK(f.file_text() == "0\n2\n1 15\n2 20\n");
}

TEST_CASE("truncate_from_start at an entry's start keeps that entry", "[epoch]") {
  Fixture f;
  f.assign(0, 0);
  f.assign(1, 10);
  f.assign(2, 20);
  REQUIRE(f.cache->truncate_from_start(Offset(10)).ok());
  CHECK(f.cache->entries() == Entries{entry(1, 10), entry(2, 20)});
}

TEST_CASE("truncate_from_start past the latest start keeps only the latest", "[epoch]") {
  Fixture f;
  f.assign(0, 0);
  f.assign(1, 10);
  REQUIRE(f.cache->truncate_from_start(Offset(50)).ok());
  CHECK(f.cache->entries() == Entries{entry(1, 50)});
}

TEST_CASE("truncate_from_start below the earliest start changes nothing", "[epoch]") {
  Fixture f;
  f.assign(1, 10);
  const auto writes = f.writes();
  REQUIRE(f.cache->truncate_from_start(Offset(5)).ok());
  REQUIRE(f.cache->truncate_from_start(Offset(10)).ok());  // already starts there
  CHECK(f.cache->entries() == Entries{entry(1, 10)});
  CHECK(f.writes() == writes);
}

TEST_CASE("truncate_from_start refuses a none offset", "[epoch]") {
  Fixture f;
  f.assign(0, 0);
  CHECK(f.cache->truncate_from_start(Offset::none()).code() == StatusCode::invalid_argument);
  CHECK(f.cache->entries() == Entries{entry(0, 0)});
}

// --- clear

TEST_CASE("clear removes every entry and checkpoints an empty list", "[epoch]") {
  Fixture f;
  f.assign(0, 0);
  f.assign(1, 10);
  REQUIRE(f.cache->clear().ok());
  CHECK(f.cache->entries().empty());
  CHECK(f.file_text() == "0\n0\n");
  f.reopen();
  CHECK(f.cache->entries().empty());
}

// --- the checkpoint file

TEST_CASE("The checkpoint is Kafka's text format byte for byte", "[epoch]") {
  Fixture f;
  f.assign(0, 0);
  f.assign(3, 100);
  CHECK(f.cache->path() == kPath);
  CHECK(f.file_text() == "0\n2\n0 0\n3 100\n");
}

TEST_CASE("Reopening gives the same entries", "[epoch]") {
  Fixture f;
  f.assign(0, 0);
  f.assign(3, 100);
  f.assign(7, 123456789012);
  const Entries before = f.cache->entries();
  f.reopen();
  CHECK(f.cache->entries() == before);
  CHECK(f.end_for(3) == EpochEndOffset{LeaderEpoch(3), Offset(123456789012)});
}

TEST_CASE("A missing checkpoint opens as an empty cache", "[epoch]") {
  Fixture f;
  CHECK(f.cache->entries().empty());
  CHECK_FALSE(f.env.exists(kPath).value());  // opening writes nothing
}

TEST_CASE("An empty checkpoint file opens as an empty cache, as Kafka reads it", "[epoch]") {
  // Kafka creates the file empty before its first write.
  Fixture f;
  f.write_file_text("");
  f.reopen();
  CHECK(f.cache->entries().empty());
  f.assign(1, 0);
  CHECK(f.file_text() == "0\n1\n1 0\n");
}

TEST_CASE("A checkpoint of only a version line opens empty, as Kafka reads it", "[epoch]") {
  Fixture f;
  f.write_file_text("0\n");
  f.reopen();
  CHECK(f.cache->entries().empty());
}

TEST_CASE("A checkpoint Kafka reads is read: extra whitespace and CRLF", "[epoch]") {
  // Kafka splits entries on runs of whitespace and reads lines ending in "\r\n".
  Fixture f;
  f.write_file_text("0\r\n2\r\n0  0\r\n3\t100 \r\n");
  f.reopen();
  CHECK(f.cache->entries() == Entries{entry(0, 0), entry(3, 100)});
}

TEST_CASE("A stale temporary file from an interrupted write is ignored", "[epoch]") {
  Fixture f;
  f.assign(1, 0);
  REQUIRE(write_file_atomically(f.env, kPath + ".tmp", as_bytes("garbage")).ok());
  f.reopen();
  CHECK(f.cache->entries() == Entries{entry(1, 0)});
  f.assign(2, 10);
  CHECK(f.file_text() == "0\n2\n1 0\n2 10\n");
}

// --- corrupt checkpoints: each names the file and the line

namespace {

void check_corrupt(std::string_view text, int line, std::string_view detail) {
  Fixture f;
  f.write_file_text(text);
  auto opened = LeaderEpochCache::open(f.env, kDir);
  REQUIRE_FALSE(opened.ok());
  CHECK(opened.status().code() == StatusCode::corruption);
  CHECK_THAT(opened.status().message(), Catch::Contains(kPath));
  CHECK_THAT(opened.status().message(), Catch::Contains(fmt::format("line {}:", line)));
  CHECK_THAT(opened.status().message(), Catch::Contains(std::string(detail)));
}

}  // namespace

TEST_CASE("A checkpoint with another version is corrupt at line 1", "[epoch]") {
  check_corrupt("1\n0\n", 1, "version '1'");
}

TEST_CASE("A checkpoint with a non-numeric version is corrupt at line 1", "[epoch]") {
  check_corrupt("zero\n0\n", 1, "version 'zero'");
}

TEST_CASE("A checkpoint with a bad count is corrupt at line 2", "[epoch]") {
  check_corrupt("0\nx\n", 2, "count 'x'");
  check_corrupt("0\n-1\n", 2, "count '-1'");
}

TEST_CASE("A checkpoint with fewer entries than its count is corrupt at line 2", "[epoch]") {
  check_corrupt("0\n3\n0 0\n1 10\n", 2, "expected 3 entries but found 2");
}

TEST_CASE("A checkpoint with more entries than its count is corrupt at line 2", "[epoch]") {
  check_corrupt("0\n1\n0 0\n1 10\n", 2, "expected 1 entries but found 2");
}

TEST_CASE("A non-numeric entry is corrupt at its line", "[epoch]") {
  check_corrupt("0\n2\n0 0\n1 ten\n", 4, "'1 ten'");
  check_corrupt("0\n1\nx 0\n", 3, "'x 0'");
}

TEST_CASE("An entry without two fields is corrupt at its line", "[epoch]") {
  check_corrupt("0\n1\n5\n", 3, "'5' is not '<epoch> <start_offset>'");
  check_corrupt("0\n1\n5 1 2\n", 3, "'5 1 2'");
  check_corrupt("0\n1\n 5 1\n", 3, "' 5 1'");  // Java's split gives an empty first field
  check_corrupt("0\n2\n0 0\n\n", 4, "'' is not");
}

TEST_CASE("An epoch beyond 32 bits is corrupt at its line", "[epoch]") {
  check_corrupt("0\n1\n2147483648 0\n", 3, "'2147483648 0'");
}

TEST_CASE("A negative epoch or offset is corrupt at its line", "[epoch]") {
  check_corrupt("0\n1\n-1 0\n", 3, "'-1 0' is negative");
  check_corrupt("0\n2\n0 0\n1 -5\n", 4, "'1 -5' is negative");
}

TEST_CASE("Entries whose epochs do not increase are corrupt at the line", "[epoch]") {
  check_corrupt("0\n3\n0 0\n3 10\n3 20\n", 5, "'3 20' does not follow '3 10'");
  check_corrupt("0\n2\n4 0\n2 10\n", 4, "'2 10' does not follow '4 0'");
}

TEST_CASE("Entries whose start offsets do not increase are corrupt at the line", "[epoch]") {
  check_corrupt("0\n2\n1 10\n2 10\n", 4, "'2 10' does not follow '1 10'");
  check_corrupt("0\n2\n1 10\n2 5\n", 4, "'2 5' does not follow '1 10'");
}

// --- failed writes and power cuts

TEST_CASE("A failed checkpoint write returns the error and keeps the old state", "[epoch]") {
  const FaultOp op = GENERATE(FaultOp::write, FaultOp::sync, FaultOp::rename);
  const int err = GENERATE(EIO, ENOSPC);
  INFO("op " << static_cast<int>(op) << " errno " << err);
  Fixture f;
  f.assign(0, 0);
  f.assign(3, 100);
  f.env.fail_nth(op, 1, err);
  const Status failed = f.cache->assign(LeaderEpoch(4), Offset(200));
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.code() == (err == ENOSPC ? StatusCode::no_space : StatusCode::io_error));
  CHECK_THAT(failed.message(), Catch::Contains(kPath));
  const Entries old{entry(0, 0), entry(3, 100)};
  CHECK(f.cache->entries() == old);  // memory is all or nothing
  CHECK(f.file_text() == "0\n2\n0 0\n3 100\n");
  f.reopen();
  CHECK(f.cache->entries() == old);
  // The fault was one-off: the same assign now goes through.
  f.assign(4, 200);
  CHECK(f.cache->latest_entry() == entry(4, 200));
}

TEST_CASE("A failed write during truncation or clear keeps the old state", "[epoch]") {
  Fixture f;
  f.assign(0, 0);
  f.assign(1, 10);
  f.assign(2, 20);
  const Entries old = f.cache->entries();
  f.env.fail_nth(FaultOp::sync, 1, EIO);
  CHECK(f.cache->truncate_from_end(Offset(10)).is_io_error());
  f.env.fail_nth(FaultOp::write, 1, EIO);
  CHECK(f.cache->truncate_from_start(Offset(15)).is_io_error());
  f.env.fail_nth(FaultOp::rename, 1, EIO);
  CHECK(f.cache->clear().is_io_error());
  CHECK(f.cache->entries() == old);
  f.reopen();
  CHECK(f.cache->entries() == old);
}

TEST_CASE("A failed directory fsync loses the new checkpoint only at a power cut", "[epoch]") {
  Fixture f;
  f.assign(0, 0);
  f.env.fail_nth(FaultOp::sync_dir, 1, EIO);
  CHECK(f.cache->assign(LeaderEpoch(1), Offset(10)).is_io_error());
  CHECK(f.cache->entries() == Entries{entry(0, 0)});
  // The rename happened but is not durable: a power cut brings the old file back whole.
  f.env.power_cut(PowerCutMode::drop_unsynced);
  f.reopen();
  CHECK(f.cache->entries() == Entries{entry(0, 0)});
}

TEST_CASE("An entry whose assign returned survives a power cut", "[epoch]") {
  const PowerCutMode mode = GENERATE(PowerCutMode::drop_unsynced, PowerCutMode::tear_last_write,
                                     PowerCutMode::random_prefix);
  INFO("mode " << static_cast<int>(mode));
  Fixture f;
  f.assign(0, 0);
  f.assign(3, 100);
  REQUIRE(f.cache->truncate_from_start(Offset(50)).ok());
  f.env.power_cut(mode);
  f.reopen();
  CHECK(f.cache->entries() == Entries{entry(0, 50), entry(3, 100)});
}

TEST_CASE("A power cut in the middle of a checkpoint write leaves the old one", "[epoch]") {
  Fixture f;
  f.assign(0, 0);
  // The temporary file is written, then the write fails short: no rename happens.
  f.env.short_write_nth(1, 3, EIO);
  CHECK(f.cache->assign(LeaderEpoch(1), Offset(10)).is_io_error());
  f.env.power_cut(PowerCutMode::tear_last_write);
  f.reopen();
  CHECK(f.cache->entries() == Entries{entry(0, 0)});
}
