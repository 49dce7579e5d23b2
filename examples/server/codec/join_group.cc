// JoinGroup (key 11), v0-v5. JoinGroupRequest.json / JoinGroupResponse.json.
#include "codec/group_messages.h"

namespace samsa_server {

samsa::Result<JoinGroupRequest> decode_join_group(Reader& r, std::int16_t version) {
  JoinGroupRequest m;
  m.group_id = r.string();
  m.session_timeout_ms = r.i32();
  if (version >= 1) m.rebalance_timeout_ms = r.i32();
  m.member_id = r.string();
  if (version >= 5) m.group_instance_id = r.nullable_string();
  m.protocol_type = r.string();
  // A protocol takes at least its name length (2) and metadata length (4).
  const std::int32_t protocols = r.array_length(6);
  for (std::int32_t i = 0; i < protocols && !r.failed(); ++i) {
    JoinGroupProtocol& p = m.protocols.emplace_back();
    p.name = r.string();
    const MutableByteSpan metadata = r.bytes();
    p.metadata.assign(metadata.begin(), metadata.end());
  }
  if (r.failed()) return decode_error("JoinGroup", r);
  return m;
}

void encode(const JoinGroupResponse& m, std::int16_t version, Writer& w) {
  if (version >= 2) w.i32(m.throttle_time_ms);
  w.i16(m.error_code);
  w.i32(m.generation_id);
  w.string(m.protocol_name);
  w.string(m.leader);
  w.string(m.member_id);
  w.array_length(m.members.size());
  for (const JoinGroupMember& member : m.members) {
    w.string(member.member_id);
    if (version >= 5) w.nullable_string(member.group_instance_id);
    w.bytes(member.metadata);
  }
}

}  // namespace samsa_server
