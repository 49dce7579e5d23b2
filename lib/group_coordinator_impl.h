// Internal: GroupCoordinator's state (include/samsa/group_coordinator.h), shared by
// group_coordinator.cc (membership: join, sync, heartbeat, leave, timers) and
// group_offsets.cc (offsets, loading, listing, deletion).
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "samsa/group_coordinator.h"

namespace samsa {

enum class GroupState { empty, preparing_rebalance, completing_rebalance, stable, dead };
std::string_view group_state_name(GroupState state);

struct GroupMember {
  std::string member_id;
  std::optional<std::string> instance_id;
  std::string client_id;
  std::string client_host;
  std::int32_t rebalance_timeout_ms = 0;
  std::int32_t session_timeout_ms = 0;
  std::vector<JoinGroupProtocol> protocols;  // in the member's order of preference
  std::vector<std::byte> assignment;
  std::optional<GroupRequestId> join_request;  // a parked JoinGroup: awaiting join
  std::optional<GroupRequestId> sync_request;  // a parked SyncGroup: awaiting sync
  bool is_new = false;  // joined in the current rebalance, not yet in a generation
  std::optional<std::int64_t> heartbeat_deadline;

  const std::vector<std::byte>* metadata(const std::string& protocol) const;
};

using TopicPartitionKey = std::pair<std::string, std::int32_t>;

struct Group {
  std::string id;
  GroupState state = GroupState::empty;
  GroupState previous_state = GroupState::empty;
  std::int32_t generation = 0;
  std::optional<std::string> protocol_type;  // nullopt: a simple group (offsets only)
  std::optional<std::string> protocol_name;
  std::optional<std::string> leader;
  std::int64_t state_timestamp = -1;
  std::map<std::string, GroupMember> members;           // by member id
  std::map<std::string, std::string> static_members;    // instance id -> member id
  std::map<std::string, std::int64_t> pending_members;  // KIP-394: member id -> deadline
  std::set<std::string> pending_sync;                   // joined, SyncGroup not yet seen
  bool new_member_added = false;
  // PreparingRebalance's deadline; with initial_join, the initial delay's steps.
  std::optional<std::int64_t> join_deadline;
  bool initial_join = false;
  std::int32_t initial_delay_ms = 0;
  std::int32_t initial_remaining_ms = 0;
  std::optional<std::int64_t> sync_deadline;
  std::int32_t sync_generation = -1;
  std::map<TopicPartitionKey, OffsetCommitValue> offsets;  // durable commits only

  bool all_members_joined() const;
  std::int32_t rebalance_timeout_ms() const;
  bool supports_protocols(const std::string& type,
                          const std::vector<JoinGroupProtocol>& protocols) const;
  std::string select_protocol() const;
};

using GroupCompletion = std::function<void(KafkaError append_error, std::int64_t now)>;

struct GroupCoordinator::Impl {
  explicit Impl(GroupCoordinatorConfig c) : config(c), rng_state(c.seed) {}

  GroupCoordinatorConfig config;
  bool loaded = false;
  std::map<std::string, Group> groups;
  std::vector<GroupRecord> records;          // not yet handed out
  std::vector<GroupCompletion> completions;  // run when `records` is durable (or not)
  bool append_in_flight = false;
  std::vector<GroupCompletion> in_flight;
  std::vector<GroupResponse> responses;
  std::int64_t next_expiry_check = 0;
  std::uint64_t rng_state;
  GroupCoordinatorCounters counters;

  // --- shared helpers (group_coordinator.cc)
  Group* find(const std::string& id);
  const Group* find(const std::string& id) const;
  bool valid_group_id(const std::string& id) const;
  void respond(GroupRequestId id, GroupResponseBody body);
  void append(GroupRecord record);
  void on_durable(GroupCompletion completion);
  GroupRecord group_metadata_record(const Group& g) const;
  void transition(Group& g, GroupState to, std::int64_t now);
  std::string new_member_id(const std::string& prefix);
  // Every group's invariants (after tick, advance and loading), or only those of the group
  // a request touched (a request changes no other group), so a coordinator of many members
  // pays per request for its group only.
  void check_invariants() const;
  void check_invariants(const std::string& touched) const;
  void check_group(const Group& g) const;

  // --- membership (group_coordinator.cc)
  void join_new_member(GroupRequestId id, const JoinGroupRequest& req, Group& g, std::int64_t now);
  void join_existing_member(GroupRequestId id, const JoinGroupRequest& req, Group& g,
                            std::int64_t now);
  void add_member_then_rebalance(GroupRequestId id, const JoinGroupRequest& req, Group& g,
                                 const std::string& member_id, std::int64_t now);
  void update_member_then_rebalance(GroupRequestId id, const JoinGroupRequest& req, Group& g,
                                    GroupMember& m, std::int64_t now);
  void update_static_member(GroupRequestId id, const JoinGroupRequest& req, Group& g,
                            const std::string& old_id, const std::string& new_id, std::int64_t now);
  void park_join(GroupMember& m, GroupRequestId id);
  void maybe_prepare_rebalance_or_complete_join(Group& g, std::int64_t now);
  void prepare_rebalance(Group& g, std::int64_t now);
  void maybe_complete_join_phase(Group& g, std::int64_t now);
  void complete_join(Group& g, std::int64_t now);
  bool maybe_elect_new_joined_leader(Group& g);
  JoinGroupResponse current_join_response(const Group& g, const std::string& member_id,
                                          bool with_members) const;
  void propagate_assignment(Group& g, KafkaError error, std::int64_t now);
  void remove_member(Group& g, const std::string& member_id);
  void remove_member_and_update(Group& g, const std::string& member_id, std::int64_t now);
  KafkaError validate_member(const Group& g, const std::string& member_id,
                             const std::optional<std::string>& instance_id) const;
  void fire_timers(Group& g, std::int64_t now);
  // kind: group_coordinator.cc's TimerKind.
  void fire_timer(Group& g, int kind, const std::string& member_id, std::int64_t now);

  // --- offsets and groups (group_offsets.cc)
  void expire_offsets(std::int64_t now);
  void delete_group_now(const std::string& id);
};

}  // namespace samsa
