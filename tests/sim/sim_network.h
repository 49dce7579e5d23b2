// The simulator's network: a queue of messages ordered by delivery time, with seeded drops,
// delays (hence reordering), duplication and partitions, including one-way ones. Generic
// over the payload, so the replication and Raft simulations share it.
//
// Everything random comes from the seed given to the constructor; nothing reads a clock:
// time is the caller's (milliseconds).
//
// Thread-safety: none; one simulation thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <utility>

namespace samsa::sim {

struct NetworkConfig {
  double drop_probability = 0.02;
  double duplicate_probability = 0.01;
  std::int64_t delay_min_ms = 1;
  std::int64_t delay_max_ms = 10;
  // Bound: a message sent while this many are queued is dropped (and counted).
  std::size_t queue_max = 10'000;
};

// "drop=0.02 dup=0.01 delay=[1,10]ms" for traces.
std::string describe(const NetworkConfig& config);

struct NetworkStats {
  std::uint64_t sent = 0;
  std::uint64_t delivered = 0;
  std::uint64_t dropped = 0;  // by chance
  std::uint64_t blocked = 0;  // by a partition
  std::uint64_t duplicated = 0;
  std::uint64_t overflowed = 0;  // queue_max reached
};

template <typename Payload>
class SimNetwork {
 public:
  using NodeId = std::int32_t;
  struct Delivery {
    std::int64_t at_ms;
    NodeId from;
    NodeId to;
    Payload payload;
  };

  SimNetwork(NetworkConfig config, std::uint64_t seed) : config_(config), rng_(seed) {}

  // Queues `payload` from `from` to `to`, sent at `now_ms`: dropped, duplicated and delayed
  // as configured. A link blocked now drops it (a partition loses what crosses it).
  void send(NodeId from, NodeId to, Payload payload, std::int64_t now_ms) {
    ++stats_.sent;
    if (blocked_.count({from, to})) {
      ++stats_.blocked;
      return;
    }
    if (chance(config_.drop_probability)) {
      ++stats_.dropped;
      return;
    }
    if (chance(config_.duplicate_probability)) {
      ++stats_.duplicated;
      enqueue(from, to, payload, now_ms);
    }
    enqueue(from, to, std::move(payload), now_ms);
  }

  // The earliest message due at or before `until_ms` (ties in send order), removed from the
  // queue. A message whose link was blocked after it was sent is dropped on the way.
  std::optional<Delivery> next(std::int64_t until_ms) {
    constexpr int kSkipsMax = 1'000'000;
    for (int skips = 0; skips < kSkipsMax && !queue_.empty(); ++skips) {
      auto it = queue_.begin();
      if (it->first.first > until_ms) return std::nullopt;
      Delivery d = std::move(it->second);
      queue_.erase(it);
      if (blocked_.count({d.from, d.to})) {
        ++stats_.blocked;
        continue;
      }
      ++stats_.delivered;
      return d;
    }
    return std::nullopt;
  }

  // One-way block: nothing from `from` reaches `to` until unblocked.
  void block(NodeId from, NodeId to) { blocked_.insert({from, to}); }
  void unblock(NodeId from, NodeId to) { blocked_.erase({from, to}); }
  // Cuts `node` off from every node in `others`, both ways.
  template <typename Range>
  void isolate(NodeId node, const Range& others) {
    for (NodeId o : others) {
      if (o == node) continue;
      block(node, o);
      block(o, node);
    }
  }
  void heal() { blocked_.clear(); }
  bool any_blocked() const { return !blocked_.empty(); }
  // Drops every queued message to or from `node` (its process died: connections close).
  void drop_node(NodeId node) {
    for (auto it = queue_.begin(); it != queue_.end();) {
      if (it->second.from == node || it->second.to == node) {
        it = queue_.erase(it);
        ++stats_.dropped;
      } else {
        ++it;
      }
    }
  }

  std::size_t queued() const { return queue_.size(); }
  const NetworkStats& stats() const { return stats_; }
  const NetworkConfig& config() const { return config_; }

 private:
  bool chance(double p) { return p > 0 && std::uniform_real_distribution<double>(0, 1)(rng_) < p; }

  void enqueue(NodeId from, NodeId to, Payload payload, std::int64_t now_ms) {
    if (queue_.size() >= config_.queue_max) {
      ++stats_.overflowed;
      return;
    }
    const std::int64_t delay = std::uniform_int_distribution<std::int64_t>(
        config_.delay_min_ms, config_.delay_max_ms)(rng_);
    queue_.emplace(std::make_pair(now_ms + delay, next_seq_++),
                   Delivery{now_ms + delay, from, to, std::move(payload)});
  }

  NetworkConfig config_;
  std::mt19937_64 rng_;
  // Keyed by (delivery time, send sequence): time order, ties in send order.
  std::map<std::pair<std::int64_t, std::uint64_t>, Delivery> queue_;
  std::set<std::pair<NodeId, NodeId>> blocked_;
  std::uint64_t next_seq_ = 0;
  NetworkStats stats_;
};

}  // namespace samsa::sim
