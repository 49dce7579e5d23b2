// DeleteGroups (key 42), v0-v1. DeleteGroupsRequest.json / DeleteGroupsResponse.json.
#include "codec/group_messages.h"

namespace samsa_server {

samsa::Result<DeleteGroupsRequest> decode_delete_groups(Reader& r, std::int16_t /*version*/) {
  DeleteGroupsRequest m;
  const std::int32_t groups = r.array_length(2);  // each a string: at least its length
  for (std::int32_t i = 0; i < groups && !r.failed(); ++i) m.groups_names.push_back(r.string());
  if (r.failed()) return decode_error("DeleteGroups", r);
  return m;
}

void encode(const DeleteGroupsResponse& m, std::int16_t /*version*/, Writer& w) {
  w.i32(m.throttle_time_ms);
  w.array_length(m.results.size());
  for (const DeletableGroupResult& g : m.results) {
    w.string(g.group_id);
    w.i16(g.error_code);
  }
}

}  // namespace samsa_server
