// samsa-server: a single-node Kafka-protocol server on samsa's Partition (README, "Server").
//
//   samsa-server --data-dir DIR [--listen 127.0.0.1:9092] [--advertised HOST:PORT]
//                [--default-partitions N] [--metrics HOST:PORT] [--no-auto-create-topics]
//                [--max-frame-bytes N] [--flush-policy durable|interval|manual]
//                [--decompressed-bytes-factor F] [--request-threads N] [--append-threads N]
//                [--maintenance-interval-ms N] [--queued-max-request-bytes N]
//                [--connections-max-idle-ms N] [--max-connections N]
//                [--max-connections-per-ip N] [--max-queued-reply-bytes N]
//                [--retention-ms N] [--retention-bytes N] [--segment-bytes N]
//                [--offsets-topic-partitions N] [--offsets-topic-segment-bytes N]
//                [--group-initial-rebalance-delay-ms N]
//                [--group-min-session-timeout-ms N] [--group-max-session-timeout-ms N]
//                [--group-max-size N] [--offsets-retention-minutes N]
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "server.h"

namespace samsa_server {
namespace {

using Options = ServerOptions;

constexpr std::string_view kUsage =
    "usage: samsa-server --data-dir DIR [--listen HOST:PORT] [--advertised HOST:PORT]\n"
    "         [--default-partitions N] [--metrics HOST:PORT] [--no-auto-create-topics]\n"
    "         [--max-frame-bytes N] [--flush-policy durable|interval|manual]\n"
    "         [--decompressed-bytes-factor F] [--request-threads N] [--append-threads N]\n"
    "         [--maintenance-interval-ms N] [--queued-max-request-bytes N]\n"
    "         [--connections-max-idle-ms N] [--max-connections N]\n"
    "         [--max-connections-per-ip N] [--max-queued-reply-bytes N]\n"
    "         [--retention-ms N] [--retention-bytes N] [--segment-bytes N]\n"
    "         [--offsets-topic-partitions N] [--offsets-topic-segment-bytes N]\n"
    "         [--group-initial-rebalance-delay-ms N]\n"
    "         [--group-min-session-timeout-ms N] [--group-max-session-timeout-ms N]\n"
    "         [--group-max-size N] [--offsets-retention-minutes N]\n";

template <typename T>
bool parse_number(std::string_view s, T& out, T min, T max) {
  T v{};
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v < min || v > max) return false;
  out = v;
  return true;
}

bool parse_host_port(std::string_view s, std::string& host, std::uint16_t& port) {
  const std::size_t colon = s.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  host = std::string(s.substr(0, colon));
  return parse_number<std::uint16_t>(s.substr(colon + 1), port, 0, 65535);
}

bool parse_flag(Options& o, std::string_view flag, std::string_view value) {
  if (flag == "--data-dir") return !(o.data_dir = std::string(value)).empty();
  if (flag == "--listen") return parse_host_port(value, o.listen_host, o.listen_port);
  if (flag == "--advertised") {
    std::uint16_t port = 0;
    if (!parse_host_port(value, o.advertised_host, port)) return false;
    o.advertised_port = port;
    return true;
  }
  if (flag == "--default-partitions") {
    return parse_number<std::int32_t>(value, o.default_partitions, 1, 100000);
  }
  if (flag == "--metrics") return parse_host_port(value, o.metrics_host, o.metrics_port);
  if (flag == "--max-frame-bytes") {
    return parse_number<std::uint32_t>(value, o.max_frame_bytes, 64, 0x7fffffff);
  }
  if (flag == "--request-threads") return parse_number(value, o.request_threads, 1, 256);
  if (flag == "--append-threads") return parse_number(value, o.append_threads, 1, 256);
  if (flag == "--maintenance-interval-ms") {
    std::int64_t ms = 0;
    if (!parse_number<std::int64_t>(value, ms, 10, 86'400'000)) return false;
    o.maintenance_interval = std::chrono::milliseconds(ms);
    return true;
  }
  // Kafka's -1 (unbounded) is accepted and means 0 here.
  if (flag == "--queued-max-request-bytes") {
    std::int64_t bytes = 0;
    if (!parse_number<std::int64_t>(value, bytes, -1, INT64_MAX)) return false;
    o.queued_max_request_bytes = bytes < 0 ? 0 : static_cast<std::uint64_t>(bytes);
    return true;
  }
  if (flag == "--connections-max-idle-ms") {
    std::int64_t ms = 0;
    if (!parse_number<std::int64_t>(value, ms, -1, INT64_MAX)) return false;
    o.connections_max_idle_ms = ms < 0 ? 0 : ms;
    return true;
  }
  if (flag == "--max-connections") {
    return parse_number<std::uint32_t>(value, o.max_connections, 1, UINT32_MAX);
  }
  if (flag == "--max-connections-per-ip") {
    return parse_number<std::uint32_t>(value, o.max_connections_per_ip, 1, UINT32_MAX);
  }
  if (flag == "--max-queued-reply-bytes") {
    return parse_number<std::uint64_t>(value, o.max_queued_reply_bytes, 1024, UINT64_MAX);
  }
  if (flag == "--retention-ms") {
    return parse_number<std::int64_t>(value, o.partition.log.retention_ms, -1, INT64_MAX);
  }
  if (flag == "--retention-bytes") {
    return parse_number<std::int64_t>(value, o.partition.log.retention_bytes, -1, INT64_MAX);
  }
  if (flag == "--decompressed-bytes-factor") {
    return parse_number<std::uint32_t>(value, o.partition.log.decompressed_bytes_factor, 1, 4096);
  }
  if (flag == "--segment-bytes") {
    return parse_number<std::uint64_t>(value, o.partition.log.segment_bytes, 1024, UINT64_MAX);
  }
  // Consumer groups (Kafka's names: offsets.topic.num.partitions, group.*).
  if (flag == "--offsets-topic-partitions") {
    return parse_number<std::int32_t>(value, o.offsets_partitions, 1, 1000);
  }
  if (flag == "--offsets-topic-segment-bytes") {
    return parse_number<std::uint64_t>(value, o.offsets_segment_bytes, 1024, UINT64_MAX);
  }
  if (flag == "--group-initial-rebalance-delay-ms") {
    return parse_number<std::int32_t>(value, o.groups.initial_rebalance_delay_ms, 0, INT32_MAX);
  }
  if (flag == "--group-min-session-timeout-ms") {
    return parse_number<std::int32_t>(value, o.groups.min_session_timeout_ms, 1, INT32_MAX);
  }
  if (flag == "--group-max-session-timeout-ms") {
    return parse_number<std::int32_t>(value, o.groups.max_session_timeout_ms, 1, INT32_MAX);
  }
  if (flag == "--group-max-size") {
    return parse_number<std::int32_t>(value, o.groups.max_group_size, 1, INT32_MAX);
  }
  if (flag == "--offsets-retention-minutes") {
    std::int64_t minutes = 0;
    if (!parse_number<std::int64_t>(value, minutes, 1, INT64_MAX / 60000)) return false;
    o.groups.offsets_retention_ms = minutes * 60000;
    return true;
  }
  if (flag == "--flush-policy") {
    samsa::FlushPolicy& policy = o.partition.log.flush_policy;
    if (value == "durable") {
      policy = samsa::FlushPolicy::durable;
    } else if (value == "interval") {
      policy = samsa::FlushPolicy::interval_may_lose_recent;
    } else if (value == "manual") {
      policy = samsa::FlushPolicy::manual_may_lose_unflushed;
    } else {
      return false;
    }
    return true;
  }
  return false;
}

bool parse_args(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (flag == "--no-auto-create-topics") {
      o.auto_create = false;
      continue;
    }
    if (i + 1 >= argc || !parse_flag(o, flag, argv[i + 1])) {
      fmt::print(stderr, "samsa-server: bad or incomplete option '{}'\n{}", flag, kUsage);
      return false;
    }
    ++i;
  }
  if (o.data_dir.empty()) {
    fmt::print(stderr, "samsa-server: --data-dir is required\n{}", kUsage);
    return false;
  }
  return true;
}

// SIGTERM and SIGINT arrive on a signalfd the network loop watches; SIGPIPE is ignored
// (a peer that went away is an error return, not a death).
int block_signals() {
  ::signal(SIGPIPE, SIG_IGN);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // before any thread starts: all inherit it
  return ::signalfd(-1, &set, SFD_CLOEXEC);
}

int serve(const Options& o) {
  const int signal_fd = block_signals();
  auto server = Server::open(o);
  if (!server.ok()) {
    fmt::print(stderr, "samsa-server: {}\n", server.status().to_string());
    return 1;
  }
  Server& s = **server;
  if (s.metrics_port() != 0) {
    fmt::print("samsa-server: metrics on {}:{}\n", o.metrics_host, s.metrics_port());
  }
  fmt::print("samsa-server: listening on {}:{} with data in {}\n", o.listen_host, s.port(),
             o.data_dir);
  std::fflush(stdout);
  samsa::Status run = s.run(signal_fd);
  // Shutdown: no new requests; finish the appends under way; close every partition.
  samsa::Status closed = s.shutdown();
  if (!run.ok() || !closed.ok()) {
    fmt::print(stderr, "samsa-server: {} / {}\n", run.to_string(), closed.to_string());
    return 1;
  }
  fmt::print("samsa-server: stopped, every partition closed\n");
  return 0;
}

}  // namespace
}  // namespace samsa_server

int main(int argc, char** argv) {
  samsa_server::Options options;
  if (!samsa_server::parse_args(argc, argv, options)) return 2;
  return samsa_server::serve(options);
}
