// The network side: one thread running an epoll loop over a listening socket and its
// connections. It reads size-prefixed request frames, hands each to Handlers::dispatch in
// arrival order, and writes the replies of each connection in request order (pipelining),
// byte chunks with sendmsg and record sets with sendfile. Handlers answer from other
// threads through complete(), which wakes the loop with an eventfd.
//
// Bad input: a frame size that is negative or over max_frame_bytes, a malformed request
// header, an API key or version not implemented (other than ApiVersions, which answers
// UNSUPPORTED_VERSION) or a request its handler cannot parse closes the connection, as
// Kafka does.
//
// Limits (README, "Server"; docs/ARCHITECTURE.md, "Server memory and connections"):
// - queued_max_request_bytes bounds the request bytes held over every connection: a frame is
//   taken only while the bytes in use are under it (so they stay under it plus one frame), and
//   while they are not, no connection is read (a frame already begun is read to its end).
//   The bytes return when the request's reply is queued on the connection.
// - connections_max_idle_ms closes a connection that moved no bytes for that long and has no
//   request being handled, a half-sent frame included.
// - max_connections: at it the listening socket is not accepted from (new connections wait
//   in the backlog, as Kafka's acceptor waits for a slot); max_connections_per_ip: a
//   connection from an address that has that many is accepted and closed at once.
// - a connection whose queued replies, behind the one being sent, pass
//   max_queued_reply_bytes is closed (a client that does not read its replies).
//
// Thread-safety: run() on one thread; stop() and complete() from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "handlers.h"
#include "metrics.h"

namespace samsa_server {

struct NetConfig {
  std::string host = "127.0.0.1";
  std::uint16_t port = 9092;                   // 0: any free port (see NetServer::port())
  std::uint32_t max_frame_bytes = 100u << 20;  // Kafka's socket.request.max.bytes
  // Requests of one connection being handled or waiting to be sent; past it the connection
  // is not read until replies go out.
  std::size_t max_in_flight = 64;
  // Request bytes of one connection being handled or waiting to be sent; past it (once one
  // request is in) the connection is not read.
  std::uint64_t max_in_flight_request_bytes = 256u << 20;
  // Reply bytes queued on one connection, behind the reply being sent, past which it is
  // closed.
  std::uint64_t max_queued_reply_bytes = 64u << 20;
  // Request bytes read and not yet answered over every connection (Kafka's
  // queued.max.request.bytes; 0: unbounded, Kafka's -1).
  std::uint64_t queued_max_request_bytes = 256u << 20;
  // Kafka's connections.max.idle.ms; 0: never closed for idleness.
  std::int64_t connections_max_idle_ms = 600'000;
  std::uint32_t max_connections = 4096;  // Kafka's max.connections
  // Kafka's max.connections.per.ip; the default, like Kafka's, is unbounded.
  std::uint32_t max_connections_per_ip = UINT32_MAX;
};

class NetServer {
 public:
  // Binds and listens. `handlers` and `metrics` must outlive the server.
  static samsa::Result<std::unique_ptr<NetServer>> listen(NetConfig config, Handlers& handlers,
                                                          Metrics& metrics);
  ~NetServer();

  std::uint16_t port() const { return port_; }
  // Serves until stop() or a signal is readable on `signal_fd` (a signalfd; -1 for none).
  // Then closes the listening socket and every connection.
  samsa::Status run(int signal_fd);
  void stop();
  // A handler's reply for request `seq` of connection `conn`.
  void complete(std::uint64_t conn, std::uint64_t seq, Reply reply);

 private:
  struct Pending {
    std::int16_t api_key = 0;
    std::uint64_t request_bytes = 0;
    std::chrono::steady_clock::time_point start;
    bool done = false;
    Reply reply;
  };
  struct Conn {
    int fd = -1;
    std::uint64_t id = 0;
    std::vector<std::byte> in;
    std::size_t in_start = 0;
    std::size_t in_end = 0;
    std::uint64_t next_seq = 0;
    std::deque<Pending> pending;  // requests next_seq - pending.size() .. next_seq - 1
    std::deque<Chunk> out;
    std::uint64_t out_sent = 0;  // bytes of out.front() already sent
    std::uint64_t out_bytes = 0;
    std::deque<std::uint64_t> out_replies;  // bytes left of each queued reply, in order
    std::uint64_t in_flight_request_bytes = 0;
    // A frame larger than what `in` holds from its start, read straight into its own buffer;
    // its bytes are counted in the budget from its size prefix on.
    std::shared_ptr<std::vector<std::byte>> big;
    std::size_t big_filled = 0;
    std::uint32_t ip = 0;  // the peer's IPv4 address, host order
    std::chrono::steady_clock::time_point last_active;
    std::uint32_t events = 0;  // what epoll watches
    bool registered = false;
    bool closed = false;
    bool waiting_budget = false;  // in budget_waiters_
  };
  struct Completion {
    std::uint64_t conn;
    std::uint64_t seq;
    Reply reply;
  };

  NetServer(NetConfig config, Handlers& handlers, Metrics& metrics)
      : config_(std::move(config)), handlers_(handlers), metrics_(metrics) {}
  samsa::Status open_sockets();
  void accept_all();
  void on_readable(Conn& c);
  void parse_frames(Conn& c);
  void handle_frame(Conn& c, std::shared_ptr<std::vector<std::byte>> frame);
  void drain_completions();
  void send_ready(Conn& c);
  void write_out(Conn& c);
  void advance(Conn& c, std::uint64_t sent);
  bool should_read(const Conn& c) const;
  bool budget_allows(const Conn& c) const;
  void charge(std::uint64_t bytes);
  void release(std::uint64_t bytes);
  void wake_budget_waiters();
  void set_accepting(bool on);
  void sweep(std::chrono::steady_clock::time_point now);
  int next_timeout_ms(std::chrono::steady_clock::time_point now) const;
  void update_events(Conn& c);
  void close_conn(Conn& c, std::string_view why);
  void reap_closed();

  NetConfig config_;
  Handlers& handlers_;
  Metrics& metrics_;
  int listen_fd_ = -1;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::uint64_t next_conn_id_ = 16;  // below: the listening socket, the eventfd, signals
  std::unordered_map<std::uint64_t, std::unique_ptr<Conn>> conns_;
  std::vector<std::uint64_t> closed_;
  std::uint64_t request_bytes_in_use_ = 0;
  std::deque<std::uint64_t> budget_waiters_;  // connection ids, in the order they waited
  // Request bytes of closed connections still being handled: (connection, seq) -> bytes.
  std::unordered_map<std::uint64_t, std::unordered_map<std::uint64_t, std::uint64_t>> orphans_;
  std::unordered_map<std::uint32_t, std::uint32_t> per_ip_;
  std::uint32_t live_conns_ = 0;
  bool accepting_ = true;
  std::chrono::steady_clock::time_point now_;  // read once per loop turn
  std::chrono::steady_clock::time_point next_sweep_;
  std::mutex completions_mu_;
  std::vector<Completion> completions_;
};

}  // namespace samsa_server
