// Floor 7: ReplicaSet, one replica of one partition under Kafka's ISR replication, as a
// pure state machine (house rule 2). It never does I/O: it reads its log through a
// ReplicaLog view and says what must change in a Ready, which ReplicaDriver
// (samsa/replica_driver.h) executes against a Partition.
//
//   In:  become_leader / become_follower (decided outside: a controller, a test, a host);
//        step(message, now) for Fetch, OffsetForLeaderEpoch and AlterPartition traffic;
//        tick(now); the leader's own appends (check_append, then appended).
//   Out: ready(): truncation, batches to append as follower, log start, high watermark,
//        messages to send, an ISR change to propose, finished produce requests;
//        advance() acknowledges the Ready once it was executed.
//
// Leader (Kafka's Partition.scala): tracks each follower's log end and last caught-up
// time; high watermark = min log end over the maximal ISR (the committed ISR plus a
// pending expansion; KIP-497) and the caught-up replicas about to join, monotonic, and
// frozen while the ISR is below min.insync.replicas (KIP-966); shrinks the ISR after
// replica.lag.time.max.ms and expands it when a follower reaches the high watermark and
// the start of the leader's epoch, as AlterPartition proposals in force once confirmed.
// Follower (AbstractFetcherThread): fetches with FetchOffset, LastFetchedEpoch and
// CurrentLeaderEpoch; truncates on DivergingEpoch (KIP-320) or, with
// truncate_on_fetch = false, through OffsetForLeaderEpoch first (KIP-101/279).
//
// Time is an argument (milliseconds); there is no randomness.
// Thread-safety: not thread-safe; one owner drives it.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "samsa/kafka_error.h"
#include "samsa/leader_epoch_cache.h"
#include "samsa/partition_election.h"
#include "samsa/record_batch.h"
#include "samsa/status.h"
#include "samsa/types.h"

namespace samsa {

// --- messages: Kafka's RPC fields, named as in clients/.../common/message/*.json

struct FetchRequest {                // Fetch v15+, one partition, sent by a follower
  BrokerId replica_id;               // ReplicaState.ReplicaId
  std::int64_t replica_epoch = -1;   // ReplicaState.ReplicaEpoch (broker epoch)
  std::int32_t max_wait_ms = 0;      // MaxWaitMs
  LeaderEpoch current_leader_epoch;  // CurrentLeaderEpoch
  Offset fetch_offset;               // FetchOffset
  LeaderEpoch last_fetched_epoch = LeaderEpoch::none();  // LastFetchedEpoch
  Offset log_start_offset;                               // LogStartOffset (the follower's)
  std::int32_t partition_max_bytes = 0;                  // PartitionMaxBytes
};

struct FetchResponse {
  KafkaError error_code = KafkaError::none;  // ErrorCode
  Offset high_watermark = Offset::none();    // HighWatermark
  Offset last_stable_offset = Offset::none();
  Offset log_start_offset = Offset::none();  // LogStartOffset
  // DivergingEpoch{Epoch, EndOffset}: set when the follower's log diverged (KIP-320).
  std::optional<EpochEndOffset> diverging_epoch;
  BrokerId current_leader_id = BrokerId::none();           // CurrentLeader.LeaderId
  LeaderEpoch current_leader_epoch = LeaderEpoch::none();  // CurrentLeader.LeaderEpoch
  std::vector<std::byte> records;                          // Records: whole batches
  // Not on the wire: the request's FetchOffset, so a stale response is recognized.
  Offset fetch_offset = Offset::none();
  // Not on the wire: with OFFSET_OUT_OF_RANGE, the leader's log end (what Kafka's follower
  // asks with ListOffsets(latest) before it truncates to it).
  Offset leader_log_end_offset = Offset::none();
};

struct OffsetForLeaderEpochRequest {
  BrokerId replica_id;               // ReplicaId
  LeaderEpoch current_leader_epoch;  // CurrentLeaderEpoch
  LeaderEpoch leader_epoch;          // LeaderEpoch: the epoch asked about
};

struct OffsetForLeaderEpochResponse {
  KafkaError error_code = KafkaError::none;  // ErrorCode
  LeaderEpoch leader_epoch = LeaderEpoch::none();
  Offset end_offset = Offset::none();
};

struct AlterPartitionRequest {     // the leader to the controller (KIP-497)
  BrokerId broker_id;              // BrokerId: the leader
  LeaderEpoch leader_epoch;        // LeaderEpoch
  std::vector<BrokerId> new_isr;   // NewIsrWithEpochs[].BrokerId
  PartitionEpoch partition_epoch;  // PartitionEpoch the change is based on
};

struct AlterPartitionResponse {
  KafkaError error_code = KafkaError::none;
  BrokerId leader_id = BrokerId::none();
  LeaderEpoch leader_epoch = LeaderEpoch::none();
  std::vector<BrokerId> isr;
  PartitionEpoch partition_epoch;
};

using ReplicaMessage = std::variant<FetchRequest, FetchResponse, OffsetForLeaderEpochRequest,
                                    OffsetForLeaderEpochResponse>;

struct Envelope {
  BrokerId from;
  BrokerId to;
  std::int64_t correlation_id = 0;  // a response carries its request's
  ReplicaMessage message;
};

// --- the leader's appends

enum class Acks : std::int8_t { none = 0, leader = 1, all = -1 };

// What a produce request's partition response says (ProduceResponse.PartitionResponse).
struct ProduceCompletion {
  std::uint64_t produce_id = 0;  // from appended()
  KafkaError error_code = KafkaError::none;
  Offset base_offset = Offset::none();
  Offset last_offset = Offset::none();
};

// --- the read-only view of the local log the state machine reads (the driver implements
// it over a Partition; tests may fake it). Valid while the ReplicaSet uses it.
class ReplicaLog {
 public:
  virtual ~ReplicaLog() = default;
  virtual Offset log_start_offset() const = 0;
  virtual Offset log_end_offset() const = 0;
  virtual Offset high_watermark() const = 0;
  virtual std::optional<LeaderEpoch> latest_epoch() const = 0;
  virtual EpochEndOffset end_offset_for_epoch(LeaderEpoch epoch) const = 0;
  // Whole batches from the one holding `offset`, at most `max_bytes` but at least one batch
  // when one exists (KIP-74), ignoring the high watermark.
  virtual Result<std::vector<std::byte>> read(Offset offset, std::uint64_t max_bytes) const = 0;
};

struct ReplicaSetConfig {
  BrokerId self;
  // This incarnation's broker epoch (ReplicaState.ReplicaEpoch), > 0 and growing with each
  // restart; it also makes correlation ids unique across restarts, so an answer to a request
  // sent before a restart is never taken for one sent after.
  std::int64_t broker_epoch = 1;
  std::int64_t replica_lag_time_max_ms = 30'000;  // replica.lag.time.max.ms
  int min_insync_replicas = 1;                    // min.insync.replicas
  std::int64_t request_timeout_ms = 30'000;       // acks=all appends fail after this
  std::int64_t fetch_timeout_ms = 1'000;          // a follower re-sends an unanswered fetch
  std::int64_t fetch_backoff_ms = 100;            // replica.fetch.backoff.ms after an error
  std::int32_t fetch_max_wait_ms = 500;           // replica.fetch.wait.max.ms (long poll)
  std::int32_t fetch_max_bytes = 1 << 20;         // replica.fetch.max.bytes, asked for
  // Bounds: a fetch response never carries more (in-flight bytes per follower: one fetch
  // is in flight per follower); pending acks=all appends beyond this are refused.
  std::int32_t fetch_response_bytes_max = 8 << 20;
  std::size_t pending_produces_max = 4096;
  // A follower validates each fetched compressed batch within this many decompressed bytes
  // (ValidateOptions::max_decompressed_bytes); a batch past it is rejected like a corrupt
  // one. ReplicaDriver sets it to its partition's LogConfig::max_decompressed_bytes(), the
  // bound its append then applies.
  std::size_t max_decompressed_bytes = kDefaultMaxDecompressedBytes;
  // KIP-320: divergence found through Fetch's LastFetchedEpoch. false: the follower asks
  // OffsetForLeaderEpoch before fetching (KIP-101/279, Kafka before IBP 2.7).
  bool truncate_on_fetch = true;
  // KIP-966: the high watermark does not advance while the ISR is below min ISR (makes
  // the ELR safe). false: Kafka before 3.7/4.0.
  bool hw_requires_min_isr = true;
};

// What the ReplicaSet asks of its driver. Ordering rule, enforced by ReplicaDriver:
//   1. truncate the log to `truncate_to`;
//   2. append `append` as follower;
//   3. make both durable (fdatasync) — under samsa's durable flush policy, 1 and 2 are;
//   4. advance the log start to `log_start_offset`, then set `high_watermark`;
//   5. only then send `messages`, propose `alter_partition` and answer `completions`
//      (a follower's next fetch tells the leader what it holds: it must be on disk).
// Then advance(). Nothing in a Ready refers to the ReplicaSet's memory.
struct Ready {
  std::optional<Offset> truncate_to;
  std::vector<std::byte> append;  // whole, validated batches starting at the log end
  std::optional<Offset> log_start_offset;
  std::optional<Offset> high_watermark;
  std::vector<Envelope> messages;
  std::optional<AlterPartitionRequest> alter_partition;
  std::vector<ProduceCompletion> completions;
  bool empty() const {
    return !truncate_to && append.empty() && !log_start_offset && !high_watermark &&
           messages.empty() && !alter_partition && completions.empty();
  }
};

// Kafka's follower truncation (AbstractFetcherThread.getOffsetTruncationState), pure: given
// where the leader says an epoch ended (a DivergingEpoch or an OffsetForLeaderEpoch answer)
// and where that epoch ends in the follower's own log (`mine`: its end_offset_for_epoch of
// the leader's answer's epoch), the offset to cut the follower's log at, and whether the
// logs then agree (false: the follower knew an older epoch only; cut, then ask again with
// its new latest epoch, KIP-279). An answer without an offset cuts at the high watermark.
struct TruncationDecision {
  Offset offset;
  bool complete = true;
};
TruncationDecision follower_truncation(const EpochEndOffset& leader_answer,
                                       const EpochEndOffset& mine, Offset log_end_offset,
                                       Offset high_watermark);

enum class ReplicaRole : std::uint8_t { none, leader, follower };

// Counters a host reports (and the simulator checks).
struct ReplicaSetStats {
  std::int64_t truncations = 0;
  // Records cut below this replica's high watermark (only an unclean election does that).
  std::int64_t records_truncated_below_hw = 0;
  std::int64_t batches_rejected = 0;  // fetched batches that failed validation
  std::int64_t fetch_errors = 0;
  std::int64_t isr_shrinks = 0;
  std::int64_t isr_expansions = 0;
};

class ReplicaSet {
 public:
  // `log` must outlive the ReplicaSet. It starts with no role.
  ReplicaSet(ReplicaSetConfig config, const ReplicaLog& log);

  // --- decided outside
  // Leadership from the controller (Kafka's makeLeader): every follower's state is reset
  // to unknown, its caught-up time to `now` for the ISR members.
  void become_leader(LeaderEpoch leader_epoch, PartitionEpoch partition_epoch,
                     std::vector<BrokerId> replicas, std::vector<BrokerId> isr,
                     std::vector<BrokerId> elr, std::int64_t now_ms);
  // The partition's ISR changed without a leader change (the controller's own change, or
  // a newer state): taken when partition_epoch is newer.
  void update_partition(PartitionEpoch partition_epoch, std::vector<BrokerId> isr,
                        std::int64_t now_ms);
  // Kafka's makeFollower: a stale leader epoch is ignored. Pending appends fail with
  // NOT_LEADER_OR_FOLLOWER.
  void become_follower(BrokerId leader, LeaderEpoch leader_epoch, std::int64_t now_ms);
  // The replica stops (offline / deleted): pending appends fail, nothing is sent.
  void stop();

  // --- messages
  void step(const Envelope& envelope, std::int64_t now_ms);
  void step_alter_partition(const AlterPartitionResponse& response, std::int64_t now_ms);
  void tick(std::int64_t now_ms);

  // --- the leader's own appends (Partition.appendRecordsToLeader): check_append, then the
  // host appends with leader_epoch() as the batch epoch, then appended().
  // NOT_LEADER_OR_FOLLOWER, INVALID_REQUIRED_ACKS (never: Acks is typed), NOT_ENOUGH_REPLICAS
  // (acks=all and ISR < min ISR) or REQUEST_TIMED_OUT when pending_produces_max are waiting.
  KafkaError check_append(Acks acks) const;
  // The batch [base, last] is in the leader's log. Returns the completion now for acks 0/1;
  // for acks=all, nullopt: a ProduceCompletion with the returned id comes in a Ready.
  std::optional<ProduceCompletion> appended(Offset base_offset, Offset last_offset, Acks acks,
                                            std::int64_t now_ms, std::uint64_t* produce_id);

  // --- out
  bool has_ready() const;
  Ready ready();  // takes what is pending
  void advance(std::int64_t now_ms);

  // --- observers
  ReplicaRole role() const { return role_; }
  BrokerId leader() const { return leader_; }
  LeaderEpoch leader_epoch() const { return leader_epoch_; }
  PartitionEpoch partition_epoch() const { return partition_epoch_; }
  Offset high_watermark() const { return high_watermark_; }
  const std::vector<BrokerId>& isr() const { return isr_; }
  // The ISR the high watermark is computed over (committed ISR plus a pending expansion).
  std::vector<BrokerId> maximal_isr() const;
  bool alter_in_flight() const { return pending_alter_.has_value(); }
  const ReplicaSetStats& stats() const { return stats_; }
  std::size_t pending_produces() const { return pending_.size(); }
  // The leader's view of a follower's log end (none when unknown).
  Offset follower_log_end(BrokerId id) const;
  const ReplicaSetConfig& config() const { return config_; }

  // "phase=fetching in_flight=... backoff_until=..." for traces.
  std::string debug_state() const;

  // Asserts every invariant (called at the end of each public entry point).
  void check_invariants() const;

 private:
  struct FollowerState {
    Offset log_end = Offset::none();
    Offset log_start = Offset::none();
    std::int64_t last_caught_up_ms = 0;
    std::int64_t last_fetch_ms = 0;
    Offset last_fetch_leader_log_end = Offset::none();
    Offset last_sent_hw = Offset::none();
    // A parked (long-poll) fetch, answered when data or the HW moves, or at its deadline.
    std::optional<Envelope> parked;
    std::int64_t parked_deadline_ms = 0;
  };
  struct PendingProduce {
    std::uint64_t id;
    Offset required;  // the HW that completes it: last offset + 1
    Offset base;
    Offset last;
    std::int64_t deadline_ms;
  };
  enum class FollowerPhase : std::uint8_t { idle, fetching, truncating, waiting_apply };

  // leader (lib/replica_set_leader.cc)
  void leader_on_fetch(const Envelope& env, std::int64_t now_ms);
  void leader_on_epoch_request(const Envelope& env);
  FetchResponse leader_fetch_response(const FetchRequest& req, FollowerState* follower);
  void answer_fetch(const Envelope& request, FetchResponse response);
  void answer_parked(std::int64_t now_ms, bool deadline_only);
  void update_follower(BrokerId id, FollowerState& f, const FetchRequest& req, std::int64_t now_ms);
  bool maybe_increment_hw(std::int64_t now_ms);
  void maybe_expand_isr(BrokerId id, std::int64_t now_ms);
  void maybe_shrink_isr(std::int64_t now_ms);
  void propose_isr(std::vector<BrokerId> new_isr);
  void complete_produces(std::int64_t now_ms);
  void fail_produces(KafkaError error);
  bool is_caught_up(const FollowerState& f, std::int64_t now_ms) const;
  bool in(const std::vector<BrokerId>& set, BrokerId id) const;
  int effective_min_isr() const;

  // follower (lib/replica_set_follower.cc)
  void follower_on_fetch_response(const Envelope& env, std::int64_t now_ms);
  void follower_on_epoch_response(const Envelope& env, std::int64_t now_ms);
  void follower_send(std::int64_t now_ms);
  void follower_truncate(const EpochEndOffset& leader_answer);
  bool follower_accept_records(const FetchResponse& resp);
  void follower_error(KafkaError error, std::int64_t now_ms);
  void follower_after_response(std::int64_t now_ms);
  // A host drains the Ready after every input: no log change may wait in out_ then.
  void assert_no_pending_log_change() const;

  void send(BrokerId to, ReplicaMessage message, std::int64_t correlation_id);

  ReplicaSetConfig config_;
  const ReplicaLog* log_;
  ReplicaRole role_ = ReplicaRole::none;
  BrokerId leader_ = BrokerId::none();
  LeaderEpoch leader_epoch_ = LeaderEpoch::none();
  PartitionEpoch partition_epoch_ = PartitionEpoch(-1);
  std::vector<BrokerId> replicas_;
  std::vector<BrokerId> isr_;  // committed (confirmed by the controller)
  std::vector<BrokerId> elr_;
  // Invariant (leader): log start <= high_watermark_ <= log end; monotonic within an epoch.
  Offset high_watermark_ = Offset(0);
  Offset leader_epoch_start_offset_ = Offset::none();
  std::map<BrokerId, FollowerState> followers_;
  std::optional<AlterPartitionRequest> pending_alter_;
  bool pending_alter_sent_ = false;
  std::deque<PendingProduce> pending_;
  std::uint64_t next_produce_id_ = 1;

  // follower
  FollowerPhase phase_ = FollowerPhase::idle;
  std::int64_t next_correlation_ = 1;
  std::int64_t in_flight_correlation_ = 0;
  std::int64_t in_flight_deadline_ms_ = 0;
  std::int64_t backoff_until_ms_ = 0;
  Offset fetch_offset_ = Offset::none();  // the in-flight fetch's FetchOffset
  bool need_epoch_truncation_ = false;    // truncate_on_fetch = false: ask first

  Ready out_;
  bool awaiting_advance_ = false;
  ReplicaSetStats stats_;
};

}  // namespace samsa
