#include "samsa/raft_records.h"

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
// Bounds on what a decoder allocates for a count read from the bytes: a compact array of n
// elements needs at least n bytes, so n is bounded by the bytes left; this is the cap on
// top of that for arrays whose elements are bigger.
constexpr std::size_t kMaxArrayElements = std::size_t{1} << 20;

// Kafka's flexible-version writer: big-endian fixed ints, unsigned varints, compact
// strings and arrays, an empty tagged-field section after each struct.
class Writer {
 public:
  template <typename T>
  void be(T v) {
    std::byte tmp[sizeof(T)];
    put_be<T>(tmp, v);
    out_.insert(out_.end(), tmp, tmp + sizeof(T));
  }
  void uvarint(std::uint64_t u) {
    std::byte tmp[kVarlongMaxBytes];
    std::byte* end = put_unsigned_varint(tmp, u);
    out_.insert(out_.end(), tmp, end);
  }
  void compact_length(std::size_t n) { uvarint(std::uint64_t{n} + 1); }
  void compact_string(std::string_view s) {
    compact_length(s.size());
    const ByteSpan b = as_bytes(s);
    out_.insert(out_.end(), b.begin(), b.end());
  }
  void uuid(const DirectoryId& id) { out_.insert(out_.end(), id.bytes.begin(), id.bytes.end()); }
  void no_tagged_fields() { uvarint(0); }
  std::vector<std::byte> take() { return std::move(out_); }

 private:
  std::vector<std::byte> out_;
};

// The reader's counterpart. Every failure records the field and the position where it
// starts; the first failure wins.
class Reader {
 public:
  explicit Reader(ByteSpan bytes, std::string_view message) : r_(bytes), message_(message) {}

  template <typename T>
  bool be(T& out, std::string_view field) {
    const std::size_t at = r_.offset();
    return r_.read_be(out) || fail(field, at, "truncated");
  }
  bool uvarint(std::uint64_t& out, std::string_view field) {
    const std::size_t at = r_.offset();
    std::uint64_t u = 0;
    for (int i = 0; i < 5; ++i) {
      std::uint8_t b = 0;
      if (!r_.read_be(b)) return fail(field, at, "truncated varint");
      u |= std::uint64_t{b & 0x7Fu} << (7 * i);
      if ((b & 0x80) == 0) {
        out = u;
        return true;
      }
    }
    return fail(field, at, "unsigned varint longer than 5 bytes");
  }
  // A compact array or string length: the stored value is n + 1; 0 would be null, which
  // none of these fields allows.
  bool compact_length(std::size_t& n, std::size_t min_element_bytes, std::string_view field) {
    const std::size_t at = r_.offset();
    std::uint64_t u = 0;
    if (!uvarint(u, field)) return false;
    if (u == 0) return fail(field, at, "null, which the schema does not allow");
    const std::uint64_t count = u - 1;
    if (count * std::max<std::size_t>(min_element_bytes, 1) > r_.remaining() ||
        count > kMaxArrayElements) {
      return fail(field, at,
                  fmt::format("length {} exceeds the {} bytes left", count, r_.remaining()));
    }
    n = static_cast<std::size_t>(count);
    return true;
  }
  bool compact_string(std::string& out, std::string_view field) {
    std::size_t n = 0;
    if (!compact_length(n, 1, field)) return false;
    ByteSpan b;
    if (!r_.read_bytes(n, b)) return fail(field, r_.offset(), "truncated");
    out.assign(as_chars(b));
    return true;
  }
  bool uuid(DirectoryId& out, std::string_view field) {
    const std::size_t at = r_.offset();
    ByteSpan b;
    if (!r_.read_bytes(out.bytes.size(), b)) return fail(field, at, "truncated");
    std::copy(b.begin(), b.end(), out.bytes.begin());
    return true;
  }
  // Skips a tagged-field section; samsa knows no tags, so every one is skipped.
  bool tagged_fields(std::string_view field) {
    std::size_t count = 0;
    if (!compact_length_raw(count, 2, field)) return false;
    for (std::size_t i = 0; i < count; ++i) {
      std::uint64_t tag = 0;
      std::uint64_t size = 0;
      if (!uvarint(tag, field) || !uvarint(size, field)) return false;
      const std::size_t at = r_.offset();
      if (size > r_.remaining() || !r_.skip(static_cast<std::size_t>(size))) {
        return fail(field, at, fmt::format("tagged field {} of {} bytes is truncated", tag, size));
      }
    }
    return true;
  }
  bool at_end() {
    return r_.at_end() ||
           fail("end", r_.offset(), fmt::format("{} bytes left over", r_.remaining()));
  }
  Status status() const { return status_; }

 private:
  // A plain (not + 1) count, as the tagged-field section stores it.
  bool compact_length_raw(std::size_t& n, std::size_t min_element_bytes, std::string_view field) {
    const std::size_t at = r_.offset();
    std::uint64_t u = 0;
    if (!uvarint(u, field)) return false;
    if (u * min_element_bytes > r_.remaining()) {
      return fail(field, at,
                  fmt::format("{} tagged fields exceed the {} bytes left", u, r_.remaining()));
    }
    n = static_cast<std::size_t>(u);
    return true;
  }
  bool fail(std::string_view field, std::size_t at, std::string_view what) {
    if (status_.ok()) {
      status_ = Status::corruption(fmt::format("{}.{} at byte {}: {}", message_, field, at, what));
    }
    return false;
  }

  ByteReader r_;
  std::string_view message_;
  Status status_;
};

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
    w.uuid(v.directory_id);
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
  if (!r.be(v.voter_id, "Voters.VoterId") || !r.uuid(v.directory_id, "Voters.VoterDirectoryId") ||
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
