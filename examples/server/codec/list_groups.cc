// ListGroups (key 16), v0-v2. ListGroupsRequest.json / ListGroupsResponse.json.
#include "codec/group_messages.h"

namespace samsa_server {

// v0-v2 requests have no fields; bytes after them are left unread, as other decoders do.
samsa::Result<ListGroupsRequest> decode_list_groups(Reader& /*r*/, std::int16_t /*version*/) {
  return ListGroupsRequest{};
}

void encode(const ListGroupsResponse& m, std::int16_t version, Writer& w) {
  if (version >= 1) w.i32(m.throttle_time_ms);
  w.i16(m.error_code);
  w.array_length(m.groups.size());
  for (const ListedGroup& g : m.groups) {
    w.string(g.group_id);
    w.string(g.protocol_type);
  }
}

}  // namespace samsa_server
