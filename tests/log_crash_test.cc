// Real process crashes: a forked child appends to a Log on the POSIX Env under the default
// durable policy and reports every acknowledged append through a pipe; the parent SIGKILLs
// it at a random moment (during an append, a roll, an fsync, or its own recovery at open),
// then reopens the log and checks that every acknowledged record is there byte for byte and
// that nothing garbled is readable. The log keeps growing over the cycles.
#include <catch2/catch.hpp>

#include <poll.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "log_test_util.h"
#include "samsa/log.h"

namespace samsa {
namespace {

using test::LogRecord;

// Every record is a function of its offset alone, so the parent knows what belongs anywhere.
constexpr std::uint64_t kSalt = 0x63726173680a;
constexpr std::size_t kValueBytesMax = 300;
constexpr std::int64_t kTimestamp0 = 1'700'000'000'000;
constexpr int kChildAppendsMax = 1'000'000;
constexpr std::size_t kAckLineBytesMax = 64;

LogRecord record_at(Offset offset) {
  return test::make_record(kSalt, offset, Timestamp(kTimestamp0 + offset.value()), kValueBytesMax);
}

LogConfig crash_config() {
  LogConfig config;
  config.segment_bytes = 16 << 10;  // rolls every few dozen appends
  config.index_interval_bytes = 1024;
  config.segment_index_bytes = 64 << 10;
  return config;
}

bool write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

// The child: never returns, never runs Catch2 or any destructor (_exit). Exit codes other
// than death by SIGKILL tell the parent what went wrong.
[[noreturn]] void child_main(const std::string& dir, std::uint64_t seed, int ack_fd) {
  auto log = Log::open(Env::posix(), dir, crash_config());
  if (!log.ok()) {
    std::fprintf(stderr, "crash child: open: %s\n", log.status().to_string().c_str());
    ::_exit(2);
  }
  test::Rng rng(seed);
  std::vector<LogRecord> records;
  for (int i = 0; i < kChildAppendsMax; ++i) {
    const Offset first = (*log)->log_end_offset();
    const int count = rng.uniform_int(1, 30);
    records.clear();
    for (int j = 0; j < count; ++j) records.push_back(record_at(first + j));
    constexpr Compression kCodecs[] = {Compression::none, Compression::none, Compression::lz4,
                                       Compression::zstd};
    auto info = test::append_records(**log, records, kCodecs[rng.uniform(0, 3)]);
    if (!info.ok() || info->first_offset != first || info->last_offset != first + (count - 1)) {
      std::fprintf(stderr, "crash child: append at %lld: %s\n",
                   static_cast<long long>(first.value()), info.status().to_string().c_str());
      ::_exit(3);
    }
    char line[kAckLineBytesMax];
    const int n = std::snprintf(line, sizeof line, "%lld %lld\n",
                                static_cast<long long>(info->first_offset.value()),
                                static_cast<long long>(info->last_offset.value()));
    if (n <= 0 || !write_all(ack_fd, line, static_cast<std::size_t>(n))) ::_exit(4);
  }
  ::_exit(0);
}

struct Ack {
  long long first = 0;
  long long last = 0;
};

// Parses the complete "first last\n" lines at the front of `buffer`, leaving a partial one.
void take_acks(std::string& buffer, std::vector<Ack>& acks) {
  std::size_t start = 0;
  for (std::size_t nl = buffer.find('\n'); nl != std::string::npos; nl = buffer.find('\n', start)) {
    Ack ack;
    if (std::sscanf(buffer.c_str() + start, "%lld %lld", &ack.first, &ack.last) == 2) {
      acks.push_back(ack);
    }
    start = nl + 1;
  }
  buffer.erase(0, start);
}

// Reads acknowledgements until `deadline` (or EOF, then returns false).
bool read_acks_until(int fd, std::chrono::steady_clock::time_point deadline, std::string& buffer,
                     std::vector<Ack>& acks) {
  char chunk[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return true;
    pollfd pfd{fd, POLLIN, 0};
    const int ready = ::poll(&pfd, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return true;
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    buffer.append(chunk, static_cast<std::size_t>(n));
    take_acks(buffer, acks);
  }
}

void drain_acks(int fd, std::string& buffer, std::vector<Ack>& acks) {
  char chunk[4096];
  for (;;) {
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    buffer.append(chunk, static_cast<std::size_t>(n));
  }
  take_acks(buffer, acks);
}

// Reopens the log after a crash and checks it: everything acknowledged is there, and every
// record readable is the one that belongs at its offset (unacknowledged appends may survive,
// but only whole). Closes it again, and checks the files.
void verify(const std::string& dir, std::int64_t acked_end, const std::string& context) {
  INFO(context);
  auto log = Log::open(Env::posix(), dir, crash_config());
  INFO(log.status().to_string());
  REQUIRE(log.ok());
  const Log& l = **log;
  CHECK(l.log_start_offset().value() == 0);
  CHECK(l.log_end_offset().value() >= acked_end);
  auto records = test::read_all(l, l.log_start_offset());
  INFO(records.status().to_string());
  REQUIRE(records.ok());
  std::vector<LogRecord> expected;
  for (Offset o = l.log_start_offset(); o < l.log_end_offset(); ++o) {
    expected.push_back(record_at(o));
  }
  CHECK(test::first_difference(expected, *records) == "");
  Status closed = (*log)->close();
  INFO(closed.to_string());
  REQUIRE(closed.ok());
  log->reset();
  Status format = test::check_kafka_format(Env::posix(), dir);
  INFO(format.to_string());
  CHECK(format.ok());
}

}  // namespace

TEST_CASE("Acknowledged appends survive SIGKILL at random moments, cycle after cycle",
          "[log][durability][crash]") {
  const int cycles = 40 * test::test_scale();
  constexpr std::uint64_t kSeed = 20240601;
  test::Rng rng(kSeed);
  test::TempDir tmp;
  REQUIRE_FALSE(tmp.path().empty());
  const std::string dir = join_path(tmp.path(), "crash-0");
  std::int64_t acked_end = 0;  // one past the last acknowledged offset, over all cycles
  std::string history;
  for (int cycle = 0; cycle < cycles; ++cycle) {
    const auto delay_ms = rng.uniform_signed(5, 50);
    const std::uint64_t child_seed = test::mix64(kSeed + static_cast<std::uint64_t>(cycle));
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    std::fflush(nullptr);  // nothing buffered may be written twice
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::close(fds[0]);
      child_main(dir, child_seed, fds[1]);
    }
    ::close(fds[1]);
    std::vector<Ack> acks;
    std::string buffer;
    const bool open_pipe = read_acks_until(
        fds[0], std::chrono::steady_clock::now() + std::chrono::milliseconds(delay_ms), buffer,
        acks);
    ::kill(pid, SIGKILL);
    int wait_status = 0;
    REQUIRE(::waitpid(pid, &wait_status, 0) == pid);
    drain_acks(fds[0], buffer, acks);
    ::close(fds[0]);

    history += fmt::format(
        "cycle {}: kill after {} ms, {} acks{}; ", cycle, delay_ms, acks.size(),
        acks.empty() ? "" : fmt::format(" [{}, {}]", acks.front().first, acks.back().last));
    const std::string context = fmt::format("seed {} dir {}\n{}", kSeed, dir, history);
    INFO(context);
    // The child dies by our SIGKILL only; anything else is a failure of its own.
    CHECK(open_pipe);
    CHECK(WIFSIGNALED(wait_status));
    if (WIFSIGNALED(wait_status)) CHECK(WTERMSIG(wait_status) == SIGKILL);
    if (WIFEXITED(wait_status)) CHECK(WEXITSTATUS(wait_status) == 0);
    // The acknowledgements of one run follow each other and continue from what the log
    // held when it opened, which includes everything acknowledged before.
    for (std::size_t i = 0; i < acks.size(); ++i) {
      CHECK(acks[i].first <= acks[i].last);
      if (i > 0) CHECK(acks[i].first == acks[i - 1].last + 1);
    }
    if (!acks.empty()) {
      CHECK(acks.front().first >= acked_end);
      acked_end = acks.back().last + 1;
    }
    // Mostly the parent recovers the log; sometimes the next child must, and may be killed
    // in the middle of it.
    if (cycle + 1 == cycles || rng.percent(75)) verify(dir, acked_end, context);
  }
  CHECK(acked_end > 0);
  if (std::getenv("SAMSA_TEST_VERBOSE") != nullptr) {
    std::fprintf(stderr, "crash cycles: %s\n", history.c_str());
  }
}

}  // namespace samsa
