#include "samsa/raft_records.h"

#include "schema_codec.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <string_view>
#include <type_traits>

namespace samsa {

namespace {

// Kafka's message schemas at version 0 (ControlRecordUtils.*_CURRENT_VERSION).
constexpr std::int16_t kMessageVersion = 0;
constexpr std::int16_t kControlKeyVersion = 0;
constexpr std::size_t kControlKeySize = 4;

using Writer = internal::SchemaWriter;
using Reader = internal::SchemaReader;

void encode(Writer& w, const LeaderChangeMessage& m) {
  w.be<std::int16_t>(kMessageVersion);
  w.be<std::int32_t>(m.leader_id);
  for (const auto* list : {&m.voters, &m.granting_voters}) {
    w.compact_length(list->size());
    for (std::int32_t id : *list) {
      w.be<std::int32_t>(id);
      w.no_tagged_fields();
    }
  }
  w.no_tagged_fields();
}
void encode(Writer& w, const SnapshotHeaderRecord& m) {
  w.be<std::int16_t>(kMessageVersion);
  w.be<std::int64_t>(m.last_contained_log_timestamp);
  w.no_tagged_fields();
}
void encode(Writer& w, const SnapshotFooterRecord&) {
  w.be<std::int16_t>(kMessageVersion);
  w.no_tagged_fields();
}
void encode(Writer& w, const KRaftVersionRecord& m) {
  w.be<std::int16_t>(kMessageVersion);
  w.be<std::int16_t>(m.kraft_version);
  w.no_tagged_fields();
}
void encode(Writer& w, const VotersRecord& m) {
  w.be<std::int16_t>(kMessageVersion);
  w.compact_length(m.voters.size());
  for (const VoterEntry& v : m.voters) {
    w.be<std::int32_t>(v.voter_id);
    w.raw(v.directory_id.bytes);
    w.compact_length(v.endpoints.size());
    for (const VoterEndpoint& e : v.endpoints) {
      w.compact_string(e.name);
      w.compact_string(e.host);
      w.be<std::uint16_t>(e.port);
      w.no_tagged_fields();
    }
    w.be<std::int16_t>(v.min_kraft_version);  // KRaftVersionFeature struct
    w.be<std::int16_t>(v.max_kraft_version);
    w.no_tagged_fields();
    w.no_tagged_fields();  // Voter
  }
  w.no_tagged_fields();
}

// Kafka reads the Version field but does not act on it; neither does samsa.
bool decode_version(Reader& r) {
  std::int16_t version = 0;
  return r.be(version, "Version");
}

bool decode_voter_ids(Reader& r, std::vector<std::int32_t>& out, std::string_view field) {
  std::size_t n = 0;
  if (!r.compact_length(n, 5, field)) return false;
  out.resize(n);
  for (auto& id : out) {
    if (!r.be(id, field) || !r.tagged_fields(field)) return false;
  }
  return true;
}

Result<ControlRecord> decode_leader_change(ByteSpan value) {
  Reader r(value, "LeaderChangeMessage");
  LeaderChangeMessage m;
  const bool ok = decode_version(r) && r.be(m.leader_id, "LeaderId") &&
                  decode_voter_ids(r, m.voters, "Voters") &&
                  decode_voter_ids(r, m.granting_voters, "GrantingVoters") &&
                  r.tagged_fields("_tagged_fields") && r.at_end();
  if (!ok) return r.status();
  return ControlRecord(std::move(m));
}

Result<ControlRecord> decode_snapshot_header(ByteSpan value) {
  Reader r(value, "SnapshotHeaderRecord");
  SnapshotHeaderRecord m;
  const bool ok = decode_version(r) &&
                  r.be(m.last_contained_log_timestamp, "LastContainedLogTimestamp") &&
                  r.tagged_fields("_tagged_fields") && r.at_end();
  if (!ok) return r.status();
  return ControlRecord(m);
}

Result<ControlRecord> decode_snapshot_footer(ByteSpan value) {
  Reader r(value, "SnapshotFooterRecord");
  const bool ok = decode_version(r) && r.tagged_fields("_tagged_fields") && r.at_end();
  if (!ok) return r.status();
  return ControlRecord(SnapshotFooterRecord{});
}

Result<ControlRecord> decode_kraft_version(ByteSpan value) {
  Reader r(value, "KRaftVersionRecord");
  KRaftVersionRecord m;
  const bool ok = decode_version(r) && r.be(m.kraft_version, "KRaftVersion") &&
                  r.tagged_fields("_tagged_fields") && r.at_end();
  if (!ok) return r.status();
  return ControlRecord(m);
}

bool decode_voter(Reader& r, VoterEntry& v) {
  std::size_t endpoints = 0;
  if (!r.be(v.voter_id, "Voters.VoterId") ||
      !r.fixed(v.directory_id.bytes, "Voters.VoterDirectoryId") ||
      !r.compact_length(endpoints, 5, "Voters.Endpoints")) {
    return false;
  }
  v.endpoints.resize(endpoints);
  for (VoterEndpoint& e : v.endpoints) {
    if (!r.compact_string(e.name, "Voters.Endpoints.Name") ||
        !r.compact_string(e.host, "Voters.Endpoints.Host") ||
        !r.be(e.port, "Voters.Endpoints.Port") || !r.tagged_fields("Voters.Endpoints")) {
      return false;
    }
  }
  return r.be(v.min_kraft_version, "Voters.KRaftVersionFeature.MinSupportedVersion") &&
         r.be(v.max_kraft_version, "Voters.KRaftVersionFeature.MaxSupportedVersion") &&
         r.tagged_fields("Voters.KRaftVersionFeature") && r.tagged_fields("Voters");
}

Result<ControlRecord> decode_voters(ByteSpan value) {
  Reader r(value, "VotersRecord");
  VotersRecord m;
  std::size_t n = 0;
  if (!decode_version(r) || !r.compact_length(n, 27, "Voters")) return r.status();
  m.voters.resize(n);
  for (VoterEntry& v : m.voters) {
    if (!decode_voter(r, v)) return r.status();
  }
  if (!r.tagged_fields("_tagged_fields") || !r.at_end()) return r.status();
  return ControlRecord(std::move(m));
}

}  // namespace

bool DirectoryId::is_zero() const {
  return std::all_of(bytes.begin(), bytes.end(), [](std::byte b) { return b == std::byte{0}; });
}

ControlRecordType control_record_type(const ControlRecord& record) {
  struct Visitor {
    ControlRecordType operator()(const LeaderChangeMessage&) const {
      return ControlRecordType::leader_change;
    }
    ControlRecordType operator()(const SnapshotHeaderRecord&) const {
      return ControlRecordType::snapshot_header;
    }
    ControlRecordType operator()(const SnapshotFooterRecord&) const {
      return ControlRecordType::snapshot_footer;
    }
    ControlRecordType operator()(const KRaftVersionRecord&) const {
      return ControlRecordType::kraft_version;
    }
    ControlRecordType operator()(const VotersRecord&) const {
      return ControlRecordType::kraft_voters;
    }
  };
  return std::visit(Visitor{}, record);
}

std::vector<std::byte> encode_control_value(const ControlRecord& record) {
  Writer w;
  std::visit([&w](const auto& m) { encode(w, m); }, record);
  return w.take();
}

Result<ControlRecord> decode_control_record(ByteSpan key, ByteSpan value) {
  // Kafka's ControlRecordType.parseTypeId: at least 4 bytes, a negative version is
  // corruption, a newer one is read as version 0 (its extra bytes ignored).
  if (key.size() < kControlKeySize) {
    return Status::corruption(
        fmt::format("control record key at byte 0: {} bytes, expected at least {}", key.size(),
                    kControlKeySize));
  }
  const auto version = get_be<std::int16_t>(key.data());
  const auto type = get_be<std::int16_t>(key.data() + 2);
  if (version < kControlKeyVersion) {
    return Status::corruption(
        fmt::format("control record key version at byte 0: {} is negative", version));
  }
  switch (static_cast<ControlRecordType>(type)) {
    case ControlRecordType::leader_change:
      return decode_leader_change(value);
    case ControlRecordType::snapshot_header:
      return decode_snapshot_header(value);
    case ControlRecordType::snapshot_footer:
      return decode_snapshot_footer(value);
    case ControlRecordType::kraft_version:
      return decode_kraft_version(value);
    case ControlRecordType::kraft_voters:
      return decode_voters(value);
    case ControlRecordType::abort:
    case ControlRecordType::commit:
      return Status::corruption(fmt::format(
          "control record key type at byte 2: {} is a transaction marker, not a KRaft record",
          type));
  }
  return Status::corruption(
      fmt::format("control record key type at byte 2: {} is not a known type", type));
}

Result<std::vector<std::byte>> encode_control_batch(std::span<const ControlRecord> records,
                                                    LeaderEpoch epoch, Timestamp ts,
                                                    Offset base_offset) {
  if (records.empty()) {
    return Status::invalid_argument("encode_control_batch: a batch needs at least one record");
  }
  BatchOptions options;
  options.control = true;
  options.base_offset = base_offset;
  options.partition_leader_epoch = epoch;
  RecordBatchBuilder builder(options);
  for (const ControlRecord& record : records) {
    const auto key = control_record_key(control_record_type(record));
    const std::vector<std::byte> value = encode_control_value(record);
    SAMSA_TRY(builder.append(ts, ByteSpan(key), ByteSpan(value)));
  }
  SAMSA_TRY_ASSIGN(const MutableByteSpan built, builder.build());
  return std::vector<std::byte>(built.begin(), built.end());
}

Result<std::vector<ControlRecord>> decode_control_batch(const RecordBatchView& batch) {
  if (!batch.is_control()) {
    return Status::invalid_argument(
        fmt::format("batch at position {} (base offset {}) is not a control batch",
                    batch.position(), batch.base_offset().value()));
  }
  RecordReader reader;
  SAMSA_TRY(reader.reset(batch));
  std::vector<ControlRecord> out;
  Record record;
  for (;;) {
    SAMSA_TRY_ASSIGN(const bool more, reader.next(record));
    if (!more) break;
    auto where = [&] {
      return fmt::format("control batch at position {}, record at offset {}", batch.position(),
                         record.offset.value());
    };
    if (!record.key || !record.value) {
      return Status::corruption(fmt::format("{}: null {}", where(), record.key ? "value" : "key"));
    }
    auto decoded = decode_control_record(*record.key, *record.value);
    if (!decoded.ok()) {
      return Status::corruption(fmt::format("{}: {}", where(), decoded.status().message()));
    }
    out.push_back(std::move(decoded).value());
  }
  return out;
}

}  // namespace samsa
