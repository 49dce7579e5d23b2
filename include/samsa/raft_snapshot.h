// Floor 7 formats: KRaft snapshot files (KIP-630), as Kafka's Snapshots,
// RecordsSnapshotWriter and FileRawSnapshotWriter lay them out.
//
// A snapshot `<20-digit end offset>-<10-digit epoch>.checkpoint` is a sequence of
// RecordBatch v2: first a control batch whose first record is a SnapshotHeaderRecord, then
// the host's data batches, last a control batch holding a SnapshotFooterRecord. As in
// Kafka, base offsets count from 0 across the whole file (the header batch is offset 0)
// and every batch carries the snapshot's epoch as partition leader epoch. It is written to
// `<name>.part` and renamed into place when frozen. Byte grammar: docs/FORMAT.md, "KRaft
// snapshots".
#pragma once

#include <compare>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "samsa/env.h"
#include "samsa/record_batch.h"
#include "samsa/status.h"
#include "samsa/types.h"

namespace samsa {

// A snapshot holds every record below end_offset; epoch is the epoch of the record at
// end_offset - 1 (Kafka's OffsetAndEpoch).
struct SnapshotId {
  Offset end_offset;
  LeaderEpoch epoch;
  friend auto operator<=>(const SnapshotId&, const SnapshotId&) = default;
};

// "<20-digit end offset>-<10-digit epoch>.checkpoint".
std::string snapshot_file_name(SnapshotId id);
// The id of a frozen snapshot's file name; nullopt for anything else (.part, .deleted...).
std::optional<SnapshotId> parse_snapshot_file_name(std::string_view name);

// The frozen snapshots in `dir`, sorted; ignores .part, .deleted and other names.
Result<std::vector<SnapshotId>> list_snapshots(Env& env, const std::string& dir);

// Writes one snapshot. create() writes the header batch; append() adds the host's
// batches (restamped with the next base offsets and the snapshot's epoch); freeze() adds
// the footer, fsyncs, renames `<name>.part` to `<name>` and fsyncs the directory. A writer
// destroyed before freeze() removes its .part file (best effort; a leftover .part is never
// listed as a snapshot).
//
// Thread-safety: one thread at a time.
class SnapshotWriter {
 public:
  // already_exists when the snapshot is already frozen in `dir`.
  static Result<std::unique_ptr<SnapshotWriter>> create(Env& env, const std::string& dir,
                                                        SnapshotId id,
                                                        Timestamp last_contained_log_timestamp);
  ~SnapshotWriter();
  SnapshotWriter(const SnapshotWriter&) = delete;
  SnapshotWriter& operator=(const SnapshotWriter&) = delete;

  // Appends whole batches (one or more, back to back). Each must validate; a control batch
  // is invalid_argument (the header and footer are the writer's). failed_precondition
  // after freeze().
  Status append(ByteSpan batches);
  // Footer, fsync, rename, fsync dir. After an error the snapshot is not frozen.
  Status freeze();

 private:
  struct Impl;
  explicit SnapshotWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A frozen snapshot.
//
// Thread-safety: const methods may be called concurrently.
class SnapshotReader {
 public:
  // not_found when the snapshot is not in `dir`. Does not read the contents.
  static Result<std::unique_ptr<SnapshotReader>> open(Env& env, const std::string& dir,
                                                      SnapshotId id);
  ~SnapshotReader();
  SnapshotReader(const SnapshotReader&) = delete;
  SnapshotReader& operator=(const SnapshotReader&) = delete;

  SnapshotId id() const;
  std::uint64_t size_bytes() const;
  // Up to out.size() bytes at `position`, for a FetchSnapshot response; fewer only at the
  // end. out_of_range when position > size_bytes().
  Result<std::size_t> read_at(std::uint64_t position, MutableByteSpan out) const;
  // Reads the whole file and returns the data batches (not the header and footer batches)
  // as stored, checked as validate_snapshot_bytes() does; corruption names the file and the
  // byte position.
  Result<std::vector<std::vector<std::byte>>> data_batches() const;

 private:
  struct Impl;
  explicit SnapshotReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Receives a snapshot from the leader in FetchSnapshot chunks, in order, into
// `<name>.part`; finish() validates it whole (as data_batches() does) and only then fsyncs
// and renames it into place. A receiver destroyed before finish() removes its .part file
// (best effort).
//
// Thread-safety: one thread at a time.
class SnapshotReceiver {
 public:
  // already_exists when the snapshot is already frozen in `dir`.
  static Result<std::unique_ptr<SnapshotReceiver>> create(Env& env, const std::string& dir,
                                                          SnapshotId id);
  ~SnapshotReceiver();
  SnapshotReceiver(const SnapshotReceiver&) = delete;
  SnapshotReceiver& operator=(const SnapshotReceiver&) = delete;

  // out_of_range unless position == received_bytes().
  Status write_chunk(std::uint64_t position, ByteSpan bytes);
  std::uint64_t received_bytes() const;
  // Validates, fsyncs, renames, fsyncs the directory. A snapshot that does not validate is
  // corruption; its .part file is removed.
  Status finish();

 private:
  struct Impl;
  explicit SnapshotReceiver(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A whole snapshot's bytes, exactly as SnapshotWriter writes them: the header batch, then
// `data_batches` (whole non-control RecordBatch v2, restamped with base offsets from 1 and
// the snapshot's epoch), then the footer batch. For hosts that keep snapshots in memory
// (tests, the simulator). A control batch among the data is invalid_argument.
Result<std::vector<std::byte>> encode_snapshot(SnapshotId id,
                                               Timestamp last_contained_log_timestamp,
                                               ByteSpan data_batches);

// The record values of a snapshot's data batches (as data_batches() returns them), in
// order; a record without a value gives an empty one. Corruption names the batch.
Result<std::vector<std::vector<std::byte>>> snapshot_record_values(
    const std::vector<std::vector<std::byte>>& data_batches);

// Validates a whole snapshot's bytes and returns its data batches: every batch validates
// (CRC, records), base offsets run contiguously from 0, every partition leader epoch is
// `epoch` (Kafka stamps the snapshot's epoch on all of them), the first batch is a control
// batch starting with a SnapshotHeaderRecord, the last one a control batch holding one
// SnapshotFooterRecord. `path` names the file in errors.
Result<std::vector<std::vector<std::byte>>> validate_snapshot_bytes(ByteSpan bytes,
                                                                    LeaderEpoch epoch,
                                                                    std::string_view path);

}  // namespace samsa
