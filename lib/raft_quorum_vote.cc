// RaftQuorum: elections. Vote and PreVote (KIP-595, KIP-996), BeginQuorumEpoch and
// EndQuorumEpoch, and the epoch fencing every message goes through.
#include <fmt/format.h>

#include <algorithm>

#include "invariant.h"
#include "raft_quorum_impl.h"
#include "strong_types.h"

namespace samsa::raft {

void Impl::send_vote_request(NodeId to, bool pre_vote) {
  VoteRequest r;
  r.cluster_id = config.cluster_id;
  r.voter_id = to;
  // A pre-vote asks for the epoch the candidate would start; the receiver's epoch is left
  // alone (KIP-996).
  r.candidate_epoch = pre_vote ? LeaderEpoch(epoch.value() + 1) : epoch;
  r.candidate_id = config.self;
  r.last_offset_epoch = epochs.latest();
  r.last_offset = log_end;
  r.pre_vote = pre_vote;
  vote_sent_at[to] = now;
  send(to, std::move(r), next_id());
}

void Impl::resend_vote_requests() {
  // Answers lost on the way are asked again after the request timeout (Kafka's
  // RequestManager); the election timeout still bounds the round.
  std::vector<NodeId> due;
  for (const auto& [v, at] : vote_sent_at) {
    if (now - at >= config.request_timeout_ms) due.push_back(v);
  }
  for (NodeId v : due) send_vote_request(v, role == Role::prospective);
}

void Impl::send_begin_epoch(NodeId to) {
  BeginQuorumEpochRequest r;
  r.cluster_id = config.cluster_id;
  r.voter_id = to;
  r.leader_epoch = epoch;
  r.leader_id = config.self;
  replicas[to].begin_sent_at = now;
  send(to, std::move(r), next_id());
}

bool Impl::log_up_to_date(LeaderEpoch last_epoch, Offset last_offset) const {
  const LeaderEpoch mine = epochs.latest();
  if (last_epoch != mine) return last_epoch > mine;
  return last_offset >= log_end;
}

bool Impl::observe_epoch(LeaderEpoch their_epoch, NodeId their_leader) {
  if (their_epoch < epoch) return false;
  if (their_leader != kNoNode && !voter(their_leader)) {
    ++counters.refused_messages;
    return false;
  }
  if (their_epoch > epoch) {
    if (their_leader != kNoNode && their_leader != config.self) {
      become_follower(their_epoch, their_leader);
    } else {
      become_unattached(their_epoch);
    }
    return true;
  }
  // Same epoch: learn the leader if this node did not know it.
  // A Prospective node keeps the leader it knew (Kafka's ProspectiveState): hearing that
  // the leader is alive sends it back to following.
  if (their_leader != kNoNode && their_leader != config.self && role != Role::leader &&
      role != Role::follower && (leader_id == kNoNode || leader_id == their_leader)) {
    become_follower(epoch, their_leader);
  }
  return true;
}

void Impl::on_vote_request(const Message& m, const VoteRequest& r) {
  auto answer = [&](KafkaError error, bool granted) {
    VoteResponse resp;
    resp.error_code = error;
    resp.leader_epoch = epoch;
    resp.leader_id = advertised_leader();
    resp.vote_granted = granted;
    resp.pre_vote = r.pre_vote;
    send(m.from, std::move(resp), m.correlation_id);
  };
  if (r.cluster_id != config.cluster_id) {
    ++counters.refused_messages;
    return answer(KafkaError::inconsistent_cluster_id, false);
  }
  if (r.candidate_id != m.from || !voter(r.candidate_id) || r.candidate_id == config.self) {
    ++counters.refused_messages;
    return answer(KafkaError::inconsistent_voter_set, false);
  }
  if (!is_voter || (r.voter_id != kNoNode && r.voter_id != config.self)) {
    ++counters.refused_messages;
    return answer(KafkaError::inconsistent_voter_set, false);
  }
  if (r.candidate_epoch < LeaderEpoch(0) || r.last_offset < Offset(0)) {
    ++counters.refused_messages;
    return answer(KafkaError::invalid_request, false);
  }
  if (r.pre_vote) {
    // KIP-996: no state changes. Granted for an epoch above this node's, by a node that is
    // not the leader, to an up-to-date log, and not while this node follows a live leader.
    bool grant = r.candidate_epoch > epoch && role != Role::leader &&
                 log_up_to_date(r.last_offset_epoch, r.last_offset);
    if (grant && role == Role::follower && fetched_from_leader && !leader_resigned &&
        now < fetch_deadline) {
      grant = false;
    }
    return answer(KafkaError::none, grant);
  }
  if (r.candidate_epoch < epoch) return answer(KafkaError::fenced_leader_epoch, false);
  if (r.candidate_epoch > epoch) become_unattached(r.candidate_epoch);
  bool grant = false;
  if (voted_id == r.candidate_id) {
    grant = true;  // a repeated request: the same answer
  } else if (voted_id == kNoNode && leader_id == kNoNode &&
             (role == Role::unattached || role == Role::prospective)) {
    grant = log_up_to_date(r.last_offset_epoch, r.last_offset);
  }
  if (grant && voted_id != r.candidate_id) become_voted(r.candidate_id);
  answer(KafkaError::none, grant);
}

void Impl::on_vote_response(const Message& m, const VoteResponse& r) {
  if (!voter(m.from)) {
    ++counters.refused_messages;
    return;
  }
  if (r.leader_epoch > epoch) {
    observe_epoch(r.leader_epoch, r.leader_id);
    return;
  }
  if (r.leader_epoch == epoch && r.leader_id != kNoNode && r.leader_id != config.self) {
    observe_epoch(r.leader_epoch, r.leader_id);
    return;
  }
  if (r.pre_vote && role == Role::prospective) {
    vote_sent_at.erase(m.from);
    if (r.error_code != KafkaError::none) return;
    if (r.vote_granted) {
      prospective_granted.insert(m.from);
      if (prospective_granted.size() >= majority()) become_candidate();
    } else {
      prospective_rejected.insert(m.from);
      if (prospective_rejected.size() >= majority()) {
        // Lost the pre-vote: wait for a leader or the next timeout, backing off.
        election_deadline = now + random_between(0, config.election_backoff_max_ms) +
                            config.election_timeout_ms / 2;
      }
    }
    return;
  }
  if (!r.pre_vote && role == Role::candidate && r.leader_epoch == epoch) {
    vote_sent_at.erase(m.from);
    if (r.error_code != KafkaError::none) return;
    if (r.vote_granted) {
      candidate_granted.insert(m.from);
      if (candidate_granted.size() >= majority()) become_leader();
    } else {
      candidate_rejected.insert(m.from);
      if (candidate_rejected.size() >= majority()) {
        // Kafka's CandidateState: lost, back off for a random time up to the maximum, then
        // ask again (as Prospective).
        election_deadline = now + random_between(1, config.election_backoff_max_ms);
      }
    }
    return;
  }
  ++counters.stale_responses;
}

void Impl::on_begin_epoch_request(const Message& m, const BeginQuorumEpochRequest& r) {
  auto answer = [&](KafkaError error) {
    BeginQuorumEpochResponse resp;
    resp.error_code = error;
    resp.leader_epoch = epoch;
    resp.leader_id = advertised_leader();
    send(m.from, std::move(resp), m.correlation_id);
  };
  if (r.cluster_id != config.cluster_id) {
    ++counters.refused_messages;
    return answer(KafkaError::inconsistent_cluster_id);
  }
  if (r.leader_id != m.from || !voter(r.leader_id) || r.leader_id == config.self) {
    ++counters.refused_messages;
    return answer(KafkaError::inconsistent_voter_set);
  }
  if (r.leader_epoch < epoch) return answer(KafkaError::fenced_leader_epoch);
  if (r.leader_epoch == epoch && leader_id != kNoNode && leader_id != r.leader_id) {
    // Two leaders in one epoch cannot be; a message that says so is refused.
    ++counters.refused_messages;
    return answer(KafkaError::invalid_request);
  }
  if (r.leader_epoch > epoch || leader_id == kNoNode) {
    become_follower(r.leader_epoch, r.leader_id);
  }
  answer(KafkaError::none);
}

void Impl::on_begin_epoch_response(const Message& m, const BeginQuorumEpochResponse& r) {
  if (!voter(m.from)) {
    ++counters.refused_messages;
    return;
  }
  if (r.leader_epoch > epoch) {
    observe_epoch(r.leader_epoch, r.leader_id);
    return;
  }
  if (role == Role::leader && r.leader_epoch == epoch && r.error_code == KafkaError::none) {
    begin_acked.insert(m.from);
    auto probe = read_probes.find(m.correlation_id);
    if (probe != read_probes.end()) {  // a ReadIndex round's confirmation
      auto& confirmed = read_confirmed[m.from];
      confirmed = std::max(confirmed, probe->second.first);
      read_probes.erase(probe);
      maybe_confirm_reads();
    }
    return;
  }
  ++counters.stale_responses;
}

void Impl::on_end_epoch_request(const Message& m, const EndQuorumEpochRequest& r) {
  auto answer = [&](KafkaError error) {
    EndQuorumEpochResponse resp;
    resp.error_code = error;
    resp.leader_epoch = epoch;
    resp.leader_id = advertised_leader();
    send(m.from, std::move(resp), m.correlation_id);
  };
  if (r.cluster_id != config.cluster_id) {
    ++counters.refused_messages;
    return answer(KafkaError::inconsistent_cluster_id);
  }
  if (r.leader_id != m.from || !voter(r.leader_id)) {
    ++counters.refused_messages;
    return answer(KafkaError::inconsistent_voter_set);
  }
  if (r.leader_epoch < epoch) return answer(KafkaError::fenced_leader_epoch);
  if (r.leader_epoch > epoch) become_unattached(r.leader_epoch);
  if (role == Role::follower && leader_id == r.leader_id) {
    // The leader is gone: the first preferred successor campaigns at once, the others after
    // a backoff growing with their position (Kafka's strictExponentialElectionBackoffMs).
    leader_resigned = true;
    const auto it =
        std::find(r.preferred_successors.begin(), r.preferred_successors.end(), config.self);
    std::int64_t delay = config.election_timeout_ms;
    if (it != r.preferred_successors.end()) {
      const auto position = it - r.preferred_successors.begin();
      delay = position == 0 ? 0
                            : std::min<std::int64_t>(
                                  config.election_backoff_max_ms,
                                  std::int64_t{50} << std::min<std::int64_t>(position, 10));
    }
    fetch_deadline = std::min(fetch_deadline, now + delay);
    if (is_voter && delay == 0) become_prospective();
  }
  answer(KafkaError::none);
}

void Impl::on_end_epoch_response(const Message& m, const EndQuorumEpochResponse& r) {
  if (!voter(m.from)) {
    ++counters.refused_messages;
    return;
  }
  if (r.leader_epoch > epoch) observe_epoch(r.leader_epoch, r.leader_id);
}

void RaftQuorum::step(const Message& message, std::int64_t now) {
  Impl& m = *impl_;
  m.enter(now);
  if (message.to != m.config.self) {
    ++m.counters.refused_messages;
    return;
  }
  if (message.from == m.config.self || message.from < 0) {
    ++m.counters.refused_messages;
    return;
  }
  std::visit(
      [&](const auto& p) {
        using T = std::decay_t<decltype(p)>;
        if constexpr (std::is_same_v<T, VoteRequest>) m.on_vote_request(message, p);
        if constexpr (std::is_same_v<T, VoteResponse>) m.on_vote_response(message, p);
        if constexpr (std::is_same_v<T, BeginQuorumEpochRequest>)
          m.on_begin_epoch_request(message, p);
        if constexpr (std::is_same_v<T, BeginQuorumEpochResponse>)
          m.on_begin_epoch_response(message, p);
        if constexpr (std::is_same_v<T, EndQuorumEpochRequest>) m.on_end_epoch_request(message, p);
        if constexpr (std::is_same_v<T, EndQuorumEpochResponse>)
          m.on_end_epoch_response(message, p);
        if constexpr (std::is_same_v<T, FetchRequest>) m.on_fetch_request(message, p);
        if constexpr (std::is_same_v<T, FetchResponse>) m.on_fetch_response(message, p);
        if constexpr (std::is_same_v<T, FetchSnapshotRequest>)
          m.on_fetch_snapshot_request(message, p);
        if constexpr (std::is_same_v<T, FetchSnapshotResponse>)
          m.on_fetch_snapshot_response(message, p);
      },
      message.payload);
  m.answer_orphaned_fetches();
  m.check_invariants();
}

}  // namespace samsa::raft
