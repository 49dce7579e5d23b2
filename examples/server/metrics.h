// Prometheus metrics: requests answered and their latency (arrival to reply queued) per API,
// the network loop's limits (the request memory budget in use, connections open, closed or
// refused by a limit), and per partition its log end offset, high watermark and size, served
// as text on `--metrics HOST:PORT` by a small HTTP thread.
//
// Thread-safety: record() and render() are thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "samsa/status.h"

namespace samsa_server {

class Broker;

// Written by the network loop (one thread), read by render() and the tests.
struct NetStats {
  std::atomic<std::uint64_t> request_bytes_in_use{0};  // queued.max.request.bytes' measure
  std::atomic<std::uint64_t> request_bytes_peak{0};    // the most request_bytes_in_use was
  std::atomic<std::uint64_t> budget_waits{0};          // connections muted by the budget
  std::atomic<std::uint64_t> connections_open{0};
  std::atomic<std::uint64_t> accept_pauses{0};       // max.connections (or no fds) reached
  std::atomic<std::uint64_t> closed_idle{0};         // connections.max.idle.ms
  std::atomic<std::uint64_t> refused_per_ip{0};      // max.connections.per.ip
  std::atomic<std::uint64_t> closed_slow_reader{0};  // queued replies past the bound
};

class Metrics {
 public:
  static constexpr std::size_t kMaxApiKey = 64;  // keys at or above are not counted
  static constexpr std::array<double, 14> kBucketsSeconds{
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

  void record(std::int16_t api_key, std::chrono::steady_clock::duration latency);
  // Prometheus text exposition format (version 0.0.4).
  std::string render(const Broker& broker) const;
  NetStats& net() { return net_; }
  const NetStats& net() const { return net_; }

 private:
  struct PerApi {
    std::atomic<std::uint64_t> count{0};
    std::atomic<std::uint64_t> sum_ns{0};
    std::array<std::atomic<std::uint64_t>, kBucketsSeconds.size()> buckets{};
  };
  std::array<PerApi, kMaxApiKey> apis_{};
  NetStats net_;
};

// Serves GET with the text `render` returns for the request's path, one connection at a
// time.
class MetricsHttp {
 public:
  static samsa::Result<std::unique_ptr<MetricsHttp>> start(
      const std::string& host, std::uint16_t port,
      std::function<std::string(std::string_view path)> render);
  ~MetricsHttp();  // stops the thread
  std::uint16_t port() const { return port_; }

 private:
  MetricsHttp() = default;
  void loop();
  void serve(int fd);
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::function<std::string(std::string_view path)> render_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace samsa_server
