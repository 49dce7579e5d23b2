// ApiVersions (key 18), v0-v3. ApiVersionsRequest.json / ApiVersionsResponse.json.
#include "codec/messages.h"

namespace samsa_server {
namespace {

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

}  // namespace

bool valid_client_software_field(std::string_view s) {
  if (s.empty() || !is_alnum(s.front()) || !is_alnum(s.back())) return false;
  for (char c : s) {
    if (!is_alnum(c) && c != '-' && c != '.') return false;
  }
  return true;
}

samsa::Result<ApiVersionsRequest> decode_api_versions(Reader& r, std::int16_t version) {
  ApiVersionsRequest m;
  if (version >= 3) {
    m.client_software_name = r.compact_string();
    m.client_software_version = r.compact_string();
    r.skip_tagged_fields();
  }
  if (r.failed()) return decode_error("ApiVersions", r);
  return m;
}

void encode(const ApiVersionsResponse& m, std::int16_t version, Writer& w) {
  const bool flexible = version >= 3;
  const bool known = version >= 0 && version <= 3;
  w.i16(m.error_code);
  if (flexible && known) {
    w.compact_array_length(m.api_keys.size());
  } else {
    w.array_length(m.api_keys.size());
  }
  for (const ApiVersionRange& k : m.api_keys) {
    w.i16(k.api_key);
    w.i16(k.min_version);
    w.i16(k.max_version);
    if (flexible && known) w.empty_tagged_fields();
  }
  if (!known || version < 1) return;  // v0 layout
  w.i32(m.throttle_time_ms);
  if (flexible) w.empty_tagged_fields();
}

}  // namespace samsa_server
