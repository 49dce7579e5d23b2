// Log::read_into: the batches Log::read returns, read with one read into the caller's
// buffer and framed in memory. One named test per behaviour.
#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include "log_fixture.h"
#include "log_test_util.h"
#include "samsa/faulty_env.h"
#include "samsa/log.h"
#include "samsa/segment.h"
#include "test_util.h"

using namespace samsa;

namespace {

constexpr const char* kDir = "/data/orders-3";

struct Fixture : test::LogFixture {
  // Reused by every read_into of a test: large enough for any read it makes.
  std::vector<std::byte> buffer = std::vector<std::byte>(1 << 20);
  explicit Fixture(LogConfig c = {}) : LogFixture(std::move(c)) {}
  // read_into with the first `buffer_bytes` of the shared buffer, which must succeed.
  LogRead read_into(Offset offset, std::size_t buffer_bytes, ReadOptions options = {}) {
    REQUIRE(buffer_bytes <= buffer.size());
    auto read = log->read_into(offset, MutableByteSpan(buffer).first(buffer_bytes), options);
    INFO(read.status().to_string());
    REQUIRE(read.ok());
    return *read;
  }
  std::vector<std::byte> bytes_of(const LogRead& read) const {
    return {buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(read.size_bytes)};
  }
  std::string log_path(Offset base = Offset(0)) const {
    return join_path(kDir, log_file_name(base));
  }
  // Overwrites bytes of a segment's .log behind the Log's back (a bit flip on disk).
  void poke(std::uint64_t position, ByteSpan bytes) {
    auto file = env.open(log_path(), OpenOptions{});
    REQUIRE(file.ok());
    REQUIRE((*file)->write_at(position, bytes).ok());
  }
};

// (base offset, last offset, size) of each batch laid end to end in `bytes`, parsed.
struct Framed {
  Offset base;
  Offset last;
  std::size_t size = 0;
};
std::vector<Framed> frame(ByteSpan bytes) {
  std::vector<Framed> out;
  for (std::size_t at = 0; at < bytes.size();) {
    auto view = RecordBatchView::parse(bytes.subspan(at), at);
    REQUIRE(view.ok());
    out.push_back({view->base_offset(), view->last_offset(), view->size_bytes()});
    at += view->size_bytes();
  }
  return out;
}

// What read_into must return given Log::read's bytes for the same offset and options and a
// buffer of `buffer_bytes`: the longest prefix of those whole batches that fits.
struct Expected {
  std::vector<std::byte> bytes;
  Offset first_offset = Offset::none();
  Offset next_offset = Offset::none();
  std::size_t needed_bytes = 0;
};
Expected expected_read(const std::vector<std::byte>& slice, std::size_t buffer_bytes) {
  Expected e;
  const auto batches = frame(slice);
  std::size_t size = 0;
  for (const Framed& b : batches) {
    if (size + b.size > buffer_bytes) break;
    size += b.size;
    e.next_offset = b.last + 1;
  }
  if (size > 0) e.first_offset = batches.front().base;
  if (size == 0 && !batches.empty()) e.needed_bytes = batches.front().size;
  e.bytes.assign(slice.begin(), slice.begin() + static_cast<std::ptrdiff_t>(size));
  return e;
}

void put_be32(std::vector<std::byte>& out, std::int32_t v) {
  out.resize(4);
  put_be<std::int32_t>(out.data(), v);
}

}  // namespace

TEST_CASE("read_into returns the batches read returns, as many whole ones as fit the buffer",
          "[log][read_into]") {
  // Small segments and a dense index: reads start at index entries, in the middle of
  // segments, and end at segment ends.
  Fixture f(LogConfig{.segment_bytes = 16 * 1024, .index_interval_bytes = 512});
  for (int i = 0; i < 60; ++i) f.append(i % 7 + 1, static_cast<std::size_t>(i * 37 % 300));
  const Offset end = f.log->log_end_offset();
  REQUIRE(f.log->segments().size() > 2);
  int compared = 0;
  int partial = 0;  // reads the buffer cut short: the case that differs from read()
  for (Offset offset(0); offset <= end; offset = offset + 1) {
    for (const std::uint64_t max_bytes : {1, 300, 2000, 1 << 20}) {
      for (const bool min_one_batch : {true, false}) {
        const ReadOptions options{.max_bytes = max_bytes, .min_one_batch = min_one_batch};
        const auto slice = f.read_bytes(offset, options);
        for (const std::size_t buffer_bytes : {0, 61, 500, 3000, 1 << 20}) {
          const Expected e = expected_read(slice, buffer_bytes);
          const LogRead got = f.read_into(offset, buffer_bytes, options);
          INFO(fmt::format("offset {} max_bytes {} min_one_batch {} buffer {}", offset.value(),
                           max_bytes, min_one_batch, buffer_bytes));
          REQUIRE(got.size_bytes == e.bytes.size());
          REQUIRE(f.bytes_of(got) == e.bytes);
          REQUIRE(got.first_offset == e.first_offset);
          REQUIRE(got.next_offset == e.next_offset);
          REQUIRE(got.needed_bytes == e.needed_bytes);
          ++compared;
          if (e.bytes.size() < slice.size()) ++partial;
        }
      }
    }
  }
  CHECK(compared == (end.value() + 1) * 4 * 2 * 5);
  CHECK(partial > 1'000);
}

TEST_CASE("read_into stops below max_offset and at the log end", "[log][read_into]") {
  Fixture f;
  for (int i = 0; i < 5; ++i) f.append(10);  // [0, 9] [10, 19] ... [40, 49]
  auto next_with = [&](Offset offset, std::optional<Offset> max_offset) {
    const LogRead read = f.read_into(offset, 1 << 20, {.max_offset = max_offset});
    return std::pair(read.first_offset, read.next_offset);
  };
  CHECK(next_with(Offset(0), Offset(25)) == std::pair(Offset(0), Offset(20)));
  CHECK(next_with(Offset(0), Offset(20)) == std::pair(Offset(0), Offset(20)));
  CHECK(next_with(Offset(0), Offset(30)) == std::pair(Offset(0), Offset(30)));
  CHECK(next_with(Offset(22), Offset(30)) == std::pair(Offset(20), Offset(30)));
  CHECK(next_with(Offset(0), Offset(100)) == std::pair(Offset(0), Offset(50)));  // the end
  CHECK(next_with(Offset(0), std::nullopt) == std::pair(Offset(0), Offset(50)));
  // Nothing below the bound: empty, and not a batch too large for the buffer either.
  for (const auto& [offset, bound] : {std::pair(0, 0), std::pair(25, 25), std::pair(22, 29)}) {
    const LogRead read = f.read_into(Offset(offset), 1 << 20, {.max_offset = Offset(bound)});
    INFO(fmt::format("offset {} max_offset {}", offset, bound));
    CHECK(read.size_bytes == 0);
    CHECK(read.needed_bytes == 0);
    CHECK(read.first_offset == Offset::none());
  }
}

TEST_CASE("read_into returns a first batch over max_bytes only with min_one_batch",
          "[log][read_into]") {
  Fixture f;
  const AppendInfo big = f.append(100, 100);  // about 11 KB
  f.append(1);
  REQUIRE(big.bytes > 1000);
  const LogRead without =
      f.read_into(Offset(0), 1 << 20, {.max_bytes = 1000, .min_one_batch = false});
  CHECK(without.size_bytes == 0);
  CHECK(without.needed_bytes == 0);
  CHECK(without.first_offset == Offset::none());
  const LogRead with = f.read_into(Offset(0), 1 << 20, {.max_bytes = 1000, .min_one_batch = true});
  CHECK(with.size_bytes == big.bytes);  // that batch alone: the next one is past max_bytes
  CHECK(with.first_offset == Offset(0));
  CHECK(with.next_offset == Offset(100));
  CHECK(f.bytes_of(with) == f.read_bytes(Offset(0), {.max_bytes = 1000}));
}

TEST_CASE("read_into into a buffer smaller than the first batch reads nothing and says its size",
          "[log][read_into]") {
  Fixture f;
  const AppendInfo first = f.append(20, 50);
  const AppendInfo second = f.append(20, 80);
  const LogRead small = f.read_into(Offset(5), static_cast<std::size_t>(first.bytes - 1));
  CHECK(small.size_bytes == 0);
  CHECK(small.needed_bytes == first.bytes);
  CHECK(small.first_offset == Offset::none());
  // Exactly that large: the first batch, and not the second, which does not fit after it.
  const LogRead exact = f.read_into(Offset(5), small.needed_bytes);
  CHECK(exact.size_bytes == first.bytes);
  CHECK(exact.needed_bytes == 0);
  CHECK(exact.next_offset == Offset(20));
  const LogRead both = f.read_into(Offset(5), static_cast<std::size_t>(first.bytes + second.bytes));
  CHECK(both.size_bytes == first.bytes + second.bytes);
  CHECK(both.next_offset == Offset(40));
}

TEST_CASE("read_into outside the log is out of range and at its end is empty", "[log][read_into]") {
  Fixture f;
  f.append(3);
  f.append(3);
  auto past = f.log->read_into(Offset(7), f.buffer);
  CHECK(past.status().code() == StatusCode::out_of_range);
  CHECK_THAT(past.status().message(), Catch::Contains("offset 7"));
  const LogRead at_end = f.read_into(Offset(6), 1 << 20);
  CHECK(at_end.size_bytes == 0);
  CHECK(at_end.needed_bytes == 0);
  CHECK(at_end.first_offset == Offset::none());
  REQUIRE(f.log->delete_records_before(Offset(4)).ok());
  CHECK(f.log->read_into(Offset(3), f.buffer).status().code() == StatusCode::out_of_range);
  CHECK(f.read_into(Offset(4), 1 << 20).first_offset == Offset(3));  // the batch holding 4
}

TEST_CASE("read_into returns one segment's batches at a time and the next call continues",
          "[log][read_into]") {
  Fixture f(LogConfig{.segment_bytes = 2048});
  for (int i = 0; i < 30; ++i) f.append(5, 40);
  const auto segments = f.log->segments();
  REQUIRE(segments.size() >= 3);
  Offset next(0);
  for (std::size_t i = 0; i < segments.size(); ++i) {
    INFO(fmt::format("segment {} [{}, {})", i, segments[i].base_offset.value(),
                     segments[i].next_offset.value()));
    const LogRead read = f.read_into(next, 1 << 20);
    CHECK(read.first_offset == segments[i].base_offset);
    CHECK(read.next_offset == segments[i].next_offset);
    CHECK(read.size_bytes == segments[i].size_bytes);
    const auto batches = frame(f.bytes_of(read));
    REQUIRE(!batches.empty());
    CHECK(batches.front().base == next);
    CHECK(batches.back().last + 1 == segments[i].next_offset);
    next = read.next_offset;
  }
  CHECK(next == f.log->log_end_offset());
}

TEST_CASE("read_into reports a corrupt batch length naming the file and position",
          "[log][read_into]") {
  Fixture f;
  f.append(3);
  f.append(3);
  const AppendInfo third = f.append(3);
  f.append(3);
  std::vector<std::byte> field;
  SECTION("too small for a header") {
    put_be32(field, 5);
  }
  SECTION("past the end of the segment") {
    put_be32(field, 1 << 20);
  }
  f.poke(third.position.value() + batch_layout::kLength, field);
  // The lookup of offset 0 reads only the first header: the walk in memory finds this one.
  auto read = f.log->read_into(Offset(0), f.buffer);
  REQUIRE(read.status().code() == StatusCode::corruption);
  CHECK_THAT(read.status().message(), Catch::Contains(f.log_path()));
  CHECK_THAT(read.status().message(),
             Catch::Contains(fmt::format("position {}", third.position.value())));
  // Log::read finds the same batch bad.
  CHECK(f.log->read(Offset(0)).status().code() == StatusCode::corruption);
}

TEST_CASE("read_into reports a base offset out of order naming the file and position",
          "[log][read_into]") {
  Fixture f;
  f.append(3);
  f.append(3);
  const AppendInfo third = f.append(3);  // [6, 8]
  f.append(3);
  std::vector<std::byte> base(8);
  SECTION("behind the batch before it") {
    put_be<std::int64_t>(base.data(), 4);
  }
  SECTION("past the segment's end") {
    put_be<std::int64_t>(base.data(), 100);
  }
  f.poke(third.position.value() + batch_layout::kBaseOffset, base);
  auto read = f.log->read_into(Offset(0), f.buffer);
  REQUIRE(read.status().code() == StatusCode::corruption);
  CHECK_THAT(read.status().message(), Catch::Contains(f.log_path()));
  CHECK_THAT(read.status().message(),
             Catch::Contains(fmt::format("position {}", third.position.value())));
  // As with Log::read, a batch the walk reaches is checked even when the bound stops there.
  CHECK(f.log->read(Offset(0), {.max_offset = Offset(6)}).status().code() ==
        StatusCode::corruption);
  CHECK(f.log->read_into(Offset(0), f.buffer, {.max_offset = Offset(6)}).status().code() ==
        StatusCode::corruption);
}

TEST_CASE("read_into racing an appender sees only whole, valid batches below the end",
          "[log][read_into]") {
  // A real file system: pread and pwrite of the same file race as they do in production.
  test::TempDir dir;
  REQUIRE(!dir.path().empty());
  LogConfig config;
  config.segment_bytes = 64 * 1024;  // rolls while the reader reads
  config.flush_policy = FlushPolicy::manual_may_lose_unflushed;
  auto opened = Log::open(Env::posix(), dir.path(), config);
  REQUIRE(opened.ok());
  const std::unique_ptr<Log> log = std::move(opened).value();

  constexpr int kBatches = 2000;
  std::int64_t total_records = 0;
  for (int i = 0; i < kBatches; ++i) total_records += i % 13 + 1;
  Status appended;
  std::thread appender([&] {
    RecordBatchBuilder builder;
    for (int i = 0; i < kBatches && appended.ok(); ++i) {
      builder.reset({});
      const std::string value(static_cast<std::size_t>(i * 31 % 500), 'v');
      for (int r = 0; r < i % 13 + 1; ++r) {
        appended = builder.append(Timestamp(1'700'000'000'000 + i), as_bytes("k"), as_bytes(value));
        if (!appended.ok()) break;
      }
      if (appended.ok()) appended = log->append(builder).status();
    }
  });

  // A small buffer, so reads are also cut short by it and grown by needed_bytes.
  std::vector<std::byte> buffer(4096);
  Offset next(0);
  std::int64_t records = 0;
  int reads = 0;
  int empty_reads = 0;
  int reads_while_appending = 0;
  std::string problem;
  // Bounded: each read either moves `next` on or finds the log end (the appender is slower
  // than that only a bounded number of times).
  for (int round = 0; round < 10'000'000 && next.value() < total_records && problem.empty();
       ++round) {
    auto read = log->read_into(next, buffer);
    const Offset end_after = log->log_end_offset();
    if (!read.ok()) {
      problem = read.status().to_string();
      break;
    }
    if (read->size_bytes == 0) {
      if (read->needed_bytes > 0) {
        buffer.resize(read->needed_bytes);
      } else {
        ++empty_reads;
        std::this_thread::yield();
      }
      continue;
    }
    ++reads;
    if (end_after.value() < total_records) ++reads_while_appending;
    if (read->first_offset != next || read->next_offset > end_after) {
      problem =
          fmt::format("read at {}: [{}, {}) with the log end at {}", next.value(),
                      read->first_offset.value(), read->next_offset.value(), end_after.value());
      break;
    }
    auto batches = test::decode_batches(ByteSpan(buffer).first(read->size_bytes), 0, "buffer");
    if (!batches.ok()) {
      problem = batches.status().to_string();
      break;
    }
    for (const test::ReadBatch& b : *batches) {
      if (b.base_offset != next) {
        problem = fmt::format("batch at {} after offset {}", b.base_offset.value(), next.value());
        break;
      }
      records += static_cast<std::int64_t>(b.records.size());
      next = b.last_offset + 1;
    }
    if (problem.empty() && next != read->next_offset) problem = "next_offset is not the last + 1";
  }
  appender.join();
  INFO(problem);
  CHECK(problem.empty());
  CHECK(appended.ok());
  CHECK(records == total_records);
  INFO(fmt::format("{} reads ({} while appending), {} at the end", reads, reads_while_appending,
                   empty_reads));
  CHECK(reads_while_appending > 0);  // the race was run, not a read after the appends
  CHECK(next == log->log_end_offset());
}
