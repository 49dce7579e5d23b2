// FindCoordinator (key 10), v0-v2. FindCoordinatorRequest.json / FindCoordinatorResponse.json.
#include "codec/messages.h"

namespace samsa_server {

samsa::Result<FindCoordinatorRequest> decode_find_coordinator(Reader& r, std::int16_t version) {
  FindCoordinatorRequest m;
  m.key = r.string();
  if (version >= 1) m.key_type = r.i8();
  if (r.failed()) return decode_error("FindCoordinator", r);
  return m;
}

void encode(const FindCoordinatorResponse& m, std::int16_t version, Writer& w) {
  if (version >= 1) w.i32(m.throttle_time_ms);
  w.i16(m.error_code);
  if (version >= 1) w.nullable_string(m.error_message);
  w.i32(m.node_id);
  w.string(m.host);
  w.i32(m.port);
}

}  // namespace samsa_server
