// RaftQuorum: pull replication. The leader answers Fetch with records, a DivergingEpoch or
// an error, parks a fetch that finds nothing new (long poll) and counts voters' fetch
// offsets toward the high watermark; a follower appends what it fetched or truncates where
// its log diverged, and fetches again once that is durable.
#include <fmt/format.h>

#include <algorithm>

#include "invariant.h"
#include "raft_quorum_impl.h"
#include "samsa/record_batch.h"
#include "strong_types.h"

namespace samsa::raft {

void Impl::send_fetch() {
  NodeId to = leader_id;
  if (to == kNoNode || to == config.self) return;
  if (fetching_snapshot) return send_fetch_snapshot();
  FetchRequest r;
  r.cluster_id = config.cluster_id;
  r.replica_id = config.self;
  r.max_wait_ms = config.fetch_max_wait_ms;
  r.current_leader_epoch = epoch;
  r.fetch_offset = log_end;
  r.last_fetched_epoch = epochs.latest();
  r.log_start_offset = log_start;
  r.partition_max_bytes = config.fetch_max_bytes;
  const std::int64_t id = next_id();
  fetch_in_flight = InFlightFetch{id, now, to};
  send(to, std::move(r), id);
}

void Impl::observer_discover() {
  // An observer that knows no leader asks a random voter (Kafka: the bootstrap servers);
  // the answer names the leader.
  if (now < observer_next_at) return;
  observer_next_at = now + config.request_timeout_ms;
  std::vector<NodeId> others;
  for (NodeId v : config.voters) {
    if (v != config.self) others.push_back(v);
  }
  if (others.empty()) return;
  const NodeId to = others[static_cast<std::size_t>(
      random_between(0, static_cast<std::int64_t>(others.size()) - 1))];
  FetchRequest r;
  r.cluster_id = config.cluster_id;
  r.replica_id = config.self;
  r.max_wait_ms = 0;
  r.current_leader_epoch = epoch;
  r.fetch_offset = log_end;
  r.last_fetched_epoch = epochs.latest();
  r.log_start_offset = log_start;
  r.partition_max_bytes = config.fetch_max_bytes;
  const std::int64_t id = next_id();
  fetch_in_flight = InFlightFetch{id, now, to};
  send(to, std::move(r), id);
}

void Impl::on_fetch_request(const Message& m, const FetchRequest& r) {
  auto error = [&](KafkaError code) {
    FetchResponse resp;
    resp.error_code = code;
    resp.high_watermark = high_watermark;
    resp.log_start_offset = log_start;
    resp.current_leader_id = advertised_leader();
    resp.current_leader_epoch = epoch;
    send(m.from, std::move(resp), m.correlation_id);
  };
  if (r.cluster_id != config.cluster_id) {
    ++counters.refused_messages;
    return error(KafkaError::inconsistent_cluster_id);
  }
  if (r.replica_id != m.from || r.fetch_offset < Offset(0) || r.partition_max_bytes < 0 ||
      r.max_wait_ms < 0 || r.current_leader_epoch < LeaderEpoch(0) ||
      r.last_fetched_epoch < LeaderEpoch::none()) {
    ++counters.refused_messages;
    return error(KafkaError::invalid_request);
  }
  // Kafka's KafkaRaftClient.validateLeaderOnlyRequest: fence by epoch first.
  if (r.current_leader_epoch < epoch) return error(KafkaError::fenced_leader_epoch);
  if (r.current_leader_epoch > epoch) return error(KafkaError::unknown_leader_epoch);
  if (role != Role::leader) return error(KafkaError::not_leader_or_follower);
  if (!answer_fetch(m.from, m.correlation_id, r, /*may_park=*/true)) {
    if (parked.size() >= config.parked_fetches_max) {
      answer_fetch(m.from, m.correlation_id, r, /*may_park=*/false);
      return;
    }
    // One long poll per fetcher: a newer one replaces the older.
    parked.erase(std::remove_if(parked.begin(), parked.end(),
                                [&](const ParkedFetch& p) { return p.from == m.from; }),
                 parked.end());
    const std::int64_t wait = std::min<std::int64_t>(r.max_wait_ms, config.fetch_max_wait_ms);
    parked.push_back(ParkedFetch{m.from, m.correlation_id, r, now + wait});
  }
  if (m.from == transfer_target) transfer_fetched = true;
  maybe_finish_transfer();
}

bool Impl::answer_fetch(NodeId from, std::int64_t correlation_id, const FetchRequest& r,
                        bool may_park) {
  FetchResponse resp;
  resp.log_start_offset = log_start;
  resp.current_leader_id = config.self;
  resp.current_leader_epoch = epoch;
  // Kafka's validateOffsetAndEpoch: the fetcher's log must end where ours has its last
  // fetched epoch end, or before.
  if (needs_snapshot(r)) {
    // Kafka's ValidOffsetAndEpoch.snapshot: no records, the snapshot's id; the fetcher's
    // offset does not count (it is about to be replaced).
    resp.snapshot_id = epochs.base;
    resp.high_watermark = high_watermark;
    if (voter(from) && may_park) heard_from(from);
    send(from, std::move(resp), correlation_id);
    return true;
  }
  const bool bootstrap = r.fetch_offset == Offset(0) && r.last_fetched_epoch == LeaderEpoch::none();
  if (!bootstrap) {
    const EpochEndOffset mine = epochs.end_for(r.last_fetched_epoch, durable_end);
    if (mine.epoch != r.last_fetched_epoch || mine.end_offset < r.fetch_offset ||
        r.last_fetched_epoch == LeaderEpoch::none()) {
      EpochEndOffset d = mine;
      if (d.epoch == LeaderEpoch::none()) d = {LeaderEpoch::none(), log_start};
      resp.diverging_epoch = d;
      resp.high_watermark = high_watermark;
      send(from, std::move(resp), correlation_id);
      return true;
    }
  }
  if (r.fetch_offset > durable_end) {
    // Cannot be past a valid epoch check; defensive.
    resp.error_code = KafkaError::offset_out_of_range;
    resp.high_watermark = high_watermark;
    send(from, std::move(resp), correlation_id);
    return true;
  }
  // A voter's fetch offset is its durable log end (it fetches only once what it appended
  // is on disk): the leader counts it.
  if (voter(from)) {
    auto& p = replicas[from];
    p.end = r.fetch_offset;
    p.last_fetch_at = now;
    begin_acked.insert(from);
    // CheckQuorum hears a voter when its fetch arrives (may_park: a fresh request), not
    // when a parked one is answered at its deadline: that would keep a leader cut off from
    // the majority alive for up to MaxWaitMs (and a tick) past 1.5 x fetch.timeout.
    if (may_park) heard_from(from);
    maybe_advance_high_watermark();
  }
  if (r.fetch_offset == durable_end && may_park && r.max_wait_ms > 0) {
    // Nothing to send: wait for records or a high watermark change, up to MaxWaitMs, unless
    // the answer raises the high watermark the fetcher holds. An empty answer that brings
    // nothing new is a busy loop (the fetcher asks again at once, e.g. while its fetch
    // offset is above a high watermark that cannot move); one that parks a fetcher which
    // has not yet learnt the high watermark delays its commit by MaxWaitMs.
    if (!hw_news_for(from, r.fetch_offset)) return false;
  }
  if (r.fetch_offset < durable_end) {
    const std::uint32_t max_bytes = static_cast<std::uint32_t>(
        std::max<std::int32_t>(1, std::min(r.partition_max_bytes, config.fetch_max_bytes)));
    auto bytes = reader->read(r.fetch_offset, max_bytes);
    if (!bytes.ok()) {
      resp.error_code = KafkaError::kafka_storage_error;
    } else {
      // Only what is durable here (the reader may already hold more), whole batches.
      std::size_t keep = 0;
      while (keep < bytes->size()) {
        auto view = RecordBatchView::parse(ByteSpan(*bytes).subspan(keep));
        if (!view.ok() || view->base_offset() >= durable_end) break;
        keep += view->size_bytes();
      }
      bytes->resize(keep);
      resp.records = std::move(*bytes);
    }
  }
  resp.high_watermark = high_watermark;
  if (high_watermark != Offset::none()) {
    // The fetcher appends what it is sent and holds min(HW, its new log end).
    Offset end = r.fetch_offset;
    std::size_t pos = 0;
    while (pos < resp.records.size()) {
      auto view = RecordBatchView::parse(ByteSpan(resp.records).subspan(pos));
      if (!view.ok()) break;
      end = view->next_offset();
      pos += view->size_bytes();
    }
    hw_sent[from] = std::min(high_watermark, end);
  }
  send(from, std::move(resp), correlation_id);
  return true;
}

void Impl::heard_from(NodeId from) {
  check_quorum_heard.insert(from);
  if (check_quorum_heard.size() + 1 >= majority()) {
    check_quorum_heard.clear();
    check_quorum_deadline = now + check_quorum_timeout();
  }
}

bool Impl::hw_news_for(NodeId from, Offset fetch_offset) const {
  if (high_watermark == Offset::none()) return false;
  const Offset would = std::min(high_watermark, fetch_offset);
  auto it = hw_sent.find(from);
  return it == hw_sent.end() || would > std::min(it->second, fetch_offset);
}

void Impl::complete_parked_fetches(bool only_if_news) {
  if (parked.empty()) return;
  std::vector<ParkedFetch> still;
  std::vector<ParkedFetch> due;
  for (auto& p : parked) {
    const bool news =
        durable_end > p.request.fetch_offset || hw_news_for(p.from, p.request.fetch_offset);
    if (!only_if_news || news || now >= p.deadline) {
      due.push_back(std::move(p));
    } else {
      still.push_back(std::move(p));
    }
  }
  parked = std::move(still);
  for (auto& p : due) answer_fetch(p.from, p.correlation_id, p.request, /*may_park=*/false);
}

void Impl::expire_parked_fetches() {
  if (hw_changed) {
    hw_changed = false;
    complete_parked_fetches(/*only_if_news=*/true);
  }
  bool any = false;
  for (const auto& p : parked) any = any || now >= p.deadline;
  if (any) complete_parked_fetches(/*only_if_news=*/true);
}

void Impl::answer_orphaned_fetches() {
  // Kafka's onBecomeFollower: pending fetches are completed with NOT_LEADER_OR_FOLLOWER so
  // their fetchers hear of the change now, not at their fetch timeout (an observer gets no
  // EndQuorumEpoch or BeginQuorumEpoch to tell it).
  for (const ParkedFetch& p : orphaned_fetches) {
    FetchResponse resp;
    resp.error_code = KafkaError::not_leader_or_follower;
    resp.high_watermark = high_watermark;
    resp.log_start_offset = log_start;
    resp.current_leader_id = advertised_leader();
    resp.current_leader_epoch = epoch;
    send(p.from, std::move(resp), p.correlation_id);
  }
  orphaned_fetches.clear();
}

void Impl::truncate_log(Offset to) {
  SAMSA_ASSERT(to >= log_start, "node {}: truncation to {} below log start {}", config.self, to,
               log_start);
  SAMSA_ASSERT(high_watermark == Offset::none() || to >= high_watermark,
               "node {}: truncation to {} below the high watermark {} (a committed entry)",
               config.self, to, high_watermark);
  if (to >= log_end) return;
  ++counters.truncations;
  log_end = to;
  if (durable_end > to) durable_end = to;
  if (handed_end > to) handed_end = to;
  epochs.truncate(to);
  // Appends not yet handed out that lie past the cut are dropped; those handed out are cut
  // by the host's truncation, which comes first in the Ready.
  std::vector<std::vector<std::byte>> keep;
  for (auto& b : out.append) {
    auto view = RecordBatchView::parse(ByteSpan(b));
    if (view.ok() && view->next_offset() <= to) keep.push_back(std::move(b));
  }
  out.append = std::move(keep);
  out.truncate_to = out.truncate_to ? std::min(*out.truncate_to, to) : to;
}

bool Impl::follower_answer_current(const Message& m, LeaderEpoch their_epoch, NodeId their_leader) {
  const bool snapshot = std::holds_alternative<FetchSnapshotResponse>(m.payload);
  if (!fetch_in_flight || fetch_in_flight->correlation_id != m.correlation_id ||
      fetch_in_flight->to != m.from || fetch_in_flight->snapshot != snapshot) {
    ++counters.stale_responses;
    return false;
  }
  fetch_in_flight.reset();
  if (their_epoch > epoch ||
      (their_epoch == epoch && role != Role::follower && their_leader != kNoNode)) {
    observe_epoch(their_epoch, their_leader);
    return false;
  }
  if (role != Role::follower || m.from != leader_id || their_epoch < epoch) {
    ++counters.stale_responses;
    if (role == Role::unattached && !is_voter) observe_epoch(their_epoch, their_leader);
    return false;
  }
  return true;
}

void Impl::on_fetch_response(const Message& m, const FetchResponse& r) {
  if (!follower_answer_current(m, r.current_leader_epoch, r.current_leader_id)) return;
  if (r.error_code != KafkaError::none) {
    // The leader itself says it does not lead this epoch (it resigned or restarted): it is
    // not live, whatever the fetch timer says (pre-votes are granted, no one is told to
    // follow it).
    if (r.current_leader_epoch == epoch && r.current_leader_id != leader_id) leader_resigned = true;
    fetch_backoff_until = now + std::min<std::int64_t>(config.request_timeout_ms, 50);
    return;
  }
  fetch_deadline = now + config.fetch_timeout_ms;
  leader_resigned = false;
  fetched_from_leader = true;
  if (r.snapshot_id) return begin_fetching_snapshot(*r.snapshot_id);
  if (r.diverging_epoch) {
    const EpochEndOffset d = *r.diverging_epoch;
    Offset to = std::min(d.end_offset, log_end);
    if (d.epoch != LeaderEpoch::none()) {
      const EpochEndOffset mine = epochs.end_for(d.epoch, log_end);
      if (mine.end_offset != Offset::none()) to = std::min(to, mine.end_offset);
    }
    if (to < log_start) to = log_start;
    if (high_watermark != Offset::none() && to < high_watermark) {
      // A leader that says a committed entry diverged is broken or not ours: refuse.
      ++counters.refused_messages;
      fetch_backoff_until = now + config.request_timeout_ms;
      return;
    }
    truncate_log(to);
    send_fetch();
    return;
  }
  // Records: whole batches from our log end, each CRC-checked, epochs not above the
  // leader's; anything else is refused (and fetched again).
  std::size_t pos = 0;
  Offset expect = log_end;
  std::vector<std::pair<std::size_t, std::size_t>> batches;
  bool malformed = false;
  while (pos < r.records.size()) {
    auto view = RecordBatchView::parse(ByteSpan(r.records).subspan(pos));
    if (!view.ok() || !view->check_crc().ok() || view->base_offset() != expect ||
        view->partition_leader_epoch() > epoch ||
        view->partition_leader_epoch() < epochs.latest() ||
        view->partition_leader_epoch() < LeaderEpoch(0)) {
      malformed = true;
      break;
    }
    batches.push_back({pos, view->size_bytes()});
    expect = view->next_offset();
    pos += view->size_bytes();
  }
  if (malformed && batches.empty() && !r.records.empty()) {
    ++counters.refused_messages;
    fetch_backoff_until = now + std::min<std::int64_t>(config.request_timeout_ms, 50);
    return;
  }
  for (const auto& [at, size] : batches) {
    auto view = RecordBatchView::parse(ByteSpan(r.records).subspan(at, size));
    epochs.assign(view->partition_leader_epoch(), log_end);
    log_end = view->next_offset();
    const auto* begin = r.records.data() + at;
    out.append.emplace_back(begin, begin + size);
  }
  if (r.high_watermark != Offset::none()) {
    const Offset hw = std::min(r.high_watermark, log_end);
    if (high_watermark == Offset::none() || hw > high_watermark) set_high_watermark(hw);
  }
  send_fetch();
}

}  // namespace samsa::raft
