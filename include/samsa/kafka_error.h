// Floor 7: Kafka's protocol error codes, with Kafka's numbers (clients/.../protocol/Errors.java),
// so a server copies them onto the wire one to one. Only the codes replication answers with.
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
  ineligible_replica = 107,
};

// Kafka's name: "NONE", "FENCED_LEADER_EPOCH", ... ("UNKNOWN(<n>)" for a code not above).
std::string_view to_string(KafkaError error);

}  // namespace samsa
