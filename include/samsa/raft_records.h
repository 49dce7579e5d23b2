// Floor 7 formats: the KRaft control records (Kafka's LeaderChangeMessage,
// SnapshotHeaderRecord, SnapshotFooterRecord, KRaftVersionRecord, VotersRecord) and the
// control batches that carry them.
//
// Every value is Kafka's generated serialization at the schema version Kafka reads it
// with (ControlRecordUtils: version 0 for all five). The schemas are flexible from version
// 0: strings and arrays are "compact" (unsigned varint length + 1), and every struct ends
// with a tagged-field section (unsigned varint count; samsa writes 0 and skips unknown
// tags when reading). Byte grammar and worked hex examples: docs/FORMAT.md, "KRaft control
// records".
//
// Thread-safety: pure functions on caller-owned values.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "samsa/coding.h"
#include "samsa/record_batch.h"
#include "samsa/status.h"
#include "samsa/types.h"

namespace samsa {

// Kafka's Uuid as a log directory id (KIP-853): 16 bytes, big-endian most significant
// half first. All zeros is Kafka's ZERO_UUID, "no directory id".
struct DirectoryId {
  std::array<std::byte, 16> bytes{};
  bool is_zero() const;
  friend bool operator==(const DirectoryId&, const DirectoryId&) = default;
};

// Written by a new leader as the first record of its epoch (KIP-595). Schema version 0:
// voters carry no directory id. Kafka's Version field is written as 0.
struct LeaderChangeMessage {
  std::int32_t leader_id = -1;
  std::vector<std::int32_t> voters;
  std::vector<std::int32_t> granting_voters;
  friend bool operator==(const LeaderChangeMessage&, const LeaderChangeMessage&) = default;
};

// The first record of a snapshot (KIP-630).
struct SnapshotHeaderRecord {
  std::int64_t last_contained_log_timestamp = 0;
  friend bool operator==(const SnapshotHeaderRecord&, const SnapshotHeaderRecord&) = default;
};

// The last record of a snapshot (KIP-630).
struct SnapshotFooterRecord {
  friend bool operator==(const SnapshotFooterRecord&, const SnapshotFooterRecord&) = default;
};

// The kraft.version feature level in effect from this record on (KIP-853).
struct KRaftVersionRecord {
  std::int16_t kraft_version = 0;
  friend bool operator==(const KRaftVersionRecord&, const KRaftVersionRecord&) = default;
};

struct VoterEndpoint {
  std::string name;
  std::string host;
  std::uint16_t port = 0;
  friend bool operator==(const VoterEndpoint&, const VoterEndpoint&) = default;
};

struct VoterEntry {
  std::int32_t voter_id = -1;
  DirectoryId directory_id;
  std::vector<VoterEndpoint> endpoints;
  std::int16_t min_kraft_version = 0;
  std::int16_t max_kraft_version = 0;
  friend bool operator==(const VoterEntry&, const VoterEntry&) = default;
};

// The voter set in effect from this record on (KIP-853).
struct VotersRecord {
  std::vector<VoterEntry> voters;
  friend bool operator==(const VotersRecord&, const VotersRecord&) = default;
};

using ControlRecord = std::variant<LeaderChangeMessage, SnapshotHeaderRecord, SnapshotFooterRecord,
                                   KRaftVersionRecord, VotersRecord>;

// The type its key names: leader_change, snapshot_header, snapshot_footer, kraft_version or
// kraft_voters.
ControlRecordType control_record_type(const ControlRecord& record);

// The record's value: Kafka's serialization of the message.
std::vector<std::byte> encode_control_value(const ControlRecord& record);

// Decodes a control record from its key (i16 version, i16 type) and value. As in Kafka, a
// key version above 0 is read as version 0 and bytes after the type are ignored. A key
// shorter than 4 bytes or with a negative version, a transaction marker type (abort,
// commit), an unknown type, a
// truncated or overlong value, or bytes left over are corruption naming the field and the
// byte position within the key or value.
Result<ControlRecord> decode_control_record(ByteSpan key, ByteSpan value);

// A RecordBatch v2 with the control flag holding `records` (one record each, in order),
// partition leader epoch `epoch`, base offset `base_offset`, every timestamp `ts`, no
// producer id. invalid_argument when `records` is empty.
Result<std::vector<std::byte>> encode_control_batch(std::span<const ControlRecord> records,
                                                    LeaderEpoch epoch, Timestamp ts,
                                                    Offset base_offset = Offset(0));

// Every control record of `batch`, which the caller has validated. A batch without the
// control flag is invalid_argument; a record without key or value, or one that does not
// decode, is corruption naming the batch position and the record's offset.
Result<std::vector<ControlRecord>> decode_control_batch(const RecordBatchView& batch);

}  // namespace samsa
