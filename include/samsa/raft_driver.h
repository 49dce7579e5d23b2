// Floor 7: RaftDriver executes a RaftQuorum's Ready against a samsa Log and Kafka's
// quorum-state file, in the order written on Ready (quorum-state durable, truncate,
// append and fdatasync; only then what goes out), so a host wires only the transport and
// its state machine.
//
// On disk, as Kafka's KRaft lays out its metadata log directory:
//   <data_dir>/__cluster_metadata-0/            a samsa Log (RecordBatch v2 segments)
//   <data_dir>/__cluster_metadata-0/quorum-state  Kafka's QuorumStateData JSON
//   <data_dir>/__cluster_metadata-0/<end>-<epoch>.checkpoint  snapshots (raft_snapshot.h)
// At open, the Log recovers (a torn tail is cut), the quorum-state file is read (a torn or
// malformed one is reported as corruption naming it, never trusted), unfinished snapshot
// files (.part) are removed, and the log is brought to start at the latest snapshot: its
// start moves there, or, when the snapshot is ahead of the log (a crash after a fetched
// snapshot was frozen, before the log restarted), the log restarts empty at its end. The
// latest snapshot is read and checked whole first (corruption names the file); a log that
// starts past every snapshot is corruption. Then the batches are scanned for where
// each leader epoch begins. The log is never deleted by time or size (retention is off):
// only below a snapshot.
//
// Usage: after every input (step, tick, propose, resign) call drain(now) and deliver what
// it returns. A failed write (I/O error, full disk) stops the driver: every later call
// returns that error, and the host reopens the node (a restart), which recovers from what
// is durable. Nothing acknowledged is lost: nothing is sent before it is on disk.
//
// Thread-safety: not thread-safe; one owner drives it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "samsa/env.h"
#include "samsa/log.h"
#include "samsa/raft_quorum.h"
#include "samsa/raft_snapshot.h"

namespace samsa::raft {

// RaftLog over a samsa Log (whole batches from the one holding the offset) and the
// snapshot files beside it (`snapshot_env` and `snapshot_dir`; without an Env no snapshot is
// found).
class LogRaftReader final : public RaftLog {
 public:
  explicit LogRaftReader(const Log& log, Env* snapshot_env = nullptr, std::string snapshot_dir = {})
      : log_(&log), env_(snapshot_env), dir_(std::move(snapshot_dir)) {}
  Result<std::vector<std::byte>> read(Offset offset, std::uint32_t max_bytes) const override;
  Result<SnapshotChunk> read_snapshot(SnapshotId id, std::uint64_t position,
                                      std::uint32_t max_bytes) const override;

 private:
  const Log* log_;
  Env* env_;
  std::string dir_;
};

// The summary RaftQuorum::create needs: log start and end and where each epoch begins
// (read from the batches' partition leader epochs). Corruption names the offset.
Result<RaftLogSummary> scan_raft_log(const Log& log);

// What a drained Ready leaves for the host, after it is durable.
struct RaftOutput {
  std::vector<Message> messages;         // deliver these
  std::optional<Offset> high_watermark;  // records below it are committed
  std::optional<LeaderAndEpoch> leader_change;
  std::vector<ReadState> reads;  // serve each once applied up to its read_offset
  // A snapshot fetched from the leader replaced the log: load the state machine from it
  // (snapshot_values) before applying the records past its end.
  std::optional<SnapshotId> load_snapshot;
};

class RaftDriver {
 public:
  static constexpr const char* kLogDirName = "__cluster_metadata-0";
  static constexpr const char* kQuorumStateFileName = "quorum-state";

  // Opens (creating when needed) the node's directory under `data_dir`. The Log is opened
  // with FlushPolicy::durable whatever `log_config` says, and with max_batch_bytes raised
  // to fit the quorum's batch_max_bytes. `env` and `clock` must outlive the driver.
  static Result<std::unique_ptr<RaftDriver>> open(Env& env, const std::string& data_dir,
                                                  RaftConfig config, std::int64_t now,
                                                  LogConfig log_config = {},
                                                  Clock& clock = SystemClock::instance());
  ~RaftDriver();

  RaftQuorum& quorum() { return *quorum_; }
  const RaftQuorum& quorum() const { return *quorum_; }
  const Log& log() const { return *log_; }
  const std::string& dir() const { return dir_; }

  // Executes every pending Ready in its order and returns what to deliver. After an error
  // the driver is stopped (see above).
  Result<RaftOutput> drain(std::int64_t now);

  // Shorthands: the input, then drain().
  Result<RaftOutput> step(const Message& message, std::int64_t now);
  Result<RaftOutput> tick(std::int64_t now);

  // The committed records' batches from `offset` (below the high watermark), for the
  // host's state machine to apply.
  Result<std::vector<std::byte>> read_committed(Offset offset, std::uint32_t max_bytes) const;

  // Writes a snapshot of the host's state machine holding every record below `end_offset`
  // (committed, a batch boundary: RaftQuorum::snapshot_id_at): `values` as records in
  // batches of at most the quorum's batch_max_bytes, framed by SnapshotHeader and
  // SnapshotFooter, fsynced and renamed into place; then the quorum moves the log start to
  // it (call drain() next). Snapshots older than the previous one are deleted (the
  // previous stays: a follower may be fetching it).
  Result<SnapshotId> create_snapshot(Offset end_offset,
                                     std::span<const std::vector<std::byte>> values,
                                     std::int64_t now);
  // The record values of snapshot `id` (one of ours), checked whole (CRC, framing).
  Result<std::vector<std::vector<std::byte>>> snapshot_values(SnapshotId id) const;
  // The snapshot the log starts at (load it at start, before applying the log).
  std::optional<SnapshotId> latest_snapshot() const { return quorum_->status().latest_snapshot; }

  Status failure() const { return failure_; }

 private:
  RaftDriver() = default;
  // Steps 1-3a of a Ready (what must be durable before anything is sent).
  Status execute_durable_steps(const Ready& r, std::optional<Status>& fetched);
  Status execute_snapshot_chunk(const SnapshotChunkWrite& chunk, std::optional<Status>& fetched);
  Status delete_old_snapshots();

  Env* env_ = nullptr;
  std::string dir_;
  std::unique_ptr<SnapshotReceiver> receiver_;  // the snapshot being fetched
  std::unique_ptr<Log> log_;
  std::unique_ptr<LogRaftReader> reader_;
  std::unique_ptr<RaftQuorum> quorum_;
  Status failure_;
};

}  // namespace samsa::raft
