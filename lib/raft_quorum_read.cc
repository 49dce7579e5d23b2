// RaftQuorum: linearizable reads (ReadIndex, as etcd raft: a majority confirms the
// leadership after the read arrived) and leader transfer to a chosen successor.
#include <fmt/format.h>

#include <algorithm>

#include "invariant.h"
#include "raft_quorum_impl.h"
#include "strong_types.h"

namespace samsa::raft {

// --- ReadIndex and leader transfer

void Impl::start_read_round() {
  read_round_wanted = false;
  ++read_round;
  // BeginQuorumEpoch is idempotent for a voter that follows this leader in this epoch, and
  // one that moved on answers with its newer epoch: an answer of error none in this epoch,
  // to a request sent after the read arrived, proves the voter had not left this epoch then.
  for (NodeId v : config.voters) {
    if (v == config.self) continue;
    const std::int64_t id = next_id();
    BeginQuorumEpochRequest r;
    r.cluster_id = config.cluster_id;
    r.voter_id = v;
    r.leader_epoch = epoch;
    r.leader_id = config.self;
    send(v, std::move(r), id);
    read_probes[id] = {read_round, now};
  }
  maybe_confirm_reads();
}

void Impl::maybe_confirm_reads() {
  // The leader's high watermark covers every entry committed before its epoch only once it
  // has passed the epoch start (its LeaderChange record).
  if (high_watermark == Offset::none() || high_watermark <= epoch_start_offset) return;
  while (!reads.empty()) {
    const PendingRead& r = reads.front();
    std::size_t confirmed = 1;  // itself
    for (const auto& [v, round] : read_confirmed) confirmed += round >= r.round ? 1 : 0;
    if (confirmed < majority()) return;
    out.reads.push_back(ReadState{r.id, high_watermark, KafkaError::none});
    ++counters.reads_confirmed;
    reads.pop_front();
  }
}

void Impl::fail_reads(KafkaError code, bool only_expired) {
  while (!reads.empty() &&
         (!only_expired || now - reads.front().arrived_at >= config.request_timeout_ms)) {
    out.reads.push_back(ReadState{reads.front().id, Offset::none(), code});
    ++counters.reads_failed;
    reads.pop_front();
  }
  if (only_expired) {
    for (auto it = read_probes.begin(); it != read_probes.end();) {
      if (now - it->second.second >= config.request_timeout_ms)
        it = read_probes.erase(it);
      else
        ++it;
    }
  }
}

void Impl::maybe_finish_transfer() {
  if (role != Role::leader || transfer_target == kNoNode) return;
  auto it = replicas.find(transfer_target);
  if (!transfer_fetched || it == replicas.end() || it->second.end < log_end ||
      durable_end < log_end)
    return;
  ++counters.transfers_done;
  become_resigned(/*graceful=*/true, transfer_target);
}

ReadIndexResult RaftQuorum::read_index(std::int64_t now) {
  Impl& m = *impl_;
  m.enter(now);
  ReadIndexResult r;
  r.leader = m.leader_hint();
  if (m.role != Role::leader) {
    r.error_code = KafkaError::not_leader_or_follower;
    r.status = m.not_leader_status(r.leader);
    return r;
  }
  if (m.reads.size() >= m.config.reads_pending_max) {
    r.error_code = KafkaError::request_timed_out;
    r.status = Status::busy(
        fmt::format("raft: {} reads wait for confirmation (reads_pending_max {}); retry",
                    m.reads.size(), m.config.reads_pending_max));
    return r;
  }
  r.read_id = m.next_read_id++;
  // Reads that arrive before the next ready() share one round, started then.
  m.reads.push_back(PendingRead{r.read_id, m.read_round + 1, m.now});
  m.read_round_wanted = true;
  if (m.majority() == 1) m.start_read_round();
  m.check_invariants();
  return r;
}

Status RaftQuorum::transfer_leadership(NodeId to, std::int64_t now) {
  Impl& m = *impl_;
  m.enter(now);
  if (m.role != Role::leader) {
    return Status::failed_precondition(
        fmt::format("raft: node {} is not the leader; cannot transfer leadership", m.config.self));
  }
  if (to == m.config.self || !m.voter(to)) {
    return Status::invalid_argument(
        fmt::format("raft: leadership can move only to another voter, not node {}", to));
  }
  m.transfer_target = to;
  m.transfer_fetched = false;
  m.transfer_deadline = m.now + m.config.election_timeout_ms;
  m.maybe_finish_transfer();
  m.answer_orphaned_fetches();
  m.check_invariants();
  return Status();
}

}  // namespace samsa::raft
