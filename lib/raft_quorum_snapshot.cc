// RaftQuorum: snapshots (KIP-630). The host hands a frozen snapshot of its state machine at
// a committed batch boundary and the log start moves to its end; the leader answers a fetch
// below its log start with the snapshot's id, and FetchSnapshot with chunks of it; a
// follower receives the chunks in order (the host writes them), the host validates and
// freezes the whole, and the follower's log restarts at the snapshot's end.
#include <fmt/format.h>

#include <algorithm>

#include "invariant.h"
#include "raft_quorum_impl.h"
#include "samsa/record_batch.h"
#include "strong_types.h"

namespace samsa::raft {

bool Impl::needs_snapshot(const FetchRequest& r) const {
  // Kafka's ReplicatedLog.validateOffsetAndEpoch against the snapshot at the log start: a
  // fetch offset below it, at it from another epoch, or a last epoch older than the
  // snapshot's cannot be answered from the log.
  if (!epochs.base) return false;
  const SnapshotId& s = *epochs.base;
  return r.fetch_offset < log_start ||
         (r.fetch_offset == log_start && r.last_fetched_epoch != s.epoch) ||
         r.last_fetched_epoch < s.epoch;
}

void Impl::begin_fetching_snapshot(SnapshotId id) {
  // The snapshot holds committed records only, so it may replace everything this follower
  // has past its high watermark, never what is below it.
  if (id.end_offset <= Offset(0) || id.epoch < LeaderEpoch(0) || id.epoch > epoch ||
      (high_watermark != Offset::none() && id.end_offset < high_watermark)) {
    ++counters.refused_messages;
    ++counters.snapshots_refused;
    fetch_backoff_until = now + std::min<std::int64_t>(config.request_timeout_ms, 50);
    return;
  }
  fetching_snapshot = FetchingSnapshot{id};
  send_fetch_snapshot();
}

void Impl::send_fetch_snapshot() {
  SAMSA_ASSERT(fetching_snapshot, "node {}: FetchSnapshot without a snapshot to fetch",
               config.self);
  if (fetching_snapshot->finishing) return;  // the host is validating the whole
  FetchSnapshotRequest r;
  r.cluster_id = config.cluster_id;
  r.replica_id = config.self;
  r.max_bytes = config.snapshot_chunk_max_bytes;
  r.current_leader_epoch = epoch;
  r.snapshot_id = fetching_snapshot->id;
  r.position = static_cast<std::int64_t>(fetching_snapshot->received);
  const std::int64_t id = next_id();
  fetch_in_flight = InFlightFetch{id, now, leader_id, /*snapshot=*/true};
  send(leader_id, std::move(r), id);
}

void Impl::on_fetch_snapshot_request(const Message& m, const FetchSnapshotRequest& r) {
  FetchSnapshotResponse resp;
  resp.current_leader_id = advertised_leader();
  resp.current_leader_epoch = epoch;
  auto answer = [&](KafkaError code) {
    resp.error_code = code;
    send(m.from, std::move(resp), m.correlation_id);
  };
  if (r.cluster_id != config.cluster_id) {
    ++counters.refused_messages;
    return answer(KafkaError::inconsistent_cluster_id);
  }
  if (r.replica_id != m.from || r.position < 0 || r.max_bytes < 0 ||
      r.current_leader_epoch < LeaderEpoch(0) || r.snapshot_id.end_offset < Offset(0) ||
      r.snapshot_id.epoch < LeaderEpoch(0)) {
    ++counters.refused_messages;
    return answer(KafkaError::invalid_request);
  }
  if (r.current_leader_epoch < epoch) return answer(KafkaError::fenced_leader_epoch);
  if (r.current_leader_epoch > epoch) return answer(KafkaError::unknown_leader_epoch);
  if (role != Role::leader) return answer(KafkaError::not_leader_or_follower);
  // A voter fetching a snapshot follows this leader (Kafka's
  // updateCheckQuorumForFollowingVoter).
  if (voter(m.from)) heard_from(m.from);
  const std::uint32_t max_bytes = static_cast<std::uint32_t>(
      std::max<std::int32_t>(1, std::min(r.max_bytes, config.snapshot_chunk_max_bytes)));
  auto chunk =
      reader->read_snapshot(r.snapshot_id, static_cast<std::uint64_t>(r.position), max_bytes);
  if (!chunk.ok()) {
    // Gone (a newer snapshot replaced it): the follower starts over with a Fetch.
    if (chunk.status().code() == StatusCode::not_found) {
      return answer(KafkaError::snapshot_not_found);
    }
    if (chunk.status().code() == StatusCode::out_of_range) {
      return answer(KafkaError::position_out_of_range);
    }
    return answer(KafkaError::kafka_storage_error);
  }
  if (static_cast<std::uint64_t>(r.position) >= chunk->size || chunk->bytes.empty()) {
    return answer(KafkaError::position_out_of_range);
  }
  resp.snapshot_id = r.snapshot_id;
  resp.size = static_cast<std::int64_t>(chunk->size);
  resp.position = r.position;
  resp.unaligned_records = std::move(chunk->bytes);
  ++counters.snapshots_sent;
  answer(KafkaError::none);
}

void Impl::on_fetch_snapshot_response(const Message& m, const FetchSnapshotResponse& r) {
  if (!follower_answer_current(m, r.current_leader_epoch, r.current_leader_id)) return;
  if (!fetching_snapshot || fetching_snapshot->finishing) {
    ++counters.stale_responses;
    return;
  }
  auto start_over = [&](std::int64_t backoff) {
    fetching_snapshot.reset();
    fetch_backoff_until = now + backoff;
    if (backoff == 0) send_fetch();
  };
  if (r.error_code == KafkaError::snapshot_not_found ||
      r.error_code == KafkaError::position_out_of_range) {
    // The leader replaced the snapshot (or lost track of it): ask with a Fetch again.
    fetch_deadline = now + config.fetch_timeout_ms;
    return start_over(0);
  }
  if (r.error_code != KafkaError::none) {
    if (r.current_leader_epoch == epoch && r.current_leader_id != leader_id) leader_resigned = true;
    fetch_backoff_until = now + std::min<std::int64_t>(config.request_timeout_ms, 50);
    return;
  }
  FetchingSnapshot& f = *fetching_snapshot;
  const std::uint64_t n = r.unaligned_records.size();
  const bool well_formed = r.snapshot_id == f.id && r.position >= 0 &&
                           static_cast<std::uint64_t>(r.position) == f.received && r.size > 0 &&
                           (f.size < 0 || r.size == f.size) && n > 0 &&
                           f.received + n <= static_cast<std::uint64_t>(r.size);
  if (!well_formed) {
    // A chunk that does not continue what was received: start the snapshot over.
    ++counters.refused_messages;
    ++counters.snapshots_refused;
    return start_over(std::min<std::int64_t>(config.request_timeout_ms, 50));
  }
  fetch_deadline = now + config.fetch_timeout_ms;
  leader_resigned = false;
  fetched_from_leader = true;
  SAMSA_ASSERT(!out.snapshot_chunk, "node {}: two snapshot chunks in one Ready", config.self);
  f.size = r.size;
  SnapshotChunkWrite w;
  w.id = f.id;
  w.position = f.received;
  w.bytes = r.unaligned_records;
  f.received += n;
  w.last = f.received == static_cast<std::uint64_t>(f.size);
  f.finishing = w.last;
  out.snapshot_chunk = std::move(w);
  if (!f.finishing) send_fetch_snapshot();
}

Result<SnapshotId> RaftQuorum::snapshot_id_at(Offset end_offset) const {
  const Impl& m = *impl_;
  if (end_offset <= m.log_start) {
    return Status::invalid_argument(
        fmt::format("raft: a snapshot at {} does not pass node {}'s log start {}", end_offset,
                    m.config.self, m.log_start));
  }
  if (m.high_watermark == Offset::none() || end_offset > m.high_watermark ||
      end_offset > m.durable_end) {
    return Status::invalid_argument(
        fmt::format("raft: a snapshot at {} passes node {}'s high watermark {} (only committed "
                    "records go into a snapshot)",
                    end_offset, m.config.self, m.high_watermark));
  }
  SAMSA_TRY_ASSIGN(const std::vector<std::byte> bytes, m.reader->read(end_offset - 1, 1));
  auto view = RecordBatchView::parse(ByteSpan(bytes));
  if (!view.ok()) {
    return Status::corruption(fmt::format("raft: node {}: no batch holds offset {}: {}",
                                          m.config.self, end_offset - 1, view.status().message()));
  }
  if (view->base_offset() > end_offset - 1 || view->next_offset() != end_offset) {
    return Status::invalid_argument(fmt::format(
        "raft: a snapshot at {} splits the batch [{},{}] (snapshots end at a batch boundary)",
        end_offset, view->base_offset(), view->last_offset()));
  }
  return SnapshotId{end_offset, view->partition_leader_epoch()};
}

Status RaftQuorum::snapshot_created(SnapshotId id, std::int64_t now) {
  Impl& m = *impl_;
  m.enter(now);
  SAMSA_TRY_ASSIGN(const SnapshotId expected, snapshot_id_at(id.end_offset));
  if (expected != id) {
    return Status::invalid_argument(
        fmt::format("raft: snapshot {}-{} names the wrong epoch: the batch ending at {} is of "
                    "epoch {}",
                    id.end_offset, id.epoch, id.end_offset, expected.epoch));
  }
  m.log_start = id.end_offset;
  m.epochs.start_at(id, m.log_end);
  m.out.log_start_offset = id.end_offset;
  ++m.counters.snapshots_created;
  m.check_invariants();
  return {};
}

void RaftQuorum::snapshot_fetched(SnapshotId id, const Status& outcome, std::int64_t now) {
  Impl& m = *impl_;
  m.enter(now);
  if (!m.fetching_snapshot || !m.fetching_snapshot->finishing || m.fetching_snapshot->id != id) {
    ++m.counters.stale_responses;
    return;
  }
  m.fetching_snapshot.reset();
  if (!outcome.ok()) {
    // It did not validate: fetched again from the start (the leader names it anew).
    ++m.counters.snapshots_refused;
    m.fetch_backoff_until = m.now + std::min<std::int64_t>(m.config.request_timeout_ms, 50);
    m.check_invariants();
    return;
  }
  // Kafka's truncateToLatestSnapshot: the log restarts empty at the snapshot's end.
  ++m.counters.snapshots_loaded;
  m.out.append.clear();
  m.out.truncate_to.reset();
  m.out.log_start_offset.reset();
  m.out.load_snapshot = id;
  m.log_start = id.end_offset;
  m.log_end = id.end_offset;
  m.durable_end = id.end_offset;
  m.handed_end = id.end_offset;
  m.epochs.entries.clear();
  m.epochs.base = id;
  if (m.high_watermark == Offset::none() || m.high_watermark < id.end_offset) {
    m.set_high_watermark(id.end_offset);
  }
  m.send_fetch();
  m.check_invariants();
}

}  // namespace samsa::raft
