// Test helpers: hand-built request frames, a blocking client socket, and a server run
// in-process on a free loopback port with its data in a fresh temporary directory.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "codec/wire.h"
#include "server.h"

namespace samsa_server::testing {

// A request frame: size prefix, header v1 (v2 when flexible), then the body the caller
// writes into body().
class RequestBuilder {
 public:
  RequestBuilder(std::int16_t key, std::int16_t version, std::int32_t correlation_id,
                 bool flexible = false);
  Writer& body() { return w_; }
  std::vector<std::byte> frame();

 private:
  Writer w_;
};

class Client {
 public:
  // Connects to 127.0.0.1:port, from `source_ip` (a loopback address) when given; throws
  // when binding to it or connecting fails.
  explicit Client(std::uint16_t port, const char* source_ip = nullptr);
  ~Client();
  void send(const std::vector<std::byte>& bytes);
  // The next response frame without its size prefix; nullopt when the server closed the
  // connection (or nothing came within `timeout`, with *timed_out set).
  std::optional<std::vector<std::byte>> receive(
      std::chrono::milliseconds timeout = std::chrono::seconds(10), bool* timed_out = nullptr);
  // True when the server closes the connection within `timeout`.
  bool closed_by_server(std::chrono::milliseconds timeout = std::chrono::seconds(5));

 private:
  bool read_exact(std::byte* out, std::size_t n, std::chrono::milliseconds timeout,
                  bool* timed_out);
  int fd_ = -1;
};

class TestServer {
 public:
  explicit TestServer(ServerOptions options = defaults());
  ~TestServer();
  std::uint16_t port() const { return server_->port(); }
  Server& server() { return *server_; }
  const std::filesystem::path& dir() const { return dir_; }
  static ServerOptions defaults();

 private:
  std::filesystem::path dir_;
  std::unique_ptr<Server> server_;
  std::thread thread_;
};

// A RecordBatch v2 of `count` records "value-<i>", optionally idempotent.
std::vector<std::byte> make_batch(int count, std::int64_t producer_id = -1,
                                  std::int32_t base_sequence = -1);

// A Produce v7 request (acks given) with one record set for (topic, partition).
std::vector<std::byte> produce_request(std::int32_t correlation_id, const std::string& topic,
                                       std::int32_t partition,
                                       const std::vector<std::byte>& records,
                                       std::int16_t acks = -1, std::int16_t version = 7);
// A Fetch v11 request for one partition.
std::vector<std::byte> fetch_request(std::int32_t correlation_id, const std::string& topic,
                                     std::int32_t partition, std::int64_t offset,
                                     std::int32_t max_wait_ms = 0, std::int32_t min_bytes = 1,
                                     std::int32_t max_bytes = 1 << 20);
// A Metadata request (v4+: auto-creation allowed).
std::vector<std::byte> metadata_request(std::int32_t correlation_id,
                                        const std::vector<std::string>& topics,
                                        std::int16_t version = 6);

// Readers over a response frame (after the size prefix): the correlation id, then the body.
struct ResponseReader {
  std::vector<std::byte> bytes;
  Reader r;
  explicit ResponseReader(std::vector<std::byte> frame)
      : bytes(std::move(frame)), r(MutableByteSpan(bytes)) {}
};

}  // namespace samsa_server::testing
