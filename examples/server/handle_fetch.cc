// Fetch: whole batches from the segment files (sent with sendfile), bounded by the high
// watermark, per-partition and total max bytes, with the first batch always returned even
// when larger (KIP-74). Without min_bytes of data it waits (long poll) in FetchWaiters
// until an append to one of its partitions or max_wait, holding no thread.
#include <algorithm>

#include "handlers.h"

namespace samsa_server {

struct Handlers::FetchState {
  Request request;
  FetchRequest m;
  FetchWaiters::Clock::time_point deadline;
};

void Handlers::fetch_start(Request request) {
  Reader r = request.body();
  auto decoded = decode_fetch(r, request.header.api_version);
  if (!decoded.ok()) return request.respond(Reply::close(decoded.status().to_string()));
  auto state = std::make_shared<FetchState>();
  state->m = std::move(decoded).value();
  state->deadline = FetchWaiters::Clock::now() +
                    std::chrono::milliseconds(std::max<std::int32_t>(state->m.max_wait_ms, 0));
  state->request = std::move(request);
  pool_.post([this, state] { fetch_attempt(state, false); });
}

namespace {

struct Budget {
  std::uint64_t left;         // of the request's max_bytes
  bool min_one_batch = true;  // until some partition returned data
};

FetchPartitionResponse read_partition(PartitionHandle* handle, const FetchPartition& p,
                                      Budget& budget) {
  FetchPartitionResponse out;
  out.partition = p.partition;
  if (handle == nullptr) {
    out.error_code = error::kUnknownTopicOrPartition;
    return out;
  }
  samsa::Partition& part = *handle->partition;
  const std::uint64_t limit =
      std::min<std::uint64_t>(budget.left, std::max<std::int32_t>(p.partition_max_bytes, 0));
  samsa::Result<samsa::PartitionReadResult> read = samsa::Status::out_of_range("not read");
  if (p.fetch_offset < part.log_start_offset().value() ||
      p.fetch_offset > part.log_end_offset().value()) {
    out.error_code = error::kOffsetOutOfRange;
  } else if (limit == 0 && !budget.min_one_batch) {
    // The response is full: no bytes from this partition, only its offsets.
    out.high_watermark = part.high_watermark().value();
    out.last_stable_offset = part.last_stable_offset().value();
    out.log_start_offset = part.log_start_offset().value();
  } else {
    read = part.read(samsa::Offset(p.fetch_offset), {.max_bytes = limit,
                                                     .isolation = samsa::Isolation::committed,
                                                     .min_one_batch = budget.min_one_batch});
    if (!read.ok()) {
      out.error_code = read.status().code() == samsa::StatusCode::out_of_range
                           ? error::kOffsetOutOfRange
                           : error::kKafkaStorageError;
    }
  }
  if (read.ok()) {
    out.high_watermark = read->high_watermark.value();
    out.last_stable_offset = read->last_stable_offset.value();
    out.log_start_offset = read->log_start_offset.value();
    out.records = std::move(read->slice);
    budget.left -= std::min<std::uint64_t>(budget.left, out.records.size_bytes);
    if (!out.records.empty()) budget.min_one_batch = false;
  }
  // On an error Kafka reports the offsets as unknown (-1), as the defaults are.
  return out;
}

}  // namespace

void Handlers::fetch_attempt(const std::shared_ptr<FetchState>& state, bool timed_out) {
  const FetchRequest& m = state->m;
  FetchResponse response;
  std::vector<FetchWaiters::Watch> watches;
  std::uint64_t bytes = 0;
  bool error = false;
  if (m.session_id != 0) {
    // No fetch sessions: a client that has one must start over with a full fetch.
    response.error_code = error::kFetchSessionIdNotFound;
    error = true;
  } else {
    Budget budget{static_cast<std::uint64_t>(std::max<std::int32_t>(m.max_bytes, 0))};
    for (const FetchTopic& t : m.topics) {
      FetchTopicResponse& rt = response.responses.emplace_back();
      rt.topic = t.topic;
      const auto topic = broker_.find(t.topic);
      for (const FetchPartition& p : t.partitions) {
        PartitionHandle* handle = topic ? topic->partition(p.partition) : nullptr;
        // Noted before reading: an append after this point re-runs a waiting fetch.
        if (handle) watches.push_back({handle, handle->appends_done.load()});
        FetchPartitionResponse pr = read_partition(handle, p, budget);
        bytes += pr.records.size_bytes;
        error = error || pr.error_code != error::kNone;
        rt.partitions.push_back(std::move(pr));
      }
    }
  }
  const bool enough = bytes >= static_cast<std::uint64_t>(std::max<std::int32_t>(m.min_bytes, 0));
  if (!timed_out && !enough && !error && !watches.empty() &&
      FetchWaiters::Clock::now() < state->deadline) {
    waiters_.wait(std::move(watches), state->deadline,
                  [this, state](bool to) { fetch_attempt(state, to); });
    return;
  }
  ResponseWriter out(state->request.header.correlation_id);
  samsa::Status s = encode(response, state->request.header.api_version, out);
  state->request.respond(s.ok() ? Reply::of(out.finish()) : Reply::close(s.to_string()));
}

}  // namespace samsa_server
