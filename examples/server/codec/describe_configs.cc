// DescribeConfigs (key 32), v0-v3. DescribeConfigsRequest.json / DescribeConfigsResponse.json.
#include "codec/admin_messages.h"

namespace samsa_server {

samsa::Result<DescribeConfigsRequest> decode_describe_configs(Reader& r, std::int16_t version) {
  DescribeConfigsRequest m;
  const std::int32_t resources = r.array_length(1 + 2 + 4);
  for (std::int32_t i = 0; i < resources && !r.failed(); ++i) {
    DescribeConfigsResource& res = m.resources.emplace_back();
    res.resource_type = r.i8();
    res.resource_name = r.string();
    const std::int32_t keys = r.array_length(2, /*nullable=*/true);
    if (keys >= 0) {
      res.configuration_keys.emplace();
      for (std::int32_t k = 0; k < keys && !r.failed(); ++k)
        res.configuration_keys->push_back(r.string());
    }
  }
  if (version >= 1) m.include_synonyms = r.boolean();
  if (version >= 3) m.include_documentation = r.boolean();
  if (r.failed()) return decode_error("DescribeConfigs", r);
  return m;
}

void encode(const DescribeConfigsResponse& m, std::int16_t version, Writer& w) {
  w.i32(m.throttle_time_ms);
  w.array_length(m.results.size());
  for (const DescribeConfigsResult& res : m.results) {
    w.i16(res.error_code);
    w.nullable_string(res.error_message);
    w.i8(res.resource_type);
    w.string(res.resource_name);
    w.array_length(res.configs.size());
    for (const DescribeConfigsResourceResult& c : res.configs) {
      w.string(c.name);
      w.nullable_string(c.value);
      w.boolean(c.read_only);
      if (version == 0) w.boolean(c.is_default);
      if (version >= 1) w.i8(c.config_source);
      w.boolean(c.is_sensitive);
      if (version >= 1) {
        w.array_length(c.synonyms.size());
        for (const DescribeConfigsSynonym& s : c.synonyms) {
          w.string(s.name);
          w.nullable_string(s.value);
          w.i8(s.source);
        }
      }
      if (version >= 3) {
        w.i8(c.config_type);
        w.nullable_string(c.documentation);
      }
    }
  }
}

}  // namespace samsa_server
