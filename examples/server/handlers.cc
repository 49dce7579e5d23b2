#include "handlers.h"

#include <fmt/format.h>

namespace samsa_server {
namespace {

bool is_group_api(std::int16_t key) {
  switch (static_cast<ApiKey>(key)) {
    case ApiKey::offset_commit:
    case ApiKey::offset_fetch:
    case ApiKey::join_group:
    case ApiKey::heartbeat:
    case ApiKey::leave_group:
    case ApiKey::sync_group:
    case ApiKey::describe_groups:
    case ApiKey::list_groups:
    case ApiKey::delete_groups:
    case ApiKey::offset_delete:
      return true;
    default:
      return false;
  }
}

}  // namespace

void Handlers::dispatch(Request request) {
  const auto key = static_cast<ApiKey>(request.header.api_key);
  if (key == ApiKey::produce) return produce(std::move(request));
  if (key == ApiKey::fetch) return fetch_start(std::move(request));
  auto shared = std::make_shared<Request>(std::move(request));
  pool_.post([this, shared] {
    Reply reply;
    const bool group_api = is_group_api(shared->header.api_key);
    if (group_api && groups_ == nullptr) {
      return shared->respond(Reply::close("consumer groups are not enabled"));
    }
    switch (static_cast<ApiKey>(shared->header.api_key)) {
      case ApiKey::join_group:
        return join_group(shared);
      case ApiKey::sync_group:
        return sync_group(shared);
      case ApiKey::offset_commit:
        return offset_commit(shared);
      case ApiKey::delete_groups:
        return delete_groups(shared);
      case ApiKey::offset_delete:
        return offset_delete(shared);
      case ApiKey::heartbeat:
        reply = heartbeat(*shared);
        break;
      case ApiKey::leave_group:
        reply = leave_group(*shared);
        break;
      case ApiKey::offset_fetch:
        reply = offset_fetch(*shared);
        break;
      case ApiKey::list_groups:
        reply = list_groups(*shared);
        break;
      case ApiKey::describe_groups:
        reply = describe_groups(*shared);
        break;
      case ApiKey::api_versions:
        reply = api_versions(*shared);
        break;
      case ApiKey::metadata:
        reply = metadata(*shared);
        break;
      case ApiKey::list_offsets:
        reply = list_offsets(*shared);
        break;
      case ApiKey::init_producer_id:
        reply = init_producer_id(*shared);
        break;
      case ApiKey::find_coordinator:
        reply = find_coordinator(*shared);
        break;
      case ApiKey::create_topics:
        reply = create_topics(*shared);
        break;
      case ApiKey::describe_configs:
        reply = describe_configs(*shared);
        break;
      default:
        reply = Reply::close(fmt::format("unsupported API key {}", shared->header.api_key));
    }
    shared->respond(std::move(reply));
  });
}

Reply Handlers::api_versions(const Request& request) {
  const std::int16_t version = request.header.api_version;
  ApiVersionsResponse m;
  m.api_keys.assign(supported_apis().begin(), supported_apis().end());
  if (!is_supported(request.header.api_key, version)) {
    // Answered in v0 layout with UNSUPPORTED_VERSION; the client retries with a version it
    // finds in the list. The connection stays open.
    m.error_code = error::kUnsupportedVersion;
  } else {
    Reader r = request.body();
    auto decoded = decode_api_versions(r, version);
    if (!decoded.ok()) return Reply::close(decoded.status().to_string());
    if (version >= 3 && (!valid_client_software_field(decoded->client_software_name) ||
                         !valid_client_software_field(decoded->client_software_version))) {
      m.error_code = error::kInvalidRequest;
    }
  }
  ResponseWriter out(request.header.correlation_id);
  encode(m, version, out.body());
  return Reply::of(out.finish());
}

Reply Handlers::init_producer_id(const Request& request) {
  Reader r = request.body();
  auto decoded = decode_init_producer_id(r, request.header.api_version);
  if (!decoded.ok()) return Reply::close(decoded.status().to_string());
  InitProducerIdResponse m;
  if (decoded->transactional_id) {
    // No transaction coordinator: refuse transactional producers outright (a fatal error
    // for the client) rather than let them retry forever.
    m.error_code = error::kTransactionalIdAuthorizationFailed;
  } else if (auto pid = broker_.next_producer_id(); pid.ok()) {
    m.producer_id = *pid;
    m.producer_epoch = 0;
  } else {
    m.error_code = error::kKafkaStorageError;
  }
  ResponseWriter out(request.header.correlation_id);
  encode(m, request.header.api_version, out.body());
  return Reply::of(out.finish());
}

Reply Handlers::find_coordinator(const Request& request) {
  Reader r = request.body();
  auto decoded = decode_find_coordinator(r, request.header.api_version);
  if (!decoded.ok()) return Reply::close(decoded.status().to_string());
  FindCoordinatorResponse m;
  constexpr std::int8_t kGroupKey = 0;
  if (decoded->key_type != kGroupKey || groups_ == nullptr) {
    // No transaction coordinator: a transactional producer gets a retriable "not yet".
    m.error_code = error::kCoordinatorNotAvailable;
    m.error_message = "samsa-server has no transaction coordinator";
  } else if (decoded->key.empty()) {
    m.error_code = error::kInvalidRequest;  // Kafka: an empty group id names no coordinator
    m.error_message = "empty group id";
  } else {
    // The single node leads every __consumer_offsets partition, so it coordinates every group.
    m.node_id = id_.node_id;
    m.host = id_.host;
    m.port = id_.port;
  }
  ResponseWriter out(request.header.correlation_id);
  encode(m, request.header.api_version, out.body());
  return Reply::of(out.finish());
}

std::int16_t produce_error_code(const samsa::Status& status) {
  using samsa::StatusCode;
  switch (status.code()) {
    case StatusCode::ok:
      return error::kNone;
    case StatusCode::corruption:
    case StatusCode::not_supported:     // magic 0 or 1
    case StatusCode::invalid_argument:  // offset deltas, counts
    // Records that decompress past LogConfig::max_decompressed_bytes(). Kafka's broker has
    // no such bound; its LogValidator reports records it cannot read from a compressed batch
    // as CorruptRecordException (LogValidator.java, validateRecord), CORRUPT_MESSAGE, whose
    // meaning includes "exceeds the valid size" (Errors.java). RECORD_LIST_TOO_LARGE is for a
    // record set larger than a segment, MESSAGE_TOO_LARGE for the compressed batch's size.
    case StatusCode::decompression_limit:
      return error::kCorruptMessage;
    case StatusCode::out_of_order_sequence:
      return error::kOutOfOrderSequenceNumber;
    case StatusCode::invalid_producer_epoch:
      return error::kInvalidProducerEpoch;
    case StatusCode::unknown_producer_id:
      return error::kUnknownProducerId;
    case StatusCode::record_too_large:  // over max_batch_bytes, checked by the Log
      return error::kMessageTooLarge;
    case StatusCode::io_error:
    case StatusCode::no_space:
    case StatusCode::failed_precondition:
      return error::kKafkaStorageError;
    default:
      return -1;  // UNKNOWN_SERVER_ERROR
  }
}

}  // namespace samsa_server
