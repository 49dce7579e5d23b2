// SparseIndex: Kafka's .index and .timeindex byte layouts, lookups, preallocation and trim,
// the sanity check of a reopened file, flush and truncation, and concurrent readers.
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "samsa/faulty_env.h"
#include "samsa/index.h"
#include "test_util.h"

namespace samsa {
namespace {

using test::from_hex;

constexpr std::uint32_t kMaxBytes = 1024;  // 128 offset entries, 85 time entries

OffsetPosition op(std::int64_t offset, std::uint64_t position) {
  return {Offset(offset), Position(position)};
}
TimestampOffset to(std::int64_t timestamp, std::int64_t offset) {
  return {Timestamp(timestamp), Offset(offset)};
}

template <typename Index>
std::unique_ptr<Index> open_index(Env& env, const std::string& path, std::int64_t base,
                                  std::uint32_t max_bytes = kMaxBytes, bool preallocate = false) {
  auto index = Index::open(env, path, Offset(base), max_bytes, preallocate);
  REQUIRE(index.ok());
  return std::move(index).value();
}

std::vector<std::byte> file_bytes(Env& env, const std::string& path) {
  auto bytes = read_file(env, path);
  REQUIRE(bytes.ok());
  return std::move(bytes).value();
}

void write_bytes(Env& env, const std::string& path, const std::vector<std::byte>& bytes) {
  OpenOptions options;
  options.create = true;
  options.truncate = true;
  auto file = env.open(path, options);
  REQUIRE(file.ok());
  REQUIRE((*file)->write_at(0, bytes).ok());
  REQUIRE((*file)->close().ok());
}

std::uint64_t size_of(Env& env, const std::string& path) {
  auto size = env.file_size(path);
  REQUIRE(size.ok());
  return *size;
}

template <typename Index>
auto all_entries(const Index& index) {
  std::vector<decltype(index.entry(0))> out;
  for (std::size_t i = 0; i < index.entries(); ++i) out.push_back(index.entry(i));
  return out;
}

// A FaultyEnv with an empty directory "d".
struct Faulty {
  Faulty() : env(7) { REQUIRE(env.create_dirs("d").ok()); }
  FaultyEnv env;
};

// A fresh directory on the real file system, removed at the end of the test.
struct TempDir {
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "samsa-index-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string path;
};

}  // namespace

TEST_CASE("an offset index file holds big-endian relative offsets and positions", "[index]") {
  TempDir dir;
  const std::string path = dir.path + "/00000000000000000100.index";
  auto index = open_index<OffsetIndex>(Env::posix(), path, 100);
  index->append(op(103, 4096));
  index->append(op(110, 8192));
  REQUIRE(index->flush().ok());
  CHECK(file_bytes(Env::posix(), path) == from_hex("00 00 00 03 00 00 10 00"
                                                   "00 00 00 0a 00 00 20 00"));
}

TEST_CASE("a time index entry is an i64 timestamp then an i32 relative offset", "[index]") {
  TempDir dir;
  const std::string path = dir.path + "/00000000000000000100.timeindex";
  auto index = open_index<TimeIndex>(Env::posix(), path, 100);
  index->append(to(1700000000000, 103));
  REQUIRE(index->trim().ok());
  CHECK(file_bytes(Env::posix(), path) == from_hex("00 00 01 8b cf e5 68 00  00 00 00 03"));
}

TEST_CASE("a reopened index decodes hand-written entries against its base offset", "[index]") {
  Faulty fx;
  write_bytes(fx.env, "d/a.index", from_hex("00 00 00 03 00 00 10 00  00 00 00 0a 00 00 20 00"));
  write_bytes(fx.env, "d/a.timeindex", from_hex("00 00 01 8b cf e5 68 00  00 00 00 03"));
  auto index = open_index<OffsetIndex>(fx.env, "d/a.index", 100);
  auto times = open_index<TimeIndex>(fx.env, "d/a.timeindex", 100);
  CHECK(all_entries(*index) == std::vector{op(103, 4096), op(110, 8192)});
  CHECK(all_entries(*times) == std::vector{to(1700000000000, 103)});
  CHECK(index->sanity_check().ok());
  CHECK(times->sanity_check().ok());
}

TEST_CASE("offset lookup returns the last entry at or below the target", "[index]") {
  Faulty fx;
  auto index = open_index<OffsetIndex>(fx.env, "d/a.index", 100);
  SECTION("an empty index has nothing to return") {
    CHECK_FALSE(index->lookup(Offset(100)).has_value());
    CHECK_FALSE(index->lookup(Offset(1000)).has_value());
    CHECK_FALSE(index->last().has_value());
  }
  SECTION("with entries") {
    index->append(op(110, 4100));
    index->append(op(120, 8200));
    index->append(op(130, 12300));
    CHECK_FALSE(index->lookup(Offset(109)).has_value());  // before the first entry
    CHECK(index->lookup(Offset(110)) == op(110, 4100));   // exact hit
    CHECK(index->lookup(Offset(119)) == op(110, 4100));   // between entries
    CHECK(index->lookup(Offset(120)) == op(120, 8200));
    CHECK(index->lookup(Offset(130)) == op(130, 12300));      // the last
    CHECK(index->lookup(Offset(1000000)) == op(130, 12300));  // after the last
    CHECK(index->last() == op(130, 12300));
  }
}

TEST_CASE("time lookup returns the last entry at or below the target timestamp", "[index]") {
  Faulty fx;
  auto index = open_index<TimeIndex>(fx.env, "d/a.timeindex", 0);
  CHECK_FALSE(index->lookup(Timestamp(5)).has_value());
  CHECK_FALSE(index->first_at_or_after(Timestamp(5)).has_value());
  index->append(to(1000, 10));
  index->append(to(2000, 20));
  index->append(to(3000, 35));

  CHECK_FALSE(index->lookup(Timestamp(999)).has_value());
  CHECK(index->lookup(Timestamp(1000)) == to(1000, 10));
  CHECK(index->lookup(Timestamp(2999)) == to(2000, 20));
  CHECK(index->lookup(Timestamp(3000)) == to(3000, 35));
  CHECK(index->lookup(Timestamp(99999)) == to(3000, 35));

  CHECK(index->first_at_or_after(Timestamp(0)) == to(1000, 10));
  CHECK(index->first_at_or_after(Timestamp(1001)) == to(2000, 20));
  CHECK(index->first_at_or_after(Timestamp(3000)) == to(3000, 35));
  CHECK_FALSE(index->first_at_or_after(Timestamp(3001)).has_value());
}

TEST_CASE("an index is full at max_index_bytes / entry size entries", "[index]") {
  Faulty fx;
  auto index = open_index<OffsetIndex>(fx.env, "d/a.index", 0, /*max_bytes=*/3 * 8 + 7);
  auto times = open_index<TimeIndex>(fx.env, "d/a.timeindex", 0, /*max_bytes=*/3 * 8 + 7);
  CHECK(index->max_entries() == 3);
  CHECK(times->max_entries() == 2);
  for (int i = 1; i <= 3; ++i) {
    CHECK_FALSE(index->full());
    index->append(op(i, static_cast<std::uint64_t>(i) * 100));
  }
  CHECK(index->full());
  times->append(to(1, 1));
  CHECK_FALSE(times->full());
  times->append(to(2, 2));
  CHECK(times->full());
}

TEST_CASE("preallocation grows the file to max bytes and trim cuts it to the entries", "[index]") {
  Faulty fx;
  auto index = open_index<OffsetIndex>(fx.env, "d/a.index", 0, 1000, /*preallocate=*/true);
  auto times = open_index<TimeIndex>(fx.env, "d/a.timeindex", 0, 1000, /*preallocate=*/true);
  CHECK(size_of(fx.env, "d/a.index") == 1000);     // 125 entries of 8 bytes
  CHECK(size_of(fx.env, "d/a.timeindex") == 996);  // 83 entries of 12 bytes
  CHECK(index->entries() == 0);
  index->append(op(5, 4100));
  index->append(op(9, 8200));
  times->append(to(1000, 9));
  REQUIRE(index->trim().ok());
  REQUIRE(times->trim().ok());
  CHECK(size_of(fx.env, "d/a.index") == 16);
  CHECK(size_of(fx.env, "d/a.timeindex") == 12);
  REQUIRE(fx.env.sync_dir("d").ok());
  CHECK(*fx.env.synced_size("d/a.index") == 16);  // trim syncs
}

TEST_CASE("a reopened untrimmed index fails the sanity check naming the file", "[index]") {
  Faulty fx;
  {
    auto index = open_index<OffsetIndex>(fx.env, "d/a.index", 100, 80, /*preallocate=*/true);
    SECTION("with entries before the zeros") {
      index->append(op(105, 4100));
      index->append(op(111, 8300));
    }
    SECTION("with only zeros") {}
    REQUIRE(index->flush().ok());
    REQUIRE(index->close().ok());  // a crash: no trim
  }
  auto reopened = open_index<OffsetIndex>(fx.env, "d/a.index", 100, 80);
  CHECK(reopened->entries() == 10);  // Kafka's rule: size / entry size
  const Status status = reopened->sanity_check();
  CHECK(status.is_corruption());
  CHECK_THAT(status.message(), Catch::Contains("d/a.index") &&
                                   Catch::Contains("does not strictly follow") &&
                                   Catch::Contains("(offset 100, position 0)"));
}

TEST_CASE("a reopened untrimmed time index fails the sanity check naming the entry", "[index]") {
  Faulty fx;
  {
    auto index = open_index<TimeIndex>(fx.env, "d/a.timeindex", 100, 120, true);
    index->append(to(1000, 105));
    REQUIRE(index->flush().ok());
  }
  auto reopened = open_index<TimeIndex>(fx.env, "d/a.timeindex", 100, 120);
  const Status status = reopened->sanity_check();
  CHECK(status.is_corruption());
  CHECK_THAT(status.message(), Catch::Contains("d/a.timeindex: entry 1 (timestamp 0, offset 100)"));
}

TEST_CASE("a reopened trimmed index loads its entries and passes the sanity check", "[index]") {
  Faulty fx;
  const std::vector<OffsetPosition> written{op(105, 4100), op(111, 8300), op(140, 12500)};
  {
    auto index = open_index<OffsetIndex>(fx.env, "d/a.index", 100, kMaxBytes, true);
    for (const auto& e : written) index->append(e);
    REQUIRE(index->trim().ok());
    REQUIRE(index->close().ok());
  }
  SECTION("as an inactive segment's index") {
    auto reopened = open_index<OffsetIndex>(fx.env, "d/a.index", 100);
    CHECK(all_entries(*reopened) == written);
    CHECK(reopened->sanity_check().ok());
    CHECK(size_of(fx.env, "d/a.index") == 24);
  }
  SECTION("as the active segment's index: the file grows, the entries stay") {
    auto reopened = open_index<OffsetIndex>(fx.env, "d/a.index", 100, kMaxBytes, true);
    CHECK(size_of(fx.env, "d/a.index") == kMaxBytes);
    CHECK(all_entries(*reopened) == written);
    CHECK(reopened->sanity_check().ok());
    reopened->append(op(150, 16600));
    REQUIRE(reopened->trim().ok());
    CHECK(size_of(fx.env, "d/a.index") == 32);
  }
}

TEST_CASE("the sanity check rejects partial entries, oversize files and offsets below the base",
          "[index]") {
  Faulty fx;
  SECTION("a partial entry") {
    write_bytes(fx.env, "d/a.index", from_hex("00 00 00 03 00 00 10 00  00 00 00 0a"));
    auto index = open_index<OffsetIndex>(fx.env, "d/a.index", 100);
    CHECK(index->entries() == 1);
    const Status status = index->sanity_check();
    CHECK(status.is_corruption());
    CHECK_THAT(status.message(), Catch::Contains("d/a.index: 12 bytes is not a whole number"));
  }
  SECTION("more entries than max_index_bytes allows: the first ones load") {
    write_bytes(fx.env, "d/a.index",
                from_hex("00 00 00 01 00 00 00 10  00 00 00 02 00 00 00 20"
                         "00 00 00 03 00 00 00 30"));
    auto index = open_index<OffsetIndex>(fx.env, "d/a.index", 100, /*max_bytes=*/16);
    CHECK(all_entries(*index) == std::vector{op(101, 16), op(102, 32)});
    const Status status = index->sanity_check();
    CHECK(status.is_corruption());
    CHECK_THAT(status.message(), Catch::Contains("holds 3 entries, more than its maximum 2"));
  }
  SECTION("a partial entry is zeroed by the first flush after a rebuild") {
    write_bytes(fx.env, "d/a.index", from_hex("00 00 00 03 00 00 10 00  00 00 00 0a"));
    auto index = open_index<OffsetIndex>(fx.env, "d/a.index", 100);
    REQUIRE(index->reset().ok());
    index->append(op(101, 50));
    REQUIRE(index->flush().ok());
    CHECK(file_bytes(fx.env, "d/a.index") == from_hex("00000001 00000032  00000000 00000000"));
  }
  SECTION("a negative relative offset") {
    write_bytes(fx.env, "d/a.index", from_hex("ff ff ff ff 00 00 10 00"));
    auto index = open_index<OffsetIndex>(fx.env, "d/a.index", 100);
    const Status status = index->sanity_check();
    CHECK(status.is_corruption());
    CHECK_THAT(status.message(),
               Catch::Contains("entry 0 (offset 99, position 4096) is outside the segment"));
  }
  SECTION("positions that do not increase") {
    write_bytes(fx.env, "d/a.index", from_hex("00 00 00 01 00 00 00 20  00 00 00 02 00 00 00 20"));
    auto index = open_index<OffsetIndex>(fx.env, "d/a.index", 100);
    CHECK_THAT(
        index->sanity_check().message(),
        Catch::Contains("entry 1 (offset 102, position 32) does not strictly follow entry 0"));
  }
}

TEST_CASE("truncate_to then flush rewrites the tail of the file", "[index]") {
  Faulty fx;
  auto index = open_index<OffsetIndex>(fx.env, "d/a.index", 0);
  for (int i = 1; i <= 5; ++i) index->append(op(i * 10, static_cast<std::uint64_t>(i) * 1000));
  REQUIRE(index->flush().ok());

  SECTION("and appends after it replace the dropped entries") {
    REQUIRE(index->truncate_to(Offset(30)).ok());  // drops 30, 40, 50
    CHECK(index->last() == op(20, 2000));
    index->append(op(25, 2500));
    index->append(op(26, 2600));
    index->append(op(27, 2700));
    REQUIRE(index->flush().ok());
    REQUIRE(index->close().ok());
    auto reopened = open_index<OffsetIndex>(fx.env, "d/a.index", 0);
    CHECK(all_entries(*reopened) ==
          std::vector{op(10, 1000), op(20, 2000), op(25, 2500), op(26, 2600), op(27, 2700)});
    CHECK(reopened->sanity_check().ok());
  }
  SECTION("dropped entries left in the file are zeroed, so a reopen without trim fails") {
    REQUIRE(index->truncate_to(Offset(25)).ok());  // drops 30, 40, 50
    REQUIRE(index->flush().ok());
    CHECK(file_bytes(fx.env, "d/a.index") ==
          from_hex("00 00 00 0a 00 00 03 e8  00 00 00 14 00 00 07 d0"
                   "00000000 00000000  00000000 00000000  00000000 00000000"));
    auto reopened = open_index<OffsetIndex>(fx.env, "d/a.index", 0);
    CHECK(reopened->sanity_check().is_corruption());
  }
  SECTION("trim cuts the dropped entries") {
    REQUIRE(index->truncate_to(Offset(25)).ok());
    REQUIRE(index->trim().ok());
    auto reopened = open_index<OffsetIndex>(fx.env, "d/a.index", 0);
    CHECK(all_entries(*reopened) == std::vector{op(10, 1000), op(20, 2000)});
    CHECK(reopened->sanity_check().ok());
  }
  SECTION("reset drops everything") {
    REQUIRE(index->reset().ok());
    CHECK(index->entries() == 0);
    CHECK_FALSE(index->lookup(Offset(50)).has_value());
    index->append(op(1, 100));
    REQUIRE(index->trim().ok());
    CHECK(file_bytes(fx.env, "d/a.index") == from_hex("00 00 00 01 00 00 00 64"));
  }
}

TEST_CASE("a time index truncation drops the entries whose offset is at or past the target",
          "[index]") {
  Faulty fx;
  auto index = open_index<TimeIndex>(fx.env, "d/a.timeindex", 0);
  index->append(to(1000, 10));
  index->append(to(2000, 20));
  index->append(to(3000, 30));
  REQUIRE(index->truncate_to(Offset(21)).ok());
  CHECK(all_entries(*index) == std::vector{to(1000, 10), to(2000, 20)});
  REQUIRE(index->truncate_to(Offset(20)).ok());
  CHECK(all_entries(*index) == std::vector{to(1000, 10)});
  CHECK(index->lookup(Timestamp(5000)) == to(1000, 10));
}

TEST_CASE("flush writes all pending entries with one write and one sync", "[index]") {
  Faulty fx;
  auto index = open_index<OffsetIndex>(fx.env, "d/a.index", 0, 1 << 16);
  for (int i = 1; i <= 1000; ++i) index->append(op(i, static_cast<std::uint64_t>(i) * 64));
  const std::uint64_t writes = fx.env.count(FaultOp::write);
  const std::uint64_t syncs = fx.env.count(FaultOp::sync);
  REQUIRE(index->flush().ok());
  CHECK(fx.env.count(FaultOp::write) == writes + 1);
  CHECK(fx.env.count(FaultOp::sync) == syncs + 1);
  CHECK(size_of(fx.env, "d/a.index") == 8000);
  REQUIRE(fx.env.sync_dir("d").ok());
  CHECK(*fx.env.synced_size("d/a.index") == 8000);

  SECTION("a flush with nothing new makes no system call") {
    REQUIRE(index->flush().ok());
    CHECK(fx.env.count(FaultOp::write) == writes + 1);
    CHECK(fx.env.count(FaultOp::sync) == syncs + 1);
  }
  SECTION("a later flush writes only the new entries") {
    index->append(op(1001, 64064));
    REQUIRE(index->flush().ok());
    CHECK(fx.env.count(FaultOp::write) == writes + 2);
    CHECK(file_bytes(fx.env, "d/a.index").size() == 8008);
  }
}

TEST_CASE("a failed write is returned and the next flush retries it", "[index]") {
  Faulty fx;
  auto index = open_index<OffsetIndex>(fx.env, "d/a.index", 0);
  index->append(op(1, 100));
  index->append(op(2, 200));
  SECTION("an I/O error") {
    fx.env.fail_nth(FaultOp::write, 1, EIO);
    const Status status = index->flush();
    CHECK(status.is_io_error());
    CHECK_THAT(status.message(), Catch::Contains("d/a.index"));
  }
  SECTION("a full disk") {
    fx.env.fail_nth(FaultOp::write, 1, ENOSPC);
    CHECK(index->flush().is_no_space());
  }
  SECTION("a short write") {
    fx.env.short_write_nth(1, 5);
    CHECK_FALSE(index->flush().ok());
  }
  SECTION("a failed sync") {
    fx.env.fail_nth(FaultOp::sync, 1, EIO);
    CHECK(index->flush().is_io_error());
  }
  REQUIRE(index->flush().ok());
  CHECK(file_bytes(fx.env, "d/a.index") == from_hex("00000001 00000064  00000002 000000c8"));
  REQUIRE(fx.env.sync_dir("d").ok());
  CHECK(*fx.env.synced_size("d/a.index") == 16);
}

TEST_CASE("a closed index still answers lookups but refuses to write", "[index]") {
  Faulty fx;
  auto index = open_index<OffsetIndex>(fx.env, "d/a.index", 0);
  index->append(op(1, 100));
  REQUIRE(index->close().ok());
  CHECK(index->close().ok());  // idempotent
  CHECK(index->lookup(Offset(5)) == op(1, 100));
  CHECK(index->flush().code() == StatusCode::failed_precondition);
  CHECK(index->trim().code() == StatusCode::failed_precondition);
  CHECK(size_of(fx.env, "d/a.index") == 0);  // close writes nothing
}

TEST_CASE("rename_file moves the file and the handle keeps writing to it", "[index]") {
  Faulty fx;
  auto index = open_index<OffsetIndex>(fx.env, "d/a.index", 0);
  index->append(op(1, 100));
  REQUIRE(index->rename_file("d/a.index.deleted").ok());
  CHECK(index->path() == "d/a.index.deleted");
  REQUIRE(index->flush().ok());
  CHECK_FALSE(*fx.env.exists("d/a.index"));
  CHECK(file_bytes(fx.env, "d/a.index.deleted") == from_hex("00000001 00000064"));
  REQUIRE(index->remove().ok());
  CHECK_FALSE(*fx.env.exists("d/a.index.deleted"));
}

TEST_CASE("appending an entry that does not increase aborts printing the values", "[index]") {
  Faulty fx;
  auto index = open_index<OffsetIndex>(fx.env, "d/a.index", 0);
  index->append(op(10, 1000));
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    std::signal(SIGABRT, SIG_DFL);  // not Catch's handler: the child only has to die
    if (std::freopen("/dev/null", "w", stderr) == nullptr) std::_Exit(2);
    index->append(op(10, 2000));  // same offset: a programmer error
    std::_Exit(0);
  }
  int wstatus = 0;
  REQUIRE(::waitpid(pid, &wstatus, 0) == pid);
  CHECK(WIFSIGNALED(wstatus));
  CHECK(WTERMSIG(wstatus) == SIGABRT);
}

TEST_CASE("a reader racing the writer sees only whole entries of a consistent prefix", "[index]") {
  constexpr int kEntries = 100000;
  const auto position_of = [](std::int64_t offset) {
    return static_cast<std::uint64_t>(offset) * 7 + 3;
  };
  Faulty fx;
  auto index = open_index<OffsetIndex>(fx.env, "d/a.index", 1000, kEntries * 8);
  std::atomic<bool> done{false};
  std::atomic<std::int64_t> lookups{0};
  std::atomic<std::int64_t> bad{0};

  std::atomic<bool> started{false};
  std::thread reader([&] {
    std::mt19937_64 rng(42);
    started.store(true, std::memory_order_release);
    while (!done.load(std::memory_order_acquire)) {
      const std::size_t n = index->entries();
      if (n == 0) continue;
      // Offsets are 1000 + 2i for i in [1, kEntries]: targets hit entries and gaps, up to
      // one past entry n - 1 (later entries may appear while the lookup runs).
      const std::int64_t target = 1000 + static_cast<std::int64_t>(rng() % (2 * n + 2));
      const auto found = index->lookup(Offset(target));
      const auto last = index->entry(n - 1);
      const bool ok =
          last.position.value() == position_of(last.offset.value()) &&
          last.offset == Offset(1000 + 2 * static_cast<std::int64_t>(n)) &&
          (target < 1002
               ? !found.has_value()
               : found && found->offset <= Offset(target) && Offset(target) - found->offset < 2 &&
                     found->position.value() == position_of(found->offset.value()));
      if (!ok) bad.fetch_add(1);
      lookups.fetch_add(1);
    }
  });
  // The writer starts only once the reader runs, and stops the reader only after it has
  // looked something up: a fast writer must not finish before the race begins.
  while (!started.load(std::memory_order_acquire)) std::this_thread::yield();
  for (std::int64_t i = 1; i <= kEntries; ++i) {
    const std::int64_t offset = 1000 + 2 * i;
    index->append({Offset(offset), Position(position_of(offset))});
  }
  while (lookups.load() == 0) std::this_thread::yield();
  done.store(true, std::memory_order_release);
  reader.join();
  CHECK(bad.load() == 0);
  CHECK(lookups.load() > 0);
  CHECK(index->entries() == static_cast<std::size_t>(kEntries));
  CHECK(index->full());
}

}  // namespace samsa
