#include "group_service.h"

#include <fmt/format.h>

#include <chrono>

namespace samsa_server {

samsa::Result<std::unique_ptr<GroupService>> GroupService::open(Broker& broker,
                                                                GroupServiceConfig config) {
  std::unique_ptr<GroupService> g(new GroupService(std::move(config)));
  SAMSA_TRY_ASSIGN(g->topic_, broker.offsets_topic());
  const std::int64_t now = now_ms();
  for (const auto& p : g->topic_->partitions) {
    auto s = std::make_unique<Shard>();
    s->handle = p.get();
    samsa::GroupCoordinatorConfig cc = g->config_.coordinator;
    cc.seed = g->config_.coordinator.seed * 1000003u + static_cast<std::uint64_t>(p->index);
    s->coordinator = std::make_unique<samsa::GroupCoordinator>(cc);
    s->driver = std::make_unique<samsa::GroupDriver>(*s->coordinator, *p->partition);
    auto loaded = s->driver->load(now);
    if (!loaded.ok()) {
      return loaded.status().with_context(
          fmt::format("loading the groups of {}-{}", kOffsetsTopic, p->index));
    }
    g->shards_.push_back(std::move(s));
  }
  g->ticker_ = std::thread([raw = g.get()] { raw->tick_loop(); });
  return g;
}

GroupService::~GroupService() {
  {
    std::lock_guard lock(tick_mu_);
    stop_ = true;
  }
  tick_cv_.notify_all();
  if (ticker_.joinable()) ticker_.join();
}

std::int64_t GroupService::now_ms() {
  // Wall-clock milliseconds, as Kafka's coordinator uses for timers and commit timestamps.
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

GroupService::Shard& GroupService::shard(const std::string& group_id) {
  return *shards_[static_cast<std::size_t>(samsa::group_partition(group_id, partitions()))];
}

void GroupService::run(Shard& s, std::int64_t now) {
  s.driver->run(now, [&s](samsa::GroupResponse r) {
    auto it = s.waiting.find(r.request_id);
    if (it == s.waiting.end()) return;  // cannot happen: every id handed out is waited for
    Done done = std::move(it->second);
    s.waiting.erase(it);
    done(std::move(r.body));
  });
}

void GroupService::submit(const std::string& group_id, const Call& call, Done done) {
  Shard& s = shard(group_id);
  std::lock_guard lock(s.mu);
  const std::int64_t now = now_ms();
  const samsa::GroupRequestId id = s.next_id++;
  s.waiting.emplace(id, std::move(done));
  call(*s.coordinator, id, now);
  run(s, now);
}

void GroupService::for_each(const std::function<void(const samsa::GroupCoordinator&)>& f) {
  for (auto& s : shards_) {
    std::lock_guard lock(s->mu);
    f(*s->coordinator);
  }
}

GroupService::Stats GroupService::stats() {
  Stats out;
  for (auto& s : shards_) {
    std::lock_guard lock(s->mu);
    const samsa::GroupCoordinatorCounters& c = s->coordinator->counters();
    out.groups_rebalanced += c.rebalances_completed;
    out.members_expired += c.members_expired;
    out.offsets_committed += c.offsets_committed;
    out.appends_failed += c.appends_failed;
  }
  return out;
}

void GroupService::tick_loop() {
  std::unique_lock lock(tick_mu_);
  while (!tick_cv_.wait_for(lock, config_.tick_interval, [this] { return stop_; })) {
    lock.unlock();
    for (auto& s : shards_) {
      std::lock_guard shard_lock(s->mu);
      const std::int64_t now = now_ms();
      s->coordinator->tick(now);
      run(*s, now);
    }
    lock.lock();
  }
}

}  // namespace samsa_server
