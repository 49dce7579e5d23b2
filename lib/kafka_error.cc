#include "samsa/kafka_error.h"

namespace samsa {

std::string_view to_string(KafkaError error) {
  switch (error) {
    case KafkaError::unknown_server_error:
      return "UNKNOWN_SERVER_ERROR";
    case KafkaError::none:
      return "NONE";
    case KafkaError::offset_out_of_range:
      return "OFFSET_OUT_OF_RANGE";
    case KafkaError::corrupt_message:
      return "CORRUPT_MESSAGE";
    case KafkaError::unknown_topic_or_partition:
      return "UNKNOWN_TOPIC_OR_PARTITION";
    case KafkaError::leader_not_available:
      return "LEADER_NOT_AVAILABLE";
    case KafkaError::not_leader_or_follower:
      return "NOT_LEADER_OR_FOLLOWER";
    case KafkaError::request_timed_out:
      return "REQUEST_TIMED_OUT";
    case KafkaError::record_list_too_large:
      return "RECORD_LIST_TOO_LARGE";
    case KafkaError::replica_not_available:
      return "REPLICA_NOT_AVAILABLE";
    case KafkaError::not_enough_replicas:
      return "NOT_ENOUGH_REPLICAS";
    case KafkaError::not_enough_replicas_after_append:
      return "NOT_ENOUGH_REPLICAS_AFTER_APPEND";
    case KafkaError::invalid_required_acks:
      return "INVALID_REQUIRED_ACKS";
    case KafkaError::kafka_storage_error:
      return "KAFKA_STORAGE_ERROR";
    case KafkaError::invalid_request:
      return "INVALID_REQUEST";
    case KafkaError::fenced_leader_epoch:
      return "FENCED_LEADER_EPOCH";
    case KafkaError::unknown_leader_epoch:
      return "UNKNOWN_LEADER_EPOCH";
    case KafkaError::offset_not_available:
      return "OFFSET_NOT_AVAILABLE";
    case KafkaError::invalid_record:
      return "INVALID_RECORD";
    case KafkaError::inconsistent_voter_set:
      return "INCONSISTENT_VOTER_SET";
    case KafkaError::inconsistent_cluster_id:
      return "INCONSISTENT_CLUSTER_ID";
    case KafkaError::invalid_update_version:
      return "INVALID_UPDATE_VERSION";
    case KafkaError::snapshot_not_found:
      return "SNAPSHOT_NOT_FOUND";
    case KafkaError::position_out_of_range:
      return "POSITION_OUT_OF_RANGE";
    case KafkaError::ineligible_replica:
      return "INELIGIBLE_REPLICA";
  }
  return "UNKNOWN";
}

}  // namespace samsa
