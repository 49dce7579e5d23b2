#include "tests/test_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <random>
#include <stdexcept>

#include <fmt/format.h>

#include "samsa/record_batch.h"

namespace samsa_server::testing {

RequestBuilder::RequestBuilder(std::int16_t key, std::int16_t version, std::int32_t correlation_id,
                               bool flexible) {
  w_.i32(0);
  w_.i16(key);
  w_.i16(version);
  w_.i32(correlation_id);
  w_.nullable_string(std::string("protocol-test"));
  if (flexible) w_.empty_tagged_fields();
}

std::vector<std::byte> RequestBuilder::frame() {
  w_.patch_i32(0, static_cast<std::int32_t>(w_.size() - 4));
  return w_.take();
}

Client::Client(std::uint16_t port, const char* source_ip) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (source_ip != nullptr) {
    sockaddr_in from{};
    from.sin_family = AF_INET;
    if (inet_pton(AF_INET, source_ip, &from.sin_addr) != 1 ||
        ::bind(fd_, reinterpret_cast<sockaddr*>(&from), sizeof(from)) != 0) {
      ::close(fd_);
      throw std::runtime_error(fmt::format("bind to {} failed", source_ip));
    }
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd_);
    throw std::runtime_error("connect failed");
  }
}

Client::~Client() {
  ::close(fd_);
}

void Client::send(const std::vector<std::byte>& bytes) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return;  // the server may have closed: receive() tells
    sent += static_cast<std::size_t>(n);
  }
}

bool Client::read_exact(std::byte* out, std::size_t n, std::chrono::milliseconds timeout,
                        bool* timed_out) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::size_t got = 0;
  while (got < n) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{fd_, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
      if (timed_out) *timed_out = true;
      return false;
    }
    const ssize_t r = ::recv(fd_, out + got, n - got, 0);
    if (r <= 0) return false;
    got += static_cast<std::size_t>(r);
  }
  return true;
}

std::optional<std::vector<std::byte>> Client::receive(std::chrono::milliseconds timeout,
                                                      bool* timed_out) {
  if (timed_out) *timed_out = false;
  std::byte size_bytes[4];
  if (!read_exact(size_bytes, 4, timeout, timed_out)) return std::nullopt;
  const auto size = samsa::get_be<std::int32_t>(size_bytes);
  std::vector<std::byte> frame(static_cast<std::size_t>(size));
  if (!read_exact(frame.data(), frame.size(), timeout, timed_out)) return std::nullopt;
  return frame;
}

bool Client::closed_by_server(std::chrono::milliseconds timeout) {
  bool timed_out = false;
  while (true) {
    auto frame = receive(timeout, &timed_out);
    if (!frame) return !timed_out;
  }
}

ServerOptions TestServer::defaults() {
  ServerOptions o;
  o.listen_port = 0;
  o.default_partitions = 2;
  o.request_threads = 2;
  o.append_threads = 2;
  o.partition.log.segment_index_bytes = 64 * 1024;  // small preallocated indexes
  // make_batch's timestamps are from November 2023: under the default retention.ms (7 days)
  // any maintenance pass (every 5 s) would delete every acknowledged batch, the active
  // segment too, so a test slower than 5 s would lose its data. Tests set retention.ms.
  o.partition.log.retention_ms = -1;
  o.offsets_partitions = 3;  // __consumer_offsets: 3 partitions, not Kafka's 50, per test
  return o;
}

TestServer::TestServer(ServerOptions options) {
  static std::atomic<int> counter{0};
  dir_ = std::filesystem::temp_directory_path() /
         fmt::format("samsa-server-test-{}-{}", ::getpid(), counter++);
  std::filesystem::remove_all(dir_);
  options.data_dir = dir_.string();
  auto s = Server::open(options);
  if (!s.ok()) throw std::runtime_error(s.status().to_string());
  server_ = std::move(s).value();
  thread_ = std::thread([this] { (void)server_->run(); });
}

TestServer::~TestServer() {
  server_->stop();
  thread_.join();
  (void)server_->shutdown();
  server_.reset();
  std::filesystem::remove_all(dir_);
}

std::vector<std::byte> make_batch(int count, std::int64_t producer_id, std::int32_t base_sequence) {
  samsa::BatchOptions options;
  if (producer_id >= 0) {
    options.producer_id = samsa::ProducerId(producer_id);
    options.producer_epoch = samsa::ProducerEpoch(0);
    options.base_sequence = samsa::Sequence(base_sequence);
  }
  samsa::RecordBatchBuilder builder(options);
  for (int i = 0; i < count; ++i) {
    const std::string value = fmt::format("value-{}", i);
    (void)builder.append(samsa::Timestamp(1'700'000'000'000 + i), std::nullopt,
                         samsa::as_bytes(value));
  }
  auto built = builder.build();
  return {built->begin(), built->end()};
}

std::vector<std::byte> produce_request(std::int32_t correlation_id, const std::string& topic,
                                       std::int32_t partition,
                                       const std::vector<std::byte>& records, std::int16_t acks,
                                       std::int16_t version) {
  RequestBuilder b(0, version, correlation_id);
  Writer& w = b.body();
  if (version >= 3) w.nullable_string(std::nullopt);
  w.i16(acks);
  w.i32(30000);
  w.array_length(1);
  w.string(topic);
  w.array_length(1);
  w.i32(partition);
  w.i32(static_cast<std::int32_t>(records.size()));
  w.raw(records);
  return b.frame();
}

std::vector<std::byte> fetch_request(std::int32_t correlation_id, const std::string& topic,
                                     std::int32_t partition, std::int64_t offset,
                                     std::int32_t max_wait_ms, std::int32_t min_bytes,
                                     std::int32_t max_bytes) {
  RequestBuilder b(1, 11, correlation_id);
  Writer& w = b.body();
  w.i32(-1);  // replica id
  w.i32(max_wait_ms);
  w.i32(min_bytes);
  w.i32(max_bytes);
  w.i8(0);    // isolation
  w.i32(0);   // session id
  w.i32(-1);  // session epoch
  w.array_length(1);
  w.string(topic);
  w.array_length(1);
  w.i32(partition);
  w.i32(-1);  // current leader epoch
  w.i64(offset);
  w.i64(-1);  // log start offset
  w.i32(max_bytes);
  w.array_length(0);  // forgotten
  w.string("");       // rack
  return b.frame();
}

std::vector<std::byte> metadata_request(std::int32_t correlation_id,
                                        const std::vector<std::string>& topics,
                                        std::int16_t version) {
  RequestBuilder b(3, version, correlation_id);
  Writer& w = b.body();
  w.array_length(topics.size());
  for (const std::string& t : topics) w.string(t);
  if (version >= 4) w.boolean(true);
  return b.frame();
}

}  // namespace samsa_server::testing
