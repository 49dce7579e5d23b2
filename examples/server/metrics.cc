#include "metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

#include "broker.h"
#include "codec/protocol.h"

namespace samsa_server {

void Metrics::record(std::int16_t api_key, std::chrono::steady_clock::duration latency) {
  if (api_key < 0 || static_cast<std::size_t>(api_key) >= kMaxApiKey) return;
  PerApi& api = apis_[static_cast<std::size_t>(api_key)];
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(latency).count();
  api.count.fetch_add(1, std::memory_order_relaxed);
  api.sum_ns.fetch_add(static_cast<std::uint64_t>(ns), std::memory_order_relaxed);
  const double seconds = static_cast<double>(ns) / 1e9;
  for (std::size_t i = 0; i < kBucketsSeconds.size(); ++i) {
    if (seconds <= kBucketsSeconds[i]) {
      api.buckets[i].fetch_add(1, std::memory_order_relaxed);
      break;
    }
  }
}

namespace {

void render_requests(const auto& apis, std::string& out) {
  out += "# HELP samsa_requests_total Requests answered, by API.\n";
  out += "# TYPE samsa_requests_total counter\n";
  for (std::size_t key = 0; key < apis.size(); ++key) {
    if (!supported_range(static_cast<std::int16_t>(key))) continue;
    out += fmt::format("samsa_requests_total{{api=\"{}\"}} {}\n",
                       api_name(static_cast<std::int16_t>(key)), apis[key].count.load());
  }
  out += "# HELP samsa_request_latency_seconds From a request's arrival to its reply queued.\n";
  out += "# TYPE samsa_request_latency_seconds histogram\n";
  for (std::size_t key = 0; key < apis.size(); ++key) {
    if (!supported_range(static_cast<std::int16_t>(key))) continue;
    const std::string api = api_name(static_cast<std::int16_t>(key));
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < Metrics::kBucketsSeconds.size(); ++i) {
      cumulative += apis[key].buckets[i].load();
      out += fmt::format("samsa_request_latency_seconds_bucket{{api=\"{}\",le=\"{}\"}} {}\n", api,
                         Metrics::kBucketsSeconds[i], cumulative);
    }
    const std::uint64_t count = apis[key].count.load();
    out += fmt::format("samsa_request_latency_seconds_bucket{{api=\"{}\",le=\"+Inf\"}} {}\n", api,
                       count);
    out += fmt::format("samsa_request_latency_seconds_sum{{api=\"{}\"}} {}\n", api,
                       static_cast<double>(apis[key].sum_ns.load()) / 1e9);
    out += fmt::format("samsa_request_latency_seconds_count{{api=\"{}\"}} {}\n", api, count);
  }
}

void render_net(const NetStats& n, std::string& out) {
  struct Value {
    const char* name;
    const char* type;
    const char* help;
    const std::atomic<std::uint64_t>& value;
  };
  const Value values[] = {
      {"samsa_request_bytes_in_use", "gauge",
       "Request bytes read and not yet answered, over every connection "
       "(queued.max.request.bytes bounds it).",
       n.request_bytes_in_use},
      {"samsa_request_bytes_peak", "gauge", "The most samsa_request_bytes_in_use has been.",
       n.request_bytes_peak},
      {"samsa_request_budget_waits_total", "counter",
       "Times a connection stopped being read because the request memory budget was used up.",
       n.budget_waits},
      {"samsa_connections_open", "gauge", "Client connections open.", n.connections_open},
      {"samsa_accept_pauses_total", "counter",
       "Times accepting stopped at max.connections (or for want of file descriptors).",
       n.accept_pauses},
      {"samsa_connections_closed_idle_total", "counter",
       "Connections closed after connections.max.idle.ms without traffic.", n.closed_idle},
      {"samsa_connections_refused_per_ip_total", "counter",
       "Connections closed at once: their address had max.connections.per.ip open.",
       n.refused_per_ip},
      {"samsa_connections_closed_slow_reader_total", "counter",
       "Connections closed because their queued replies passed the bound.", n.closed_slow_reader},
  };
  for (const Value& v : values) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{} {}\n", v.name, v.help, v.name, v.type,
                       v.name, v.value.load());
  }
}

void render_partitions(const Broker& broker, std::string& out) {
  struct Gauge {
    const char* name;
    const char* help;
    std::function<std::int64_t(const samsa::Partition&)> value;
  };
  const Gauge gauges[] = {
      {"samsa_partition_log_end_offset", "Offset the next appended record gets.",
       [](const samsa::Partition& p) { return p.log_end_offset().value(); }},
      {"samsa_partition_high_watermark", "Offset below which records are committed.",
       [](const samsa::Partition& p) { return p.high_watermark().value(); }},
      {"samsa_partition_log_start_offset", "First offset still stored.",
       [](const samsa::Partition& p) { return p.log_start_offset().value(); }},
      {"samsa_partition_size_bytes", "Bytes of the partition's segment files.",
       [](const samsa::Partition& p) { return static_cast<std::int64_t>(p.log().size_bytes()); }},
  };
  const auto topics = broker.topics();
  for (const Gauge& g : gauges) {
    out += fmt::format("# HELP {} {}\n# TYPE {} gauge\n", g.name, g.help, g.name);
    for (const auto& t : topics) {
      for (const auto& p : t->partitions) {
        out += fmt::format("{}{{topic=\"{}\",partition=\"{}\"}} {}\n", g.name, t->name, p->index,
                           g.value(*p->partition));
      }
    }
  }
}

}  // namespace

std::string Metrics::render(const Broker& broker) const {
  std::string out;
  render_requests(apis_, out);
  render_net(net_, out);
  render_partitions(broker, out);
  return out;
}

samsa::Result<std::unique_ptr<MetricsHttp>> MetricsHttp::start(
    const std::string& host, std::uint16_t port,
    std::function<std::string(std::string_view path)> render) {
  std::unique_ptr<MetricsHttp> m(new MetricsHttp());
  m->render_ = std::move(render);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    return samsa::Status::invalid_argument(fmt::format("metrics address '{}' is not IPv4", host));
  }
  m->fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  ::setsockopt(m->fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(m->fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(m->fd_, 16) != 0) {
    return samsa::Status::from_errno(errno, fmt::format("metrics listen {}:{}", host, port));
  }
  socklen_t len = sizeof(addr);
  ::getsockname(m->fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  m->port_ = ntohs(addr.sin_port);
  m->thread_ = std::thread([raw = m.get()] { raw->loop(); });
  return m;
}

MetricsHttp::~MetricsHttp() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) ::close(fd_);
}

void MetricsHttp::loop() {
  while (!stop_.load()) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;  // wake up now and then to see stop_
    const int fd = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    serve(fd);
    ::close(fd);
  }
}

void MetricsHttp::serve(int fd) {
  timeval timeout{2, 0};  // a client that sends nothing does not hold the thread for long
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  std::string request;
  char buf[4096];
  while (request.find("\r\n\r\n") == std::string::npos && request.size() < 16384) {
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) return;
    request.append(buf, static_cast<std::size_t>(n));
  }
  std::string body;
  std::string status = "200 OK";
  if (request.starts_with("GET ")) {
    const std::size_t end = request.find(' ', 4);
    body = render_(std::string_view(request).substr(4, end == std::string::npos ? 0 : end - 4));
  } else {
    status = "405 Method Not Allowed";
  }
  const std::string response = fmt::format(
      "HTTP/1.1 {}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n"
      "Connection: close\r\n\r\n{}",
      status, body.size(), body);
  std::size_t sent = 0;
  while (sent < response.size()) {
    const ssize_t n = ::send(fd, response.data() + sent, response.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return;
    sent += static_cast<std::size_t>(n);
  }
}

}  // namespace samsa_server
