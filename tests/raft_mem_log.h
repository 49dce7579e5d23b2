// An in-memory disk for RaftQuorum tests and the simulator: the batches a node's executed
// Readys appended (a durable prefix and an unsynced tail) and its quorum-state, read by the
// quorum through the RaftLog view. Shared by tests/raft_quorum_test.cc and
// tests/sim/raft_sim.cc.
//
// Thread-safety: none; one owner.
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <vector>

#include "samsa/quorum_state_file.h"
#include "samsa/raft_quorum.h"
#include "samsa/record_batch.h"
#include "strong_types.h"

namespace samsa::test {

struct MemBatch {
  Offset base;
  Offset next;
  LeaderEpoch epoch;
  std::vector<std::byte> bytes;
};

class MemRaftLog : public raft::RaftLog {
 public:
  std::vector<MemBatch> batches;
  std::size_t durable = 0;  // batches [0, durable) survive a crash or power cut
  std::optional<QuorumStateData> quorum_state;

  Offset end() const { return batches.empty() ? Offset(0) : batches.back().next; }

  Result<std::vector<std::byte>> read(Offset offset, std::uint32_t max_bytes) const override {
    std::vector<std::byte> out;
    for (const MemBatch& b : batches) {
      if (b.next <= offset) continue;
      if (!out.empty() && out.size() + b.bytes.size() > max_bytes) break;
      out.insert(out.end(), b.bytes.begin(), b.bytes.end());
    }
    return out;
  }

  // Cuts to `to`, whole batches only.
  void truncate(Offset to) {
    while (!batches.empty() && batches.back().base >= to) batches.pop_back();
    if (!batches.empty() && batches.back().next > to) batches.pop_back();
    durable = std::min(durable, batches.size());
  }

  // Appends one batch a Ready handed over; an error when it does not parse or does not
  // continue the log.
  Status append(const std::vector<std::byte>& bytes) {
    auto view = RecordBatchView::parse(ByteSpan(bytes));
    if (!view.ok())
      return Status::corruption("a Ready appended a bad batch: " + view.status().message());
    if (view->base_offset() != end()) {
      return Status::corruption(
          fmt::format("a Ready appends at {} but the log ends at {}", view->base_offset(), end()));
    }
    batches.push_back(
        {view->base_offset(), view->next_offset(), view->partition_leader_epoch(), bytes});
    return Status();
  }

  raft::RaftLogSummary summary() const {
    raft::RaftLogSummary s;
    s.log_end_offset = end();
    for (const MemBatch& b : batches) {
      if (s.epochs.empty() || s.epochs.back().epoch != b.epoch)
        s.epochs.push_back({b.epoch, b.base});
    }
    return s;
  }

  const MemBatch* at(Offset base) const {
    for (const MemBatch& b : batches) {
      if (b.base == base) return &b;
    }
    return nullptr;
  }
};

// FNV-1a of a batch's bytes, to compare committed batches across nodes.
inline std::uint64_t hash_bytes(const std::vector<std::byte>& b) {
  std::uint64_t h = 1469598103934665603ULL;
  for (std::byte x : b) h = (h ^ static_cast<std::uint8_t>(x)) * 1099511628211ULL;
  return h;
}

}  // namespace samsa::test
