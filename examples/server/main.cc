// samsa-server: a single-node Kafka-protocol server on samsa's Partition (README, "Server").
//
//   samsa-server --data-dir DIR [--listen 127.0.0.1:9092] [--advertised HOST:PORT]
//                [--default-partitions N] [--metrics HOST:PORT] [--no-auto-create-topics]
//                [--max-frame-bytes N] [--flush-policy durable|interval|manual]
//                [--request-threads N] [--append-threads N]
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "broker.h"
#include "fetch_waiters.h"
#include "handlers.h"
#include "metrics.h"
#include "net.h"
#include "work_pool.h"

namespace samsa_server {
namespace {

struct Options {
  std::string data_dir;
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 9092;
  std::string advertised_host;        // empty: the listen host
  std::int32_t advertised_port = -1;  // -1: the bound port
  std::int32_t default_partitions = 1;
  bool auto_create = true;
  std::string metrics_host;
  std::uint16_t metrics_port = 0;
  std::uint32_t max_frame_bytes = 100u << 20;
  samsa::FlushPolicy flush_policy = samsa::FlushPolicy::durable;
  int request_threads = 4;
  int append_threads = 8;
};

constexpr std::string_view kUsage =
    "usage: samsa-server --data-dir DIR [--listen HOST:PORT] [--advertised HOST:PORT]\n"
    "         [--default-partitions N] [--metrics HOST:PORT] [--no-auto-create-topics]\n"
    "         [--max-frame-bytes N] [--flush-policy durable|interval|manual]\n"
    "         [--request-threads N] [--append-threads N]\n";

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
  if (flag == "--flush-policy") {
    if (value == "durable")
      o.flush_policy = samsa::FlushPolicy::durable;
    else if (value == "interval")
      o.flush_policy = samsa::FlushPolicy::interval_may_lose_recent;
    else if (value == "manual")
      o.flush_policy = samsa::FlushPolicy::manual_may_lose_unflushed;
    else
      return false;
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
  WorkPool request_pool("request", o.request_threads);
  WorkPool append_pool("append", o.append_threads);
  FetchWaiters waiters(request_pool);
  BrokerConfig bc{o.data_dir, o.default_partitions, o.auto_create, {}};
  bc.partition.log.flush_policy = o.flush_policy;
  auto broker = Broker::open(std::move(bc), append_pool, waiters);
  if (!broker.ok()) {
    fmt::print(stderr, "samsa-server: {}\n", broker.status().to_string());
    return 1;
  }
  Metrics metrics;
  ServerIdentity id;
  id.host = o.advertised_host.empty() ? o.listen_host : o.advertised_host;
  Handlers handlers(**broker, request_pool, waiters, id);
  NetConfig nc{o.listen_host, o.listen_port, o.max_frame_bytes};
  auto net = NetServer::listen(nc, handlers, metrics);
  if (!net.ok()) {
    fmt::print(stderr, "samsa-server: {}\n", net.status().to_string());
    return 1;
  }
  // The advertised port is known only now when listening on port 0.
  id.port = o.advertised_port >= 0 ? o.advertised_port : (*net)->port();
  handlers.set_identity(id);
  std::unique_ptr<MetricsHttp> http;
  if (!o.metrics_host.empty()) {
    auto started = MetricsHttp::start(o.metrics_host, o.metrics_port,
                                      [&] { return metrics.render(**broker); });
    if (!started.ok()) {
      fmt::print(stderr, "samsa-server: {}\n", started.status().to_string());
      return 1;
    }
    http = std::move(started).value();
    fmt::print("samsa-server: metrics on {}:{}\n", o.metrics_host, http->port());
  }
  fmt::print("samsa-server: listening on {}:{} with data in {}\n", o.listen_host, (*net)->port(),
             o.data_dir);
  std::fflush(stdout);
  samsa::Status run = (*net)->run(signal_fd);
  // Shutdown: no new requests; finish the appends under way; close every partition.
  waiters.stop();
  request_pool.stop();
  append_pool.stop();
  http.reset();
  samsa::Status closed = (*broker)->close();
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
