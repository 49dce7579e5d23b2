#include "samsa/group_records.h"

#include <fmt/format.h>

#include <limits>

#include "schema_codec.h"

namespace samsa {

namespace {

using internal::SchemaReader;
using internal::SchemaWriter;

constexpr std::int16_t kOffsetCommitKeyVersion = 1;
constexpr std::int16_t kGroupMetadataKeyVersion = 2;
constexpr std::int16_t kOffsetCommitValueVersion = 3;
constexpr std::int16_t kOffsetCommitValueExpireVersion = 1;
constexpr std::int16_t kGroupMetadataValueVersion = 3;
constexpr std::int16_t kMaxValueVersion = 4;  // the first flexible version of both values

// Reads a string field in the classic or the flexible form. A flexible string longer than
// a classic one can be (32767 bytes) is refused: samsa writes the classic versions, and
// could not write it back.
constexpr std::size_t kMaxClassicString = 32767;
bool read_string(SchemaReader& r, bool flexible, std::string& out, std::string_view field) {
  if (!flexible) return r.string(out, field);
  const std::size_t at = r.offset();
  if (!r.compact_string(out, field)) return false;
  return out.size() <= kMaxClassicString ||
         r.fail(field, at, fmt::format("{} bytes, more than a classic string holds", out.size()));
}
bool read_nullable_string(SchemaReader& r, bool flexible, std::optional<std::string>& out,
                          std::string_view field) {
  if (!flexible) return r.nullable_string(out, field);
  const std::size_t at = r.offset();
  if (!r.compact_nullable_string(out, field)) return false;
  return !out || out->size() <= kMaxClassicString ||
         r.fail(field, at, fmt::format("{} bytes, more than a classic string holds", out->size()));
}

bool read_value_version(SchemaReader& r, std::int16_t& version) {
  const std::size_t at = r.offset();
  if (!r.be(version, "version")) return false;
  if (version < 0 || version > kMaxValueVersion) {
    return r.fail("version", at, fmt::format("unknown version {}", version));
  }
  return true;
}

bool read_member(SchemaReader& r, std::int16_t v, GroupMemberMetadata& m) {
  const bool flex = v >= 4;
  bool ok = read_string(r, flex, m.member_id, "members.memberId");
  if (ok && v >= 3)
    ok = read_nullable_string(r, flex, m.group_instance_id, "members.groupInstanceId");
  ok = ok && read_string(r, flex, m.client_id, "members.clientId") &&
       read_string(r, flex, m.client_host, "members.clientHost");
  if (ok && v >= 1) ok = r.be(m.rebalance_timeout, "members.rebalanceTimeout");
  ok = ok && r.be(m.session_timeout, "members.sessionTimeout");
  if (flex) {
    return ok && r.compact_bytes(m.subscription, "members.subscription") &&
           r.compact_bytes(m.assignment, "members.assignment") &&
           r.tagged_fields("members._tagged_fields");
  }
  return ok && r.bytes(m.subscription, "members.subscription") &&
         r.bytes(m.assignment, "members.assignment");
}

}  // namespace

std::vector<std::byte> encode_group_key(const OffsetCommitKey& key) {
  SchemaWriter w;
  w.be<std::int16_t>(kOffsetCommitKeyVersion);
  w.string(key.group);
  w.string(key.topic);
  w.be<std::int32_t>(key.partition);
  return w.take();
}

std::vector<std::byte> encode_group_key(const GroupMetadataKey& key) {
  SchemaWriter w;
  w.be<std::int16_t>(kGroupMetadataKeyVersion);
  w.string(key.group);
  return w.take();
}

std::vector<std::byte> encode_group_value(const OffsetCommitValue& value) {
  SchemaWriter w;
  const bool expire = value.expire_timestamp >= 0;
  w.be<std::int16_t>(expire ? kOffsetCommitValueExpireVersion : kOffsetCommitValueVersion);
  w.be<std::int64_t>(value.offset);
  if (!expire) w.be<std::int32_t>(value.leader_epoch);
  w.string(value.metadata);
  w.be<std::int64_t>(value.commit_timestamp);
  if (expire) w.be<std::int64_t>(value.expire_timestamp);
  return w.take();
}

std::vector<std::byte> encode_group_value(const GroupMetadataValue& value) {
  SchemaWriter w;
  w.be<std::int16_t>(kGroupMetadataValueVersion);
  w.string(value.protocol_type);
  w.be<std::int32_t>(value.generation);
  w.nullable_string(value.protocol);
  w.nullable_string(value.leader);
  w.be<std::int64_t>(value.current_state_timestamp);
  w.array_length(value.members.size());
  for (const GroupMemberMetadata& m : value.members) {
    w.string(m.member_id);
    w.nullable_string(m.group_instance_id);
    w.string(m.client_id);
    w.string(m.client_host);
    w.be<std::int32_t>(m.rebalance_timeout);
    w.be<std::int32_t>(m.session_timeout);
    w.bytes(m.subscription);
    w.bytes(m.assignment);
  }
  return w.take();
}

Result<GroupRecordKey> decode_group_key(ByteSpan key) {
  SchemaReader r(key, "__consumer_offsets key");
  std::int16_t version = 0;
  if (!r.be(version, "version")) return r.status();
  if (version == 0 || version == 1) {
    OffsetCommitKey k;
    if (!r.string(k.group, "group") || !r.string(k.topic, "topic") ||
        !r.be(k.partition, "partition") || !r.at_end()) {
      return r.status();
    }
    return GroupRecordKey(std::move(k));
  }
  if (version == 2) {
    GroupMetadataKey k;
    if (!r.string(k.group, "group") || !r.at_end()) return r.status();
    return GroupRecordKey(std::move(k));
  }
  if (version < 0)
    return Status::corruption(fmt::format("__consumer_offsets key: version {}", version));
  return GroupRecordKey(OtherGroupKey{version});
}

Result<OffsetCommitValue> decode_offset_commit_value(ByteSpan value) {
  SchemaReader r(value, "OffsetCommitValue");
  OffsetCommitValue m;
  std::int16_t v = 0;
  if (!read_value_version(r, v)) return r.status();
  const bool flex = v >= 4;
  bool ok = r.be(m.offset, "offset");
  if (ok && v >= 3) ok = r.be(m.leader_epoch, "leaderEpoch");
  ok = ok && read_string(r, flex, m.metadata, "metadata") &&
       r.be(m.commit_timestamp, "commitTimestamp");
  if (ok && v == 1) ok = r.be(m.expire_timestamp, "expireTimestamp");
  if (m.expire_timestamp < 0) m.expire_timestamp = -1;  // any negative: none (Kafka's -1)
  if (ok && flex) ok = r.tagged_fields("_tagged_fields");
  if (!ok || !r.at_end()) return r.status();
  return m;
}

Result<GroupMetadataValue> decode_group_metadata_value(ByteSpan value) {
  SchemaReader r(value, "GroupMetadataValue");
  GroupMetadataValue m;
  std::int16_t v = 0;
  if (!read_value_version(r, v)) return r.status();
  const bool flex = v >= 4;
  bool ok = read_string(r, flex, m.protocol_type, "protocolType") &&
            r.be(m.generation, "generation") &&
            read_nullable_string(r, flex, m.protocol, "protocol") &&
            read_nullable_string(r, flex, m.leader, "leader");
  if (ok && v >= 2) ok = r.be(m.current_state_timestamp, "currentStateTimestamp");
  std::size_t n = 0;
  // A member takes at least 4 length fields and a session timeout.
  constexpr std::size_t kMinMemberBytes = 4;
  ok = ok && (flex ? r.compact_length(n, kMinMemberBytes, "members")
                   : r.array_length(n, kMinMemberBytes, "members"));
  if (ok) {
    m.members.resize(n);
    for (GroupMemberMetadata& member : m.members) {
      if (!read_member(r, v, member)) return r.status();
    }
  }
  if (ok && flex) ok = r.tagged_fields("_tagged_fields");
  if (!ok || !r.at_end()) return r.status();
  return m;
}

namespace {

// Decodes one code point of UTF-8 at s[i], advancing i; U+FFFD for a malformed sequence
// (one byte consumed), as Java's decoder replaces it.
std::uint32_t next_code_point(std::string_view s, std::size_t& i) {
  const auto byte = [&](std::size_t k) { return static_cast<std::uint8_t>(s[k]); };
  const std::uint8_t b0 = byte(i);
  constexpr std::uint32_t kReplacement = 0xFFFD;
  int len = 0;
  std::uint32_t cp = 0;
  std::uint32_t min = 0;
  if (b0 < 0x80) {
    ++i;
    return b0;
  } else if ((b0 & 0xE0) == 0xC0) {
    len = 2, cp = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, cp = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, cp = b0 & 0x07, min = 0x10000;
  } else {
    ++i;
    return kReplacement;
  }
  if (i + static_cast<std::size_t>(len) > s.size()) {
    ++i;
    return kReplacement;
  }
  for (int k = 1; k < len; ++k) {
    const std::uint8_t b = byte(i + static_cast<std::size_t>(k));
    if ((b & 0xC0) != 0x80) {
      ++i;
      return kReplacement;
    }
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    ++i;
    return kReplacement;
  }
  i += static_cast<std::size_t>(len);
  return cp;
}

}  // namespace

std::int32_t group_partition(std::string_view group_id, std::int32_t partitions) {
  std::uint32_t h = 0;  // Java's int arithmetic wraps; unsigned does the same bits
  const auto add_unit = [&h](std::uint32_t unit) { h = h * 31u + unit; };
  for (std::size_t i = 0; i < group_id.size();) {
    const std::uint32_t cp = next_code_point(group_id, i);
    if (cp >= 0x10000) {
      add_unit(0xD800 + ((cp - 0x10000) >> 10));
      add_unit(0xDC00 + ((cp - 0x10000) & 0x3FF));
    } else {
      add_unit(cp);
    }
  }
  const auto hash = static_cast<std::int32_t>(h);
  // Kafka's Utils.abs: Integer.MIN_VALUE maps to 0.
  const std::int32_t abs =
      hash == std::numeric_limits<std::int32_t>::min() ? 0 : (hash < 0 ? -hash : hash);
  return abs % partitions;
}

std::optional<std::vector<std::string>> consumer_subscription_topics(ByteSpan subscription) {
  SchemaReader r(subscription, "ConsumerProtocolSubscription");
  std::int16_t version = 0;
  std::size_t n = 0;
  if (!r.be(version, "version") || version < 0 || !r.array_length(n, 2, "topics")) {
    return std::nullopt;
  }
  std::vector<std::string> topics(n);
  for (std::string& t : topics) {
    if (!r.string(t, "topics")) return std::nullopt;
  }
  return topics;
}

std::optional<std::vector<ConsumerAssignedTopic>> consumer_assignment_partitions(
    ByteSpan assignment) {
  SchemaReader r(assignment, "ConsumerProtocolAssignment");
  std::int16_t version = 0;
  std::size_t n = 0;
  if (!r.be(version, "version") || version < 0 || !r.array_length(n, 6, "assigned_partitions")) {
    return std::nullopt;
  }
  std::vector<ConsumerAssignedTopic> out(n);
  for (ConsumerAssignedTopic& t : out) {
    std::size_t parts = 0;
    if (!r.string(t.topic, "topic") || !r.array_length(parts, 4, "partitions")) return std::nullopt;
    t.partitions.resize(parts);
    for (std::int32_t& p : t.partitions) {
      if (!r.be(p, "partitions")) return std::nullopt;
    }
  }
  return out;  // user data (bytes) follows; not needed here
}

}  // namespace samsa
