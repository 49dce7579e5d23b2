// Bit flips in a cleanly closed log: one random bit of one random .log (or index) file, each
// time in a fresh copy of the directory. Recovery that rescans must report the damage naming
// the file (or cut there when told to); reads must never return a record that differs from
// what was written; a damaged index must not change what reads return.
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "log_test_util.h"
#include "samsa/log.h"

namespace samsa {
namespace {

using test::LogRecord;
using test::ReadBatch;

constexpr const char* kDirName = "flip-0";
constexpr int kRandomReads = 20;

LogConfig flip_config() {
  LogConfig config;
  config.segment_bytes = 8192;
  config.index_interval_bytes = 256;
  config.segment_index_bytes = 64 << 10;
  config.flush_policy = FlushPolicy::manual_may_lose_unflushed;  // close() flushes
  return config;
}

// A cleanly closed log of several segments, what it holds, and where its batches lie.
struct Pristine {
  test::TempDir tmp;
  std::string dir;
  std::vector<LogRecord> records;  // records[o] is the record at offset o
  std::map<std::string, std::vector<ReadBatch>> batches_by_file;  // by .log file name
  std::vector<std::string> index_files;  // non-empty .index and .timeindex file names
};

void build_pristine(Pristine& p, std::uint64_t seed) {
  REQUIRE_FALSE(p.tmp.path().empty());
  p.dir = join_path(p.tmp.path(), kDirName);
  ManualClock clock;
  auto log = Log::open(Env::posix(), p.dir, flip_config(), clock);
  INFO(log.status().to_string());
  REQUIRE(log.ok());
  test::Rng rng(seed);
  constexpr Compression kCodecs[] = {Compression::none, Compression::none, Compression::lz4,
                                     Compression::zstd};
  for (int i = 0; i < 70; ++i) {
    clock.advance_ms(rng.uniform_signed(1, 1000));
    const Offset first((*log)->log_end_offset());
    auto records = test::make_records(rng.next(), first, rng.uniform_int(1, 20), clock.now(), 200);
    for (LogRecord& r : records) r.timestamp = clock.now() + rng.uniform_signed(-500, 500);
    auto info = test::append_records(**log, records, kCodecs[rng.uniform(0, 3)]);
    INFO(info.status().to_string());
    REQUIRE(info.ok());
    p.records.insert(p.records.end(), records.begin(), records.end());
  }
  REQUIRE((*log)->segments().size() >= 4);
  REQUIRE((*log)->close().ok());
  log->reset();
  REQUIRE(test::check_kafka_format(Env::posix(), p.dir).ok());
  auto names = Env::posix().list_dir(p.dir);
  REQUIRE(names.ok());
  for (const std::string& name : *names) {
    const std::string path = join_path(p.dir, name);
    if (parse_segment_file_name(name, ".log")) {
      auto bytes = read_file(Env::posix(), path);
      REQUIRE(bytes.ok());
      auto batches = test::decode_batches(*bytes, 0, path);
      REQUIRE(batches.ok());
      if (!batches->empty()) p.batches_by_file[name] = std::move(batches).value();
    } else if (parse_segment_file_name(name, ".index") ||
               parse_segment_file_name(name, ".timeindex")) {
      auto size = Env::posix().file_size(path);
      REQUIRE(size.ok());
      if (*size > 0) p.index_files.push_back(name);
    }
  }
  REQUIRE(p.batches_by_file.size() >= 4);
}

// A copy of the pristine directory with one bit flipped in `file` at `position`.
struct Flipped {
  test::TempDir tmp;
  std::string dir;
};

void make_flipped(const Pristine& p, Flipped& f, const std::string& file, std::uint64_t position,
                  int bit) {
  REQUIRE_FALSE(f.tmp.path().empty());
  f.dir = join_path(f.tmp.path(), kDirName);
  std::filesystem::copy(p.dir, f.dir, std::filesystem::copy_options::recursive);
  auto handle = Env::posix().open(join_path(f.dir, file), OpenOptions{});
  REQUIRE(handle.ok());
  std::byte b[1];
  auto n = (*handle)->read_at(position, b);
  REQUIRE(n.ok());
  REQUIRE(*n == 1);
  b[0] ^= static_cast<std::byte>(1u << bit);
  REQUIRE((*handle)->write_at(position, b).ok());
  REQUIRE((*handle)->sync().ok());
  REQUIRE((*handle)->close().ok());
}

std::vector<LogRecord> expected_from(const Pristine& p, Offset from, Offset end) {
  std::vector<LogRecord> out;
  for (auto o = from.value(); o < end.value() && o < static_cast<std::int64_t>(p.records.size());
       ++o) {
    out.push_back(p.records[static_cast<std::size_t>(o)]);
  }
  return out;
}

// What part of a batch header (or body) a byte is in.
enum class Field { base_offset, length, leader_epoch, magic, crc_covered };

Field field_at(std::uint64_t offset_in_batch) {
  if (offset_in_batch < batch_layout::kLength) return Field::base_offset;
  if (offset_in_batch < batch_layout::kPartitionLeaderEpoch) return Field::length;
  if (offset_in_batch < batch_layout::kMagic) return Field::leader_epoch;
  if (offset_in_batch == batch_layout::kMagic) return Field::magic;
  return Field::crc_covered;  // the CRC itself and the bytes it covers
}

const char* to_string(Field f) {
  switch (f) {
    case Field::base_offset:
      return "base offset";
    case Field::length:
      return "length";
    case Field::leader_epoch:
      return "leader epoch";
    case Field::magic:
      return "magic";
    case Field::crc_covered:
      return "crc-covered";
  }
  return "?";
}

enum class Outcome { correct, detected, gap, silent };

// Reads from `from` to the end and compares with what was written. A batch that fails
// validation, or an error from the log, is damage detected (a reader would not take it as
// data). A batch that validates but does not hold the offset read, or whose offsets go
// backwards, is wrong data served: a failure. A gap in the offsets is what a flipped base
// offset (outside the CRC) can look like to a log that allows gaps: reported as `gap`,
// with everything before it checked. So can an empty read below the log end (a batch whose
// offsets now reach past the log end is not returned): `silent`.
Outcome read_and_compare(const Log& log, const Pristine& p, Offset from) {
  INFO("read from " << from.value());
  test::ReadAllOptions options;
  options.require_contiguous = false;
  auto batches = test::read_batches(log, from, options);
  if (!batches.ok()) {
    const Status status = batches.status();
    const std::string& message = status.message();
    if (message.find("empty slice below the log end") != std::string::npos) {
      return Outcome::silent;
    }
    INFO(batches.status().to_string());
    CHECK(message.find(test::kOffsetOrder) == std::string::npos);
    return Outcome::detected;
  }
  std::vector<LogRecord> records;
  Offset next = from;
  bool gap = false;
  for (const ReadBatch& b : *batches) {
    if (b.base_offset > next) {
      gap = true;
      break;
    }
    for (const LogRecord& r : b.records) {
      if (r.offset >= from) records.push_back(r);
    }
    next = b.last_offset + 1;
  }
  CHECK(test::first_difference(expected_from(p, from, next), records) == "");
  if (gap) return Outcome::gap;
  CHECK(next.value() == std::max(from, log.log_end_offset()).value());
  return Outcome::correct;
}

const char* to_string(Outcome o) {
  switch (o) {
    case Outcome::correct:
      return "correct";
    case Outcome::detected:
      return "detected";
    case Outcome::gap:
      return "gap";
    case Outcome::silent:
      return "silent (empty below the log end)";
  }
  return "?";
}

// Segments never overlap: each ends at or before the next one's base offset.
void expect_segments_ordered(const Log& log) {
  const auto segments = log.segments();
  for (std::size_t i = 0; i + 1 < segments.size(); ++i) {
    INFO(fmt::format("segment {} ends at {}, the next starts at {}",
                     segments[i].base_offset.value(), segments[i].next_offset.value(),
                     segments[i + 1].base_offset.value()));
    CHECK(segments[i].next_offset.value() <= segments[i + 1].base_offset.value());
    CHECK(segments[i].base_offset.value() <= segments[i].next_offset.value());
  }
}

// Prints how often each outcome happened, when SAMSA_TEST_VERBOSE is set.
void print_tally(const char* what, const std::map<std::string, int>& tally) {
  if (std::getenv("SAMSA_TEST_VERBOSE") == nullptr) return;
  std::fprintf(stderr, "%s:\n", what);
  for (const auto& [outcome, count] : tally)
    std::fprintf(stderr, "  %5d  %s\n", count, outcome.c_str());
}

}  // namespace

TEST_CASE("A flipped bit in a .log file is reported, cut when allowed, and never read as data",
          "[log][durability][bitflip]") {
  constexpr std::uint64_t kSeed = 77;
  Pristine p;
  build_pristine(p, kSeed);
  const Offset end(static_cast<std::int64_t>(p.records.size()));
  std::vector<std::string> files;
  for (const auto& [name, batches] : p.batches_by_file) files.push_back(name);
  std::map<std::string, int> tally;
  const int iterations = 80 * test::test_scale();
  for (int i = 0; i < iterations; ++i) {
    // Each iteration has its own seed, so that SAMSA_TEST_SEED can pick one.
    const std::uint64_t seed = kSeed * 100'000 + static_cast<std::uint64_t>(i);
    if (!test::seed_selected(seed)) continue;
    test::Rng rng(seed);
    const std::string& file = files[rng.uniform(0, files.size() - 1)];
    const auto& batches = p.batches_by_file.at(file);
    const std::uint64_t file_size = batches.back().position + batches.back().size_bytes;
    std::uint64_t position = rng.uniform(0, file_size - 1);
    if (rng.percent(50)) {
      // The header fields outside the CRC are a small part of the bytes, and the
      // interesting one: half the flips go into a header.
      const ReadBatch& b = batches[rng.uniform(0, batches.size() - 1)];
      position = b.position + rng.uniform(0, batch_layout::kAttributes - 1);
    }
    const int bit = rng.uniform_int(0, 7);
    const ReadBatch* hit = nullptr;
    for (const ReadBatch& b : batches) {
      if (b.position <= position && position < b.position + b.size_bytes) hit = &b;
    }
    REQUIRE(hit != nullptr);
    const Field field = field_at(position - hit->position);
    const bool must_detect = field != Field::base_offset && field != Field::leader_epoch;
    INFO(fmt::format("seed {}: {} position {} bit {}: {} byte of the batch [{}, {}] at {}", seed,
                     file, position, bit, to_string(field), hit->base_offset.value(),
                     hit->last_offset.value(), hit->position));

    // (a) A rescan of everything finds it and names the file.
    {
      Flipped f;
      make_flipped(p, f, file, position, bit);
      LogOpenOptions options;
      options.rescan_all = true;
      auto log = Log::open(Env::posix(), f.dir, flip_config(), SystemClock::instance(), options);
      INFO("(a) rescan_all: " << log.status().to_string());
      if (!log.ok()) {
        CHECK(log.status().is_corruption());
        CHECK(log.status().message().find(file) != std::string::npos);
        ++tally[fmt::format("(a) {}: open reports corruption", to_string(field))];
      } else {
        CHECK_FALSE(must_detect);
        expect_segments_ordered(**log);
        const Outcome outcome = read_and_compare(**log, p, Offset(0));
        if (outcome == Outcome::gap || outcome == Outcome::silent) {
          CHECK(field == Field::base_offset);
        }
        ++tally[fmt::format("(a) {}: open ok, reads {}", to_string(field), to_string(outcome))];
      }
    }
    // (b) With truncate_corruption the log is cut at the damaged batch and what is left is
    // exactly what was written.
    {
      Flipped f;
      make_flipped(p, f, file, position, bit);
      LogOpenOptions options;
      options.rescan_all = true;
      options.truncate_corruption = true;
      auto log = Log::open(Env::posix(), f.dir, flip_config(), SystemClock::instance(), options);
      INFO("(b) truncate_corruption: " << log.status().to_string());
      REQUIRE(log.ok());
      const Offset leo = (*log)->log_end_offset();
      INFO("log end after the cut " << leo.value());
      if (must_detect) CHECK(leo.value() == hit->base_offset.value());
      if (field == Field::leader_epoch) CHECK((leo == hit->base_offset || leo == end));
      expect_segments_ordered(**log);
      const Outcome outcome = read_and_compare(**log, p, Offset(0));
      if (outcome == Outcome::gap || outcome == Outcome::silent) {
        CHECK(field == Field::base_offset);
      }
      ++tally[fmt::format("(b) {}: {}, reads {}", to_string(field),
                          leo == end ? "nothing cut" : "cut", to_string(outcome))];
      if (outcome == Outcome::correct) {
        CHECK(leo.value() <= end.value());
        // It takes appends again where it was cut.
        auto more = test::make_records(5, leo, 3, Timestamp(1'700'000'000'000), 10);
        auto info = test::append_records(**log, more);
        INFO(info.status().to_string());
        REQUIRE(info.ok());
        CHECK(info->first_offset.value() == leo.value());
      }
    }
    // (c) Without a rescan (the clean-shutdown marker is there) reads return the records
    // written or an error, never a record that differs.
    {
      Flipped f;
      make_flipped(p, f, file, position, bit);
      auto log = Log::open(Env::posix(), f.dir, flip_config());
      INFO("(c) default open: " << log.status().to_string());
      if (!log.ok()) {
        CHECK(log.status().is_corruption());
        ++tally[fmt::format("(c) {}: open reports corruption", to_string(field))];
      } else {
        std::map<Outcome, int> outcomes;
        ++outcomes[read_and_compare(**log, p, Offset(0))];
        for (int r = 0; r < kRandomReads; ++r) {
          const Offset from(rng.uniform_signed(0, end.value() - 1));
          ++outcomes[read_and_compare(**log, p, from)];
        }
        if (outcomes[Outcome::gap] + outcomes[Outcome::silent] > 0) {
          CHECK(field == Field::base_offset);
        }
        ++tally[fmt::format("(c) {}: reads {}", to_string(field),
                            outcomes[Outcome::gap] > 0        ? "see a gap"
                            : outcomes[Outcome::silent] > 0   ? "come back empty below the end"
                            : outcomes[Outcome::detected] > 0 ? "detect it"
                                                              : "correct")];
      }
    }
  }
  print_tally("bit flips in .log files", tally);
}

// Reads through a log whose index files were damaged: everything, batch by batch through
// the index, and by timestamp. The .log files are intact, so every answer must be right.
void expect_reads_unchanged(const Log& log, const Pristine& p, const test::LogModel& model,
                            test::Rng& rng) {
  const Offset end(static_cast<std::int64_t>(p.records.size()));
  CHECK(log.log_end_offset().value() == end.value());
  auto all = test::read_all(log, Offset(0));
  INFO("read everything: " << all.status().to_string());
  CHECK(all.ok());
  if (all.ok()) CHECK(test::first_difference(p.records, *all) == "");
  for (int r = 0; r < kRandomReads; ++r) {
    const Offset from(rng.uniform_signed(0, end.value() - 1));
    ReadOptions read_options;
    read_options.max_bytes = 1;  // just the batch holding `from`, found through the index
    auto slice = log.read(from, read_options);
    INFO("read at " << from.value() << ": " << slice.status().to_string());
    CHECK(slice.ok());
    if (!slice.ok()) return;
    std::vector<std::byte> bytes;
    CHECK(slice->read_into(bytes).ok());
    auto batches = test::decode_batches(bytes, slice->position.value(), "slice");
    INFO(batches.status().to_string());
    CHECK(batches.ok());
    if (!batches.ok()) return;
    CHECK(batches->size() == 1);
    if (batches->size() != 1) return;
    const ReadBatch& b = batches->front();
    CHECK(b.base_offset.value() <= from.value());
    CHECK(from.value() <= b.last_offset.value());
    CHECK(test::first_difference(expected_from(p, b.base_offset, b.last_offset + 1), b.records) ==
          "");
    const Timestamp ts = p.records[static_cast<std::size_t>(from.value())].timestamp;
    auto by_time = log.offset_for_timestamp(ts);
    INFO("offset_for_timestamp " << ts.value() << ": " << by_time.status().to_string());
    CHECK(by_time.ok());
    if (!by_time.ok()) return;
    const auto want = model.offset_for_timestamp(ts);
    CHECK(by_time->has_value());
    if (!by_time->has_value()) return;
    CHECK((*by_time)->offset.value() == want->offset.value());
    CHECK((*by_time)->timestamp.value() == want->timestamp.value());
  }
}

test::LogModel model_of(const Pristine& p) {
  test::LogModel model;
  for (const LogRecord& r : p.records) model.append({r});
  return model;
}

TEST_CASE("A flipped bit in an index file does not change what reads return",
          "[log][durability][bitflip]") {
  constexpr std::uint64_t kSeed = 78;
  Pristine p;
  build_pristine(p, kSeed);
  REQUIRE_FALSE(p.index_files.empty());
  const test::LogModel model = model_of(p);
  std::map<std::string, int> tally;
  const int iterations = 200 * test::test_scale();
  for (int i = 0; i < iterations; ++i) {
    const std::uint64_t seed = kSeed * 100'000 + static_cast<std::uint64_t>(i);
    if (!test::seed_selected(seed)) continue;
    test::Rng rng(seed);
    const std::string& file = p.index_files[rng.uniform(0, p.index_files.size() - 1)];
    auto size = Env::posix().file_size(join_path(p.dir, file));
    REQUIRE(size.ok());
    const std::uint64_t position = rng.uniform(0, *size - 1);
    const int bit = rng.uniform_int(0, 7);
    const bool rescan = rng.percent(30);
    INFO(fmt::format("seed {}: {} position {} bit {}{}", seed, file, position, bit,
                     rescan ? " rescan_all" : ""));
    Flipped f;
    make_flipped(p, f, file, position, bit);
    LogOpenOptions options;
    options.rescan_all = rescan;
    auto log = Log::open(Env::posix(), f.dir, flip_config(), SystemClock::instance(), options);
    INFO(log.status().to_string());
    // The .log files are intact: the index is rebuilt or reads stay correct.
    CHECK(log.ok());
    if (!log.ok()) continue;
    ++tally[fmt::format("indexes rebuilt: {}", (*log)->recovery_report().indexes_rebuilt)];
    expect_reads_unchanged(**log, p, model, rng);
    Status closed = (*log)->close();
    INFO("close: " << closed.to_string());
    CHECK(closed.ok());
  }
  print_tally("bit flips in index files", tally);
}

// The last .index / .timeindex entry of the last segment (the active one after reopening).
std::string last_segment_file(const Pristine& p, std::string_view suffix) {
  const std::string& log_name = p.batches_by_file.rbegin()->first;
  return log_name.substr(0, log_name.size() - 4) + std::string(suffix);
}

TEST_CASE("An .index entry pointing inside a batch does not break reads",
          "[log][durability][bitflip]") {
  Pristine p;
  build_pristine(p, 79);
  const test::LogModel model = model_of(p);
  test::Rng rng(79);
  // Every segment's first entry moved one byte on: the entries still increase, so only a
  // check against the .log can tell.
  int damaged = 0;
  Flipped f;
  REQUIRE_FALSE(f.tmp.path().empty());
  f.dir = join_path(f.tmp.path(), kDirName);
  std::filesystem::copy(p.dir, f.dir, std::filesystem::copy_options::recursive);
  for (const std::string& name : p.index_files) {
    if (!name.ends_with(".index")) continue;
    auto handle = Env::posix().open(join_path(f.dir, name), OpenOptions{});
    REQUIRE(handle.ok());
    std::byte entries[16];
    auto n = (*handle)->read_at(0, entries);
    REQUIRE(n.ok());
    if (*n < 16) continue;  // one entry: moving it could not keep the order
    const auto position = get_be<std::int32_t>(entries + 4);
    if (position + 1 >= get_be<std::int32_t>(entries + 12)) continue;
    put_be<std::int32_t>(entries + 4, position + 1);
    REQUIRE((*handle)->write_at(0, std::span(entries, 8)).ok());
    REQUIRE((*handle)->close().ok());
    ++damaged;
  }
  REQUIRE(damaged > 0);
  auto log = Log::open(Env::posix(), f.dir, flip_config());
  INFO(log.status().to_string());
  REQUIRE(log.ok());
  expect_reads_unchanged(**log, p, model, rng);
  Status closed = (*log)->close();
  INFO("close: " << closed.to_string());
  CHECK(closed.ok());
}

TEST_CASE("A lowered timestamp in the active segment's .timeindex does not crash the log",
          "[log][durability][bitflip]") {
  Pristine p;
  build_pristine(p, 80);
  const test::LogModel model = model_of(p);
  test::Rng rng(80);
  const std::string file = last_segment_file(p, ".timeindex");
  Flipped f;
  REQUIRE_FALSE(f.tmp.path().empty());
  f.dir = join_path(f.tmp.path(), kDirName);
  std::filesystem::copy(p.dir, f.dir, std::filesystem::copy_options::recursive);
  auto size = Env::posix().file_size(join_path(f.dir, file));
  REQUIRE(size.ok());
  REQUIRE(*size >= index_layout::kTimeEntrySize);
  // The last entry's timestamp, one set bit of its low byte cleared: still increasing.
  const std::uint64_t at = *size - index_layout::kTimeEntrySize + 7;
  auto handle = Env::posix().open(join_path(f.dir, file), OpenOptions{});
  REQUIRE(handle.ok());
  std::byte b[1];
  REQUIRE((*handle)->read_at(at, b).ok());
  REQUIRE(b[0] != std::byte{0});
  b[0] &= static_cast<std::byte>(static_cast<unsigned>(b[0]) - 1);  // clears the lowest set bit
  REQUIRE((*handle)->write_at(at, b).ok());
  REQUIRE((*handle)->close().ok());
  INFO(file << " byte " << at << " now " << static_cast<int>(b[0]));
  auto log = Log::open(Env::posix(), f.dir, flip_config());
  INFO(log.status().to_string());
  if (log.ok()) {
    expect_reads_unchanged(**log, p, model, rng);
    // Closing appends the final time index entry: it must cope with the damaged one.
    Status closed = (*log)->close();
    INFO("close: " << closed.to_string());
    CHECK((closed.ok() || closed.is_corruption()));
  } else {
    CHECK(log.status().is_corruption());
  }
}

}  // namespace samsa
