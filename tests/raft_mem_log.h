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
#include <map>
#include <optional>
#include <span>
#include <vector>

#include "samsa/quorum_state_file.h"
#include "samsa/raft_quorum.h"
#include "samsa/raft_snapshot.h"
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
  Offset start{0};  // the log start (durable when moved)
  // Frozen snapshots (durable), their bytes as Kafka's .checkpoint files hold them, and the
  // one being received (lost in a crash, as a .part file is removed at restart).
  std::map<SnapshotId, std::vector<std::byte>> snapshots;
  std::optional<std::pair<SnapshotId, std::vector<std::byte>>> receiving;

  Offset end() const { return batches.empty() ? start : batches.back().next; }

  Result<SnapshotChunk> read_snapshot(SnapshotId id, std::uint64_t position,
                                      std::uint32_t max_bytes) const override {
    auto it = snapshots.find(id);
    if (it == snapshots.end()) return Status::not_found("no such snapshot");
    SnapshotChunk c;
    c.size = it->second.size();
    if (position > c.size) return Status::out_of_range("position past the snapshot");
    const std::size_t n =
        static_cast<std::size_t>(std::min<std::uint64_t>(max_bytes, c.size - position));
    const auto* at = it->second.data() + position;
    c.bytes.assign(at, at + n);
    return c;
  }

  std::optional<SnapshotId> latest_snapshot() const {
    if (snapshots.empty()) return std::nullopt;
    return snapshots.rbegin()->first;
  }

  // Ready step 2a: the log restarts empty at `e`.
  void reset_to(Offset e) {
    batches.clear();
    durable = 0;
    start = e;
  }
  // Ready step 2b: the log start moves to `e`; batches wholly below it go.
  void advance_start(Offset e) {
    start = std::max(start, e);
    std::size_t drop = 0;
    while (drop < batches.size() && batches[drop].next <= start) ++drop;
    batches.erase(batches.begin(), batches.begin() + static_cast<std::ptrdiff_t>(drop));
    durable = durable > drop ? durable - drop : 0;
  }
  // Keeps the latest `keep` snapshots (as RaftDriver does).
  void delete_old_snapshots(std::size_t keep = 2) {
    while (snapshots.size() > keep) snapshots.erase(snapshots.begin());
  }
  // Ready step 3a: one chunk; for the last one, the outcome snapshot_fetched() is told (the
  // whole validated as a .checkpoint file is, then frozen).
  std::optional<Status> write_chunk(const raft::SnapshotChunkWrite& c) {
    if (c.position == 0) receiving.emplace(c.id, std::vector<std::byte>{});
    if (!receiving || receiving->first != c.id || receiving->second.size() != c.position) {
      return Status::corruption("a Ready wrote a snapshot chunk out of order");
    }
    receiving->second.insert(receiving->second.end(), c.bytes.begin(), c.bytes.end());
    if (!c.last) return std::nullopt;
    auto valid = validate_snapshot_bytes(receiving->second, c.id.epoch, snapshot_file_name(c.id));
    if (valid.ok()) snapshots[c.id] = std::move(receiving->second);
    receiving.reset();
    return valid.status();
  }
  // The host's own snapshot of every record below id.end_offset: `values` in one batch.
  Status create_snapshot(SnapshotId id, std::span<const std::vector<std::byte>> values,
                         std::int64_t now) {
    RecordBatchBuilder builder;
    for (const auto& v : values)
      SAMSA_TRY(builder.append(Timestamp(now), std::nullopt, ByteSpan(v)));
    SAMSA_TRY_ASSIGN(const MutableByteSpan batch, builder.build());
    SAMSA_TRY_ASSIGN(auto bytes, encode_snapshot(id, Timestamp(now), batch));
    snapshots[id] = std::move(bytes);
    return Status();
  }
  // The record values of a frozen snapshot.
  Result<std::vector<std::vector<std::byte>>> snapshot_values(SnapshotId id) const {
    auto it = snapshots.find(id);
    if (it == snapshots.end()) return Status::not_found("no such snapshot");
    SAMSA_TRY_ASSIGN(const auto batches,
                     validate_snapshot_bytes(it->second, id.epoch, snapshot_file_name(id)));
    return snapshot_record_values(batches);
  }
  // A restart: what RaftDriver::open does with its snapshots. The one being received is
  // lost; the log starts at the latest snapshot (restarting there when it is ahead).
  void recover() {
    receiving.reset();
    const auto latest = latest_snapshot();
    if (!latest || start == latest->end_offset) return;
    const MemBatch* last = nullptr;
    for (const MemBatch& b : batches) {
      if (b.base < latest->end_offset && latest->end_offset <= b.next) last = &b;
    }
    if (last == nullptr || last->next != latest->end_offset || last->epoch != latest->epoch) {
      reset_to(latest->end_offset);
    } else {
      advance_start(latest->end_offset);
    }
  }

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
    s.log_start_offset = start;
    s.latest_snapshot = latest_snapshot();
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
