// Floors 7-8: Kafka's protocol error codes, with Kafka's numbers
// (clients/.../protocol/Errors.java), so a server copies them onto the wire one to one. Only the
// codes replication and the group coordinator answer with.
//
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <string_view>

namespace samsa {

enum class KafkaError : std::int16_t {
  unknown_server_error = -1,
  none = 0,
  offset_out_of_range = 1,
  corrupt_message = 2,
  unknown_topic_or_partition = 3,
  leader_not_available = 5,
  not_leader_or_follower = 6,
  request_timed_out = 7,
  record_list_too_large = 18,
  replica_not_available = 9,
  not_enough_replicas = 19,
  not_enough_replicas_after_append = 20,
  invalid_required_acks = 21,
  kafka_storage_error = 56,
  invalid_request = 42,
  fenced_leader_epoch = 74,
  unknown_leader_epoch = 75,
  offset_not_available = 78,
  invalid_record = 87,
  inconsistent_voter_set = 94,
  invalid_update_version = 95,
  snapshot_not_found = 98,
  position_out_of_range = 99,
  inconsistent_cluster_id = 104,
  offset_metadata_too_large = 12,
  coordinator_load_in_progress = 14,
  coordinator_not_available = 15,
  not_coordinator = 16,
  invalid_topic_exception = 17,
  illegal_generation = 22,
  inconsistent_group_protocol = 23,
  invalid_group_id = 24,
  unknown_member_id = 25,
  invalid_session_timeout = 26,
  rebalance_in_progress = 27,
  invalid_commit_offset_size = 28,
  non_empty_group = 68,
  group_id_not_found = 69,
  member_id_required = 79,
  group_max_size_reached = 81,
  fenced_instance_id = 82,
  group_subscribed_to_topic = 86,
  unstable_offset_commit = 88,
  ineligible_replica = 107,
};

// Kafka's name: "NONE", "FENCED_LEADER_EPOCH", ... ("UNKNOWN(<n>)" for a code not above).
std::string_view to_string(KafkaError error);

}  // namespace samsa
