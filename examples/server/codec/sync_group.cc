// SyncGroup (key 14), v0-v3. SyncGroupRequest.json / SyncGroupResponse.json.
#include "codec/group_messages.h"

namespace samsa_server {

samsa::Result<SyncGroupRequest> decode_sync_group(Reader& r, std::int16_t version) {
  SyncGroupRequest m;
  m.group_id = r.string();
  m.generation_id = r.i32();
  m.member_id = r.string();
  if (version >= 3) m.group_instance_id = r.nullable_string();
  // An assignment takes at least its member id length (2) and assignment length (4).
  const std::int32_t assignments = r.array_length(6);
  for (std::int32_t i = 0; i < assignments && !r.failed(); ++i) {
    SyncGroupAssignment& a = m.assignments.emplace_back();
    a.member_id = r.string();
    const MutableByteSpan assignment = r.bytes();
    a.assignment.assign(assignment.begin(), assignment.end());
  }
  if (r.failed()) return decode_error("SyncGroup", r);
  return m;
}

void encode(const SyncGroupResponse& m, std::int16_t version, Writer& w) {
  if (version >= 1) w.i32(m.throttle_time_ms);
  w.i16(m.error_code);
  w.bytes(m.assignment);
}

}  // namespace samsa_server
