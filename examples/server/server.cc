#include "server.h"

#include "group_report.h"

#include <malloc.h>

#include <random>

#include <fmt/format.h>

namespace samsa_server {

Server::Server(const ServerOptions& o)
    : options_(o),
      request_pool_("request", o.request_threads),
      append_pool_("append", o.append_threads),
      waiters_(request_pool_) {}

samsa::Result<std::unique_ptr<Server>> Server::open(ServerOptions o) {
  std::unique_ptr<Server> s(new Server(o));
  BrokerConfig bc{o.data_dir, o.default_partitions, o.auto_create, o.partition};
  bc.offsets_partitions = o.offsets_partitions;
  bc.offsets_segment_bytes = o.offsets_segment_bytes;
  SAMSA_TRY_ASSIGN(s->broker_, Broker::open(std::move(bc), s->append_pool_, s->waiters_));
  GroupServiceConfig gc;
  gc.coordinator = o.groups;
  gc.coordinator.seed = std::random_device{}();
  SAMSA_TRY_ASSIGN(s->groups_, GroupService::open(*s->broker_, gc));
  ServerIdentity id;
  id.host = o.advertised_host.empty() ? o.listen_host : o.advertised_host;
  s->handlers_ =
      std::make_unique<Handlers>(*s->broker_, s->request_pool_, s->waiters_, id, s->groups_.get());
  NetConfig nc{o.listen_host, o.listen_port, o.max_frame_bytes};
  nc.queued_max_request_bytes = o.queued_max_request_bytes;
  nc.connections_max_idle_ms = o.connections_max_idle_ms;
  nc.max_connections = o.max_connections;
  nc.max_connections_per_ip = o.max_connections_per_ip;
  nc.max_queued_reply_bytes = o.max_queued_reply_bytes;
  SAMSA_TRY_ASSIGN(s->net_, NetServer::listen(nc, *s->handlers_, s->metrics_));
  // The advertised port is known only now when listening on port 0.
  id.port = o.advertised_port >= 0 ? o.advertised_port : s->net_->port();
  s->handlers_->set_identity(id);
  if (!o.metrics_host.empty()) {
    Server* raw = s.get();
    // "/groups": the consumer groups as a table; any other path: the metrics.
    SAMSA_TRY_ASSIGN(
        s->http_, MetricsHttp::start(o.metrics_host, o.metrics_port, [raw](std::string_view path) {
          const auto groups = group_report(*raw->groups_, *raw->broker_);
          if (path == "/groups") {
            return render_group_table(groups);
          }
          return raw->metrics_.render(*raw->broker_) + render_group_metrics(groups);
        }));
  }
  samsa::CleanerConfig cleaner;
  cleaner.offset_map_bytes = 16u << 20;  // the server's bound on the cleaner's memory
  s->cleaner_ = std::make_unique<samsa::Cleaner>(cleaner);
  s->maintenance_ = std::thread([raw = s.get()] { raw->maintenance_loop(); });
  return s;
}

void Server::maintenance_loop() {
  std::unique_lock lock(maintenance_mu_);
  while (!maintenance_cv_.wait_for(lock, options_.maintenance_interval,
                                   [this] { return maintenance_stop_; })) {
    lock.unlock();
    for (const auto& topic : broker_->topics()) {
      for (const auto& p : topic->partitions) {
        auto report = p->partition->maintain();
        if (!report.ok()) {
          fmt::print(stderr, "samsa-server: maintenance of {}-{}: {}\n", topic->name, p->index,
                     report.status().to_string());
        }
      }
    }
    // Compaction: one log per pass, the dirtiest that needs it (Kafka's cleaner thread).
    std::vector<samsa::Log*> compacted;
    for (const auto& topic : broker_->topics()) {
      for (const auto& p : topic->partitions) {
        if (p->partition->log().config().cleanup_policy.compact) {
          compacted.push_back(&p->partition->log());
        }
      }
    }
    if (!compacted.empty()) {
      const samsa::CleanerRun run = cleaner_->run_once(compacted);
      for (const auto& failed : run.failed) {
        fmt::print(stderr, "samsa-server: compaction of {}: {}\n", failed.dir,
                   failed.error.to_string());
      }
    }
    // Give freed heap back to the system (glibc keeps it in its arenas otherwise): after a
    // burst of large requests the RSS returns towards idle within a maintenance interval.
    malloc_trim(0);
    maintenance_passes_.fetch_add(1, std::memory_order_release);
    lock.lock();
  }
}

Server::~Server() {
  (void)shutdown();
}

samsa::Status Server::run(int signal_fd) {
  return net_->run(signal_fd);
}

samsa::Status Server::shutdown() {
  if (shut_down_) return samsa::Status();
  shut_down_ = true;
  {
    std::lock_guard lock(maintenance_mu_);
    maintenance_stop_ = true;
  }
  maintenance_cv_.notify_all();
  if (maintenance_.joinable()) maintenance_.join();
  waiters_.stop();
  request_pool_.stop();
  groups_.reset();  // stops its ticker; nothing appends to __consumer_offsets after this
  append_pool_.stop();
  http_.reset();
  return broker_ ? broker_->close() : samsa::Status();
}

}  // namespace samsa_server
