// RaftQuorum (samsa/raft_quorum.h): state, transitions, timers, proposals, Ready.
// Vote traffic is in raft_quorum_vote.cc, Fetch traffic in raft_quorum_fetch.cc.
#include "samsa/raft_quorum.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "invariant.h"
#include "raft_quorum_impl.h"
#include "samsa/raft_records.h"
#include "samsa/record_batch.h"
#include "strong_types.h"

namespace samsa::raft {

std::string_view to_string(Role role) {
  switch (role) {
    case Role::unattached:
      return "Unattached";
    case Role::voted:
      return "Voted";
    case Role::prospective:
      return "Prospective";
    case Role::candidate:
      return "Candidate";
    case Role::leader:
      return "Leader";
    case Role::follower:
      return "Follower";
    case Role::resigned:
      return "Resigned";
  }
  return "?";
}

namespace {

std::string describe_payload(const VoteRequest& m) {
  return fmt::format("{}{{epoch={} candidate={} last=({},{})}}", m.pre_vote ? "PreVote" : "Vote",
                     m.candidate_epoch, m.candidate_id, m.last_offset_epoch, m.last_offset);
}
std::string describe_payload(const VoteResponse& m) {
  return fmt::format(
      "{}Response{{{}epoch={} leader={} granted={}}}", m.pre_vote ? "PreVote" : "Vote",
      m.error_code == KafkaError::none ? "" : fmt::format("{} ", to_string(m.error_code)),
      m.leader_epoch, m.leader_id, m.vote_granted);
}
std::string describe_payload(const BeginQuorumEpochRequest& m) {
  return fmt::format("BeginQuorumEpoch{{epoch={} leader={}}}", m.leader_epoch, m.leader_id);
}
std::string describe_payload(const BeginQuorumEpochResponse& m) {
  return fmt::format("BeginQuorumEpochResponse{{{} epoch={} leader={}}}", to_string(m.error_code),
                     m.leader_epoch, m.leader_id);
}
std::string describe_payload(const EndQuorumEpochRequest& m) {
  return fmt::format("EndQuorumEpoch{{epoch={} leader={} successors=[{}]}}", m.leader_epoch,
                     m.leader_id, fmt::join(m.preferred_successors, ","));
}
std::string describe_payload(const EndQuorumEpochResponse& m) {
  return fmt::format("EndQuorumEpochResponse{{{} epoch={} leader={}}}", to_string(m.error_code),
                     m.leader_epoch, m.leader_id);
}
std::string describe_payload(const FetchRequest& m) {
  return fmt::format("Fetch{{epoch={} offset={} last_epoch={} wait={}}}", m.current_leader_epoch,
                     m.fetch_offset, m.last_fetched_epoch, m.max_wait_ms);
}
std::string describe_payload(const FetchResponse& m) {
  std::string s = fmt::format("FetchResponse{{{} leader={} epoch={} hw={}", to_string(m.error_code),
                              m.current_leader_id, m.current_leader_epoch, m.high_watermark);
  if (m.diverging_epoch) {
    s += fmt::format(" diverging=({},{})", m.diverging_epoch->epoch, m.diverging_epoch->end_offset);
  }
  if (!m.records.empty()) {
    // Offsets of the batches carried, without trusting them beyond their headers.
    Offset first = Offset::none();
    Offset last = Offset::none();
    std::size_t pos = 0;
    int batches = 0;
    while (pos < m.records.size()) {
      auto view = RecordBatchView::parse(ByteSpan(m.records).subspan(pos));
      if (!view.ok()) break;
      if (first == Offset::none()) first = view->base_offset();
      last = view->last_offset();
      pos += view->size_bytes();
      ++batches;
    }
    s += fmt::format(" records=[{},{}] batches={}", first, last, batches);
  }
  if (m.snapshot_id)
    s += fmt::format(" snapshot={}-{}", m.snapshot_id->end_offset, m.snapshot_id->epoch);
  return s + "}";
}
std::string describe_payload(const FetchSnapshotRequest& m) {
  return fmt::format("FetchSnapshot{{epoch={} snapshot={}-{} position={} max={}}}",
                     m.current_leader_epoch, m.snapshot_id.end_offset, m.snapshot_id.epoch,
                     m.position, m.max_bytes);
}
std::string describe_payload(const FetchSnapshotResponse& m) {
  return fmt::format(
      "FetchSnapshotResponse{{{} leader={} epoch={} snapshot={}-{} size={} position={} bytes={}}}",
      to_string(m.error_code), m.current_leader_id, m.current_leader_epoch,
      m.snapshot_id.end_offset, m.snapshot_id.epoch, m.size, m.position,
      m.unaligned_records.size());
}

}  // namespace

std::string describe(const Message& message) {
  return fmt::format(
      "{}->{} {}", message.from, message.to,
      std::visit([](const auto& p) { return describe_payload(p); }, message.payload));
}

// --- epochs of the local log

EpochEndOffset Epochs::end_for(LeaderEpoch requested, Offset log_end) const {
  if (requested == LeaderEpoch::none()) return {};
  const bool in_base = base && requested >= base->epoch;
  if (entries.empty()) return in_base ? EpochEndOffset{base->epoch, log_end} : EpochEndOffset{};
  if (requested >= entries.back().epoch) return {entries.back().epoch, log_end};
  auto higher = std::upper_bound(entries.begin(), entries.end(), requested,
                                 [](LeaderEpoch e, const EpochEntry& x) { return e < x.epoch; });
  if (higher == entries.begin()) {
    return {in_base ? base->epoch : requested, higher->start_offset};
  }
  return {std::prev(higher)->epoch, higher->start_offset};
}

LeaderEpoch Epochs::latest() const {
  if (!entries.empty()) return entries.back().epoch;
  return base ? base->epoch : LeaderEpoch::none();
}

void Epochs::start_at(SnapshotId s, Offset log_end) {
  const Offset start = s.end_offset;
  std::size_t first = 0;  // the last entry starting at or below `start` holds it
  while (first + 1 < entries.size() && entries[first + 1].start_offset <= start) ++first;
  entries.erase(entries.begin(), entries.begin() + static_cast<std::ptrdiff_t>(first));
  if (!entries.empty() && entries.front().start_offset < start)
    entries.front().start_offset = start;
  // An epoch none of whose batches is left (the snapshot ends at the log end) goes too.
  if (!entries.empty() && entries.front().start_offset >= log_end) entries.clear();
  base = s;
}

void Epochs::assign(LeaderEpoch epoch, Offset start) {
  if (!entries.empty() && entries.back().epoch == epoch) return;
  SAMSA_ASSERT(entries.empty() || entries.back().epoch < epoch, "epoch {} after {}", epoch,
               entries.back().epoch);
  SAMSA_ASSERT(entries.empty() || entries.back().start_offset <= start, "start {} after {}", start,
               entries.back().start_offset);
  entries.push_back({epoch, start});
}

void Epochs::truncate(Offset end) {
  while (!entries.empty() && entries.back().start_offset >= end) entries.pop_back();
}

// --- Impl

Result<std::unique_ptr<RaftQuorum>> RaftQuorum::create(RaftConfig config,
                                                       std::optional<QuorumStateData> persisted,
                                                       RaftLogSummary log, const RaftLog* reader,
                                                       std::int64_t now) {
  if (config.self < 0)
    return Status::invalid_argument(fmt::format("raft: node id {} < 0", config.self));
  if (config.voters.empty()) return Status::invalid_argument("raft: the voter set is empty");
  std::set<NodeId> seen;
  for (NodeId v : config.voters) {
    if (v < 0) return Status::invalid_argument(fmt::format("raft: voter id {} < 0", v));
    if (!seen.insert(v).second) {
      return Status::invalid_argument(fmt::format("raft: voter {} listed twice", v));
    }
  }
  if (config.election_timeout_ms <= 0 || config.fetch_timeout_ms <= 0 ||
      config.request_timeout_ms <= 0 || config.election_backoff_max_ms <= 0) {
    return Status::invalid_argument("raft: timeouts must be > 0");
  }
  if (config.fetch_max_bytes <= 0 || config.batch_max_bytes == 0 || config.batch_max_records == 0) {
    return Status::invalid_argument("raft: fetch_max_bytes and batch bounds must be > 0");
  }
  if (reader == nullptr) return Status::invalid_argument("raft: no log reader");
  if (log.log_end_offset < log.log_start_offset) {
    return Status::invalid_argument(fmt::format("raft: log end {} below log start {}",
                                                log.log_end_offset, log.log_start_offset));
  }
  if (log.latest_snapshot) {
    const SnapshotId& snap = *log.latest_snapshot;
    if (snap.end_offset <= Offset(0) || snap.epoch < LeaderEpoch(0) ||
        log.log_start_offset != snap.end_offset) {
      return Status::invalid_argument(
          fmt::format("raft: the log starts at {} but the latest snapshot is {}-{} (a log with a "
                      "snapshot starts at its end)",
                      log.log_start_offset, snap.end_offset, snap.epoch));
    }
    if (!log.epochs.empty() && log.epochs.front().epoch < snap.epoch) {
      return Status::invalid_argument(
          fmt::format("raft: the log's first epoch {} is older than snapshot {}-{}",
                      log.epochs.front().epoch, snap.end_offset, snap.epoch));
    }
  } else if (log.log_start_offset != Offset(0)) {
    return Status::invalid_argument(
        fmt::format("raft: the log starts at {} but no snapshot holds the records below it",
                    log.log_start_offset));
  }
  if (config.snapshot_chunk_max_bytes <= 0) {
    return Status::invalid_argument("raft: snapshot_chunk_max_bytes must be > 0");
  }
  auto impl = std::make_unique<Impl>();
  impl->config = std::move(config);
  impl->reader = reader;
  impl->rng.seed(impl->config.random_seed);
  impl->next_correlation = static_cast<std::int64_t>(impl->config.incarnation << 32);
  impl->now = now;
  impl->log_start = log.log_start_offset;
  impl->log_end = log.log_end_offset;
  impl->durable_end = log.log_end_offset;
  for (const EpochEntry& e : log.epochs) {
    if (!impl->epochs.entries.empty() &&
        (e.epoch <= impl->epochs.entries.back().epoch ||
         e.start_offset < impl->epochs.entries.back().start_offset)) {
      return Status::invalid_argument(
          fmt::format("raft: log epochs out of order at epoch {}", e.epoch));
    }
    impl->epochs.entries.push_back(e);
  }
  impl->epochs.base = log.latest_snapshot;
  // A snapshot holds committed records only: the high watermark is at least its end.
  if (log.latest_snapshot) impl->high_watermark = log.latest_snapshot->end_offset;
  impl->is_voter = impl->voter(impl->config.self);
  QuorumStateData q = persisted.value_or(QuorumStateData{});
  if (q.leader_epoch < 0) {
    return Status::invalid_argument(fmt::format("raft: quorum-state epoch {} < 0", q.leader_epoch));
  }
  if (impl->epochs.latest() > LeaderEpoch(q.leader_epoch)) {
    return Status::invalid_argument(
        fmt::format("raft: the log holds epoch {} but quorum-state says epoch {}",
                    impl->epochs.latest(), q.leader_epoch));
  }
  if (q.leader_id != kNoNode && !impl->voter(q.leader_id)) {
    return Status::invalid_argument(
        fmt::format("raft: quorum-state leader {} is not a voter", q.leader_id));
  }
  impl->epoch = LeaderEpoch(q.leader_epoch);
  impl->persisted = q;
  // Kafka's QuorumState.initialize: a node restarts as Unattached or Voted in its epoch, or
  // as a follower of the leader it knew; a node that was the leader resigns (it cannot know
  // what it lost), and an elected-but-unknown epoch is left to the next election.
  impl->voted_id = q.voted_id;
  if (q.leader_id == impl->config.self) {
    impl->leader_id = impl->config.self;
    impl->become_resigned_at_start();
  } else if (q.leader_id != kNoNode) {
    impl->become_follower(impl->epoch, q.leader_id, /*persist=*/false);
  } else if (q.voted_id != kNoNode) {
    impl->role = Role::voted;
    impl->reset_election_timer();
  } else {
    impl->role = Role::unattached;
    impl->reset_election_timer();
  }
  impl->last_reported = {impl->leader_id, impl->epoch};
  impl->check_invariants();
  return std::unique_ptr<RaftQuorum>(new RaftQuorum(std::move(impl)));
}

RaftQuorum::RaftQuorum(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RaftQuorum::~RaftQuorum() = default;

const RaftCounters& RaftQuorum::counters() const {
  return impl_->counters;
}

bool Impl::voter(NodeId id) const {
  return std::find(config.voters.begin(), config.voters.end(), id) != config.voters.end();
}

NodeId Impl::advertised_leader() const {
  if (role == Role::leader) return config.self;
  // A follower names its leader only once it fetched from it: one that only heard of a
  // leader that then died would send every Prospective node back to following the dead
  // leader, and a majority could never elect. A Prospective node names no one.
  if (role == Role::follower && fetched_from_leader && !leader_resigned) return leader_id;
  return kNoNode;
}

std::size_t Impl::majority() const {
  return config.voters.size() / 2 + 1;
}

std::int64_t Impl::random_between(std::int64_t lo, std::int64_t hi) {
  if (hi <= lo) return lo;
  return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
}

void Impl::reset_election_timer() {
  election_deadline =
      now + random_between(config.election_timeout_ms, 2 * config.election_timeout_ms);
}

void Impl::send(NodeId to, Payload payload, std::int64_t correlation_id) {
  out.messages.push_back(Message{config.self, to, correlation_id, std::move(payload)});
}

std::int64_t Impl::next_id() {
  return next_correlation++;
}

void Impl::persist() {
  QuorumStateData q;
  q.leader_epoch = epoch.value();
  q.leader_id = leader_id;
  q.voted_id = voted_id;
  if (q == persisted) return;
  persisted = q;
  out.quorum_state = q;
}

void Impl::clear_role_state() {
  prospective_granted.clear();
  prospective_rejected.clear();
  candidate_granted.clear();
  candidate_rejected.clear();
  vote_sent_at.clear();
  replicas.clear();
  begin_acked.clear();
  for (auto& p : parked) orphaned_fetches.push_back(std::move(p));
  parked.clear();
  hw_sent.clear();
  fetch_in_flight.reset();
  fetching_snapshot.reset();
  leader_resigned = false;
  fetched_from_leader = false;
  check_quorum_heard.clear();
  uncommitted.clear();
  uncommitted_bytes = 0;
  epoch_start_offset = Offset::none();
  // Reads a leader had not confirmed fail: the host retries them on the new leader.
  fail_reads(KafkaError::not_leader_or_follower, /*only_expired=*/false);
  read_round = 0;
  read_round_wanted = false;
  read_probes.clear();
  read_confirmed.clear();
  transfer_target = kNoNode;
}

void Impl::become_unattached(LeaderEpoch new_epoch) {
  SAMSA_ASSERT(new_epoch > epoch, "unattached epoch {} > {}", new_epoch, epoch);
  clear_role_state();
  role = Role::unattached;
  epoch = new_epoch;
  leader_id = kNoNode;
  voted_id = kNoNode;
  high_watermark_reset_for_new_epoch();
  reset_election_timer();
  persist();
}

void Impl::become_voted(NodeId candidate) {
  SAMSA_ASSERT(voted_id == kNoNode || voted_id == candidate, "voted {} then {}", voted_id,
               candidate);
  SAMSA_ASSERT(leader_id == kNoNode, "voting with a known leader {}", leader_id);
  clear_role_state();
  role = Role::voted;
  voted_id = candidate;
  reset_election_timer();
  persist();
}

void Impl::become_follower(LeaderEpoch new_epoch, NodeId leader, bool persist_it) {
  SAMSA_ASSERT(new_epoch >= epoch, "follower epoch {} >= {}", new_epoch, epoch);
  SAMSA_ASSERT(leader != config.self, "following itself in epoch {}", new_epoch);
  const bool new_epoch_started = new_epoch > epoch;
  clear_role_state();
  role = Role::follower;
  if (new_epoch_started) {
    epoch = new_epoch;
    voted_id = kNoNode;
    high_watermark_reset_for_new_epoch();
  }
  leader_id = leader;
  fetch_deadline = now + config.fetch_timeout_ms;
  fetch_backoff_until = now;
  if (persist_it) persist();
  send_fetch();
}

void Impl::become_prospective() {
  SAMSA_ASSERT(is_voter, "observer {} campaigning", config.self);
  clear_role_state();
  role = Role::prospective;
  if (leader_id == config.self) leader_id = kNoNode;  // a resigned leader trusts no one
  ++counters.prevotes_started;
  reset_election_timer();
  prospective_granted.insert(config.self);
  if (prospective_granted.size() >= majority()) {
    become_candidate();
    return;
  }
  for (NodeId v : config.voters) {
    if (v != config.self) send_vote_request(v, /*pre_vote=*/true);
  }
}

void Impl::become_candidate() {
  SAMSA_ASSERT(is_voter, "observer {} campaigning", config.self);
  clear_role_state();
  role = Role::candidate;
  epoch = LeaderEpoch(epoch.value() + 1);
  leader_id = kNoNode;
  voted_id = config.self;
  high_watermark_reset_for_new_epoch();
  ++counters.elections_started;
  reset_election_timer();
  persist();
  candidate_granted.insert(config.self);
  if (candidate_granted.size() >= majority()) {
    become_leader();
    return;
  }
  for (NodeId v : config.voters) {
    if (v != config.self) send_vote_request(v, /*pre_vote=*/false);
  }
}

void Impl::become_leader() {
  SAMSA_ASSERT(role == Role::candidate, "leader from {}", to_string(role));
  std::vector<std::int32_t> granting(candidate_granted.begin(), candidate_granted.end());
  clear_role_state();
  role = Role::leader;
  read_confirmed.clear();
  leader_id = config.self;
  ++counters.became_leader;
  persist();
  for (NodeId v : config.voters) {
    replicas[v] = ReplicaProgress{};
  }
  replicas[config.self].end = durable_end;
  // A lone voter is its own majority and hears from no one: CheckQuorum never expires
  // (Kafka's LeaderState.timeUntilCheckQuorumExpires with one voter).
  check_quorum_deadline = config.voters.size() == 1 ? std::numeric_limits<std::int64_t>::max()
                                                    : now + check_quorum_timeout();
  // The first batch of the epoch: the LeaderChange control record (KIP-595). The high
  // watermark advances only past it, so older entries commit with it, never by counting.
  epoch_start_offset = log_end;
  LeaderChangeMessage lc;
  lc.leader_id = config.self;
  lc.voters.assign(config.voters.begin(), config.voters.end());
  lc.granting_voters = std::move(granting);
  const ControlRecord rec = lc;
  auto batch =
      encode_control_batch(std::span<const ControlRecord>(&rec, 1), epoch, Timestamp(now), log_end);
  SAMSA_ASSERT(batch.ok(), "LeaderChange batch: {}", batch.status().message());
  append_own(std::move(*batch));
  for (NodeId v : config.voters) {
    if (v != config.self) send_begin_epoch(v);
  }
  maybe_advance_high_watermark();
}

void Impl::become_resigned(bool graceful, NodeId first_successor) {
  SAMSA_ASSERT(role == Role::leader, "resign from {}", to_string(role));
  // Most caught-up voters first (Kafka's LeaderState.nonLeaderVotersByDescendingFetchOffset).
  std::vector<std::pair<Offset, NodeId>> by_offset;
  for (const auto& [id, progress] : replicas) {
    if (id != config.self) by_offset.push_back({progress.end, id});
  }
  std::sort(by_offset.begin(), by_offset.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  std::vector<NodeId> successors;
  if (first_successor != kNoNode) successors.push_back(first_successor);
  for (const auto& p : by_offset) {
    if (p.second != first_successor) successors.push_back(p.second);
  }
  clear_role_state();
  role = Role::resigned;
  reset_election_timer();
  for (NodeId v : config.voters) {
    if (v == config.self) continue;
    EndQuorumEpochRequest r;
    r.cluster_id = config.cluster_id;
    r.leader_epoch = epoch;
    r.leader_id = config.self;
    r.preferred_successors = successors;
    send(v, std::move(r), next_id());
  }
  (void)graceful;
}

void Impl::become_resigned_at_start() {
  clear_role_state();
  role = Role::resigned;
  reset_election_timer();
}

void Impl::high_watermark_reset_for_new_epoch() {
  // A new epoch's leader learns the high watermark anew (KRaft does not persist it); a
  // follower's stays where it was until the new leader tells it (monotonic).
}

std::int64_t Impl::begin_epoch_period(NodeId v) const {
  // Every voter hears BeginQuorumEpoch each fetch.timeout / 2 (Kafka's LeaderState
  // beginQuorumEpochTimer), acknowledged or not: a voter stranded in a higher epoch (a lost
  // candidacy) ignores this epoch's traffic and would never rejoin; its answer in its own
  // epoch makes the leader step down, and the next election includes it. An unacknowledged
  // voter is asked again after the request timeout if that comes first.
  const std::int64_t period = std::max<std::int64_t>(1, config.fetch_timeout_ms / 2);
  return begin_acked.count(v) ? period : std::min(period, config.request_timeout_ms);
}

std::int64_t Impl::check_quorum_timeout() const {
  return config.fetch_timeout_ms + config.fetch_timeout_ms / 2;
}

// --- high watermark

void Impl::maybe_advance_high_watermark() {
  SAMSA_ASSERT(role == Role::leader, "leader HW from {}", to_string(role));
  std::vector<Offset> ends;
  for (NodeId v : config.voters) {
    auto it = replicas.find(v);
    ends.push_back(it == replicas.end() ? Offset(0) : it->second.end);
  }
  std::sort(ends.begin(), ends.end(), std::greater<>());
  const Offset candidate = ends[majority() - 1];
  // Kafka's LeaderState.maybeUpdateHighWatermark: only past the epoch start offset.
  if (candidate <= epoch_start_offset) return;
  if (high_watermark != Offset::none() && candidate <= high_watermark) return;
  set_high_watermark(candidate);
}

void Impl::set_high_watermark(Offset hw) {
  SAMSA_ASSERT(high_watermark == Offset::none() || hw >= high_watermark, "HW {} -> {}",
               high_watermark, hw);
  if (hw == high_watermark) return;
  high_watermark = hw;
  out.high_watermark = hw;
  while (!uncommitted.empty() && uncommitted.front().first <= hw) {
    uncommitted_bytes -= uncommitted.front().second;
    uncommitted.pop_front();
  }
  hw_changed = true;
  if (role == Role::leader) maybe_confirm_reads();
}

// --- proposals

void Impl::append_own(std::vector<std::byte> batch) {
  auto view = RecordBatchView::parse(ByteSpan(batch));
  SAMSA_ASSERT(view.ok(), "own batch: {}", view.status().message());
  SAMSA_ASSERT(view->base_offset() == log_end, "own batch at {} != log end {}", view->base_offset(),
               log_end);
  epochs.assign(epoch, log_end);
  log_end = view->next_offset();
  uncommitted.push_back({log_end, batch.size()});
  uncommitted_bytes += batch.size();
  out.append.push_back(std::move(batch));
}

LeaderAndEpoch Impl::leader_hint() const {
  // The leader this node follows, unless it resigned; never this node once it stopped
  // leading (a resigned leader named itself: the client would retry where it was refused).
  // Unlike a vote answer it may name a leader not yet fetched from.
  const bool following = role == Role::follower && !leader_resigned;
  return {role == Role::leader ? config.self : following ? leader_id : kNoNode, epoch};
}

Status Impl::not_leader_status(const LeaderAndEpoch& hint) const {
  return Status::failed_precondition(
      hint.leader_id == kNoNode
          ? fmt::format("raft: node {} is not the leader and knows no leader in epoch {}",
                        config.self, epoch)
          : fmt::format("raft: node {} is not the leader; the leader is node {} in epoch {}",
                        config.self, hint.leader_id, epoch));
}

ProposeResult RaftQuorum::propose(std::span<const std::vector<std::byte>> values,
                                  std::int64_t now) {
  Impl& m = *impl_;
  m.enter(now);
  ProposeResult r;
  r.leader = m.leader_hint();
  if (m.role == Role::leader && m.transfer_target != kNoNode) {
    r.error_code = KafkaError::not_leader_or_follower;
    r.status = Status::failed_precondition(
        fmt::format("raft: node {} is handing leadership to node {} in epoch {}; retry there",
                    m.config.self, m.transfer_target, m.epoch));
    return r;
  }
  if (m.role != Role::leader) {
    r.error_code = KafkaError::not_leader_or_follower;
    r.status = m.not_leader_status(r.leader);
    return r;
  }
  if (values.empty()) {
    r.error_code = KafkaError::invalid_request;
    r.status = Status::invalid_argument("raft: a proposal needs at least one record");
    return r;
  }
  if (values.size() > m.config.batch_max_records) {
    r.error_code = KafkaError::record_list_too_large;
    r.status = Status::record_too_large(
        fmt::format("raft: a proposal of {} records passes batch_max_records {}", values.size(),
                    m.config.batch_max_records));
    return r;
  }
  std::size_t bytes = 0;
  for (const auto& v : values) bytes += v.size() + 32;
  if (bytes > m.config.batch_max_bytes) {
    r.error_code = KafkaError::record_list_too_large;
    r.status = Status::record_too_large(
        fmt::format("raft: a proposal of about {} bytes passes batch_max_bytes {}", bytes,
                    m.config.batch_max_bytes));
    return r;
  }
  if (m.uncommitted_bytes + bytes > m.config.uncommitted_max_bytes) {
    r.error_code = KafkaError::request_timed_out;
    r.status = Status::busy(fmt::format(
        "raft: {} bytes of the leader's batches wait for the high watermark (uncommitted_max_bytes "
        "{}); retry once it advances",
        m.uncommitted_bytes, m.config.uncommitted_max_bytes));
    return r;
  }
  RecordBatchBuilder builder;
  for (const auto& v : values) {
    Status s = builder.append(Timestamp(m.now), std::nullopt, ByteSpan(v));
    if (!s.ok()) {
      r.error_code = KafkaError::record_list_too_large;
      r.status = s;
      return r;
    }
  }
  auto built = builder.build();
  if (!built.ok()) {
    r.error_code = KafkaError::invalid_request;
    r.status = built.status();
    return r;
  }
  set_base_offset(*built, m.log_end);
  set_partition_leader_epoch(*built, m.epoch);
  r.base_offset = m.log_end;
  r.last_offset = m.log_end + static_cast<std::int64_t>(values.size()) - 1;
  m.append_own(std::vector<std::byte>(built->begin(), built->end()));
  m.check_invariants();
  return r;
}

bool RaftQuorum::resign(std::int64_t now) {
  Impl& m = *impl_;
  m.enter(now);
  if (m.role != Role::leader) return false;
  m.become_resigned(/*graceful=*/true);
  m.answer_orphaned_fetches();
  m.check_invariants();
  return true;
}

// --- timers

void Impl::enter(std::int64_t t) {
  SAMSA_ASSERT(!ready_outstanding, "node {}: called before advance() of the last Ready",
               config.self);
  if (t > now) now = t;
}

void RaftQuorum::tick(std::int64_t now) {
  Impl& m = *impl_;
  m.enter(now);
  m.on_tick();
  m.answer_orphaned_fetches();
  m.check_invariants();
}

void Impl::on_tick() {
  switch (role) {
    case Role::unattached:
    case Role::voted:
    case Role::resigned:
      if (is_voter && now >= election_deadline) {
        become_prospective();
      } else if (!is_voter) {
        observer_discover();
      }
      break;
    case Role::prospective:
    case Role::candidate:
      if (now >= election_deadline) {
        // Lost or timed out: back off and ask again (Kafka: Candidate -> Prospective after
        // a random backoff; a Prospective round that timed out starts over).
        become_prospective();
        break;
      }
      resend_vote_requests();
      break;
    case Role::leader:
      if (now >= check_quorum_deadline) {
        ++counters.check_quorum_resigns;
        become_resigned(/*graceful=*/false);
        break;
      }
      fail_reads(KafkaError::request_timed_out, /*only_expired=*/true);
      if (transfer_target != kNoNode && now >= transfer_deadline) {
        transfer_target = kNoNode;  // the target did not catch up: lead on
        ++counters.transfers_aborted;
      }
      expire_parked_fetches();
      for (NodeId v : config.voters) {
        if (v == config.self) continue;
        if (now - replicas[v].begin_sent_at >= begin_epoch_period(v)) send_begin_epoch(v);
      }
      break;
    case Role::follower:
      if (now >= fetch_deadline) {
        if (is_voter) {
          become_prospective();
        } else {
          // An observer that lost its leader looks for one among the voters.
          clear_role_state();
          role = Role::unattached;
          leader_id = kNoNode;
          observer_discover();
        }
        break;
      }
      if (!fetch_in_flight && now >= fetch_backoff_until) {
        send_fetch();
      } else if (fetch_in_flight && now - fetch_in_flight->sent_at >=
                                        config.request_timeout_ms + config.fetch_max_wait_ms) {
        send_fetch();  // the answer was lost
      }
      break;
  }
}

std::int64_t RaftQuorum::next_deadline() const {
  const Impl& m = *impl_;
  switch (m.role) {
    case Role::leader: {
      std::int64_t d = m.check_quorum_deadline;
      for (const auto& p : m.parked) d = std::min(d, p.deadline);
      if (!m.reads.empty())
        d = std::min(d, m.reads.front().arrived_at + m.config.request_timeout_ms);
      if (m.transfer_target != kNoNode) d = std::min(d, m.transfer_deadline);
      for (NodeId v : m.config.voters) {
        if (v == m.config.self) continue;
        auto it = m.replicas.find(v);
        if (it != m.replicas.end())
          d = std::min(d, it->second.begin_sent_at + m.begin_epoch_period(v));
      }
      return d;
    }
    case Role::follower: {
      std::int64_t d = m.fetch_deadline;
      if (!m.fetch_in_flight)
        d = std::min(d, m.fetch_backoff_until);
      else
        d = std::min(d, m.fetch_in_flight->sent_at + m.config.request_timeout_ms +
                            m.config.fetch_max_wait_ms);
      return d;
    }
    case Role::prospective:
    case Role::candidate: {
      std::int64_t d = m.election_deadline;
      for (const auto& [v, at] : m.vote_sent_at) d = std::min(d, at + m.config.request_timeout_ms);
      return d;
    }
    default:
      return m.is_voter ? m.election_deadline : m.observer_next_at;
  }
}

// --- Ready

bool RaftQuorum::has_ready() const {
  return !impl_->out.empty() || (impl_->read_round_wanted && impl_->role == Role::leader);
}

Ready RaftQuorum::ready() {
  Impl& m = *impl_;
  SAMSA_ASSERT(!m.ready_outstanding, "node {}: ready() twice without advance()", m.config.self);
  if (m.read_round_wanted && m.role == Role::leader) m.start_read_round();
  Ready r = std::move(m.out);
  m.out = Ready{};
  if (m.last_reported != LeaderAndEpoch{m.leader_id, m.epoch}) {
    m.last_reported = {m.leader_id, m.epoch};
    r.leader_change = m.last_reported;
  }
  m.handed_end = m.log_end;
  m.ready_outstanding = true;
  return r;
}

void RaftQuorum::advance(std::int64_t now) {
  Impl& m = *impl_;
  SAMSA_ASSERT(m.ready_outstanding, "node {}: advance() without ready()", m.config.self);
  m.ready_outstanding = false;
  if (now > m.now) m.now = now;
  // Everything handed out is durable now.
  m.durable_end = m.handed_end;
  if (m.role == Role::leader) {
    auto& self = m.replicas[m.config.self];
    if (self.end < m.durable_end) self.end = m.durable_end;
    m.maybe_advance_high_watermark();
    m.complete_parked_fetches(/*only_if_news=*/true);
    m.maybe_finish_transfer();
    m.answer_orphaned_fetches();
  }
  m.check_invariants();
}

RaftStatus RaftQuorum::status() const {
  const Impl& m = *impl_;
  RaftStatus s;
  s.self = m.config.self;
  s.role = m.role;
  s.epoch = m.epoch;
  s.leader_id = m.leader_id;
  s.voted_id = m.voted_id;
  s.is_voter = m.is_voter;
  s.log_start_offset = m.log_start;
  s.log_end_offset = m.log_end;
  s.high_watermark = m.high_watermark;
  s.epoch_start_offset = m.epoch_start_offset;
  s.last_epoch = m.epochs.latest();
  s.transfer_target = m.transfer_target;
  s.reads_pending = m.reads.size();
  s.latest_snapshot = m.epochs.base;
  if (m.fetching_snapshot) s.fetching_snapshot = m.fetching_snapshot->id;
  return s;
}

void RaftQuorum::check_invariants() const {
  impl_->check_invariants();
}

void Impl::check_invariants() const {
  check_log_invariants();
  check_role_invariants();
}

void Impl::check_log_invariants() const {
  const NodeId self = config.self;
  SAMSA_ASSERT(log_start <= log_end, "node {}: log start {} <= end {}", self, log_start, log_end);
  SAMSA_ASSERT(durable_end <= log_end, "node {}: durable end {} <= end {}", self, durable_end,
               log_end);
  SAMSA_ASSERT(epochs.latest() <= epoch, "node {}: log epoch {} <= epoch {}", self, epochs.latest(),
               epoch);
  for (std::size_t i = 1; i < epochs.entries.size(); ++i) {
    SAMSA_ASSERT(epochs.entries[i - 1].epoch < epochs.entries[i].epoch, "node {}: epochs ascend",
                 self);
    SAMSA_ASSERT(epochs.entries[i - 1].start_offset <= epochs.entries[i].start_offset,
                 "node {}: epoch starts ascend", self);
  }
  if (!epochs.entries.empty()) {
    SAMSA_ASSERT(epochs.entries.back().start_offset < log_end,
                 "node {}: epoch {} starts at {} < end {}", self, epochs.entries.back().epoch,
                 epochs.entries.back().start_offset, log_end);
  }
  if (high_watermark != Offset::none()) {
    SAMSA_ASSERT(high_watermark <= log_end, "node {}: HW {} <= log end {}", self, high_watermark,
                 log_end);
  }
  // Snapshots at the log start: with one, the log starts at its end and its records are
  // committed; without one, at 0.
  if (epochs.base) {
    SAMSA_ASSERT(log_start == epochs.base->end_offset, "node {}: log start {} == snapshot end {}",
                 self, log_start, epochs.base->end_offset);
    SAMSA_ASSERT(high_watermark != Offset::none() && high_watermark >= log_start,
                 "node {}: HW {} >= snapshot end {}", self, high_watermark, log_start);
    SAMSA_ASSERT(epochs.entries.empty() || epochs.entries.front().epoch >= epochs.base->epoch,
                 "node {}: the log's first epoch {} >= the snapshot's {}", self,
                 epochs.entries.front().epoch, epochs.base->epoch);
  } else {
    SAMSA_ASSERT(log_start == Offset(0), "node {}: log start {} without a snapshot", self,
                 log_start);
  }
  if (!epochs.entries.empty()) {
    SAMSA_ASSERT(epochs.entries.front().start_offset >= log_start,
                 "node {}: epoch {} starts at {} >= log start {}", self,
                 epochs.entries.front().epoch, epochs.entries.front().start_offset, log_start);
  }
  SAMSA_ASSERT(!fetching_snapshot || role == Role::follower, "node {}: fetching a snapshot as {}",
               self, to_string(role));
}

void Impl::check_role_invariants() const {
  const NodeId self = config.self;
  SAMSA_ASSERT(persisted.leader_epoch == epoch.value() || ready_outstanding || !out.quorum_state ||
                   out.quorum_state->leader_epoch == epoch.value(),
               "node {}: epoch {} is persisted or about to be", self, epoch);
  switch (role) {
    case Role::leader:
      SAMSA_ASSERT(leader_id == self, "node {}: leader knows itself as leader ({})", self,
                   leader_id);
      SAMSA_ASSERT(is_voter, "node {}: an observer leads", self);
      SAMSA_ASSERT(epochs.latest() == epoch, "node {}: leader's log ends in its epoch {} ({})",
                   self, epoch, epochs.latest());
      SAMSA_ASSERT(epoch_start_offset != Offset::none(), "node {}: leader has an epoch start",
                   self);
      if (high_watermark != Offset::none()) {
        SAMSA_ASSERT(high_watermark <= durable_end || high_watermark <= log_end,
                     "node {}: leader HW {} within its log", self, high_watermark);
      }
      break;
    case Role::follower:
      SAMSA_ASSERT(leader_id != kNoNode && leader_id != self, "node {}: follower of {}", self,
                   leader_id);
      break;
    case Role::candidate:
      SAMSA_ASSERT(voted_id == self, "node {}: candidate voted for itself ({})", self, voted_id);
      SAMSA_ASSERT(is_voter, "node {}: observer candidate", self);
      break;
    case Role::prospective:
      SAMSA_ASSERT(is_voter, "node {}: observer prospective", self);
      break;
    case Role::voted:
      SAMSA_ASSERT(voted_id != kNoNode, "node {}: voted without a vote", self);
      break;
    case Role::unattached:
    case Role::resigned:
      break;
  }
  std::size_t bytes = 0;
  for (const auto& u : uncommitted) bytes += u.second;
  SAMSA_ASSERT(bytes == uncommitted_bytes, "node {}: uncommitted bytes {} == {}", self, bytes,
               uncommitted_bytes);
  SAMSA_ASSERT(parked.size() <= config.parked_fetches_max, "node {}: parked fetches {} <= {}", self,
               parked.size(), config.parked_fetches_max);
  SAMSA_ASSERT(role == Role::leader || (reads.empty() && transfer_target == kNoNode),
               "node {}: reads or a transfer outside leadership", self);
  SAMSA_ASSERT(reads.size() <= config.reads_pending_max, "node {}: reads pending {} <= {}", self,
               reads.size(), config.reads_pending_max);
  for (std::size_t i = 1; i < reads.size(); ++i) {
    SAMSA_ASSERT(reads[i - 1].round <= reads[i].round && reads[i - 1].id < reads[i].id,
                 "node {}: reads in arrival order", self);
  }
}

}  // namespace samsa::raft
