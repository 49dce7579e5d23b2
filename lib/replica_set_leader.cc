// ReplicaSet, the leader's side: serving follower fetches and OffsetForLeaderEpoch,
// follower state, the high watermark and ISR changes (Kafka's Partition.scala:
// fetchRecords, updateFollowerFetchState, maybeIncrementLeaderHW, maybeExpandIsr,
// maybeShrinkIsr; Replica.scala for the caught-up time).
#include <algorithm>

#include "invariant.h"
#include "samsa/replica_set.h"

namespace samsa {

bool ReplicaSet::is_caught_up(const FollowerState& f, std::int64_t now_ms) const {
  return f.log_end == log_->log_end_offset() ||
         now_ms - f.last_caught_up_ms <= config_.replica_lag_time_max_ms;
}

// Where `epoch` ended in the leader's log. The leader's own epoch is treated as assigned at
// leader_epoch_start_offset_, as Kafka's makeLeader does in the epoch cache.
static EpochEndOffset leader_end_offset_for(const ReplicaLog& log, LeaderEpoch epoch,
                                            LeaderEpoch current, Offset epoch_start) {
  if (epoch == LeaderEpoch::none() || epoch > current) return {};
  if (epoch == current) return {current, log.log_end_offset()};
  EpochEndOffset answer = log.end_offset_for_epoch(epoch);
  if (answer.end_offset != Offset::none()) {
    if (answer.epoch == log.latest_epoch() && log.latest_epoch() < current) {
      answer.end_offset = std::min(answer.end_offset, epoch_start);
    }
    return answer;
  }
  const auto latest = log.latest_epoch();
  return {latest ? *latest : epoch, epoch_start};
}

void ReplicaSet::leader_on_epoch_request(const Envelope& env) {
  const auto& req = std::get<OffsetForLeaderEpochRequest>(env.message);
  OffsetForLeaderEpochResponse resp;
  if (role_ != ReplicaRole::leader) {
    resp.error_code = KafkaError::not_leader_or_follower;
  } else if (req.current_leader_epoch < leader_epoch_) {
    resp.error_code = KafkaError::fenced_leader_epoch;
  } else if (req.current_leader_epoch > leader_epoch_) {
    resp.error_code = KafkaError::unknown_leader_epoch;
  } else {
    const EpochEndOffset answer =
        leader_end_offset_for(*log_, req.leader_epoch, leader_epoch_, leader_epoch_start_offset_);
    resp.leader_epoch = answer.epoch;
    resp.end_offset = answer.end_offset;
  }
  send(env.from, resp, env.correlation_id);
}

void ReplicaSet::leader_on_fetch(const Envelope& env, std::int64_t now_ms) {
  const auto& req = std::get<FetchRequest>(env.message);
  FetchResponse resp;
  resp.fetch_offset = req.fetch_offset;
  resp.current_leader_id = leader_;
  resp.current_leader_epoch = leader_epoch_;
  auto it = followers_.find(req.replica_id);
  if (role_ != ReplicaRole::leader) {
    resp.error_code = KafkaError::not_leader_or_follower;
  } else if (req.current_leader_epoch < leader_epoch_) {
    resp.error_code = KafkaError::fenced_leader_epoch;
  } else if (req.current_leader_epoch > leader_epoch_ || it == followers_.end()) {
    // Kafka answers an unknown replica with UNKNOWN_LEADER_EPOCH too: it retries.
    resp.error_code = KafkaError::unknown_leader_epoch;
  }
  if (resp.error_code != KafkaError::none) {
    ++stats_.fetch_errors;
    answer_fetch(env, std::move(resp));
    return;
  }
  const Offset start = log_->log_start_offset();
  const Offset end = log_->log_end_offset();
  resp.log_start_offset = start;
  resp.high_watermark = high_watermark_;
  // KIP-320: the follower's last fetched epoch must end at or after its fetch offset here.
  if (req.last_fetched_epoch != LeaderEpoch::none()) {
    const EpochEndOffset answer = leader_end_offset_for(*log_, req.last_fetched_epoch,
                                                        leader_epoch_, leader_epoch_start_offset_);
    if (answer.epoch < req.last_fetched_epoch || answer.end_offset < req.fetch_offset) {
      resp.diverging_epoch = answer;
      answer_fetch(env, std::move(resp));
      return;
    }
  }
  if (req.fetch_offset < start || req.fetch_offset > end) {
    resp.error_code = KafkaError::offset_out_of_range;
    resp.leader_log_end_offset = end;
    ++stats_.fetch_errors;
    answer_fetch(env, std::move(resp));
    return;
  }
  update_follower(req.replica_id, it->second, req, now_ms);
  maybe_expand_isr(req.replica_id, now_ms);
  maybe_increment_hw(now_ms);
  complete_produces(now_ms);
  FollowerState& f = it->second;
  resp = leader_fetch_response(req, &f);
  if (resp.error_code == KafkaError::none && resp.records.empty() && req.max_wait_ms > 0 &&
      f.last_sent_hw == high_watermark_) {
    f.parked = env;  // long poll: answered when data or the HW moves (or at the deadline)
    f.parked_deadline_ms = now_ms + req.max_wait_ms;
  } else {
    f.parked.reset();
    f.last_sent_hw = resp.high_watermark;
    answer_fetch(env, std::move(resp));
  }
  answer_parked(now_ms, false);
}

FetchResponse ReplicaSet::leader_fetch_response(const FetchRequest& req, FollowerState* follower) {
  (void)follower;
  FetchResponse resp;
  resp.fetch_offset = req.fetch_offset;
  resp.current_leader_id = leader_;
  resp.current_leader_epoch = leader_epoch_;
  resp.log_start_offset = log_->log_start_offset();
  resp.high_watermark = high_watermark_;
  resp.last_stable_offset = high_watermark_;
  if (req.fetch_offset >= log_->log_end_offset()) return resp;
  const std::int32_t asked = std::max(req.partition_max_bytes, 1);
  const auto max_bytes =
      static_cast<std::uint64_t>(std::min(asked, config_.fetch_response_bytes_max));
  auto bytes = log_->read(req.fetch_offset, max_bytes);
  if (!bytes.ok()) {
    resp.error_code = KafkaError::kafka_storage_error;
    ++stats_.fetch_errors;
    return resp;
  }
  resp.records = std::move(bytes).value();
  return resp;
}

void ReplicaSet::answer_fetch(const Envelope& request, FetchResponse response) {
  send(request.from, std::move(response), request.correlation_id);
}

void ReplicaSet::answer_parked(std::int64_t now_ms, bool deadline_only) {
  if (role_ != ReplicaRole::leader) return;
  const Offset end = log_->log_end_offset();
  for (auto& [id, f] : followers_) {
    if (!f.parked) continue;
    const auto& req = std::get<FetchRequest>(f.parked->message);
    const bool moved = req.fetch_offset < end || f.last_sent_hw != high_watermark_;
    if (!(now_ms >= f.parked_deadline_ms || (!deadline_only && moved))) continue;
    FetchResponse resp = leader_fetch_response(req, &f);
    f.last_sent_hw = resp.high_watermark;
    answer_fetch(*f.parked, std::move(resp));
    f.parked.reset();
  }
}

void ReplicaSet::update_follower(BrokerId id, FollowerState& f, const FetchRequest& req,
                                 std::int64_t now_ms) {
  (void)id;
  const Offset leader_end = log_->log_end_offset();
  // Replica.updateFetchStateOrThrow: caught up to the leader's end now, or to where the
  // leader's end was at the previous fetch.
  if (req.fetch_offset >= leader_end) {
    f.last_caught_up_ms = std::max(f.last_caught_up_ms, now_ms);
  } else if (f.last_fetch_leader_log_end != Offset::none() &&
             req.fetch_offset >= f.last_fetch_leader_log_end) {
    f.last_caught_up_ms = std::max(f.last_caught_up_ms, f.last_fetch_ms);
  }
  f.log_start = req.log_start_offset;
  f.log_end = req.fetch_offset;
  f.last_fetch_leader_log_end = leader_end;
  f.last_fetch_ms = now_ms;
}

bool ReplicaSet::maybe_increment_hw(std::int64_t now_ms) {
  if (role_ != ReplicaRole::leader) return false;
  // KIP-966: no progress while the ISR is too small, so the ELR holds every committed record.
  if (config_.hw_requires_min_isr && static_cast<int>(isr_.size()) < effective_min_isr()) {
    return false;
  }
  const std::vector<BrokerId> maximal = maximal_isr();
  Offset candidate = log_->log_end_offset();
  for (const auto& [id, f] : followers_) {
    // Also wait for a caught-up replica about to join, so it does not fall behind the HW.
    const bool counts = in(maximal, id) || (is_caught_up(f, now_ms) && f.log_end != Offset::none());
    if (!counts) continue;
    const Offset end = f.log_end == Offset::none() ? Offset(-1) : f.log_end;
    candidate = std::min(candidate, end);
  }
  if (candidate <= high_watermark_) return false;
  SAMSA_ASSERT(candidate <= log_->log_end_offset(), "HW candidate {} above log end {}",
               candidate.value(), log_->log_end_offset().value());
  high_watermark_ = candidate;
  out_.high_watermark = candidate;
  return true;
}

void ReplicaSet::maybe_expand_isr(BrokerId id, std::int64_t now_ms) {
  (void)now_ms;
  if (pending_alter_ || in(isr_, id) || !in(replicas_, id)) return;
  const FollowerState& f = followers_.at(id);
  // isFollowerInSync: at the HW, and past the start of this leader's epoch.
  if (f.log_end < high_watermark_ || f.log_end < leader_epoch_start_offset_) return;
  std::vector<BrokerId> next = isr_;
  next.push_back(id);
  propose_isr(std::move(next));
}

void ReplicaSet::maybe_shrink_isr(std::int64_t now_ms) {
  if (pending_alter_) return;
  std::vector<BrokerId> next;
  bool shrink = false;
  for (BrokerId id : isr_) {
    auto it = followers_.find(id);
    if (id != config_.self && it != followers_.end() && !is_caught_up(it->second, now_ms)) {
      shrink = true;
      continue;
    }
    next.push_back(id);
  }
  if (shrink) propose_isr(std::move(next));
}

void ReplicaSet::propose_isr(std::vector<BrokerId> new_isr) {
  SAMSA_ASSERT(in(new_isr, config_.self), "leader {} proposing an ISR without itself",
               config_.self.value());
  pending_alter_ =
      AlterPartitionRequest{config_.self, leader_epoch_, std::move(new_isr), partition_epoch_};
  pending_alter_sent_ = false;
  out_.alter_partition = pending_alter_;
}

}  // namespace samsa
