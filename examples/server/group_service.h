// The server's consumer groups: one samsa::GroupCoordinator per partition of
// __consumer_offsets (Kafka's coordinator shards), each with its GroupDriver and a lock; a
// group lives in partition group_partition(id, count), as in Kafka. Every decision is the
// library's; this holds the locks, the clock, the ticking thread, and the requests waiting
// for their answers.
//
// Thread-safety: thread-safe. Callbacks run on the thread that completed the request
// (a request thread or the ticker), under the shard's lock: they must not call back in.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "broker.h"
#include "samsa/group_coordinator.h"
#include "samsa/group_driver.h"

namespace samsa_server {

struct GroupServiceConfig {
  samsa::GroupCoordinatorConfig coordinator;
  std::chrono::milliseconds tick_interval{100};
};

class GroupService {
 public:
  using Done = std::function<void(samsa::GroupResponseBody)>;
  using Call =
      std::function<void(samsa::GroupCoordinator&, samsa::GroupRequestId, std::int64_t now)>;

  // Opens (creating when missing) __consumer_offsets and loads every partition's groups.
  static samsa::Result<std::unique_ptr<GroupService>> open(Broker& broker,
                                                           GroupServiceConfig config);
  ~GroupService();  // stops the ticker

  std::int32_t partitions() const { return static_cast<std::int32_t>(shards_.size()); }

  // An asynchronous request for `group_id`'s coordinator: `call` gets a request id to pass
  // on; `done` gets the answer, now or later.
  void submit(const std::string& group_id, const Call& call, Done done);
  // A request answered at once: f(coordinator, now) under the shard's lock.
  template <typename F>
  auto with_group(const std::string& group_id, F&& f) {
    Shard& s = shard(group_id);
    std::lock_guard lock(s.mu);
    const std::int64_t now = now_ms();
    auto result = f(*s.coordinator, now);
    run(s, now);
    return result;
  }
  // f(coordinator) for every shard in turn (ListGroups).
  void for_each(const std::function<void(const samsa::GroupCoordinator&)>& f);

  // Figures for the metrics endpoint.
  struct Stats {
    std::uint64_t groups_rebalanced = 0;
    std::uint64_t members_expired = 0;
    std::uint64_t offsets_committed = 0;
    std::uint64_t appends_failed = 0;
  };
  Stats stats();

 private:
  struct Shard {
    std::mutex mu;
    PartitionHandle* handle = nullptr;
    std::unique_ptr<samsa::GroupCoordinator> coordinator;
    std::unique_ptr<samsa::GroupDriver> driver;
    std::unordered_map<samsa::GroupRequestId, Done> waiting;
    samsa::GroupRequestId next_id = 1;
  };

  explicit GroupService(GroupServiceConfig config) : config_(std::move(config)) {}
  Shard& shard(const std::string& group_id);
  void run(Shard& s, std::int64_t now);  // under s.mu
  void tick_loop();
  static std::int64_t now_ms();

  GroupServiceConfig config_;
  std::shared_ptr<Topic> topic_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::mutex tick_mu_;
  std::condition_variable tick_cv_;
  bool stop_ = false;
  std::thread ticker_;
};

}  // namespace samsa_server
