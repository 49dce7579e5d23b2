// LeaveGroup (key 13), v0-v3. LeaveGroupRequest.json / LeaveGroupResponse.json.
#include "codec/group_messages.h"

namespace samsa_server {

samsa::Result<LeaveGroupRequest> decode_leave_group(Reader& r, std::int16_t version) {
  LeaveGroupRequest m;
  m.group_id = r.string();
  if (version <= 2) {
    m.member_id = r.string();
  } else {
    // A member takes at least its member id length (2) and instance id length (2).
    const std::int32_t members = r.array_length(4);
    for (std::int32_t i = 0; i < members && !r.failed(); ++i) {
      LeaveGroupMember& member = m.members.emplace_back();
      member.member_id = r.string();
      member.group_instance_id = r.nullable_string();
    }
  }
  if (r.failed()) return decode_error("LeaveGroup", r);
  return m;
}

void encode(const LeaveGroupResponse& m, std::int16_t version, Writer& w) {
  if (version >= 1) w.i32(m.throttle_time_ms);
  w.i16(m.error_code);
  if (version >= 3) {
    w.array_length(m.members.size());
    for (const LeaveGroupMemberResponse& member : m.members) {
      w.string(member.member_id);
      w.nullable_string(member.group_instance_id);
      w.i16(member.error_code);
    }
  }
}

}  // namespace samsa_server
