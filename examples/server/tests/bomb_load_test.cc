// Issue 17's load test: the samsa-server binary, run as its own process in its default
// configuration on loopback, takes 32 connections each sending Produce requests that carry
// a 1 GiB zstd bomb (SAMSA_BOMB_LOAD_SECONDS, default 30 s) while one well-behaved producer
// and one consumer keep working. Its RSS (sampled every 50 ms from /proc) stays below
// 256 MiB over its idle size, every request is answered, every bomb gets CORRUPT_MESSAGE
// and every acknowledged message reads back with its content.
//
// Catch2's assertions are not thread-safe: the worker threads only count and record, and
// the test thread asserts after joining them.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "bomb_util.h"
#include "codec/messages.h"
#include "samsa/record_batch.h"
#include "tests/test_client.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SAMSA_TEST_HAS_ASAN 1
#endif
#endif
#ifndef SAMSA_TEST_HAS_ASAN
#define SAMSA_TEST_HAS_ASAN 0
#endif

namespace samsa_server {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr int kBombConnections = 32;
constexpr int kPipeline = 4;  // bomb requests in flight per connection
constexpr std::uint64_t kBombValueBytes = 1ull << 30;
constexpr std::uint64_t kRssBound = 256ull << 20;
constexpr auto kAnswerTimeout = 30s;  // every request's bounded wait for its answer

// VmRSS of `pid` in bytes; 0 when it cannot be read.
std::uint64_t rss_bytes(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/status", pid));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10) * 1024;
  }
  return 0;
}

double mib(std::uint64_t bytes) {
  return static_cast<double>(bytes) / (1 << 20);
}

// samsa-server as a child process on 127.0.0.1 (a free port, read from its "listening on"
// line) with a fresh data directory; killed and reaped when destroyed.
class ServerProcess {
 public:
  ServerProcess() {
    dir_ = std::filesystem::temp_directory_path() / fmt::format("samsa-bomb-load-{}", ::getpid());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    std::vector<std::string> args = {SAMSA_SERVER_BINARY, "--data-dir", dir_.string(), "--listen",
                                     "127.0.0.1:0"};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(fds[1], STDOUT_FILENO);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    out_ = fds[0];
    if (pid_ < 0) throw std::runtime_error("fork failed");
    port_ = read_port();
  }
  ~ServerProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (out_ >= 0) ::close(out_);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  pid_t pid() const { return pid_; }
  std::uint16_t port() const { return port_; }

  // SIGTERM, then the exit status within 20 s (SIGKILL and -1 after that).
  int stop() {
    ::kill(pid_, SIGTERM);
    const auto deadline = Clock::now() + 20s;
    int status = 0;
    while (Clock::now() < deadline) {
      drain();
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      std::this_thread::sleep_for(20ms);
    }
    return -1;  // the destructor kills it
  }

 private:
  // Its stdout until the "listening on HOST:PORT" line, within 20 s.
  std::uint16_t read_port() {
    const auto deadline = Clock::now() + 20s;
    std::string text;
    while (Clock::now() < deadline) {
      const std::size_t at = text.find("listening on 127.0.0.1:");
      if (at != std::string::npos && text.find(' ', at + 23) != std::string::npos) {
        return static_cast<std::uint16_t>(std::strtoul(text.c_str() + at + 23, nullptr, 10));
      }
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char buf[512];
      const ssize_t n = ::read(out_, buf, sizeof buf);
      if (n <= 0) break;  // it exited
      text.append(buf, static_cast<std::size_t>(n));
    }
    throw std::runtime_error("samsa-server did not start: " + text);
  }
  void drain() {
    char buf[512];
    pollfd p{out_, POLLIN, 0};
    while (::poll(&p, 1, 0) > 0 && ::read(out_, buf, sizeof buf) > 0) {
    }
  }

  std::filesystem::path dir_;
  pid_t pid_ = -1;
  int out_ = -1;
  std::uint16_t port_ = 0;
};

// Produce and Fetch answers read without Catch2's macros (called on worker threads).
struct ProduceAnswer {
  std::int32_t correlation_id = 0;
  std::int16_t error = -100;
  std::int64_t base_offset = -1;
};

std::optional<ProduceAnswer> read_produce(std::vector<std::byte> frame) {
  testing::ResponseReader rr(std::move(frame));
  Reader& r = rr.r;
  ProduceAnswer out;
  out.correlation_id = r.i32();
  if (r.array_length(1) != 1) return std::nullopt;
  (void)r.string();
  if (r.array_length(1) != 1) return std::nullopt;
  (void)r.i32();
  out.error = r.i16();
  out.base_offset = r.i64();
  if (r.failed()) return std::nullopt;
  return out;
}

// The records of a Fetch v11 answer for one partition; nullopt when it is malformed or
// carries an error.
std::optional<std::vector<std::byte>> read_fetch(std::vector<std::byte> frame) {
  testing::ResponseReader rr(std::move(frame));
  Reader& r = rr.r;
  (void)r.i32();  // correlation id
  (void)r.i32();  // throttle
  if (r.i16() != 0) return std::nullopt;
  (void)r.i32();  // session id
  if (r.array_length(1) != 1) return std::nullopt;
  (void)r.string();
  if (r.array_length(1) != 1) return std::nullopt;
  (void)r.i32();
  if (r.i16() != 0) return std::nullopt;
  (void)r.i64();                                          // high watermark
  (void)r.i64();                                          // last stable offset
  (void)r.i64();                                          // log start offset
  if (r.array_length(16, true) > 0) return std::nullopt;  // aborted transactions: none
  (void)r.i32();                                          // preferred read replica
  auto records = r.nullable_bytes();
  if (r.failed()) return std::nullopt;
  std::vector<std::byte> out;
  if (records) out.assign(records->begin(), records->end());
  return out;
}

std::string good_value(std::int64_t batch, int i) {
  return fmt::format("good-{}-{}", batch, i);
}

std::vector<std::byte> good_batch(std::int64_t batch, int count) {
  samsa::RecordBatchBuilder builder;
  for (int i = 0; i < count; ++i) {
    const std::string value = good_value(batch, i);
    (void)builder.append(samsa::Timestamp(1'700'000'000'000 + i), std::nullopt,
                         samsa::as_bytes(value));
  }
  auto built = builder.build();
  return {built->begin(), built->end()};
}

int load_seconds() {
  const char* s = std::getenv("SAMSA_BOMB_LOAD_SECONDS");
  const int n = s != nullptr ? std::atoi(s) : 30;
  return n >= 1 && n <= 600 ? n : 30;
}

}  // namespace

TEST_CASE("BombLoadKeepsRssBoundedAndGoodTrafficServed") {
  const int seconds = load_seconds();
  const std::vector<std::byte> bomb =
      samsa::test::zstd_bomb(kBombValueBytes, /*declare_size=*/true);
  const std::vector<std::byte> bomb_batch =
      samsa::test::batch_around(samsa::Compression::zstd, bomb);
  REQUIRE(bomb_batch.size() < 1'048'588);

  ServerProcess server;
  const std::uint16_t port = server.port();
  {
    testing::Client c(port);
    c.send(testing::metadata_request(1, {"bombs", "good"}));
    REQUIRE(c.receive(kAnswerTimeout));
  }
  std::this_thread::sleep_for(500ms);
  const std::uint64_t idle = rss_bytes(server.pid());
  REQUIRE(idle > 0);

  std::atomic<bool> stop_sampling{false};
  std::atomic<std::uint64_t> peak{idle};
  std::atomic<std::uint64_t> samples{0};
  std::thread sampler([&] {
    const auto deadline = Clock::now() + std::chrono::seconds(seconds) + 120s;
    while (!stop_sampling.load() && Clock::now() < deadline) {
      const std::uint64_t rss = rss_bytes(server.pid());
      if (rss > peak.load()) peak.store(rss);
      samples.fetch_add(1);
      std::this_thread::sleep_for(50ms);
    }
  });

  const auto load_end = Clock::now() + std::chrono::seconds(seconds);
  std::atomic<std::uint64_t> bombs_sent{0};
  std::atomic<std::uint64_t> bombs_corrupt{0};  // answered with CORRUPT_MESSAGE
  std::atomic<std::uint64_t> bombs_other{0};    // answered with anything else
  std::atomic<std::uint64_t> unanswered{0};     // any request without its answer in time
  std::vector<std::thread> bombers;
  for (int t = 0; t < kBombConnections; ++t) {
    bombers.emplace_back([&, t] {
      try {
        testing::Client c(port);
        std::int32_t id = t * 1'000'000;
        while (Clock::now() < load_end) {  // bounded by the load's end
          for (int i = 0; i < kPipeline; ++i) {
            c.send(testing::produce_request(id + i, "bombs", 0, bomb_batch, 1));
            bombs_sent.fetch_add(1);
          }
          for (int i = 0; i < kPipeline; ++i) {
            auto frame = c.receive(kAnswerTimeout);
            if (!frame) {
              unanswered.fetch_add(static_cast<std::uint64_t>(kPipeline - i));
              return;
            }
            auto answer = read_produce(std::move(*frame));
            if (answer && answer->correlation_id == id + i &&
                answer->error == error::kCorruptMessage) {
              bombs_corrupt.fetch_add(1);
            } else {
              bombs_other.fetch_add(1);
            }
          }
          id += kPipeline;
        }
      } catch (const std::exception&) {
        unanswered.fetch_add(1);
      }
    });
  }

  // The well-behaved producer: batches of 5 records, acks=-1, one at a time, until the
  // load ends; what was acknowledged is (offset -> value).
  constexpr int kGoodRecords = 5;
  std::mutex mu;
  std::map<std::int64_t, std::string> acknowledged;
  std::atomic<std::int64_t> acked_end{0};  // offset after the last acknowledged batch
  std::atomic<std::uint64_t> good_sent{0};
  std::atomic<std::uint64_t> good_errors{0};
  std::atomic<bool> producer_done{false};
  std::thread producer([&] {
    try {
      testing::Client c(port);
      for (std::int64_t b = 0; Clock::now() < load_end && b < 1'000'000; ++b) {
        c.send(testing::produce_request(static_cast<std::int32_t>(b), "good", 0,
                                        good_batch(b, kGoodRecords), -1));
        good_sent.fetch_add(1);
        auto frame = c.receive(kAnswerTimeout);
        if (!frame) {
          unanswered.fetch_add(1);
          break;
        }
        auto answer = read_produce(std::move(*frame));
        if (!answer || answer->correlation_id != b || answer->error != 0) {
          good_errors.fetch_add(1);
          continue;
        }
        std::lock_guard<std::mutex> lock(mu);
        for (int i = 0; i < kGoodRecords; ++i) {
          acknowledged[answer->base_offset + i] = good_value(b, i);
        }
        acked_end.store(std::max(acked_end.load(), answer->base_offset + kGoodRecords));
      }
    } catch (const std::exception&) {
      unanswered.fetch_add(1);
    }
    producer_done.store(true);
  });

  // The consumer: long polls from the next offset until the producer is done and every
  // acknowledged offset has been read, within 60 s after the load ends.
  std::map<std::int64_t, std::string> consumed;
  std::atomic<std::uint64_t> fetches{0};
  std::atomic<std::uint64_t> fetch_errors{0};
  std::thread consumer([&] {
    try {
      testing::Client c(port);
      const auto deadline = load_end + 60s;
      std::int64_t next = 0;
      samsa::RecordReader reader;
      for (std::int32_t id = 1; Clock::now() < deadline; ++id) {
        if (producer_done.load() && next >= acked_end.load()) break;
        c.send(testing::fetch_request(id, "good", 0, next, 200));
        fetches.fetch_add(1);
        auto frame = c.receive(kAnswerTimeout);
        if (!frame) {
          unanswered.fetch_add(1);
          break;
        }
        auto records = read_fetch(std::move(*frame));
        if (!records) {
          fetch_errors.fetch_add(1);
          continue;
        }
        samsa::ByteSpan rest(*records);
        while (rest.size() >= samsa::batch_layout::kHeaderSize) {  // bounded: rest shrinks
          auto view = samsa::RecordBatchView::validate(rest);
          if (!view.ok()) break;  // a partial batch at the end
          if (!reader.reset(*view).ok()) {
            fetch_errors.fetch_add(1);
            break;
          }
          samsa::Record record;
          for (;;) {
            auto more = reader.next(record);
            if (!more.ok() || !*more) break;
            const std::int64_t offset = record.offset.value();
            if (offset >= next && record.value) {
              consumed[offset].assign(reinterpret_cast<const char*>(record.value->data()),
                                      record.value->size());
            }
          }
          next = std::max(next, view->next_offset().value());
          rest = rest.subspan(view->size_bytes());
        }
      }
    } catch (const std::exception&) {
      unanswered.fetch_add(1);
    }
  });

  for (std::thread& t : bombers) t.join();
  producer.join();
  consumer.join();
  const auto after_load = Clock::now();
  // RSS after: the lowest sample within 8 s of the load's end.
  std::uint64_t after = rss_bytes(server.pid());
  while (Clock::now() < after_load + 8s) {
    std::this_thread::sleep_for(100ms);
    const std::uint64_t rss = rss_bytes(server.pid());
    if (rss > 0 && rss < after) after = rss;
  }
  stop_sampling.store(true);
  sampler.join();

  std::size_t verified = 0;
  std::size_t mismatched = 0;
  for (const auto& entry : acknowledged) {
    auto it = consumed.find(entry.first);
    if (it != consumed.end() && it->second == entry.second) {
      ++verified;
    } else {
      ++mismatched;
    }
  }
  const std::uint64_t peak_rss = peak.load();
  WARN(fmt::format(
      "bomb load, {} s, samsa-server defaults: bomb batch {} bytes (1 GiB of records); "
      "RSS idle {:.1f} MiB, peak {:.1f} MiB (+{:.1f} MiB, bound +{:.0f} MiB), after {:.1f} "
      "MiB ({} samples); bombs sent {}, answered CORRUPT_MESSAGE {}, other {}; good batches "
      "sent {}, errors {}, messages acknowledged {}, verified {}; fetches {}, fetch errors "
      "{}; unanswered {}",
      seconds, bomb_batch.size(), mib(idle), mib(peak_rss), mib(peak_rss - idle), mib(kRssBound),
      mib(after), samples.load(), bombs_sent.load(), bombs_corrupt.load(), bombs_other.load(),
      good_sent.load(), good_errors.load(), acknowledged.size(), verified, fetches.load(),
      fetch_errors.load(), unanswered.load()));

  CHECK(unanswered.load() == 0);
  CHECK(bombs_other.load() == 0);
  CHECK(bombs_corrupt.load() == bombs_sent.load());
  CHECK(bombs_corrupt.load() > 0);
  CHECK(good_errors.load() == 0);
  CHECK(fetch_errors.load() == 0);
  CHECK(!acknowledged.empty());
  CHECK(mismatched == 0);
  CHECK(verified == acknowledged.size());
#if defined(__SANITIZE_ADDRESS__) || SAMSA_TEST_HAS_ASAN
  // The server under test is built with ASan too: its quarantine and shadow memory make RSS
  // say nothing about the server's own bounds (+344 MiB seen). The bound is asserted in the
  // Release build; here only the traffic is checked.
  WARN(fmt::format("ASan build: RSS bound not asserted (peak - idle {:.1f} MiB)",
                   static_cast<double>(peak_rss - idle) / (1 << 20)));
#else
  CHECK(peak_rss - idle < kRssBound);
#endif
  CHECK(server.stop() == 0);
}

}  // namespace samsa_server
