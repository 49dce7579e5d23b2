// The whole server wired together: pools, fetch waiters, broker, handlers, network loop and
// the optional metrics endpoint. main.cc runs one; the protocol tests run one in-process.
//
// Thread-safety: run() on one thread; stop() from any thread; shutdown() after run().
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "broker.h"
#include "fetch_waiters.h"
#include "group_service.h"
#include "handlers.h"
#include "metrics.h"
#include "net.h"
#include "samsa/cleaner.h"
#include "work_pool.h"

namespace samsa_server {

struct ServerOptions {
  std::string data_dir;
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 9092;   // 0: a free port
  std::string advertised_host;        // empty: the listen host
  std::int32_t advertised_port = -1;  // -1: the bound port
  std::int32_t default_partitions = 1;
  bool auto_create = true;
  std::string metrics_host;  // empty: no metrics endpoint
  std::uint16_t metrics_port = 0;
  std::uint32_t max_frame_bytes = 100u << 20;
  // The network loop's limits (NetConfig; README, "Server").
  std::uint64_t queued_max_request_bytes = 256u << 20;  // 0: unbounded
  std::int64_t connections_max_idle_ms = 600'000;       // 0: never
  std::uint32_t max_connections = 4096;
  std::uint32_t max_connections_per_ip = UINT32_MAX;
  std::uint64_t max_queued_reply_bytes = 64u << 20;
  int request_threads = 4;
  int append_threads = 8;
  samsa::PartitionConfig partition;  // every partition's settings (flush policy, sizes)
  // Consumer groups: __consumer_offsets' partition count at creation
  // (offsets.topic.num.partitions) and the coordinator's settings (group.*, offsets.*).
  std::int32_t offsets_partitions = 50;
  std::uint64_t offsets_segment_bytes = 100u << 20;  // offsets.topic.segment.bytes
  samsa::GroupCoordinatorConfig groups;
  // How often every partition's maintain() runs: retention, producer id expiry, snapshot
  // cleanup, the high watermark checkpoint (Kafka checkpoints it every 5 s).
  std::chrono::milliseconds maintenance_interval{5000};
};

class Server {
 public:
  static samsa::Result<std::unique_ptr<Server>> open(ServerOptions options);
  ~Server();  // stop(), shutdown()

  std::uint16_t port() const { return net_->port(); }
  std::uint16_t metrics_port() const { return http_ ? http_->port() : 0; }
  Broker& broker() { return *broker_; }
  GroupService& groups() { return *groups_; }
  Metrics& metrics() { return metrics_; }
  // Long-poll fetches waiting for data or their deadline.
  std::size_t waiting_fetches() const { return waiters_.size(); }
  // Maintenance passes completed (over every partition) since open(). When it was n at some
  // moment, the pass that brings it to n + 2 began after that moment.
  std::uint64_t maintenance_passes() const {
    return maintenance_passes_.load(std::memory_order_acquire);
  }

  // Serves until stop() or a signal on `signal_fd` (-1: none).
  samsa::Status run(int signal_fd = -1);
  void stop() { net_->stop(); }
  // After run(): drops waiting fetches, finishes the appends under way, closes every
  // partition. Idempotent.
  samsa::Status shutdown();

 private:
  explicit Server(const ServerOptions& o);
  void maintenance_loop();

  ServerOptions options_;
  // Declared in the order they are built; destroyed in reverse.
  WorkPool request_pool_;
  WorkPool append_pool_;
  FetchWaiters waiters_;
  Metrics metrics_;
  std::unique_ptr<Broker> broker_;
  std::unique_ptr<GroupService> groups_;
  std::unique_ptr<Handlers> handlers_;
  std::unique_ptr<NetServer> net_;
  std::unique_ptr<MetricsHttp> http_;
  std::mutex maintenance_mu_;
  std::condition_variable maintenance_cv_;
  bool maintenance_stop_ = false;
  std::atomic<std::uint64_t> maintenance_passes_{0};
  std::thread maintenance_;
  // Compacts the compacted topics' logs (__consumer_offsets) on the maintenance thread.
  std::unique_ptr<samsa::Cleaner> cleaner_;
  bool shut_down_ = false;
};

}  // namespace samsa_server
