// The broker's state: topics, each a list of partitions, each a samsa::Partition in
// DIR/<topic>-<N> (Kafka's layout), and the producer id allocator.
//
// Thread-safety: thread-safe. Topics are never deleted while the broker is open, so a
// Topic and its PartitionHandles stay valid until close().
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "append_queue.h"
#include "samsa/env.h"
#include "samsa/partition.h"
#include "samsa/topic_config.h"
#include "work_pool.h"

namespace samsa_server {

class FetchWaiters;

// Kafka's topic name rule (Topic.validate): 1-249 characters of [a-zA-Z0-9._-], not "." or
// "..". Such a name can never reach outside the data directory.
bool valid_topic_name(std::string_view name);
constexpr std::size_t kMaxTopicNameLength = 249;

struct PartitionHandle {
  std::string topic;
  std::int32_t index = 0;
  std::unique_ptr<samsa::Partition> partition;
  std::unique_ptr<AppendQueue> appends;
  // Bumped after each append attempt: a fetch that saw no data compares it to know whether
  // an append landed meanwhile.
  std::atomic<std::uint64_t> appends_done{0};
};

struct Topic {
  std::string name;
  bool internal = false;        // __consumer_offsets: written by the group coordinator only
  samsa::TopicConfigs configs;  // the topic's own configs (CreateTopics), over the defaults
  std::vector<std::unique_ptr<PartitionHandle>> partitions;
  PartitionHandle* partition(std::int32_t index) const {
    if (index < 0 || static_cast<std::size_t>(index) >= partitions.size()) return nullptr;
    return partitions[static_cast<std::size_t>(index)].get();
  }
};

struct BrokerConfig {
  std::string data_dir;
  std::int32_t default_partitions = 1;
  bool auto_create_topics = true;
  samsa::PartitionConfig partition;
  // __consumer_offsets: its partition count at creation (offsets.topic.num.partitions) and
  // segment size (offsets.topic.segment.bytes); it is always compacted.
  std::int32_t offsets_partitions = 50;
  std::uint64_t offsets_segment_bytes = 100u << 20;
};

// The internal topic of consumer groups' offsets and metadata (Kafka's name).
constexpr std::string_view kOffsetsTopic = "__consumer_offsets";

class Broker {
 public:
  static constexpr std::string_view kProducerIdFile = "producer-id-block";
  static constexpr std::string_view kLockFile = ".lock";
  static constexpr std::int64_t kProducerIdBlock = 1000;

  // Opens every DIR/<topic>-<N> found. `append_pool` runs the append queues; `waiters` is
  // told about every append; every file operation goes through `env`. All three must
  // outlive the broker.
  static samsa::Result<std::unique_ptr<Broker>> open(BrokerConfig config, WorkPool& append_pool,
                                                     FetchWaiters& waiters,
                                                     samsa::Env& env = samsa::Env::posix());
  ~Broker();

  const BrokerConfig& config() const { return config_; }
  // nullptr when there is no such topic.
  std::shared_ptr<Topic> find(std::string_view name) const;
  // The topic, created with default_partitions when missing. invalid_argument for a name
  // valid_topic_name() refuses, and for __consumer_offsets (never auto-created).
  samsa::Result<std::shared_ptr<Topic>> get_or_create(std::string_view name);
  // __consumer_offsets, created with offsets_partitions when missing (an existing one keeps
  // its partition count).
  samsa::Result<std::shared_ptr<Topic>> offsets_topic();
  // CreateTopics: a new topic of `count` partitions with its own `configs` (Kafka's topic
  // config names), kept in DIR/<name>.config and applied again at every open. The configs
  // are checked first (invalid_argument naming the bad one); already_exists when the topic
  // does. With `validate_only`, only the checks.
  samsa::Status create(const std::string& name, std::int32_t count,
                       const samsa::TopicConfigs& configs, bool validate_only);
  static constexpr std::string_view kConfigSuffix = ".config";
  std::vector<std::shared_ptr<Topic>> topics() const;

  // A producer id never handed out before, also across restarts: ids are reserved in
  // blocks, and the end of the reserved block is written durably before any id of it is.
  samsa::Result<std::int64_t> next_producer_id();

  // Closes every partition (clean shutdown). Idempotent; returns the first error.
  samsa::Status close();

 private:
  Broker(BrokerConfig config, WorkPool& append_pool, FetchWaiters& waiters, samsa::Env& env)
      : config_(std::move(config)), env_(env), append_pool_(append_pool), waiters_(waiters) {}
  samsa::Status load_existing();
  samsa::Result<std::shared_ptr<Topic>> open_topic(const std::string& name, std::int32_t count,
                                                   const samsa::TopicConfigs& configs);
  samsa::Result<std::shared_ptr<Topic>> create_topic(const std::string& name, std::int32_t count,
                                                     const samsa::TopicConfigs& configs = {});
  samsa::Result<samsa::TopicConfigs> load_topic_configs(const std::string& name);
  samsa::Status load_producer_ids();

  BrokerConfig config_;
  samsa::Env& env_;
  std::unique_ptr<samsa::FileLock> lock_;  // DIR/.lock: one server per data directory
  WorkPool& append_pool_;
  FetchWaiters& waiters_;
  mutable std::shared_mutex topics_mu_;
  std::map<std::string, std::shared_ptr<Topic>, std::less<>> topics_;
  std::mutex create_mu_;  // one topic creation at a time (disk work outside topics_mu_)
  std::mutex pid_mu_;
  std::int64_t next_pid_ = 0;
  std::int64_t reserved_end_ = 0;  // ids below this are reserved on disk
  bool closed_ = false;
};

}  // namespace samsa_server
