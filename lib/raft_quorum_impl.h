// Internal: RaftQuorum's state, shared by raft_quorum.cc (transitions, timers, proposals,
// Ready), raft_quorum_vote.cc (Vote, BeginQuorumEpoch, EndQuorumEpoch),
// raft_quorum_fetch.cc (Fetch on both sides), raft_quorum_snapshot.cc (snapshots,
// FetchSnapshot on both sides) and raft_quorum_read.cc (ReadIndex, leader transfer).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include "samsa/raft_quorum.h"

namespace samsa::raft {

// Where each leader epoch's batches begin in the local log.
// Below the first entry lies the snapshot the log starts at (`base`), when there is one.
struct Epochs {
  std::vector<EpochEntry> entries;
  std::optional<SnapshotId> base;  // the latest snapshot; the log starts at its end
  // The largest epoch <= `requested` and where it ends (Kafka's endOffsetForEpoch); an
  // epoch above every known one ends at the log end; one below all ends at the first start
  // (the snapshot's epoch, when it is <= `requested`, ends there too).
  EpochEndOffset end_for(LeaderEpoch requested, Offset log_end) const;
  LeaderEpoch latest() const;  // of the last batch, else of the snapshot
  void assign(LeaderEpoch epoch, Offset start);
  void truncate(Offset end);  // the log was cut to `end`
  // The log now starts at snapshot `s`'s end: entries wholly below it go, the one holding
  // it starts there.
  void start_at(SnapshotId s, Offset log_end);
};

// A follower receiving a snapshot from the leader (Kafka's FollowerState.fetchingSnapshot).
struct FetchingSnapshot {
  SnapshotId id;
  std::uint64_t received = 0;  // bytes handed to the host so far
  std::int64_t size = -1;      // the whole snapshot's, once the leader said
  bool finishing = false;      // the last chunk is out: waiting for snapshot_fetched()
};

// The leader's view of one voter (Kafka's LeaderState.ReplicaState).
struct ReplicaProgress {
  Offset end{0};  // the last FetchOffset it sent: its durable log end
  std::int64_t last_fetch_at = -1;
  std::int64_t begin_sent_at = -1'000'000'000;
};

struct ParkedFetch {
  NodeId from = kNoNode;
  std::int64_t correlation_id = 0;
  FetchRequest request;
  std::int64_t deadline = 0;
};

// A linearizable read waiting for a majority to confirm the leadership after it arrived.
struct PendingRead {
  std::uint64_t id = 0;
  std::uint64_t round = 0;  // the confirmation round that must complete
  std::int64_t arrived_at = 0;
};

struct InFlightFetch {
  std::int64_t correlation_id = 0;
  std::int64_t sent_at = 0;
  NodeId to = kNoNode;
  bool snapshot = false;  // a FetchSnapshot
};

struct RaftQuorum::Impl {
  RaftConfig config;
  const RaftLog* reader = nullptr;
  std::mt19937_64 rng;
  std::int64_t now = 0;
  std::int64_t next_correlation = 0;
  bool is_voter = false;

  // Election state (what quorum-state holds).
  Role role = Role::unattached;
  LeaderEpoch epoch{0};
  NodeId leader_id = kNoNode;
  NodeId voted_id = kNoNode;
  QuorumStateData persisted;

  // The local log as the host will hold it once the pending Ready is executed.
  Offset log_start{0};
  Offset log_end{0};
  Offset durable_end{0};  // the log end as of the last advance()
  Offset handed_end{0};   // the log end as of the last ready()
  Epochs epochs;
  Offset high_watermark = Offset::none();
  bool hw_changed = false;

  // Timers.
  std::int64_t election_deadline = 0;
  std::int64_t fetch_deadline = 0;
  std::int64_t fetch_backoff_until = 0;
  std::int64_t check_quorum_deadline = 0;
  std::int64_t observer_next_at = 0;

  // Prospective / Candidate.
  std::set<NodeId> prospective_granted, prospective_rejected;
  std::set<NodeId> candidate_granted, candidate_rejected;
  std::map<NodeId, std::int64_t> vote_sent_at;  // unanswered vote requests

  // Leader.
  std::map<NodeId, ReplicaProgress> replicas;  // voters (self included)
  std::set<NodeId> begin_acked;
  std::set<NodeId> check_quorum_heard;
  std::vector<ParkedFetch> parked;
  // The parked fetches of a leader that just stepped down, answered once the new state is
  // set (answer_orphaned_fetches).
  std::vector<ParkedFetch> orphaned_fetches;
  // The high watermark each fetcher holds as far as the leader knows: the last one it was
  // sent, capped at the log end that answer left it with.
  std::map<NodeId, Offset> hw_sent;
  Offset epoch_start_offset = Offset::none();
  std::deque<std::pair<Offset, std::size_t>> uncommitted;  // (end offset, bytes) of own batches
  std::size_t uncommitted_bytes = 0;
  // ReadIndex: reads in arrival order; round k's BeginQuorumEpoch probes by correlation id;
  // the last round each voter answered in this epoch.
  std::deque<PendingRead> reads;
  std::uint64_t next_read_id = 1;
  std::uint64_t read_round = 0;  // the last round started
  bool read_round_wanted = false;
  std::map<std::int64_t, std::pair<std::uint64_t, std::int64_t>>
      read_probes;  // id -> (round, sent)
  std::map<NodeId, std::uint64_t> read_confirmed;
  // Leader transfer.
  NodeId transfer_target = kNoNode;
  std::int64_t transfer_deadline = 0;
  bool transfer_fetched = false;  // the target fetched since the transfer began: it is live

  // Follower.
  std::optional<InFlightFetch> fetch_in_flight;
  bool leader_resigned = false;  // EndQuorumEpoch seen: the leader is not live
  // A fetch from the leader succeeded in this epoch (Kafka's FollowerState
  // hasFetchedFromLeader). Only then is the leader known to be live: a follower that merely
  // heard of it (BeginQuorumEpoch, a response naming it) grants pre-votes and names no one.
  bool fetched_from_leader = false;
  std::optional<FetchingSnapshot> fetching_snapshot;

  Ready out;
  bool ready_outstanding = false;
  LeaderAndEpoch last_reported;
  RaftCounters counters;

  // raft_quorum.cc
  bool voter(NodeId id) const;
  // The leader this node names in its answers: only a live one (itself while leading, the
  // one it follows or still trusts), never itself once it stopped leading.
  NodeId advertised_leader() const;
  std::size_t majority() const;
  std::int64_t random_between(std::int64_t lo, std::int64_t hi);
  void reset_election_timer();
  void send(NodeId to, Payload payload, std::int64_t correlation_id);
  std::int64_t next_id();
  void persist();
  void clear_role_state();
  void become_unattached(LeaderEpoch new_epoch);
  void become_voted(NodeId candidate);
  void become_follower(LeaderEpoch new_epoch, NodeId leader, bool persist_it = true);
  void become_prospective();
  void become_candidate();
  void become_leader();
  void become_resigned(bool graceful, NodeId first_successor = kNoNode);
  void become_resigned_at_start();
  void high_watermark_reset_for_new_epoch();
  std::int64_t check_quorum_timeout() const;
  std::int64_t begin_epoch_period(NodeId v) const;
  void maybe_advance_high_watermark();
  void set_high_watermark(Offset hw);
  void append_own(std::vector<std::byte> batch);
  // What a refused proposal or read names as the leader, and the refusal's status.
  LeaderAndEpoch leader_hint() const;
  Status not_leader_status(const LeaderAndEpoch& hint) const;
  void enter(std::int64_t t);
  void on_tick();
  void check_invariants() const;
  void check_log_invariants() const;   // offsets, epochs, snapshot, high watermark
  void check_role_invariants() const;  // what each role holds, bounds

  // raft_quorum_read.cc
  void start_read_round();
  void maybe_confirm_reads();
  void fail_reads(KafkaError code, bool only_expired);
  void maybe_finish_transfer();

  // raft_quorum_vote.cc
  void send_vote_request(NodeId to, bool pre_vote);
  void resend_vote_requests();
  void send_begin_epoch(NodeId to);
  bool log_up_to_date(LeaderEpoch last_epoch, Offset last_offset) const;
  // A message from `from` carries (epoch, leader): moves to a newer epoch, or learns the
  // leader of this one. True when the message is from the current epoch (or a newer one,
  // now current) and may be handled further.
  bool observe_epoch(LeaderEpoch their_epoch, NodeId their_leader);
  void on_vote_request(const Message& m, const VoteRequest& r);
  void on_vote_response(const Message& m, const VoteResponse& r);
  void on_begin_epoch_request(const Message& m, const BeginQuorumEpochRequest& r);
  void on_begin_epoch_response(const Message& m, const BeginQuorumEpochResponse& r);
  void on_end_epoch_request(const Message& m, const EndQuorumEpochRequest& r);
  void on_end_epoch_response(const Message& m, const EndQuorumEpochResponse& r);

  // raft_quorum_fetch.cc
  void send_fetch();
  void observer_discover();
  void on_fetch_request(const Message& m, const FetchRequest& r);
  void on_fetch_response(const Message& m, const FetchResponse& r);
  // Answers a fetch now; false when it should wait (long poll) instead.
  bool answer_fetch(NodeId from, std::int64_t correlation_id, const FetchRequest& r, bool may_park);
  // Answering a fetch at `fetch_offset` would raise the high watermark `from` holds.
  bool hw_news_for(NodeId from, Offset fetch_offset) const;
  void complete_parked_fetches(bool only_if_news);
  void expire_parked_fetches();
  void answer_orphaned_fetches();
  void truncate_log(Offset to);
  // The leader heard from voter `from` (a fresh Fetch or FetchSnapshot): CheckQuorum.
  void heard_from(NodeId from);
  // The checks every answer to this follower's fetches shares; false when the answer was
  // handled (a newer epoch, a stale or foreign answer).
  bool follower_answer_current(const Message& m, LeaderEpoch their_epoch, NodeId their_leader);

  // raft_quorum_snapshot.cc
  // Fetches below the log start, or from an epoch before the snapshot's, get the snapshot.
  bool needs_snapshot(const FetchRequest& r) const;
  void send_fetch_snapshot();
  void on_fetch_snapshot_request(const Message& m, const FetchSnapshotRequest& r);
  void on_fetch_snapshot_response(const Message& m, const FetchSnapshotResponse& r);
  // A FetchResponse named a snapshot: start fetching it (or refuse a bad id).
  void begin_fetching_snapshot(SnapshotId id);
};

using Impl = RaftQuorum::Impl;

}  // namespace samsa::raft
