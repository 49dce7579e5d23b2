// Floor 7: RaftQuorum, one node of a KRaft quorum (KIP-595, KIP-996) as a pure state
// machine (house rule 2). It never does I/O: it reads its log through a RaftLog view and
// says what must change in a Ready, which RaftDriver (samsa/raft_driver.h) executes against
// a samsa Log and Kafka's quorum-state file.
//
//   In:  step(message, now) for Vote, BeginQuorumEpoch, EndQuorumEpoch and Fetch traffic;
//        tick(now); propose(values, now) on the leader; resign(now).
//   Out: ready(): quorum state to persist, log truncation, batches to append, messages to
//        send, the high watermark (commit offset) and a leader change; advance() once the
//        Ready was executed.
//
// As Kafka's KafkaRaftClient: states Unattached, Voted, Prospective, Candidate, Leader,
// Follower and Resigned; pull replication (Fetch with FetchOffset and LastFetchedEpoch,
// answered with records or a DivergingEpoch); the high watermark is the majority's fetched
// offset and advances only past the leader's epoch start (its LeaderChange record), so no
// entry of an older epoch is committed by counting replicas (the Raft paper's Figure 8);
// observers fetch but never vote or count; PreVote (KIP-996: a Prospective node asks first,
// and a follower that fetched from a live leader within fetch.timeout refuses); CheckQuorum
// (a leader that has not heard from a majority within 1.5 x fetch.timeout resigns);
// EndQuorumEpoch with preferred successors for a graceful resign; every message is fenced
// by epoch and cluster id.
//
// Linearizable reads (ReadIndex, as etcd raft: Kafka has none): read_index() on the leader
// returns an id; once a majority of voters answered a BeginQuorumEpoch sent after the read
// arrived (each still in this leader's epoch) and the leader has committed its epoch start,
// a Ready carries ReadState{id, offset}: the read is served once the host applied every
// record below offset. Leader transfer: transfer_leadership(to) stops proposals, waits
// until `to` has fetched the whole log, then resigns naming `to` first.
//
// Snapshots (KIP-630): the host hands a snapshot of its state machine at a committed offset
// (snapshot_id_at, then snapshot_created once it is frozen): the log start moves to its end.
// The leader answers a fetch below its log start with the snapshot's id; the follower
// fetches it in FetchSnapshot chunks (Ready::snapshot_chunk), the host validates and
// freezes it and says so (snapshot_fetched), and the quorum restarts the log at its end
// (Ready::load_snapshot) and fetches on from there.
//
// Not built yet (issue 11): AddVoter/RemoveVoter (the voter set is static, Kafka's
// controller.quorum.voters).
//
// Time is an argument (milliseconds; a clock that goes back is treated as standing still).
// Randomness (election timeouts, backoff) comes from RaftConfig::random_seed.
// Thread-safety: not thread-safe; one owner drives it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "samsa/kafka_error.h"
#include "samsa/leader_epoch_cache.h"
#include "samsa/quorum_state_file.h"
#include "samsa/raft_snapshot.h"
#include "samsa/status.h"
#include "samsa/types.h"

namespace samsa::raft {

using NodeId = std::int32_t;  // Kafka's ReplicaId / node.id
inline constexpr NodeId kNoNode = -1;

enum class Role : std::uint8_t {
  unattached,   // knows no leader and has not voted in its epoch
  voted,        // voted in its epoch, knows no leader
  prospective,  // asking for pre-votes (KIP-996); the epoch is unchanged
  candidate,    // asking for votes in an epoch it started
  leader,
  follower,  // fetching from a known leader (also an observer's state)
  resigned,  // a leader that stepped down, waiting for the next election
};
std::string_view to_string(Role role);

// --- messages: Kafka's RPC fields, named as in clients/.../common/message/*.json (one
// topic partition, __cluster_metadata-0). Fields marked "not on the wire" are what Kafka's
// client keeps with the request it matches a response to (by correlation id).

struct VoteRequest {              // Vote v1+
  std::string cluster_id;         // ClusterId
  NodeId voter_id = kNoNode;      // VoterId: the node asked
  LeaderEpoch candidate_epoch;    // ReplicaEpoch
  NodeId candidate_id = kNoNode;  // ReplicaId
  LeaderEpoch last_offset_epoch;  // LastOffsetEpoch
  Offset last_offset;             // LastOffset (the candidate's log end)
  bool pre_vote = false;          // PreVote (v2, KIP-996)
};
struct VoteResponse {
  KafkaError error_code = KafkaError::none;  // ErrorCode
  LeaderEpoch leader_epoch;                  // LeaderEpoch: the voter's epoch
  NodeId leader_id = kNoNode;                // LeaderId
  bool vote_granted = false;                 // VoteGranted
  bool pre_vote = false;                     // not on the wire: the request's PreVote
};
struct BeginQuorumEpochRequest {
  std::string cluster_id;
  NodeId voter_id = kNoNode;   // VoterId
  LeaderEpoch leader_epoch;    // LeaderEpoch
  NodeId leader_id = kNoNode;  // LeaderId
};
struct BeginQuorumEpochResponse {
  KafkaError error_code = KafkaError::none;
  LeaderEpoch leader_epoch;
  NodeId leader_id = kNoNode;
};
struct EndQuorumEpochRequest {
  std::string cluster_id;
  LeaderEpoch leader_epoch;
  NodeId leader_id = kNoNode;
  std::vector<NodeId> preferred_successors;  // PreferredSuccessors, best first
};
struct EndQuorumEpochResponse {
  KafkaError error_code = KafkaError::none;
  LeaderEpoch leader_epoch;
  NodeId leader_id = kNoNode;
};
struct FetchRequest {                                    // Fetch v13+, the one metadata partition
  std::string cluster_id;                                // ClusterId
  NodeId replica_id = kNoNode;                           // ReplicaState.ReplicaId
  std::int32_t max_wait_ms = 0;                          // MaxWaitMs
  LeaderEpoch current_leader_epoch;                      // CurrentLeaderEpoch
  Offset fetch_offset;                                   // FetchOffset
  LeaderEpoch last_fetched_epoch = LeaderEpoch::none();  // LastFetchedEpoch
  Offset log_start_offset;                               // LogStartOffset (the fetcher's)
  std::int32_t partition_max_bytes = 0;                  // PartitionMaxBytes
};
struct FetchResponse {
  KafkaError error_code = KafkaError::none;                // ErrorCode (partition level)
  Offset high_watermark = Offset::none();                  // HighWatermark; none while unknown
  Offset log_start_offset = Offset::none();                // LogStartOffset
  std::optional<EpochEndOffset> diverging_epoch;           // DivergingEpoch (KIP-320)
  NodeId current_leader_id = kNoNode;                      // CurrentLeader.LeaderId
  LeaderEpoch current_leader_epoch = LeaderEpoch::none();  // CurrentLeader.LeaderEpoch
  std::vector<std::byte> records;                          // Records: whole batches
  // SnapshotId (v12+, tagged): the fetch offset is below the log start; fetch this snapshot.
  std::optional<SnapshotId> snapshot_id;
};
struct FetchSnapshotRequest {        // FetchSnapshot v0+, the one metadata partition
  std::string cluster_id;            // ClusterId
  NodeId replica_id = kNoNode;       // ReplicaId
  std::int32_t max_bytes = 0;        // MaxBytes
  LeaderEpoch current_leader_epoch;  // CurrentLeaderEpoch
  SnapshotId snapshot_id{Offset(0), LeaderEpoch(0)};  // SnapshotId {EndOffset, Epoch}
  std::int64_t position = 0;                          // Position
};
struct FetchSnapshotResponse {
  KafkaError error_code = KafkaError::none;                     // ErrorCode (partition level)
  SnapshotId snapshot_id{Offset::none(), LeaderEpoch::none()};  // SnapshotId
  NodeId current_leader_id = kNoNode;                           // CurrentLeader.LeaderId
  LeaderEpoch current_leader_epoch = LeaderEpoch::none();       // CurrentLeader.LeaderEpoch
  std::int64_t size = -1;                                       // Size: the whole snapshot's
  std::int64_t position = -1;                                   // Position of this chunk
  std::vector<std::byte> unaligned_records;                     // UnalignedRecords: the chunk
};

using Payload =
    std::variant<VoteRequest, VoteResponse, BeginQuorumEpochRequest, BeginQuorumEpochResponse,
                 EndQuorumEpochRequest, EndQuorumEpochResponse, FetchRequest, FetchResponse,
                 FetchSnapshotRequest, FetchSnapshotResponse>;

struct Message {
  NodeId from = kNoNode;
  NodeId to = kNoNode;
  std::int64_t correlation_id = 0;  // a response carries its request's
  Payload payload;
};

// "Fetch{from=1 to=2 epoch=3 offset=10 last_epoch=2}" and the like, for traces and tests.
std::string describe(const Message& message);

// --- the read-only view of the local log the state machine reads. RaftDriver implements
// it over a samsa Log; tests and the simulator over memory. Valid while the quorum uses it.
class RaftLog {
 public:
  virtual ~RaftLog() = default;
  // Whole batches from the one holding `offset`, at most `max_bytes` but at least one batch
  // when one exists (KIP-74). Only batches the host has appended (executed Readys).
  virtual Result<std::vector<std::byte>> read(Offset offset, std::uint32_t max_bytes) const = 0;

  // Up to `max_bytes` of frozen snapshot `id` from byte `position`, and its whole size (a
  // FetchSnapshot answer). not_found when the snapshot is gone; out_of_range when
  // `position` is past its end.
  struct SnapshotChunk {
    std::uint64_t size = 0;
    std::vector<std::byte> bytes;
  };
  virtual Result<SnapshotChunk> read_snapshot(SnapshotId id, std::uint64_t position,
                                              std::uint32_t max_bytes) const = 0;
};

// What a node finds on disk at start: the quorum-state file (nullopt: none yet) and a
// summary of its log (RaftDriver reads it from the batches; a torn tail already cut).
// With a snapshot, the log starts at its end (RaftDriver restores this at open: it moves
// the log start to the latest snapshot, or restarts the log there when the snapshot is
// ahead of it); without one, at 0.
struct RaftLogSummary {
  Offset log_start_offset{0};
  Offset log_end_offset{0};
  std::vector<EpochEntry> epochs;  // where each leader epoch's batches begin, ascending
  std::optional<SnapshotId> latest_snapshot;
};

struct RaftConfig {
  NodeId self = kNoNode;
  // The voters (controller.quorum.voters / the bootstrap voter set). A node not in it is
  // an observer: it fetches but never votes, campaigns or counts toward the high watermark.
  std::vector<NodeId> voters;
  std::string cluster_id;
  std::uint64_t random_seed = 1;
  // Grows with each restart of this node (a host may use its start time); correlation ids
  // start at incarnation << 32, so an answer to a request sent before a restart is never
  // taken for one sent after.
  std::uint64_t incarnation = 1;
  std::int64_t election_timeout_ms = 1'000;      // controller.quorum.election.timeout.ms
  std::int64_t election_backoff_max_ms = 1'000;  // controller.quorum.election.backoff.max.ms
  std::int64_t fetch_timeout_ms = 2'000;         // controller.quorum.fetch.timeout.ms
  std::int64_t request_timeout_ms = 2'000;       // controller.quorum.request.timeout.ms
  std::int32_t fetch_max_wait_ms = 500;          // a follower's long poll (Kafka: 500)
  // Bounds. A fetch response never carries more than fetch_max_bytes (the bytes in flight
  // per follower: one fetch is in flight per follower); a proposal's batch is at most
  // batch_max_bytes (Kafka's MAX_BATCH_SIZE_BYTES) and batch_max_records records; the
  // leader refuses proposals while more than uncommitted_max_bytes of its own batches wait
  // for the high watermark; at most parked_fetches_max long polls wait at once.
  std::int32_t fetch_max_bytes = 8 << 20;
  std::size_t batch_max_bytes = 8 << 20;
  std::size_t batch_max_records = 100'000;
  std::size_t uncommitted_max_bytes = 64 << 20;
  std::size_t parked_fetches_max = 1'024;
  // Linearizable reads waiting for their confirmation round, at most (read_index refuses
  // more); one fails with REQUEST_TIMED_OUT after request_timeout_ms unconfirmed.
  std::size_t reads_pending_max = 4'096;
  // The most a FetchSnapshot answer carries (and a follower asks for): snapshots travel in
  // chunks of at most this many bytes, one in flight per follower.
  std::int32_t snapshot_chunk_max_bytes = 1 << 20;
};

struct LeaderAndEpoch {
  NodeId leader_id = kNoNode;
  LeaderEpoch epoch{0};
  friend bool operator==(const LeaderAndEpoch&, const LeaderAndEpoch&) = default;
};

// A linearizable read's answer (ReadIndex): error none and the offset below which the
// host must have applied every record before it serves the read; or an error
// (NOT_LEADER_OR_FOLLOWER: leadership was lost; REQUEST_TIMED_OUT: no majority confirmed it
// within request_timeout_ms) and the read must be retried, on the leader.
struct ReadState {
  std::uint64_t read_id = 0;
  Offset read_offset = Offset::none();
  KafkaError error_code = KafkaError::none;
};

// What the quorum asks of its host. Ordering rule, "durable before sent", enforced by
// RaftDriver:
//   1. write `quorum_state` durably (temp file, fsync, rename, directory fsync);
//   2. truncate the log to `truncate_to`;
//   3. append `append` (whole batches, offsets and epochs assigned, starting at the log end
//      after step 2) and fdatasync the log;
//   4. only then send `messages` (a vote or a fetch tells others what this node holds and
//      has promised: it must be on disk first);
//   5. the records below `high_watermark` are committed: the host may apply them; a
//      `leader_change` is reported;
//   6. each of `reads` is served once the host applied every record below its read_offset.
// Snapshots add to steps 2 and 3:
//   2a. `load_snapshot`: the snapshot (frozen by the host, see snapshot_fetched) replaces
//       the log: the log is emptied and restarts at its end offset (Kafka's
//       truncateToLatestSnapshot), durably; the host loads its state machine from it;
//   2b. `log_start_offset`: the log start moves there (the host's snapshot of that end is
//       frozen already): records below it may be deleted;
//   3a. `snapshot_chunk`: write the chunk at its position into the snapshot being
//       received (position 0: start a new one, dropping any unfinished other); when `last`,
//       validate the whole snapshot, fsync and rename it into place, then (after advance())
//       call snapshot_fetched() with the outcome.
// Then advance(). Nothing in a Ready refers to the quorum's memory.
struct SnapshotChunkWrite {
  SnapshotId id{Offset(0), LeaderEpoch(0)};
  std::uint64_t position = 0;
  std::vector<std::byte> bytes;
  bool last = false;  // the chunk completes the snapshot
};
struct Ready {
  std::optional<QuorumStateData> quorum_state;
  std::optional<Offset> truncate_to;
  std::optional<SnapshotId> load_snapshot;
  std::optional<Offset> log_start_offset;
  std::vector<std::vector<std::byte>> append;
  std::optional<SnapshotChunkWrite> snapshot_chunk;
  std::vector<Message> messages;
  std::optional<Offset> high_watermark;
  std::optional<LeaderAndEpoch> leader_change;
  std::vector<ReadState> reads;
  bool empty() const {
    return !quorum_state && !truncate_to && !load_snapshot && !log_start_offset && append.empty() &&
           !snapshot_chunk && messages.empty() && !high_watermark && !leader_change &&
           reads.empty();
  }
};

// A proposal's answer: ok with the offsets its records got (committed once the high
// watermark passes last_offset, unless a leader change truncates them first: then they are
// lost, never committed twice), or an error naming why with the leader to try instead.
struct ProposeResult {
  Status status;
  KafkaError error_code = KafkaError::none;  // NOT_LEADER_OR_FOLLOWER, RECORD_LIST_TOO_LARGE
  Offset base_offset = Offset::none();
  Offset last_offset = Offset::none();
  LeaderAndEpoch leader;  // the leader this node knows (a hint on error)
  bool ok() const { return status.ok(); }
};

// read_index()'s answer: ok with the id a later Ready's ReadState carries, or an error
// naming why (not the leader: the leader hint; too many reads pending).
struct ReadIndexResult {
  Status status;
  KafkaError error_code = KafkaError::none;
  std::uint64_t read_id = 0;
  LeaderAndEpoch leader;
  bool ok() const { return status.ok(); }
};

struct RaftStatus {
  NodeId self = kNoNode;
  Role role = Role::unattached;
  LeaderEpoch epoch{0};
  NodeId leader_id = kNoNode;
  NodeId voted_id = kNoNode;
  bool is_voter = false;
  Offset log_start_offset{0};
  Offset log_end_offset{0};
  Offset high_watermark = Offset::none();
  Offset epoch_start_offset = Offset::none();    // leader: where its LeaderChange record is
  LeaderEpoch last_epoch = LeaderEpoch::none();  // of the last batch in the log
  NodeId transfer_target = kNoNode;              // leader: leadership moving to it
  std::size_t reads_pending = 0;                 // leader: reads awaiting confirmation
  std::optional<SnapshotId> latest_snapshot;     // the log starts at its end
  std::optional<SnapshotId> fetching_snapshot;   // follower: being received from the leader
};

// Counters a host reports (and tests check).
struct RaftCounters {
  std::uint64_t elections_started = 0;  // Candidate transitions
  std::uint64_t prevotes_started = 0;   // Prospective transitions
  std::uint64_t became_leader = 0;
  std::uint64_t check_quorum_resigns = 0;
  std::uint64_t truncations = 0;
  std::uint64_t refused_messages = 0;  // unknown node, wrong cluster, malformed records
  std::uint64_t stale_responses = 0;   // answers to requests no longer outstanding
  std::uint64_t reads_confirmed = 0;
  std::uint64_t reads_failed = 0;
  std::uint64_t transfers_done = 0;     // resigned for a transfer
  std::uint64_t transfers_aborted = 0;  // the target did not catch up in time
  std::uint64_t snapshots_created = 0;  // snapshot_created() accepted
  std::uint64_t snapshots_sent = 0;     // leader: FetchSnapshot chunks answered
  std::uint64_t snapshots_loaded = 0;   // follower: fetched snapshots that replaced the log
  std::uint64_t snapshots_refused = 0;  // malformed chunks or snapshots that did not validate
};

class RaftQuorum {
 public:
  // A node starting from what it found on disk. Fails (invalid_argument) on a config that
  // cannot work: self or voters out of range, a repeated voter, timeouts <= 0, or a
  // persisted state that contradicts itself (a leader id that is not a voter, the log's
  // last epoch above the persisted epoch).
  static Result<std::unique_ptr<RaftQuorum>> create(RaftConfig config,
                                                    std::optional<QuorumStateData> persisted,
                                                    RaftLogSummary log, const RaftLog* reader,
                                                    std::int64_t now);
  ~RaftQuorum();
  RaftQuorum(const RaftQuorum&) = delete;
  RaftQuorum& operator=(const RaftQuorum&) = delete;

  // Handles one message addressed to this node. Malformed, stale, foreign (another
  // cluster, a non-voter asking for votes) messages are refused, answered with an error
  // where Kafka answers one, and counted; never a crash.
  void step(const Message& message, std::int64_t now);
  // Fires the timers due at `now`: elections, fetch timeouts, CheckQuorum, retries, long
  // polls that expire.
  void tick(std::int64_t now);
  // The leader appends `values` (opaque records for the host's state machine) as one batch.
  ProposeResult propose(std::span<const std::vector<std::byte>> values, std::int64_t now);
  // A graceful resign (Kafka's EndQuorumEpoch): the leader steps down and names its most
  // caught-up voters as preferred successors. A no-op (false) when not the leader.
  bool resign(std::int64_t now);
  // A linearizable read (ReadIndex): see ReadState. Only on the leader.
  ReadIndexResult read_index(std::int64_t now);
  // Moves leadership to voter `to`: proposals are refused (NOT_LEADER_OR_FOLLOWER) from now;
  // once `to` fetches (after this call: it is live) up to the log end the leader resigns with `to`
  // as first preferred successor (it campaigns at once). Abandoned, and proposals accepted again,
  // when `to` has not caught up within election_timeout_ms. invalid_argument when `to` is not
  // another voter; failed_precondition when not the leader.
  Status transfer_leadership(NodeId to, std::int64_t now);

  // Snapshots. The id a snapshot of every record below `end_offset` gets: its epoch is the
  // epoch of the batch ending there. invalid_argument unless log start < end_offset <= the
  // high watermark (committed and durable) and a batch ends at end_offset.
  Result<SnapshotId> snapshot_id_at(Offset end_offset) const;
  // The host froze snapshot `id` (from snapshot_id_at): the log start moves to its end
  // (Ready::log_start_offset) and fetches below it are answered with the snapshot.
  // invalid_argument when `id` is not what snapshot_id_at(id.end_offset) says.
  Status snapshot_created(SnapshotId id, std::int64_t now);
  // The outcome of executing a Ready's last snapshot chunk (step 3a): ok when the snapshot
  // validated and is frozen, else why not (corruption: it is fetched again). Call it
  // right after advance() of that Ready, before any other input.
  void snapshot_fetched(SnapshotId id, const Status& outcome, std::int64_t now);

  bool has_ready() const;
  // Takes what has accumulated since the last advance(). Call advance() before the next
  // step, tick, propose or ready.
  Ready ready();
  // The host executed the last Ready (every step of its ordering rule).
  void advance(std::int64_t now);

  RaftStatus status() const;
  const RaftCounters& counters() const;
  // The earliest time tick() has something to do (a host may sleep until then).
  std::int64_t next_deadline() const;

  // Checks every internal invariant; a broken one aborts (SAMSA_ASSERT). Run after every
  // step by the tests and the simulator; cheap enough to leave on.
  void check_invariants() const;

  struct Impl;  // internal (lib/raft_quorum_impl.h)

 private:
  explicit RaftQuorum(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace samsa::raft
