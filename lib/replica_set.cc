// ReplicaSet (include/samsa/replica_set.h): roles, Ready, invariants, and the leader's
// side. The follower's side is lib/replica_set_follower.cc. Kafka's
// core/src/main/scala/kafka/cluster/Partition.scala is the authority for the leader.
#include "samsa/replica_set.h"

#include <fmt/format.h>

#include <algorithm>

#include "invariant.h"

namespace samsa {

ReplicaSet::ReplicaSet(ReplicaSetConfig config, const ReplicaLog& log)
    : config_(config), log_(&log), high_watermark_(log.high_watermark()) {
  SAMSA_ASSERT(config_.broker_epoch > 0, "broker epoch {} must be positive", config_.broker_epoch);
  next_correlation_ = config_.broker_epoch << 24;
  SAMSA_ASSERT(config_.self != BrokerId::none(), "ReplicaSet without an id");
  SAMSA_ASSERT(config_.fetch_response_bytes_max > 0 && config_.pending_produces_max > 0,
               "bounds must be positive: fetch_response_bytes_max={} pending_produces_max={}",
               config_.fetch_response_bytes_max, config_.pending_produces_max);
}

bool ReplicaSet::in(const std::vector<BrokerId>& set, BrokerId id) const {
  return std::find(set.begin(), set.end(), id) != set.end();
}

int ReplicaSet::effective_min_isr() const {
  return std::min<int>(config_.min_insync_replicas, static_cast<int>(replicas_.size()));
}

std::vector<BrokerId> ReplicaSet::maximal_isr() const {
  std::vector<BrokerId> out = isr_;
  if (pending_alter_) {
    for (BrokerId id : pending_alter_->new_isr) {
      if (!in(out, id)) out.push_back(id);  // a pending expansion counts; a shrink does not
    }
  }
  return out;
}

Offset ReplicaSet::follower_log_end(BrokerId id) const {
  auto it = followers_.find(id);
  return it == followers_.end() ? Offset::none() : it->second.log_end;
}

void ReplicaSet::send(BrokerId to, ReplicaMessage message, std::int64_t correlation_id) {
  out_.messages.push_back({config_.self, to, correlation_id, std::move(message)});
}

void ReplicaSet::assert_no_pending_log_change() const {
  SAMSA_ASSERT(!awaiting_advance_ && !out_.truncate_to && out_.append.empty(),
               "replica {}: input while a Ready with log changes was not executed (awaiting={}, "
               "truncate={}, append bytes={})",
               config_.self.value(), awaiting_advance_, out_.truncate_to.has_value(),
               out_.append.size());
}

// --- roles

void ReplicaSet::become_leader(LeaderEpoch leader_epoch, PartitionEpoch partition_epoch,
                               std::vector<BrokerId> replicas, std::vector<BrokerId> isr,
                               std::vector<BrokerId> elr, std::int64_t now_ms) {
  assert_no_pending_log_change();
  SAMSA_ASSERT(std::find(replicas.begin(), replicas.end(), config_.self) != replicas.end(),
               "replica {} made leader of a partition it is not a replica of",
               config_.self.value());
  if (leader_epoch < leader_epoch_) return;  // stale: the controller has moved on
  const bool new_epoch = role_ != ReplicaRole::leader || leader_epoch != leader_epoch_;
  if (role_ == ReplicaRole::follower) in_flight_correlation_ = 0;
  role_ = ReplicaRole::leader;
  leader_ = config_.self;
  leader_epoch_ = leader_epoch;
  partition_epoch_ = partition_epoch;
  replicas_ = std::move(replicas);
  isr_ = std::move(isr);
  elr_ = std::move(elr);
  pending_alter_.reset();
  phase_ = FollowerPhase::idle;
  if (new_epoch) {
    // Kafka's makeLeader: remote replicas' state resets; ISR members count as caught up now.
    followers_.clear();
    for (BrokerId id : replicas_) {
      if (id == config_.self) continue;
      FollowerState f;
      f.last_caught_up_ms = in(isr_, id) ? now_ms : 0;
      followers_[id] = f;
    }
    leader_epoch_start_offset_ = log_->log_end_offset();
    high_watermark_ = std::max(high_watermark_, log_->high_watermark());
  }
  maybe_increment_hw(now_ms);
  complete_produces(now_ms);
  check_invariants();
}

void ReplicaSet::update_partition(PartitionEpoch partition_epoch, std::vector<BrokerId> isr,
                                  std::int64_t now_ms) {
  if (role_ != ReplicaRole::leader || partition_epoch <= partition_epoch_) return;
  partition_epoch_ = partition_epoch;
  isr_ = std::move(isr);
  pending_alter_.reset();
  maybe_increment_hw(now_ms);
  complete_produces(now_ms);
  answer_parked(now_ms, false);
  check_invariants();
}

void ReplicaSet::become_follower(BrokerId leader, LeaderEpoch leader_epoch, std::int64_t now_ms) {
  assert_no_pending_log_change();
  SAMSA_ASSERT(leader != config_.self, "replica {} told to follow itself", leader.value());
  if (leader_epoch < leader_epoch_) return;
  if (role_ == ReplicaRole::follower && leader == leader_ && leader_epoch == leader_epoch_) return;
  if (role_ == ReplicaRole::leader) fail_produces(KafkaError::not_leader_or_follower);
  role_ = ReplicaRole::follower;
  leader_ = leader;
  leader_epoch_ = leader_epoch;
  followers_.clear();
  pending_alter_.reset();
  isr_.clear();
  high_watermark_ = std::max(high_watermark_, log_->high_watermark());
  // Kafka's ReplicaManager.initialFetchOffset: with truncation on fetch and a known epoch
  // the follower fetches from its log end and the leader finds any divergence; otherwise
  // it reconciles through OffsetForLeaderEpoch first (or, without epochs, its HW).
  need_epoch_truncation_ = !config_.truncate_on_fetch || !log_->latest_epoch().has_value();
  in_flight_correlation_ = 0;
  backoff_until_ms_ = 0;
  phase_ = FollowerPhase::idle;
  follower_send(now_ms);
  check_invariants();
}

void ReplicaSet::stop() {
  SAMSA_ASSERT(!awaiting_advance_, "stop between ready() and advance()");
  if (role_ == ReplicaRole::leader) fail_produces(KafkaError::not_leader_or_follower);
  role_ = ReplicaRole::none;
  followers_.clear();
  pending_alter_.reset();
  phase_ = FollowerPhase::idle;
  in_flight_correlation_ = 0;
  out_.messages.clear();
  out_.alter_partition.reset();
  check_invariants();
}

// --- messages in

void ReplicaSet::step(const Envelope& envelope, std::int64_t now_ms) {
  assert_no_pending_log_change();
  SAMSA_ASSERT(envelope.to == config_.self, "message for {} stepped into {}", envelope.to.value(),
               config_.self.value());
  std::visit(
      [&](const auto& m) {
        using M = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<M, FetchRequest>) {
          leader_on_fetch(envelope, now_ms);
        } else if constexpr (std::is_same_v<M, OffsetForLeaderEpochRequest>) {
          leader_on_epoch_request(envelope);
        } else if constexpr (std::is_same_v<M, FetchResponse>) {
          follower_on_fetch_response(envelope, now_ms);
        } else {
          follower_on_epoch_response(envelope, now_ms);
        }
      },
      envelope.message);
  check_invariants();
}

void ReplicaSet::step_alter_partition(const AlterPartitionResponse& response, std::int64_t now_ms) {
  SAMSA_ASSERT(!awaiting_advance_, "step_alter_partition between ready() and advance()");
  if (role_ != ReplicaRole::leader || !pending_alter_) return;
  if (response.error_code != KafkaError::none) {
    // INVALID_UPDATE_VERSION, FENCED_LEADER_EPOCH, ...: a newer state is on its way.
    pending_alter_.reset();
  } else if (response.leader_epoch == leader_epoch_ &&
             response.partition_epoch > partition_epoch_) {
    if (response.isr.size() < isr_.size()) ++stats_.isr_shrinks;
    if (response.isr.size() > isr_.size()) ++stats_.isr_expansions;
    isr_ = response.isr;
    partition_epoch_ = response.partition_epoch;
    pending_alter_.reset();
  } else {
    return;  // a stale answer
  }
  maybe_increment_hw(now_ms);
  complete_produces(now_ms);
  answer_parked(now_ms, false);
  check_invariants();
}

void ReplicaSet::tick(std::int64_t now_ms) {
  assert_no_pending_log_change();
  if (role_ == ReplicaRole::leader) {
    maybe_shrink_isr(now_ms);
    // An AlterPartition that got no answer is sent again (AlterPartitionManager retries).
    if (pending_alter_ && !out_.alter_partition) out_.alter_partition = pending_alter_;
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (it->deadline_ms > now_ms) {
        ++it;
        continue;
      }
      out_.completions.push_back({it->id, KafkaError::request_timed_out, it->base, it->last});
      it = pending_.erase(it);
    }
    answer_parked(now_ms, true);
  } else if (role_ == ReplicaRole::follower) {
    if (in_flight_correlation_ != 0 && now_ms >= in_flight_deadline_ms_) {
      in_flight_correlation_ = 0;  // lost: ask again
      if (phase_ != FollowerPhase::waiting_apply) phase_ = FollowerPhase::idle;
    }
    follower_send(now_ms);
  }
  check_invariants();
}

// --- the leader's appends

KafkaError ReplicaSet::check_append(Acks acks) const {
  if (role_ != ReplicaRole::leader) return KafkaError::not_leader_or_follower;
  if (acks != Acks::all) return KafkaError::none;
  if (static_cast<int>(isr_.size()) < effective_min_isr()) return KafkaError::not_enough_replicas;
  if (pending_.size() >= config_.pending_produces_max) return KafkaError::request_timed_out;
  return KafkaError::none;
}

std::optional<ProduceCompletion> ReplicaSet::appended(Offset base_offset, Offset last_offset,
                                                      Acks acks, std::int64_t now_ms,
                                                      std::uint64_t* produce_id) {
  SAMSA_ASSERT(role_ == ReplicaRole::leader, "appended() on replica {} which is not leader",
               config_.self.value());
  SAMSA_ASSERT(base_offset <= last_offset && last_offset < log_->log_end_offset(),
               "appended [{}, {}] outside the log end {}", base_offset.value(), last_offset.value(),
               log_->log_end_offset().value());
  const std::uint64_t id = next_produce_id_++;
  if (produce_id) *produce_id = id;
  std::optional<ProduceCompletion> now;
  if (acks == Acks::all) {
    pending_.push_back(
        {id, last_offset + 1, base_offset, last_offset, now_ms + config_.request_timeout_ms});
  } else {
    now = ProduceCompletion{id, KafkaError::none, base_offset, last_offset};
  }
  maybe_increment_hw(now_ms);
  complete_produces(now_ms);
  answer_parked(now_ms, false);
  check_invariants();
  return now;
}

void ReplicaSet::complete_produces(std::int64_t now_ms) {
  (void)now_ms;
  // Kafka's checkEnoughReplicasReachOffset: done once the HW passes it; if the ISR shrank
  // below min ISR since, NOT_ENOUGH_REPLICAS_AFTER_APPEND.
  const bool enough = static_cast<int>(maximal_isr().size()) >= effective_min_isr();
  while (!pending_.empty() && high_watermark_ >= pending_.front().required) {
    const PendingProduce& p = pending_.front();
    out_.completions.push_back(
        {p.id, enough ? KafkaError::none : KafkaError::not_enough_replicas_after_append, p.base,
         p.last});
    pending_.pop_front();
  }
}

void ReplicaSet::fail_produces(KafkaError error) {
  for (const PendingProduce& p : pending_)
    out_.completions.push_back({p.id, error, p.base, p.last});
  pending_.clear();
}

// --- Ready

bool ReplicaSet::has_ready() const {
  return !out_.empty();
}

Ready ReplicaSet::ready() {
  SAMSA_ASSERT(!awaiting_advance_, "ready() twice without advance()");
  awaiting_advance_ = true;
  Ready r = std::move(out_);
  out_ = Ready{};
  if (r.alter_partition) pending_alter_sent_ = true;
  return r;
}

void ReplicaSet::advance(std::int64_t now_ms) {
  SAMSA_ASSERT(awaiting_advance_, "advance() without ready()");
  awaiting_advance_ = false;
  if (role_ == ReplicaRole::follower && phase_ == FollowerPhase::waiting_apply) {
    phase_ = FollowerPhase::idle;
    high_watermark_ =
        std::max(std::min(high_watermark_, log_->log_end_offset()), log_->high_watermark());
    follower_send(now_ms);
  }
  check_invariants();
}

std::string ReplicaSet::debug_state() const {
  return fmt::format(
      "phase={} in_flight={} deadline={} backoff_until={} need_epoch_truncation={} "
      "pending_alter={} pending_produces={}",
      static_cast<int>(phase_), in_flight_correlation_, in_flight_deadline_ms_, backoff_until_ms_,
      need_epoch_truncation_, pending_alter_.has_value(), pending_.size());
}

void ReplicaSet::check_invariants() const {
  if (awaiting_advance_) return;  // the log is being changed under the Ready
  const Offset start = log_->log_start_offset();
  const Offset end = log_->log_end_offset();
  SAMSA_ASSERT(start <= end, "replica {}: log start {} > log end {}", config_.self.value(),
               start.value(), end.value());
  if (role_ == ReplicaRole::leader) {
    SAMSA_ASSERT(high_watermark_ <= end, "leader {}: high watermark {} above log end {}",
                 config_.self.value(), high_watermark_.value(), end.value());
    SAMSA_ASSERT(in(replicas_, config_.self), "leader {} not among its replicas",
                 config_.self.value());
    for (BrokerId id : isr_) {
      SAMSA_ASSERT(in(replicas_, id), "ISR member {} is not a replica", id.value());
    }
    SAMSA_ASSERT(pending_.size() <= config_.pending_produces_max, "{} pending appends > max {}",
                 pending_.size(), config_.pending_produces_max);
    for (std::size_t i = 1; i < pending_.size(); ++i) {
      SAMSA_ASSERT(pending_[i - 1].required <= pending_[i].required,
                   "pending appends out of order at {}", i);
    }
  } else {
    SAMSA_ASSERT(pending_.empty(), "replica {} is not leader but has {} pending appends",
                 config_.self.value(), pending_.size());
  }
}

}  // namespace samsa
