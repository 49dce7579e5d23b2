// Produce: each partition's record set must be exactly one RecordBatch v2 (Kafka's rule for
// v3+); the magic 0/1 message sets of v0-v2 are converted to one first, as Kafka's broker
// converts them (samsa::convert_legacy_message_set; a bad one gets CORRUPT_MESSAGE). It is
// pushed to the partition's append queue, which stores it byte for byte with only its base
// offset and leader epoch rewritten (and a wrong max timestamp fixed). The response goes once
// every partition has an answer; acks=0 gets none, and the connection is closed when a
// partition failed (Kafka's rule).
#include <atomic>

#include "handlers.h"
#include "samsa/legacy_records.h"
#include "samsa/record_batch.h"

namespace samsa_server {
namespace {

struct ProduceState {
  std::int16_t version = 0;
  std::int32_t correlation_id = 0;
  bool acks_zero = false;
  std::atomic<bool> failed{false};  // some partition got an error (acks=0 closes on it)
  std::function<void(Reply)> respond;
  ProduceResponse response;
  // Answers still to come, plus one held by produce() until every batch is queued.
  std::atomic<int> pending{1};

  void finish_one() {
    if (pending.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    if (acks_zero) {
      // Kafka answers acks=0 with nothing, and closes the connection when a partition
      // failed: the only way such a producer learns of it.
      respond(failed.load() ? Reply::close("acks=0 produce with a partition error")
                            : Reply::nothing());
      return;
    }
    ResponseWriter out(correlation_id);
    encode(response, version, out.body());
    respond(Reply::of(out.finish()));
  }
};

// The checks made before queueing: an error code, or 0 and the batch's producer id.
std::int16_t precheck(const std::optional<MutableByteSpan>& records, std::int16_t version,
                      bool& idempotent) {
  if (!records || records->empty()) return error::kCorruptMessage;
  auto view = samsa::RecordBatchView::parse(*records);
  if (!view.ok()) return error::kCorruptMessage;  // magic 0/1 in v3+ too (Kafka: v3+ is v2 only)
  if (view->size_bytes() != records->size()) return error::kCorruptMessage;  // not one batch
  if (view->compression() == samsa::Compression::zstd && version < 7) {
    return error::kUnsupportedCompressionType;  // KIP-110: zstd needs Produce v7
  }
  if (view->is_control()) return error::kCorruptMessage;         // clients may not send them
  if (view->is_transactional()) return error::kInvalidTxnState;  // no transactions here
  idempotent = view->producer_id() != samsa::ProducerId::none();
  return error::kNone;
}

// Produce v0-v2 from old clients (kafka-go 0.2, Sarama with an old Version) carry magic
// 0/1 message sets: converted here, on the I/O thread, to one v2 batch that `owner` keeps
// alive and `records` then points at. A wrapper decompresses within the partition log's
// bound, as a v2 batch would. An error code when the set is malformed.
std::int16_t convert_legacy(std::optional<MutableByteSpan>& records, std::int16_t version,
                            const PartitionHandle& handle, std::shared_ptr<const void>& owner) {
  if (version >= 3 || !records || !samsa::is_legacy_message_set(*records)) return error::kNone;
  const samsa::LegacyConvertOptions options{
      .max_decompressed_bytes = handle.partition->log().config().max_decompressed_bytes()};
  auto converted = samsa::convert_legacy_message_set(*records, options);
  if (!converted.ok()) return produce_error_code(converted.status());
  auto batch = std::make_shared<std::vector<std::byte>>(std::move(*converted));
  records = MutableByteSpan(*batch);
  owner = std::move(batch);
  return error::kNone;
}

void fill(ProducePartitionResponse& out, const AppendOutcome& outcome, ProduceState& state) {
  out.error_code = produce_error_code(outcome.status);
  if (out.error_code != error::kNone) {
    state.failed = true;
    return;
  }
  out.base_offset = outcome.base_offset;
  out.log_append_time_ms = outcome.log_append_time_ms;
  out.log_start_offset = outcome.log_start_offset;
}

}  // namespace

void Handlers::produce(Request request) {
  Reader r = request.body();
  auto decoded = decode_produce(r, request.header.api_version);
  if (!decoded.ok()) return request.respond(Reply::close(decoded.status().to_string()));
  ProduceRequest& m = *decoded;
  auto state = std::make_shared<ProduceState>();
  state->version = request.header.api_version;
  state->correlation_id = request.header.correlation_id;
  state->respond = request.respond;
  state->acks_zero = m.acks == 0;
  const bool acks_ok = m.acks == 0 || m.acks == 1 || m.acks == -1;
  // Sized up front: the append callbacks write into their own slots concurrently.
  state->response.responses.resize(m.topics.size());
  for (std::size_t t = 0; t < m.topics.size(); ++t) {
    state->response.responses[t].name = m.topics[t].name;
    state->response.responses[t].partitions.resize(m.topics[t].partitions.size());
  }
  for (std::size_t t = 0; t < m.topics.size(); ++t) {
    const auto topic = broker_.find(m.topics[t].name);
    for (std::size_t p = 0; p < m.topics[t].partitions.size(); ++p) {
      ProducePartitionData& data = m.topics[t].partitions[p];
      ProducePartitionResponse& out = state->response.responses[t].partitions[p];
      out.index = data.index;
      PartitionHandle* handle = topic ? topic->partition(data.index) : nullptr;
      bool idempotent = false;
      std::shared_ptr<const void> owner = request.frame;  // what keeps the batch's bytes
      if (!acks_ok) {
        out.error_code = error::kInvalidRequiredAcks;
        state->failed = true;
      } else if (m.transactional_id) {
        out.error_code = error::kTransactionalIdAuthorizationFailed;
        state->failed = true;
      } else if (handle == nullptr) {
        out.error_code = error::kUnknownTopicOrPartition;
        state->failed = true;
      } else if (topic->internal) {
        // Kafka: "Cannot append to internal topic" (only the group coordinator writes it).
        out.error_code = error::kInvalidTopicException;
        state->failed = true;
      } else if (std::int16_t bad = convert_legacy(data.records, state->version, *handle, owner);
                 bad) {
        out.error_code = bad;
        state->failed = true;
      } else if (std::int16_t e = precheck(data.records, state->version, idempotent); e != 0) {
        out.error_code = e;
        state->failed = true;
      } else {
        state->pending.fetch_add(1, std::memory_order_relaxed);
        handle->appends->push(AppendJob{*data.records, idempotent, std::move(owner),
                                        [state, &out](const AppendOutcome& outcome) {
                                          fill(out, outcome, *state);
                                          state->finish_one();
                                        }});
      }
    }
  }
  state->finish_one();
}

}  // namespace samsa_server
