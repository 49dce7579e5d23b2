// InitProducerId (key 22), v0-v1. InitProducerIdRequest.json / InitProducerIdResponse.json.
#include "codec/messages.h"

namespace samsa_server {

samsa::Result<InitProducerIdRequest> decode_init_producer_id(Reader& r, std::int16_t version) {
  (void)version;  // v0 and v1 share one layout (v1: the response may be throttled first)
  InitProducerIdRequest m;
  m.transactional_id = r.nullable_string();
  m.transaction_timeout_ms = r.i32();
  if (r.failed()) return decode_error("InitProducerId", r);
  return m;
}

void encode(const InitProducerIdResponse& m, std::int16_t version, Writer& w) {
  (void)version;
  w.i32(m.throttle_time_ms);
  w.i16(m.error_code);
  w.i64(m.producer_id);
  w.i16(m.producer_epoch);
}

}  // namespace samsa_server
