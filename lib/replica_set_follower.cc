// ReplicaSet, the follower's side: fetching, truncation (Kafka's AbstractFetcherThread:
// getOffsetTruncationState, truncateOnFetchResponse; ReplicaFetcherThread.processPartitionData)
// and validating what it appends.
#include <algorithm>

#include "invariant.h"
#include "samsa/record_batch.h"
#include "samsa/replica_set.h"

namespace samsa {

void ReplicaSet::follower_send(std::int64_t now_ms) {
  if (role_ != ReplicaRole::follower || phase_ == FollowerPhase::waiting_apply) return;
  if (in_flight_correlation_ != 0 || now_ms < backoff_until_ms_) return;
  const std::int64_t correlation = next_correlation_++;
  in_flight_correlation_ = correlation;
  if (need_epoch_truncation_ && log_->latest_epoch()) {
    phase_ = FollowerPhase::truncating;
    in_flight_deadline_ms_ = now_ms + config_.fetch_timeout_ms;
    send(leader_, OffsetForLeaderEpochRequest{config_.self, leader_epoch_, *log_->latest_epoch()},
         correlation);
    return;
  }
  if (need_epoch_truncation_) {
    // No epochs to compare (an empty log, or one without leader epochs): Kafka truncates to
    // the high watermark and fetches from there.
    need_epoch_truncation_ = false;
    if (log_->log_end_offset() > high_watermark_) {
      in_flight_correlation_ = 0;
      out_.truncate_to = high_watermark_;
      ++stats_.truncations;
      phase_ = FollowerPhase::waiting_apply;
      return;
    }
  }
  phase_ = FollowerPhase::fetching;
  FetchRequest req;
  req.replica_id = config_.self;
  req.replica_epoch = config_.broker_epoch;
  req.current_leader_epoch = leader_epoch_;
  req.max_wait_ms = config_.fetch_max_wait_ms;
  req.fetch_offset = log_->log_end_offset();
  req.last_fetched_epoch = config_.truncate_on_fetch
                               ? log_->latest_epoch().value_or(LeaderEpoch::none())
                               : LeaderEpoch::none();
  req.log_start_offset = log_->log_start_offset();
  req.partition_max_bytes = std::min(config_.fetch_max_bytes, config_.fetch_response_bytes_max);
  fetch_offset_ = req.fetch_offset;
  in_flight_deadline_ms_ = now_ms + config_.fetch_timeout_ms + req.max_wait_ms;
  send(leader_, req, correlation);
}

void ReplicaSet::follower_error(KafkaError error, std::int64_t now_ms) {
  ++stats_.fetch_errors;
  phase_ = FollowerPhase::idle;
  // FENCED_LEADER_EPOCH: this replica is behind the controller; Kafka's fetcher parks the
  // partition until the new leadership arrives. Everything else: back off and retry.
  backoff_until_ms_ = now_ms + config_.fetch_backoff_ms;
  if (error == KafkaError::fenced_leader_epoch)
    backoff_until_ms_ = now_ms + config_.fetch_timeout_ms;
}

TruncationDecision follower_truncation(const EpochEndOffset& leader_answer,
                                       const EpochEndOffset& mine, Offset log_end_offset,
                                       Offset high_watermark) {
  const Offset end = log_end_offset;
  if (leader_answer.end_offset == Offset::none()) {
    return {std::min(high_watermark, end), true};  // the leader knows nothing older: the HW
  }
  if (mine.epoch == LeaderEpoch::none() || mine.end_offset == Offset::none()) {
    return {std::min(leader_answer.end_offset, end), true};
  }
  if (mine.epoch != leader_answer.epoch) {
    return {std::min(mine.end_offset, end), false};  // cut to our older epoch's end, ask again
  }
  return {std::min({mine.end_offset, leader_answer.end_offset, end}), true};
}

// getOffsetTruncationState: where the follower cuts, given where the leader says an epoch
// ended. Sets need_epoch_truncation_ when another round is needed (KIP-279).
void ReplicaSet::follower_truncate(const EpochEndOffset& leader_answer) {
  const Offset end = log_->log_end_offset();
  const EpochEndOffset mine = leader_answer.end_offset == Offset::none()
                                  ? EpochEndOffset{}
                                  : log_->end_offset_for_epoch(leader_answer.epoch);
  const TruncationDecision d = follower_truncation(leader_answer, mine, end, high_watermark_);
  Offset target = d.offset;
  const bool complete = d.complete;
  need_epoch_truncation_ = !config_.truncate_on_fetch && !complete;
  if (target < log_->log_start_offset()) target = log_->log_start_offset();
  if (target >= end) return;
  out_.truncate_to = target;
  ++stats_.truncations;
  if (target < high_watermark_) {
    // Only after an unclean election (Kafka warns and truncates anyway).
    stats_.records_truncated_below_hw += high_watermark_ - target;
    high_watermark_ = target;
  }
}

// Validates the response's batches: whole, CRC-checked, contiguous from the fetch offset,
// no epoch above the leader's. false (and nothing appended) otherwise.
bool ReplicaSet::follower_accept_records(const FetchResponse& resp) {
  ByteSpan rest(resp.records);
  Offset next = fetch_offset_;
  const ValidateOptions bounded{.max_decompressed_bytes = config_.max_decompressed_bytes};
  for (std::size_t batches = 0; !rest.empty(); ++batches) {
    SAMSA_ASSERT(batches <= resp.records.size(), "batch loop ran past {} bytes",
                 resp.records.size());
    auto view = RecordBatchView::validate(rest, bounded);
    if (!view.ok() || view->base_offset() != next ||
        view->partition_leader_epoch() > leader_epoch_) {
      return false;
    }
    next = view->next_offset();
    rest = rest.subspan(view->size_bytes());
  }
  return true;
}

void ReplicaSet::follower_on_fetch_response(const Envelope& env, std::int64_t now_ms) {
  const auto& resp = std::get<FetchResponse>(env.message);
  if (role_ != ReplicaRole::follower || env.correlation_id != in_flight_correlation_ ||
      env.from != leader_ || phase_ != FollowerPhase::fetching) {
    return;  // stale or duplicated
  }
  in_flight_correlation_ = 0;
  if (resp.error_code == KafkaError::offset_out_of_range &&
      resp.leader_log_end_offset != Offset::none() &&
      resp.leader_log_end_offset < log_->log_end_offset()) {
    // AbstractFetcherThread.fetchOffsetAndTruncate: the leader's log is shorter (an unclean
    // election without epochs to compare): cut to its end.
    follower_truncate({LeaderEpoch::none(), resp.leader_log_end_offset});
    follower_after_response(now_ms);
    return;
  }
  if (resp.error_code != KafkaError::none) {
    follower_error(resp.error_code, now_ms);
    return;
  }
  if (resp.diverging_epoch) {
    follower_truncate(*resp.diverging_epoch);
    follower_after_response(now_ms);
    return;
  }
  if (!resp.records.empty() && !follower_accept_records(resp)) {
    ++stats_.batches_rejected;
    follower_error(KafkaError::corrupt_message, now_ms);
    return;
  }
  Offset end = log_->log_end_offset();
  if (!resp.records.empty()) {
    out_.append = resp.records;
    // The new end: one past the last batch (walk to it; validated above).
    ByteSpan rest(resp.records);
    while (!rest.empty()) {
      auto view = RecordBatchView::parse(rest);
      end = view->next_offset();
      rest = rest.subspan(view->size_bytes());
    }
  }
  // The follower's HW: the leader's, bounded by what it holds; never moved back here
  // (Partition's HW only moves forward; truncation lowers it).
  const Offset hw = std::min(resp.high_watermark, end);
  if (hw > high_watermark_) {
    high_watermark_ = hw;
    out_.high_watermark = hw;
  }
  // The log start follows the leader's (DeleteRecords, retention), up to the HW.
  const Offset start = std::min(resp.log_start_offset, high_watermark_);
  if (start > log_->log_start_offset()) out_.log_start_offset = start;
  follower_after_response(now_ms);
}

void ReplicaSet::follower_on_epoch_response(const Envelope& env, std::int64_t now_ms) {
  const auto& resp = std::get<OffsetForLeaderEpochResponse>(env.message);
  if (role_ != ReplicaRole::follower || env.correlation_id != in_flight_correlation_ ||
      env.from != leader_ || phase_ != FollowerPhase::truncating) {
    return;
  }
  in_flight_correlation_ = 0;
  if (resp.error_code != KafkaError::none) {
    follower_error(resp.error_code, now_ms);
    return;
  }
  follower_truncate({resp.leader_epoch, resp.end_offset});
  follower_after_response(now_ms);
}

// After a response: wait for the driver to apply what the Ready holds for the log, or,
// when it holds nothing, ask again at once.
void ReplicaSet::follower_after_response(std::int64_t now_ms) {
  if (out_.truncate_to || !out_.append.empty() || out_.high_watermark || out_.log_start_offset) {
    phase_ = FollowerPhase::waiting_apply;
    return;
  }
  phase_ = FollowerPhase::idle;
  follower_send(now_ms);
}

}  // namespace samsa
