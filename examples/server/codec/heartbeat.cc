// Heartbeat (key 12), v0-v3. HeartbeatRequest.json / HeartbeatResponse.json.
#include "codec/group_messages.h"

namespace samsa_server {

samsa::Result<HeartbeatRequest> decode_heartbeat(Reader& r, std::int16_t version) {
  HeartbeatRequest m;
  m.group_id = r.string();
  m.generation_id = r.i32();
  m.member_id = r.string();
  if (version >= 3) m.group_instance_id = r.nullable_string();
  if (r.failed()) return decode_error("Heartbeat", r);
  return m;
}

void encode(const HeartbeatResponse& m, std::int16_t version, Writer& w) {
  if (version >= 1) w.i32(m.throttle_time_ms);
  w.i16(m.error_code);
}

}  // namespace samsa_server
