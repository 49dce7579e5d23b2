// GroupCoordinator: membership (JoinGroup, SyncGroup, Heartbeat, LeaveGroup) and timers.
// Kafka's GroupMetadataManager.classicGroup* and ClassicGroup are the authority; the
// function names follow theirs so the two can be read side by side.
#include <fmt/format.h>

#include <algorithm>

#include "group_coordinator_impl.h"
#include "invariant.h"

namespace samsa {

std::string_view group_state_name(GroupState state) {
  switch (state) {
    case GroupState::empty:
      return "Empty";
    case GroupState::preparing_rebalance:
      return "PreparingRebalance";
    case GroupState::completing_rebalance:
      return "CompletingRebalance";
    case GroupState::stable:
      return "Stable";
    case GroupState::dead:
      return "Dead";
  }
  return "Unknown";
}

KafkaError group_append_error(const Status& status) {
  switch (status.code()) {
    case StatusCode::ok:
      return KafkaError::none;
    case StatusCode::io_error:
    case StatusCode::no_space:
    case StatusCode::failed_precondition:  // the log is fail-stopped
      return KafkaError::not_coordinator;  // Kafka: KAFKA_STORAGE_ERROR -> NOT_COORDINATOR
    case StatusCode::record_too_large:
      return KafkaError::unknown_server_error;
    default:
      return KafkaError::coordinator_not_available;
  }
}

const std::vector<std::byte>* GroupMember::metadata(const std::string& protocol) const {
  for (const JoinGroupProtocol& p : protocols) {
    if (p.name == protocol) return &p.metadata;
  }
  return nullptr;
}

bool Group::all_members_joined() const {
  if (!pending_members.empty()) return false;
  return std::all_of(members.begin(), members.end(),
                     [](const auto& kv) { return kv.second.join_request.has_value(); });
}

std::int32_t Group::rebalance_timeout_ms() const {
  std::int32_t t = 0;
  for (const auto& kv : members) t = std::max(t, kv.second.rebalance_timeout_ms);
  return t;
}

bool Group::supports_protocols(const std::string& type,
                               const std::vector<JoinGroupProtocol>& protocols) const {
  if (state == GroupState::empty) return !type.empty() && !protocols.empty();
  if (protocol_type != type) return false;
  // Some protocol of the member's that every current member supports.
  return std::any_of(protocols.begin(), protocols.end(), [&](const JoinGroupProtocol& p) {
    return std::all_of(members.begin(), members.end(),
                       [&](const auto& kv) { return kv.second.metadata(p.name) != nullptr; });
  });
}

std::string Group::select_protocol() const {
  SAMSA_ASSERT(!members.empty(), "select_protocol of group {} with no members", id);
  const auto supported_by_all = [&](const std::string& name) {
    return std::all_of(members.begin(), members.end(),
                       [&](const auto& kv) { return kv.second.metadata(name) != nullptr; });
  };
  // Each member votes for its most preferred protocol that all support; most votes wins.
  // Ties go to the earliest in the first member's preference order (Kafka: unspecified).
  std::map<std::string, int> votes;
  for (const auto& kv : members) {
    for (const JoinGroupProtocol& p : kv.second.protocols) {
      if (supported_by_all(p.name)) {
        ++votes[p.name];
        break;
      }
    }
  }
  std::string best;
  int best_votes = 0;
  for (const JoinGroupProtocol& p : members.begin()->second.protocols) {
    auto it = votes.find(p.name);
    if (it != votes.end() && it->second > best_votes) best = p.name, best_votes = it->second;
  }
  SAMSA_ASSERT(best_votes > 0, "group {}: no protocol that all {} members support", id,
               members.size());
  return best;
}

// --- GroupCoordinator::Impl helpers

Group* GroupCoordinator::Impl::find(const std::string& id) {
  auto it = groups.find(id);
  return it == groups.end() ? nullptr : &it->second;
}
const Group* GroupCoordinator::Impl::find(const std::string& id) const {
  auto it = groups.find(id);
  return it == groups.end() ? nullptr : &it->second;
}

bool GroupCoordinator::Impl::valid_group_id(const std::string& id) const {
  return !id.empty() && id.size() <= config.max_group_id_bytes;
}

void GroupCoordinator::Impl::respond(GroupRequestId id, GroupResponseBody body) {
  responses.push_back(GroupResponse{id, std::move(body)});
}

void GroupCoordinator::Impl::append(GroupRecord record) {
  records.push_back(std::move(record));
}

void GroupCoordinator::Impl::on_durable(GroupCompletion completion) {
  completions.push_back(std::move(completion));
}

GroupRecord GroupCoordinator::Impl::group_metadata_record(const Group& g) const {
  GroupMetadataValue v;
  v.protocol_type = g.protocol_type.value_or("");
  v.generation = g.generation;
  v.protocol = g.protocol_name;
  v.leader = g.leader;
  v.current_state_timestamp = g.state_timestamp;
  for (const auto& [id, m] : g.members) {
    const std::vector<std::byte>* subscription =
        g.protocol_name ? m.metadata(*g.protocol_name) : nullptr;
    SAMSA_ASSERT(subscription != nullptr, "group {} member {} has no metadata for protocol {}",
                 g.id, id, g.protocol_name.value_or("(none)"));
    v.members.push_back(GroupMemberMetadata{m.member_id, m.instance_id, m.client_id, m.client_host,
                                            m.rebalance_timeout_ms, m.session_timeout_ms,
                                            *subscription, m.assignment});
  }
  return GroupRecord{encode_group_key(GroupMetadataKey{g.id}), encode_group_value(v)};
}

void GroupCoordinator::Impl::transition(Group& g, GroupState to, std::int64_t now) {
  g.previous_state = g.state;
  g.state = to;
  g.state_timestamp = now;
}

std::string GroupCoordinator::Impl::new_member_id(const std::string& prefix) {
  // splitmix64, formatted as a version-4 UUID.
  const auto next = [this] {
    std::uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  };
  const std::uint64_t hi = (next() & ~0xF000ull) | 0x4000ull;
  const std::uint64_t lo = (next() & ~(3ull << 62)) | (2ull << 62);
  return fmt::format("{}-{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", prefix, hi >> 32,
                     (hi >> 16) & 0xFFFF, hi & 0xFFFF, lo >> 48, lo & 0xFFFFFFFFFFFFull);
}

KafkaError GroupCoordinator::Impl::validate_member(
    const Group& g, const std::string& member_id,
    const std::optional<std::string>& instance_id) const {
  if (instance_id) {
    auto it = g.static_members.find(*instance_id);
    if (it == g.static_members.end()) return KafkaError::unknown_member_id;
    if (it->second != member_id) return KafkaError::fenced_instance_id;
  }
  return g.members.count(member_id) ? KafkaError::none : KafkaError::unknown_member_id;
}

void GroupCoordinator::Impl::check_invariants() const {
  for (const auto& [id, g] : groups) {
    SAMSA_ASSERT(id == g.id, "group keyed {} has id {}", id, g.id);
    check_group(g);
  }
  SAMSA_ASSERT(append_in_flight || in_flight.empty(), "{} completions in flight without an append",
               in_flight.size());
}

void GroupCoordinator::Impl::check_invariants(const std::string& touched) const {
  if (const Group* g = find(touched)) check_group(*g);
  SAMSA_ASSERT(append_in_flight || in_flight.empty(), "{} completions in flight without an append",
               in_flight.size());
}

void GroupCoordinator::Impl::check_group(const Group& g) const {
  const std::string& id = g.id;
  {
    SAMSA_ASSERT(g.generation >= 0, "group {} generation {}", id, g.generation);
    if (g.state == GroupState::empty || g.state == GroupState::dead) {
      SAMSA_ASSERT(g.members.empty(), "group {} is {} with {} members", id,
                   group_state_name(g.state), g.members.size());
    }
    SAMSA_ASSERT(g.members.empty() == !g.leader.has_value(), "group {}: {} members, leader {}", id,
                 g.members.size(), g.leader.value_or("(none)"));
    if (g.leader) {
      SAMSA_ASSERT(g.members.count(*g.leader), "group {} leader {} is not a member", id, *g.leader);
    }
    if (g.state == GroupState::completing_rebalance || g.state == GroupState::stable) {
      SAMSA_ASSERT(g.protocol_name.has_value(), "group {} is {} without a protocol", id,
                   group_state_name(g.state));
    }
    if (g.state == GroupState::preparing_rebalance) {
      SAMSA_ASSERT(g.join_deadline.has_value(), "group {} rebalancing without a deadline", id);
    }
    std::size_t statics = 0;
    for (const auto& [mid, m] : g.members) {
      SAMSA_ASSERT(mid == m.member_id, "member keyed {} has id {}", mid, m.member_id);
      if (g.protocol_name && g.state != GroupState::preparing_rebalance) {
        SAMSA_ASSERT(m.metadata(*g.protocol_name) != nullptr,
                     "group {} member {} lacks the selected protocol {}", id, mid,
                     *g.protocol_name);
      }
      if (m.join_request) {
        SAMSA_ASSERT(g.state == GroupState::preparing_rebalance,
                     "group {} member {} awaits join while {}", id, mid, group_state_name(g.state));
      }
      if (m.sync_request) {
        SAMSA_ASSERT(g.state == GroupState::completing_rebalance,
                     "group {} member {} awaits sync while {}", id, mid, group_state_name(g.state));
      }
      if (m.instance_id) {
        ++statics;
        auto it = g.static_members.find(*m.instance_id);
        SAMSA_ASSERT(it != g.static_members.end() && it->second == mid,
                     "group {} static member {} ({}) not mapped", id, mid, *m.instance_id);
      }
      SAMSA_ASSERT(!g.pending_members.count(mid), "group {}: {} is both member and pending", id,
                   mid);
    }
    SAMSA_ASSERT(statics == g.static_members.size(), "group {}: {} static members, {} mapped", id,
                 statics, g.static_members.size());
    for (const std::string& mid : g.pending_sync) {
      SAMSA_ASSERT(g.members.count(mid), "group {}: pending sync {} is not a member", id, mid);
    }
  }
}

// --- JoinGroup

void GroupCoordinator::Impl::park_join(GroupMember& m, GroupRequestId id) {
  // A member that joins again while a JoinGroup of its is parked (a client retry): the
  // older request is answered so the connection's responses stay in order.
  if (m.join_request && *m.join_request != id) {
    JoinGroupResponse stale;
    stale.error_code = KafkaError::rebalance_in_progress;
    stale.member_id = m.member_id;
    respond(*m.join_request, std::move(stale));
  }
  m.join_request = id;
}

void GroupCoordinator::Impl::join_new_member(GroupRequestId id, const JoinGroupRequest& req,
                                             Group& g, std::int64_t now) {
  JoinGroupResponse error;
  if (g.state == GroupState::dead) {
    error.error_code = KafkaError::coordinator_not_available;
  } else if (!g.supports_protocols(req.protocol_type, req.protocols)) {
    error.error_code = KafkaError::inconsistent_group_protocol;
  }
  if (error.error_code != KafkaError::none) return respond(id, std::move(error));

  // Ids come from a seeded generator: a restarted coordinator with the same seed would hand
  // out its predecessor's ids again, so an id the group knows is drawn again.
  std::string new_id = new_member_id(req.group_instance_id.value_or(req.client_id));
  while (g.members.count(new_id) || g.pending_members.count(new_id)) {
    new_id = new_member_id(req.group_instance_id.value_or(req.client_id));
  }
  if (req.group_instance_id) {
    auto it = g.static_members.find(*req.group_instance_id);
    if (it != g.static_members.end()) {
      const std::string old_id = it->second;
      return update_static_member(id, req, g, old_id, new_id, now);
    }
    return add_member_then_rebalance(id, req, g, new_id, now);
  }
  if (req.api_version >= 4) {
    // KIP-394: the member must come back with this id within its session timeout.
    g.pending_members[new_id] = now + req.session_timeout_ms;
    JoinGroupResponse r;
    r.error_code = KafkaError::member_id_required;
    r.member_id = new_id;
    return respond(id, std::move(r));
  }
  add_member_then_rebalance(id, req, g, new_id, now);
}

void GroupCoordinator::Impl::join_existing_member(GroupRequestId id, const JoinGroupRequest& req,
                                                  Group& g, std::int64_t now) {
  JoinGroupResponse error;
  error.member_id = req.member_id;
  if (g.state == GroupState::dead) {
    error.error_code = KafkaError::coordinator_not_available;
    return respond(id, std::move(error));
  }
  if (!g.supports_protocols(req.protocol_type, req.protocols)) {
    error.error_code = KafkaError::inconsistent_group_protocol;
    return respond(id, std::move(error));
  }
  if (g.pending_members.count(req.member_id)) {
    if (req.group_instance_id) {  // Kafka: an IllegalStateException; pending ids are dynamic
      error.error_code = KafkaError::invalid_request;
      return respond(id, std::move(error));
    }
    return add_member_then_rebalance(id, req, g, req.member_id, now);
  }
  error.error_code = validate_member(g, req.member_id, req.group_instance_id);
  if (error.error_code != KafkaError::none) return respond(id, std::move(error));

  GroupMember& m = g.members.at(req.member_id);
  const bool same_protocols = m.protocols == req.protocols;
  switch (g.state) {
    case GroupState::preparing_rebalance:
      return update_member_then_rebalance(id, req, g, m, now);
    case GroupState::completing_rebalance:
      if (same_protocols) {
        // It missed the JoinGroup response: the current generation again.
        return respond(id, current_join_response(g, m.member_id, g.leader == m.member_id));
      }
      return update_member_then_rebalance(id, req, g, m, now);
    case GroupState::stable:
      // The leader's JoinGroup always rebalances (topic metadata may have changed).
      if (g.leader == m.member_id || !same_protocols) {
        return update_member_then_rebalance(id, req, g, m, now);
      }
      return respond(id, current_join_response(g, m.member_id, false));
    default:
      error.error_code = KafkaError::unknown_member_id;
      return respond(id, std::move(error));
  }
}

void GroupCoordinator::Impl::add_member_then_rebalance(GroupRequestId id,
                                                       const JoinGroupRequest& req, Group& g,
                                                       const std::string& member_id,
                                                       std::int64_t now) {
  GroupMember m;
  m.member_id = member_id;
  m.instance_id = req.group_instance_id;
  m.client_id = req.client_id;
  m.client_host = req.client_host;
  m.rebalance_timeout_ms = req.rebalance_timeout_ms;
  m.session_timeout_ms = req.session_timeout_ms;
  m.protocols = req.protocols;
  m.is_new = true;
  m.join_request = id;
  // New members cannot heartbeat before they have an id; their JoinGroup times out.
  m.heartbeat_deadline = now + config.new_member_join_timeout_ms;
  if (g.state == GroupState::preparing_rebalance && g.previous_state == GroupState::empty) {
    g.new_member_added = true;
  }
  if (g.members.empty()) g.protocol_type = req.protocol_type;
  if (m.instance_id) g.static_members[*m.instance_id] = member_id;
  if (!g.leader) g.leader = member_id;
  g.pending_members.erase(member_id);
  g.members.emplace(member_id, std::move(m));
  maybe_prepare_rebalance_or_complete_join(g, now);
}

void GroupCoordinator::Impl::update_member_then_rebalance(GroupRequestId id,
                                                          const JoinGroupRequest& req, Group& g,
                                                          GroupMember& m, std::int64_t now) {
  m.protocols = req.protocols;
  m.rebalance_timeout_ms = req.rebalance_timeout_ms;
  m.session_timeout_ms = req.session_timeout_ms;
  park_join(m, id);
  maybe_prepare_rebalance_or_complete_join(g, now);
}

void GroupCoordinator::Impl::update_static_member(GroupRequestId id, const JoinGroupRequest& req,
                                                  Group& g, const std::string& old_id,
                                                  const std::string& new_id, std::int64_t now) {
  // The leader as it was: a replaced static leader is not told it leads (JoinGroup below v9
  // has no SkipAssignment; Kafka answers with the previous leader id, so the member does not
  // send an assignment for a generation that already has one).
  const std::string previous_leader = g.leader.value_or("");
  // The old member id is fenced: whatever it has parked is answered FENCED_INSTANCE_ID.
  auto node = g.members.extract(old_id);
  GroupMember& m = node.mapped();
  if (m.join_request) {
    JoinGroupResponse fenced;
    fenced.error_code = KafkaError::fenced_instance_id;
    fenced.member_id = old_id;
    respond(*m.join_request, std::move(fenced));
    m.join_request.reset();
  }
  if (m.sync_request) {
    SyncGroupResponse fenced;
    fenced.error_code = KafkaError::fenced_instance_id;
    respond(*m.sync_request, std::move(fenced));
    m.sync_request.reset();
  }
  const std::vector<JoinGroupProtocol> old_protocols = m.protocols;
  const std::int32_t old_rebalance = m.rebalance_timeout_ms;
  const std::int32_t old_session = m.session_timeout_ms;
  node.key() = new_id;
  m.member_id = new_id;
  m.protocols = req.protocols;
  m.rebalance_timeout_ms = req.rebalance_timeout_ms;
  m.session_timeout_ms = req.session_timeout_ms;
  m.heartbeat_deadline = now + m.session_timeout_ms;
  g.members.insert(std::move(node));
  g.static_members[*req.group_instance_id] = new_id;
  if (g.leader == old_id) g.leader = new_id;
  g.pending_sync.erase(old_id);

  switch (g.state) {
    case GroupState::stable: {
      if (g.protocol_name != g.select_protocol()) {
        park_join(g.members.at(new_id), id);
        return prepare_rebalance(g, now);
      }
      // Same protocol: no rebalance; the new id is persisted, then the member gets the
      // current generation (its assignment comes with SyncGroup). On a failed append the
      // old id comes back.
      append(group_metadata_record(g));
      const std::string group_id = g.id;
      const std::string instance = *req.group_instance_id;
      on_durable([this, id, group_id, instance, old_id, new_id, old_protocols, old_rebalance,
                  old_session, previous_leader](KafkaError err, std::int64_t at) {
        Group* cur = find(group_id);
        const bool current = cur && cur->static_members.count(instance) &&
                             cur->static_members.at(instance) == new_id;
        if (!current) {
          JoinGroupResponse gone;
          gone.error_code = KafkaError::fenced_instance_id;
          gone.member_id = new_id;
          return respond(id, std::move(gone));
        }
        if (err == KafkaError::none) {
          JoinGroupResponse r = current_join_response(*cur, new_id, false);
          r.leader = previous_leader;
          return respond(id, std::move(r));
        }
        auto moved = cur->members.extract(new_id);
        moved.key() = old_id;
        moved.mapped().member_id = old_id;
        moved.mapped().protocols = old_protocols;
        moved.mapped().rebalance_timeout_ms = old_rebalance;
        moved.mapped().session_timeout_ms = old_session;
        moved.mapped().heartbeat_deadline = at + old_session;
        cur->members.insert(std::move(moved));
        cur->static_members[instance] = old_id;
        if (cur->leader == new_id) cur->leader = old_id;
        JoinGroupResponse failed = current_join_response(*cur, "", false);
        failed.leader = previous_leader;
        failed.error_code = err;
        respond(id, std::move(failed));
      });
      return;
    }
    case GroupState::completing_rebalance:
      // The leader may already have assigned to the old id: rebalance.
      park_join(g.members.at(new_id), id);
      return prepare_rebalance(g, now);
    case GroupState::preparing_rebalance:
      park_join(g.members.at(new_id), id);
      return maybe_complete_join_phase(g, now);
    default:
      SAMSA_FAIL("group {} is {} with static member {}", g.id, group_state_name(g.state), new_id);
  }
}

JoinGroupResponse GroupCoordinator::Impl::current_join_response(const Group& g,
                                                                const std::string& member_id,
                                                                bool with_members) const {
  JoinGroupResponse r;
  r.generation_id = g.generation;
  r.protocol_type = g.protocol_type;
  r.protocol_name = g.protocol_name;
  r.leader = g.leader.value_or("");
  r.member_id = member_id;
  if (with_members && g.protocol_name) {
    for (const auto& [id, m] : g.members) {
      r.members.push_back(JoinGroupMember{id, m.instance_id, *m.metadata(*g.protocol_name)});
    }
  }
  return r;
}

void GroupCoordinator::Impl::maybe_prepare_rebalance_or_complete_join(Group& g, std::int64_t now) {
  const bool can_rebalance = g.state == GroupState::stable ||
                             g.state == GroupState::completing_rebalance ||
                             g.state == GroupState::empty;
  if (can_rebalance) return prepare_rebalance(g, now);
  maybe_complete_join_phase(g, now);
}

void GroupCoordinator::Impl::prepare_rebalance(Group& g, std::int64_t now) {
  if (g.state == GroupState::completing_rebalance) {
    for (auto& [id, m] : g.members) m.assignment.clear();
    propagate_assignment(g, KafkaError::rebalance_in_progress, now);
  }
  g.pending_sync.clear();
  g.sync_deadline.reset();
  const bool initial = g.state == GroupState::empty;
  transition(g, GroupState::preparing_rebalance, now);
  if (initial) {
    // A new group: more time for its members to join (group.initial.rebalance.delay.ms).
    g.initial_join = true;
    g.initial_delay_ms = config.initial_rebalance_delay_ms;
    g.initial_remaining_ms =
        std::max(g.rebalance_timeout_ms() - config.initial_rebalance_delay_ms, 0);
    g.join_deadline = now + config.initial_rebalance_delay_ms;
    return;
  }
  g.initial_join = false;
  if (g.all_members_joined()) return complete_join(g, now);
  g.join_deadline = now + g.rebalance_timeout_ms();
}

void GroupCoordinator::Impl::maybe_complete_join_phase(Group& g, std::int64_t now) {
  if (g.state != GroupState::preparing_rebalance) return;
  if (g.previous_state == GroupState::empty) return;  // the initial delay decides
  if (!g.all_members_joined()) return;
  complete_join(g, now);
}

bool GroupCoordinator::Impl::maybe_elect_new_joined_leader(Group& g) {
  if (!g.leader) return false;
  if (g.members.at(*g.leader).join_request) return true;
  for (const auto& [id, m] : g.members) {
    if (m.join_request) {
      g.leader = id;
      return true;
    }
  }
  return false;
}

void GroupCoordinator::Impl::complete_join(Group& g, std::int64_t now) {
  g.join_deadline.reset();
  g.initial_join = false;
  // Dynamic members that did not rejoin in time leave; static ones stay (KIP-345).
  std::vector<std::string> gone;
  for (const auto& [id, m] : g.members) {
    if (!m.join_request && !m.instance_id) gone.push_back(id);
  }
  for (const std::string& id : gone) remove_member(g, id);

  if (!maybe_elect_new_joined_leader(g) && !g.members.empty()) {
    // Nobody rejoined: wait another rebalance timeout for sessions to expire.
    g.join_deadline = now + g.rebalance_timeout_ms();
    return;
  }
  ++g.generation;
  g.pending_sync.clear();
  if (g.members.empty()) {
    g.protocol_name.reset();
    transition(g, GroupState::empty, now);
    append(group_metadata_record(g));  // nobody waits for it
    return;
  }
  g.protocol_name = g.select_protocol();
  transition(g, GroupState::completing_rebalance, now);
  for (auto& [id, m] : g.members) {
    if (m.join_request) {
      respond(*m.join_request, current_join_response(g, id, g.leader == id));
      m.join_request.reset();
    }
    m.heartbeat_deadline = now + m.session_timeout_ms;
    m.is_new = false;
    g.pending_sync.insert(id);
  }
  g.sync_deadline = now + g.rebalance_timeout_ms();
  g.sync_generation = g.generation;
}

void GroupCoordinator::Impl::propagate_assignment(Group& g, KafkaError error, std::int64_t now) {
  for (auto& [id, m] : g.members) {
    if (!m.sync_request) continue;
    SyncGroupResponse r;
    r.error_code = error;
    if (error == KafkaError::none) {
      r.protocol_type = g.protocol_type;
      r.protocol_name = g.protocol_name;
      r.assignment = m.assignment;
    }
    respond(*m.sync_request, std::move(r));
    m.sync_request.reset();
    m.heartbeat_deadline = now + m.session_timeout_ms;
  }
}

void GroupCoordinator::Impl::remove_member(Group& g, const std::string& member_id) {
  auto it = g.members.find(member_id);
  if (it != g.members.end()) {
    if (it->second.instance_id) g.static_members.erase(*it->second.instance_id);
    g.members.erase(it);
  }
  if (g.leader == member_id) {
    g.leader.reset();
    if (!g.members.empty()) g.leader = g.members.begin()->first;
  }
  g.pending_members.erase(member_id);
  g.pending_sync.erase(member_id);
}

void GroupCoordinator::Impl::remove_member_and_update(Group& g, const std::string& member_id,
                                                      std::int64_t now) {
  GroupMember& m = g.members.at(member_id);
  // Whatever it has parked is answered UNKNOWN_MEMBER_ID so a live client rejoins.
  if (m.join_request) {
    JoinGroupResponse r;
    r.error_code = KafkaError::unknown_member_id;
    respond(*m.join_request, std::move(r));
  }
  if (m.sync_request) {
    SyncGroupResponse r;
    r.error_code = KafkaError::unknown_member_id;
    respond(*m.sync_request, std::move(r));
  }
  remove_member(g, member_id);
  if (g.state == GroupState::stable || g.state == GroupState::completing_rebalance) {
    maybe_prepare_rebalance_or_complete_join(g, now);
  } else if (g.state == GroupState::preparing_rebalance && g.all_members_joined()) {
    complete_join(g, now);
  }
}

namespace {

enum class TimerKind { join, sync, heartbeat, pending };
struct DueTimer {
  std::int64_t at = 0;
  TimerKind kind = TimerKind::join;
  std::string member_id;
};

// The group's earliest timer, if any.
std::optional<DueTimer> next_timer(const Group& g) {
  std::optional<DueTimer> best;
  const auto consider = [&best](std::int64_t at, TimerKind kind, const std::string& id) {
    if (!best || at < best->at) best = DueTimer{at, kind, id};
  };
  if (g.join_deadline) consider(*g.join_deadline, TimerKind::join, "");
  if (g.sync_deadline) consider(*g.sync_deadline, TimerKind::sync, "");
  for (const auto& [id, m] : g.members) {
    if (m.heartbeat_deadline) consider(*m.heartbeat_deadline, TimerKind::heartbeat, id);
  }
  for (const auto& [id, deadline] : g.pending_members) consider(deadline, TimerKind::pending, id);
  return best;
}

}  // namespace

void GroupCoordinator::Impl::fire_timers(Group& g, std::int64_t now) {
  // Timers fire in deadline order, each at its own deadline, as if the host had ticked
  // then: a coarse tick sees the same history as a fine one.
  for (int steps = 0; steps < 10000; ++steps) {
    const std::optional<DueTimer> due = next_timer(g);
    if (!due || due->at > now) return;
    fire_timer(g, static_cast<int>(due->kind), due->member_id, due->at);
  }
  // Left for the next tick (only reachable with timers of a few milliseconds).
}

void GroupCoordinator::Impl::fire_timer(Group& g, int kind_number, const std::string& member_id,
                                        std::int64_t now) {
  const auto kind = static_cast<TimerKind>(kind_number);
  if (kind == TimerKind::join) {
    g.join_deadline.reset();
    if (g.initial_join && g.new_member_added && g.initial_remaining_ms != 0) {
      // Members are still arriving: extend the initial delay, within the rebalance timeout.
      g.new_member_added = false;
      const std::int32_t delay =
          std::min(config.initial_rebalance_delay_ms, g.initial_remaining_ms);
      g.initial_remaining_ms = std::max(g.initial_remaining_ms - g.initial_delay_ms, 0);
      g.initial_delay_ms = delay;
      g.join_deadline = now + delay;
    } else {
      complete_join(g, now);
    }
    return;
  }
  if (kind == TimerKind::sync) {
    g.sync_deadline.reset();
    const bool syncing =
        g.state == GroupState::completing_rebalance || g.state == GroupState::stable;
    if (g.generation != g.sync_generation || !syncing || g.pending_sync.empty()) return;
    // Members that never sent SyncGroup leave, and the group rebalances without them.
    const std::vector<std::string> late(g.pending_sync.begin(), g.pending_sync.end());
    for (const std::string& id : late) {
      remove_member(g, id);  // a pending member has no SyncGroup parked
      ++counters.members_expired;
    }
    if (g.members.empty() && g.state == GroupState::stable) {
      transition(g, GroupState::empty, now);
      append(group_metadata_record(g));
    } else {
      prepare_rebalance(g, now);
    }
    return;
  }
  if (kind == TimerKind::pending) {
    g.pending_members.erase(member_id);
    if (g.state == GroupState::preparing_rebalance && g.all_members_joined()) complete_join(g, now);
    return;
  }
  GroupMember& m = g.members.at(member_id);
  m.heartbeat_deadline.reset();
  // A member parked in a rebalance is alive by definition; its session restarts when the
  // rebalance answers it. A new member's JoinGroup does time out.
  if (!m.is_new && (m.join_request || m.sync_request)) return;
  ++counters.members_expired;
  remove_member_and_update(g, member_id, now);
}

// --- public API: membership

GroupCoordinator::GroupCoordinator(GroupCoordinatorConfig config)
    : impl_(std::make_unique<Impl>(config)) {}
GroupCoordinator::~GroupCoordinator() = default;

bool GroupCoordinator::is_loaded() const {
  return impl_->loaded;
}
const GroupCoordinatorCounters& GroupCoordinator::counters() const {
  return impl_->counters;
}

void GroupCoordinator::join_group(GroupRequestId id, const JoinGroupRequest& request,
                                  std::int64_t now) {
  Impl& s = *impl_;
  JoinGroupRequest req = request;
  if (req.rebalance_timeout_ms < 0) req.rebalance_timeout_ms = req.session_timeout_ms;  // v0
  // At least 1 ms, so a rebalance that nobody joins waits between its retries.
  req.rebalance_timeout_ms = std::max(req.rebalance_timeout_ms, 1);
  JoinGroupResponse error;
  error.member_id = req.member_id;
  std::size_t metadata_bytes = 0;
  for (const JoinGroupProtocol& p : req.protocols) metadata_bytes += p.metadata.size();
  if (!s.loaded) {
    error.error_code = KafkaError::coordinator_load_in_progress;
  } else if (!s.valid_group_id(req.group_id)) {
    error.error_code = KafkaError::invalid_group_id;
  } else if (req.session_timeout_ms < s.config.min_session_timeout_ms ||
             req.session_timeout_ms > s.config.max_session_timeout_ms) {
    error.error_code = KafkaError::invalid_session_timeout;
  } else if (req.protocols.size() > s.config.max_protocols_per_member ||
             metadata_bytes > s.config.max_protocol_metadata_bytes) {
    error.error_code = KafkaError::invalid_request;
  }
  if (error.error_code != KafkaError::none) {
    s.respond(id, std::move(error));
    return s.check_invariants(req.group_id);
  }
  const bool unknown_member = req.member_id.empty();
  Group* g = s.find(req.group_id);
  if (!g) {
    if (!unknown_member) {
      error.error_code = KafkaError::unknown_member_id;
      s.respond(id, std::move(error));
      return s.check_invariants(req.group_id);
    }
    g = &s.groups[req.group_id];
    g->id = req.group_id;
  }
  // Kafka's acceptJoiningMember: the group's size bound (group.max.size).
  const auto max = static_cast<std::size_t>(s.config.max_group_size);
  bool accept = true;
  if (g->state == GroupState::preparing_rebalance) {
    auto it = g->members.find(req.member_id);
    const std::size_t awaiting = static_cast<std::size_t>(
        std::count_if(g->members.begin(), g->members.end(),
                      [](const auto& kv) { return kv.second.join_request.has_value(); }));
    accept = (it != g->members.end() && it->second.join_request) || awaiting < max;
  } else if (g->state == GroupState::completing_rebalance || g->state == GroupState::stable) {
    accept = g->members.count(req.member_id) || g->members.size() < max;
  }
  if (!accept) {
    if (g->members.count(req.member_id)) s.remove_member_and_update(*g, req.member_id, now);
    error.error_code = KafkaError::group_max_size_reached;
    error.member_id.clear();
    s.respond(id, std::move(error));
  } else if (unknown_member) {
    s.join_new_member(id, req, *g, now);
  } else {
    s.join_existing_member(id, req, *g, now);
  }
  if (g->state == GroupState::empty && g->members.empty() && g->pending_members.empty() &&
      g->offsets.empty() && g->generation == 0 && !g->protocol_type) {
    s.groups.erase(req.group_id);  // a group that only ever saw refused or pending joins
  }
  s.check_invariants(req.group_id);
}

void GroupCoordinator::sync_group(GroupRequestId id, const SyncGroupRequest& req,
                                  std::int64_t now) {
  (void)now;  // SyncGroup sets no timer: the leader's append decides
  Impl& s = *impl_;
  SyncGroupResponse error;
  Group* g = s.loaded ? s.find(req.group_id) : nullptr;
  const bool oversized = std::any_of(req.assignments.begin(), req.assignments.end(),
                                     [&](const SyncGroupAssignment& a) {
                                       return a.assignment.size() > s.config.max_assignment_bytes;
                                     });
  if (!s.loaded) {
    error.error_code = KafkaError::coordinator_load_in_progress;
  } else if (!s.valid_group_id(req.group_id)) {
    error.error_code = KafkaError::invalid_group_id;
  } else if (!g || g->state == GroupState::empty) {
    error.error_code = KafkaError::unknown_member_id;
  } else if (g->state == GroupState::dead) {
    error.error_code = KafkaError::coordinator_not_available;
  } else if (KafkaError e = s.validate_member(*g, req.member_id, req.group_instance_id);
             e != KafkaError::none) {
    error.error_code = e;
  } else if (req.generation_id != g->generation) {
    error.error_code = KafkaError::illegal_generation;
  } else if ((req.protocol_type && req.protocol_type != g->protocol_type) ||
             (req.protocol_name && req.protocol_name != g->protocol_name)) {
    error.error_code = KafkaError::inconsistent_group_protocol;
  } else if (oversized) {
    error.error_code = KafkaError::invalid_request;
  } else if (g->state == GroupState::preparing_rebalance) {
    error.error_code = KafkaError::rebalance_in_progress;
  }
  if (error.error_code != KafkaError::none) {
    s.respond(id, std::move(error));
    return s.check_invariants(req.group_id);
  }
  GroupMember& m = g->members.at(req.member_id);
  g->pending_sync.erase(req.member_id);
  if (g->pending_sync.empty()) g->sync_deadline.reset();
  if (g->state == GroupState::stable) {
    SyncGroupResponse r;
    r.protocol_type = g->protocol_type;
    r.protocol_name = g->protocol_name;
    r.assignment = m.assignment;
    s.respond(id, std::move(r));
    return s.check_invariants(req.group_id);
  }
  // CompletingRebalance: park; the leader's assignment is persisted, then sent to all.
  if (m.sync_request && *m.sync_request != id) {
    SyncGroupResponse stale;
    stale.error_code = KafkaError::rebalance_in_progress;
    s.respond(*m.sync_request, std::move(stale));
  }
  m.sync_request = id;
  if (g->leader == req.member_id) {
    std::map<std::string, std::vector<std::byte>> assignment;
    for (const SyncGroupAssignment& a : req.assignments) {
      if (g->members.count(a.member_id)) assignment[a.member_id] = a.assignment;
    }
    // The record carries the new assignment; memory takes it once it is durable.
    Group staged = *g;
    for (auto& [mid, member] : staged.members) member.assignment = assignment[mid];
    s.append(s.group_metadata_record(staged));
    const std::string group_id = g->id;
    const std::int32_t generation = g->generation;
    s.on_durable([&s, group_id, generation, assignment](KafkaError err, std::int64_t at) mutable {
      Group* cur = s.find(group_id);
      if (!cur || cur->state != GroupState::completing_rebalance || cur->generation != generation)
        return;
      if (err != KafkaError::none) {
        for (auto& [mid, member] : cur->members) member.assignment.clear();
        s.propagate_assignment(*cur, err, at);
        s.maybe_prepare_rebalance_or_complete_join(*cur, at);
        return;
      }
      for (auto& [mid, member] : cur->members) member.assignment = std::move(assignment[mid]);
      s.propagate_assignment(*cur, KafkaError::none, at);
      s.transition(*cur, GroupState::stable, at);
      ++s.counters.rebalances_completed;
    });
  }
  s.check_invariants(req.group_id);
}

KafkaError GroupCoordinator::heartbeat(const HeartbeatRequest& req, std::int64_t now) {
  Impl& s = *impl_;
  if (!s.loaded) return KafkaError::coordinator_load_in_progress;
  if (!s.valid_group_id(req.group_id)) return KafkaError::invalid_group_id;
  Group* g = s.find(req.group_id);
  if (!g) return KafkaError::unknown_member_id;
  if (g->state == GroupState::dead) return KafkaError::coordinator_not_available;
  if (KafkaError e = s.validate_member(*g, req.member_id, req.group_instance_id);
      e != KafkaError::none) {
    return e;
  }
  if (req.generation_id != g->generation) return KafkaError::illegal_generation;
  GroupMember& m = g->members.at(req.member_id);
  m.heartbeat_deadline = now + m.session_timeout_ms;
  if (g->state == GroupState::preparing_rebalance) return KafkaError::rebalance_in_progress;
  return KafkaError::none;
}

LeaveGroupResponse GroupCoordinator::leave_group(const LeaveGroupRequest& req, std::int64_t now) {
  Impl& s = *impl_;
  LeaveGroupResponse out;
  Group* g = s.loaded ? s.find(req.group_id) : nullptr;
  if (!s.loaded) {
    out.error_code = KafkaError::coordinator_load_in_progress;
  } else if (!s.valid_group_id(req.group_id)) {
    out.error_code = KafkaError::invalid_group_id;
  } else if (!g) {
    out.error_code = KafkaError::unknown_member_id;
  } else if (g->state == GroupState::dead) {
    out.error_code = KafkaError::coordinator_not_available;
  }
  if (out.error_code != KafkaError::none) return out;
  bool any_left = false;
  for (const LeaveGroupMember& who : req.members) {
    LeaveGroupMemberResponse r{who.member_id, who.group_instance_id, KafkaError::none};
    std::string member_id = who.member_id;
    if (member_id.empty()) {
      // Administrative removal by instance id (KIP-345).
      auto it = who.group_instance_id ? g->static_members.find(*who.group_instance_id)
                                      : g->static_members.end();
      if (it == g->static_members.end()) {
        r.error_code = KafkaError::unknown_member_id;
      } else {
        member_id = it->second;
      }
    } else if (g->pending_members.count(member_id)) {
      g->pending_members.erase(member_id);
      out.members.push_back(std::move(r));
      continue;
    } else {
      r.error_code = s.validate_member(*g, member_id, who.group_instance_id);
    }
    if (r.error_code == KafkaError::none) {
      GroupMember& m = g->members.at(member_id);
      if (m.join_request) {
        JoinGroupResponse left;
        left.error_code = KafkaError::unknown_member_id;
        s.respond(*m.join_request, std::move(left));
        m.join_request.reset();
      }
      if (m.sync_request) {
        SyncGroupResponse left;
        left.error_code = KafkaError::unknown_member_id;
        s.respond(*m.sync_request, std::move(left));
        m.sync_request.reset();
      }
      s.remove_member(*g, member_id);
      any_left = true;
    }
    out.members.push_back(std::move(r));
  }
  if (any_left) {
    if (g->state == GroupState::stable || g->state == GroupState::completing_rebalance) {
      s.maybe_prepare_rebalance_or_complete_join(*g, now);
    } else if (g->state == GroupState::preparing_rebalance) {
      s.maybe_complete_join_phase(*g, now);
    }
  }
  s.check_invariants(req.group_id);
  return out;
}

void GroupCoordinator::tick(std::int64_t now) {
  Impl& s = *impl_;
  if (!s.loaded) return;
  std::vector<std::string> ids;
  ids.reserve(s.groups.size());
  for (const auto& [id, g] : s.groups) ids.push_back(id);
  for (const std::string& id : ids) {
    if (Group* g = s.find(id)) s.fire_timers(*g, now);
  }
  if (now >= s.next_expiry_check) {
    s.expire_offsets(now);
    s.next_expiry_check = now + s.config.offsets_retention_check_interval_ms;
  }
  s.check_invariants();
}

bool GroupCoordinator::has_ready() const {
  return !impl_->responses.empty() || (!impl_->append_in_flight && !impl_->records.empty());
}

GroupReady GroupCoordinator::ready() {
  Impl& s = *impl_;
  GroupReady r;
  r.responses = std::move(s.responses);
  s.responses.clear();
  if (!s.append_in_flight && !s.records.empty()) {
    r.records = std::move(s.records);
    s.records.clear();
    s.in_flight = std::move(s.completions);
    s.completions.clear();
    s.append_in_flight = true;
  }
  return r;
}

void GroupCoordinator::advance(const Status& append_status, std::int64_t now) {
  Impl& s = *impl_;
  SAMSA_ASSERT(s.append_in_flight, "advance({}) without records in flight",
               append_status.to_string());
  const KafkaError err = group_append_error(append_status);
  if (err != KafkaError::none) ++s.counters.appends_failed;
  std::vector<GroupCompletion> done = std::move(s.in_flight);
  s.in_flight.clear();
  s.append_in_flight = false;
  for (GroupCompletion& c : done) c(err, now);
  s.check_invariants();
}

}  // namespace samsa
