#include "net.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/sendfile.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace samsa_server {
namespace {

constexpr std::uint64_t kListenId = 1;
constexpr std::uint64_t kWakeId = 2;
constexpr std::uint64_t kSignalId = 3;
// Each connection's read buffer (outside the request budget: at most max_connections of
// them, dropped by the sweep once empty). A frame larger than it gets its own buffer.
constexpr std::size_t kReadChunk = 64 << 10;
constexpr int kMaxReadsPerWakeup = 16;  // fairness between connections
constexpr int kMaxIov = 64;

std::uint64_t chunk_size(const Chunk& chunk) {
  if (auto* file = std::get_if<FileRange>(&chunk)) return file->size;
  return std::get<std::vector<std::byte>>(chunk).size();
}

void log_line(std::string_view s) {
  fmt::print(stderr, "samsa-server: {}\n", s);
}

// How often idle connections are looked for: a tenth of the idle time, within [10 ms, 1 s].
std::chrono::milliseconds sweep_interval(const NetConfig& c) {
  if (c.connections_max_idle_ms <= 0) return std::chrono::milliseconds(1000);
  return std::chrono::milliseconds(
      std::clamp<std::int64_t>(c.connections_max_idle_ms / 10, 10, 1000));
}

}  // namespace

samsa::Result<std::unique_ptr<NetServer>> NetServer::listen(NetConfig config, Handlers& handlers,
                                                            Metrics& metrics) {
  std::unique_ptr<NetServer> s(new NetServer(std::move(config), handlers, metrics));
  SAMSA_TRY(s->open_sockets());
  return s;
}

NetServer::~NetServer() {
  for (auto& [id, c] : conns_) ::close(c->fd);
  for (int fd : {listen_fd_, epoll_fd_, wake_fd_}) {
    if (fd >= 0) ::close(fd);
  }
}

samsa::Status NetServer::open_sockets() {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(config_.port);
  if (inet_pton(AF_INET, config_.host.c_str(), &addr.sin_addr) != 1) {
    return samsa::Status::invalid_argument(
        fmt::format("listen address '{}' is not an IPv4 address", config_.host));
  }
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return samsa::Status::from_errno(errno, "socket");
  const int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  const std::string where = fmt::format("{}:{}", config_.host, config_.port);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return samsa::Status::from_errno(errno, "bind " + where);
  }
  if (::listen(listen_fd_, 512) != 0) return samsa::Status::from_errno(errno, "listen " + where);
  socklen_t len = sizeof(addr);
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epoll_fd_ < 0 || wake_fd_ < 0) return samsa::Status::from_errno(errno, "epoll/eventfd");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kListenId;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &ev);
  ev.data.u64 = kWakeId;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
  return samsa::Status();
}

void NetServer::stop() {
  stop_.store(true);
  const std::uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof(one));
}

void NetServer::complete(std::uint64_t conn, std::uint64_t seq, Reply reply) {
  {
    std::lock_guard lock(completions_mu_);
    completions_.push_back({conn, seq, std::move(reply)});
  }
  const std::uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof(one));
}

samsa::Status NetServer::run(int signal_fd) {
  if (signal_fd >= 0) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kSignalId;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, signal_fd, &ev);
  }
  constexpr int kMaxEvents = 128;
  epoll_event events[kMaxEvents];
  now_ = std::chrono::steady_clock::now();
  next_sweep_ = now_ + sweep_interval(config_);
  while (!stop_.load()) {
    const int n = ::epoll_wait(epoll_fd_, events, kMaxEvents, next_timeout_ms(now_));
    if (n < 0 && errno != EINTR) return samsa::Status::from_errno(errno, "epoll_wait");
    now_ = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) {
      const std::uint64_t id = events[i].data.u64;
      if (id == kListenId) {
        accept_all();
      } else if (id == kWakeId) {
        std::uint64_t count;
        (void)!::read(wake_fd_, &count, sizeof(count));
        drain_completions();
      } else if (id == kSignalId) {
        signalfd_siginfo info{};
        (void)!::read(signal_fd, &info, sizeof(info));
        log_line(fmt::format("signal {} received, shutting down", info.ssi_signo));
        stop_.store(true);
      } else if (auto it = conns_.find(id); it != conns_.end()) {
        Conn& c = *it->second;
        const std::uint32_t e = events[i].events;
        if (!c.closed && (e & EPOLLOUT)) write_out(c);
        if (!c.closed && (e & EPOLLIN)) on_readable(c);
        // Reported even when not asked for: the peer is gone, nothing more can be sent.
        if (!c.closed && (e & (EPOLLERR | EPOLLHUP))) close_conn(c, "hang up");
      }
    }
    if (now_ >= next_sweep_) sweep(now_);
    wake_budget_waiters();
    reap_closed();
  }
  for (auto& [id, c] : conns_) close_conn(*c, "shutdown");
  reap_closed();
  ::close(listen_fd_);
  listen_fd_ = -1;
  return samsa::Status();
}

void NetServer::set_accepting(bool on) {
  if (accepting_ == on) return;
  accepting_ = on;
  epoll_event ev{};
  ev.events = on ? static_cast<std::uint32_t>(EPOLLIN) : 0u;
  ev.data.u64 = kListenId;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, listen_fd_, &ev);
}

void NetServer::accept_all() {
  while (accepting_) {
    // Kafka's acceptor waits for a connection slot: the ones beyond wait in the backlog.
    if (live_conns_ >= config_.max_connections) {
      metrics_.net().accept_pauses.fetch_add(1, std::memory_order_relaxed);
      return set_accepting(false);
    }
    sockaddr_in peer{};
    socklen_t peer_len = sizeof(peer);
    const int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &peer_len,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // Out of descriptors: wait for a connection to close (or the next sweep), rather
        // than wake up again at once for the same connection.
        log_line(fmt::format("accept: {}; not accepting for now", std::strerror(errno)));
        metrics_.net().accept_pauses.fetch_add(1, std::memory_order_relaxed);
        return set_accepting(false);
      }
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        log_line(fmt::format("accept: {}", std::strerror(errno)));
      }
      return;
    }
    const std::uint32_t ip = ntohl(peer.sin_addr.s_addr);
    std::uint32_t& from_ip = per_ip_[ip];
    if (from_ip >= config_.max_connections_per_ip) {
      // As Kafka: accepted, then closed at once.
      metrics_.net().refused_per_ip.fetch_add(1, std::memory_order_relaxed);  // seen on close
      ::close(fd);
      char text[INET_ADDRSTRLEN] = "?";
      ::inet_ntop(AF_INET, &peer.sin_addr, text, sizeof(text));
      log_line(fmt::format("refused a connection from {}: it has {} (max.connections.per.ip)", text,
                           from_ip));
      continue;
    }
    ++from_ip;
    ++live_conns_;
    metrics_.net().connections_open.store(live_conns_, std::memory_order_relaxed);
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    auto c = std::make_unique<Conn>();
    c->fd = fd;
    c->id = next_conn_id_++;
    c->ip = ip;
    c->last_active = now_;
    Conn& ref = *c;
    conns_.emplace(c->id, std::move(c));
    update_events(ref);
  }
}

bool NetServer::budget_allows(const Conn& c) const {
  // A frame begun has its bytes counted already: reading the rest takes nothing more.
  return config_.queued_max_request_bytes == 0 || c.big != nullptr ||
         request_bytes_in_use_ < config_.queued_max_request_bytes;
}

bool NetServer::should_read(const Conn& c) const {
  return c.pending.size() < config_.max_in_flight &&
         (c.pending.empty() || c.in_flight_request_bytes < config_.max_in_flight_request_bytes) &&
         budget_allows(c);
}

void NetServer::charge(std::uint64_t bytes) {
  request_bytes_in_use_ += bytes;
  NetStats& n = metrics_.net();
  n.request_bytes_in_use.store(request_bytes_in_use_, std::memory_order_relaxed);
  if (request_bytes_in_use_ > n.request_bytes_peak.load(std::memory_order_relaxed)) {
    n.request_bytes_peak.store(request_bytes_in_use_, std::memory_order_relaxed);
  }
}

void NetServer::release(std::uint64_t bytes) {
  request_bytes_in_use_ -= bytes;
  metrics_.net().request_bytes_in_use.store(request_bytes_in_use_, std::memory_order_relaxed);
}

void NetServer::wake_budget_waiters() {
  while (!budget_waiters_.empty() && request_bytes_in_use_ < config_.queued_max_request_bytes) {
    const std::uint64_t id = budget_waiters_.front();
    budget_waiters_.pop_front();
    auto it = conns_.find(id);
    if (it == conns_.end() || it->second->closed) continue;
    Conn& c = *it->second;
    c.waiting_budget = false;
    parse_frames(c);   // frames read before it waited
    update_events(c);  // reads again, or waits again
  }
}

int NetServer::next_timeout_ms(std::chrono::steady_clock::time_point now) const {
  if (now >= next_sweep_) return 0;
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(next_sweep_ - now);
  return static_cast<int>(left.count());
}

void NetServer::sweep(std::chrono::steady_clock::time_point now) {
  next_sweep_ = now + sweep_interval(config_);
  // Accepting stopped for want of descriptors: try again now and then.
  if (!accepting_ && live_conns_ < config_.max_connections) set_accepting(true);
  const std::chrono::milliseconds idle(config_.connections_max_idle_ms);
  for (auto& [id, conn] : conns_) {
    Conn& c = *conn;
    if (c.closed) continue;
    if (idle.count() > 0 && c.pending.empty() && now - c.last_active >= idle) {
      metrics_.net().closed_idle.fetch_add(1, std::memory_order_relaxed);
      close_conn(c, fmt::format("idle for {} ms (connections.max.idle.ms)", idle.count()));
      continue;
    }
    if (c.in_start == c.in_end && !c.in.empty()) {  // nothing half-read: drop the buffer
      c.in = {};
      c.in_start = c.in_end = 0;
    }
  }
}

void NetServer::update_events(Conn& c) {
  if (c.closed) return;
  std::uint32_t want = 0;
  if (should_read(c)) {
    want |= EPOLLIN;
  } else if (!budget_allows(c) && !c.waiting_budget) {
    c.waiting_budget = true;
    budget_waiters_.push_back(c.id);
    metrics_.net().budget_waits.fetch_add(1, std::memory_order_relaxed);
  }
  if (!c.out.empty()) want |= EPOLLOUT;
  if (c.registered && want == c.events) return;
  epoll_event ev{};
  ev.events = want;
  ev.data.u64 = c.id;
  ::epoll_ctl(epoll_fd_, c.registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c.fd, &ev);
  c.registered = true;
  c.events = want;
}

void NetServer::on_readable(Conn& c) {
  for (int i = 0; i < kMaxReadsPerWakeup && !c.closed && should_read(c); ++i) {
    std::byte* into = nullptr;
    std::size_t room = 0;
    if (c.big) {  // the rest of a large frame, straight into its buffer
      into = c.big->data() + c.big_filled;
      room = c.big->size() - c.big_filled;
    } else {
      if (c.in.empty()) c.in.resize(kReadChunk);
      if (c.in_start == c.in_end) c.in_start = c.in_end = 0;
      if (c.in_start > 0 && c.in.size() - c.in_end < kReadChunk / 4) {
        // Move the partial frame to the front (it fits: larger ones went to `big`).
        std::memmove(c.in.data(), c.in.data() + c.in_start, c.in_end - c.in_start);
        c.in_end -= c.in_start;
        c.in_start = 0;
      }
      into = c.in.data() + c.in_end;
      room = c.in.size() - c.in_end;
    }
    if (room == 0) break;
    const ssize_t n = ::read(c.fd, into, room);
    if (n == 0) return close_conn(c, "closed by peer");
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR) continue;
      return close_conn(c, std::strerror(errno));
    }
    c.last_active = now_;
    if (c.big) {
      c.big_filled += static_cast<std::size_t>(n);
      if (c.big_filled == c.big->size()) {
        auto frame = std::move(c.big);
        c.big_filled = 0;
        handle_frame(c, std::move(frame));
      }
    } else {
      c.in_end += static_cast<std::size_t>(n);
      parse_frames(c);
    }
  }
  update_events(c);
}

// Every frame taken is counted in the budget first (and only while it is not used up).
void NetServer::parse_frames(Conn& c) {
  while (!c.closed && !c.big && should_read(c) && c.in_end - c.in_start >= 4) {
    const auto size = samsa::get_be<std::int32_t>(c.in.data() + c.in_start);
    if (size < 0 || static_cast<std::uint32_t>(size) > config_.max_frame_bytes) {
      return close_conn(
          c, fmt::format("frame of {} bytes (maximum {})", size, config_.max_frame_bytes));
    }
    const std::size_t whole = 4 + static_cast<std::size_t>(size);
    const std::size_t have = c.in_end - c.in_start;
    if (have < whole) {
      if (whole <= c.in.size()) return;  // the read buffer takes it: read on
      // Too large for the read buffer: a buffer of its own, counted from now on.
      charge(static_cast<std::uint64_t>(size));
      c.big = std::make_shared<std::vector<std::byte>>(static_cast<std::size_t>(size));
      std::memcpy(c.big->data(), c.in.data() + c.in_start + 4, have - 4);
      c.big_filled = have - 4;
      c.in_start = c.in_end = 0;
      return;
    }
    charge(static_cast<std::uint64_t>(size));
    const std::byte* begin = c.in.data() + c.in_start + 4;
    auto frame = std::make_shared<std::vector<std::byte>>(begin, begin + size);
    c.in_start += whole;
    handle_frame(c, std::move(frame));
  }
}

// `frame` is counted in the budget already.
void NetServer::handle_frame(Conn& c, std::shared_ptr<std::vector<std::byte>> frame) {
  auto header = decode_request_header(*frame);
  if (!header.ok()) {
    release(frame->size());
    return close_conn(c, header.status().to_string());
  }
  const std::int16_t key = header->api_key;
  const std::int16_t version = header->api_version;
  if (!is_supported(key, version) && key != static_cast<std::int16_t>(ApiKey::api_versions)) {
    release(frame->size());
    return close_conn(c, fmt::format("unsupported {} v{}", api_name(key), version));
  }
  const std::uint64_t seq = c.next_seq++;
  c.pending.push_back({key, frame->size(), std::chrono::steady_clock::now(), false, {}});
  c.in_flight_request_bytes += frame->size();
  Request request{
      std::move(header).value(), std::move(frame),
      [this, id = c.id, seq](Reply r) { complete(id, seq, std::move(r)); },
      fmt::format("{}.{}.{}.{}", c.ip >> 24, (c.ip >> 16) & 0xFF, (c.ip >> 8) & 0xFF, c.ip & 0xFF)};
  handlers_.dispatch(std::move(request));
}

void NetServer::drain_completions() {
  std::vector<Completion> batch;
  {
    std::lock_guard lock(completions_mu_);
    batch.swap(completions_);
  }
  for (Completion& done : batch) {
    auto it = conns_.find(done.conn);
    if (it == conns_.end() || it->second->closed) {
      // Closed while its request was handled: the request's bytes return only now.
      auto orphan = orphans_.find(done.conn);
      if (orphan == orphans_.end()) continue;
      if (auto seq = orphan->second.find(done.seq); seq != orphan->second.end()) {
        release(seq->second);
        orphan->second.erase(seq);
      }
      if (orphan->second.empty()) orphans_.erase(orphan);
      continue;
    }
    Conn& c = *it->second;
    const std::uint64_t first = c.next_seq - c.pending.size();
    Pending& p = c.pending[done.seq - first];
    p.done = true;
    p.reply = std::move(done.reply);
  }
  for (Completion& done : batch) {
    auto it = conns_.find(done.conn);
    if (it != conns_.end() && !it->second->closed) send_ready(*it->second);
  }
}

void NetServer::send_ready(Conn& c) {
  const bool was_reading = should_read(c);
  while (!c.closed && !c.pending.empty() && c.pending.front().done) {
    Pending p = std::move(c.pending.front());
    c.pending.pop_front();
    c.in_flight_request_bytes -= p.request_bytes;
    release(p.request_bytes);
    metrics_.record(p.api_key, std::chrono::steady_clock::now() - p.start);
    if (p.reply.kind == Reply::Kind::close) {
      write_out(c);  // what earlier requests were answered with, if the socket takes it
      return close_conn(c, p.reply.why);
    }
    std::uint64_t reply_bytes = 0;
    for (Chunk& chunk : p.reply.response.chunks) {
      reply_bytes += chunk_size(chunk);
      c.out.push_back(std::move(chunk));
    }
    c.out_bytes += reply_bytes;
    if (reply_bytes > 0) c.out_replies.push_back(reply_bytes);
  }
  write_out(c);
  // A client that does not read its replies: what waits behind the reply being sent (which
  // alone may be large, a fetch's) is bounded; past it the connection is cut off, so it holds
  // neither memory nor handlers' work.
  const std::uint64_t front = c.out_replies.empty() ? 0 : c.out_replies.front();
  if (!c.closed && c.out_bytes - front > config_.max_queued_reply_bytes) {
    metrics_.net().closed_slow_reader.fetch_add(1, std::memory_order_relaxed);
    return close_conn(c, fmt::format("{} reply bytes queued, not read (maximum {})", c.out_bytes,
                                     config_.max_queued_reply_bytes));
  }
  if (!c.closed && !was_reading && should_read(c)) parse_frames(c);  // frames read earlier
  update_events(c);
}

void NetServer::advance(Conn& c, std::uint64_t sent) {
  c.out_bytes -= sent;
  if (sent > 0) c.last_active = now_;
  for (std::uint64_t left = sent; left > 0 && !c.out_replies.empty();) {
    const std::uint64_t take = std::min(left, c.out_replies.front());
    left -= take;
    if ((c.out_replies.front() -= take) == 0) c.out_replies.pop_front();
  }
  while (!c.out.empty()) {
    const std::uint64_t size = chunk_size(c.out.front());
    const std::uint64_t take = std::min(sent, size - c.out_sent);
    c.out_sent += take;
    sent -= take;
    if (c.out_sent < size) break;
    c.out.pop_front();
    c.out_sent = 0;
  }
}

void NetServer::write_out(Conn& c) {
  while (!c.closed && !c.out.empty()) {
    ssize_t n = 0;
    if (auto* file = std::get_if<FileRange>(&c.out.front())) {
      auto at = static_cast<off_t>(file->position + c.out_sent);
      const std::uint64_t left = file->size - c.out_sent;
      n = ::sendfile(c.fd, file->file->native_handle(), &at,
                     std::min<std::uint64_t>(left, 1 << 30));
      if (n == 0) return close_conn(c, "sendfile: the segment file is shorter than its slice");
    } else {
      iovec iov[kMaxIov];
      int count = 0;
      for (std::size_t i = 0; i < c.out.size() && count < kMaxIov; ++i) {
        auto* bytes = std::get_if<std::vector<std::byte>>(&c.out[i]);
        if (bytes == nullptr) break;
        const std::size_t skip = count == 0 ? c.out_sent : 0;
        iov[count++] = {bytes->data() + skip, bytes->size() - skip};
      }
      msghdr msg{};
      msg.msg_iov = iov;
      msg.msg_iovlen = static_cast<std::size_t>(count);
      n = ::sendmsg(c.fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR) continue;
      return close_conn(c, std::strerror(errno));
    }
    advance(c, static_cast<std::uint64_t>(n));
  }
  update_events(c);
}

void NetServer::close_conn(Conn& c, std::string_view why) {
  if (c.closed) return;
  if (why != "closed by peer" && why != "shutdown") {
    log_line(fmt::format("closing connection {}: {}", c.id, why));
  }
  c.closed = true;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c.fd, nullptr);
  ::close(c.fd);
  c.fd = -1;
  closed_.push_back(c.id);
  // Request bytes: a frame half read returns now, as do requests answered; those still being
  // handled return when their handlers answer.
  if (c.big) release(c.big->size());
  c.big.reset();
  const std::uint64_t first = c.next_seq - c.pending.size();
  for (std::size_t i = 0; i < c.pending.size(); ++i) {
    const Pending& p = c.pending[i];
    if (p.done) {
      release(p.request_bytes);
    } else {
      orphans_[c.id][first + i] = p.request_bytes;
    }
  }
  c.pending.clear();
  c.in_flight_request_bytes = 0;
  if (auto it = per_ip_.find(c.ip); it != per_ip_.end() && --it->second == 0) per_ip_.erase(it);
  --live_conns_;
  metrics_.net().connections_open.store(live_conns_, std::memory_order_relaxed);
  if (!accepting_ && live_conns_ < config_.max_connections) set_accepting(true);
}

void NetServer::reap_closed() {
  for (std::uint64_t id : closed_) conns_.erase(id);
  closed_.clear();
}

}  // namespace samsa_server
