// DescribeGroups (key 15), v0-v4. DescribeGroupsRequest.json / DescribeGroupsResponse.json.
#include "codec/group_messages.h"

namespace samsa_server {

samsa::Result<DescribeGroupsRequest> decode_describe_groups(Reader& r, std::int16_t version) {
  DescribeGroupsRequest m;
  const std::int32_t groups = r.array_length(2);  // each a string: at least its length
  for (std::int32_t i = 0; i < groups && !r.failed(); ++i) m.groups.push_back(r.string());
  if (version >= 3) m.include_authorized_operations = r.boolean();
  if (r.failed()) return decode_error("DescribeGroups", r);
  return m;
}

namespace {

void encode_member(const DescribedGroupMember& m, std::int16_t version, Writer& w) {
  w.string(m.member_id);
  if (version >= 4) w.nullable_string(m.group_instance_id);
  w.string(m.client_id);
  w.string(m.client_host);
  w.bytes(m.member_metadata);
  w.bytes(m.member_assignment);
}

}  // namespace

void encode(const DescribeGroupsResponse& m, std::int16_t version, Writer& w) {
  if (version >= 1) w.i32(m.throttle_time_ms);
  w.array_length(m.groups.size());
  for (const DescribedGroup& g : m.groups) {
    w.i16(g.error_code);
    w.string(g.group_id);
    w.string(g.group_state);
    w.string(g.protocol_type);
    w.string(g.protocol_data);
    w.array_length(g.members.size());
    for (const DescribedGroupMember& member : g.members) encode_member(member, version, w);
    if (version >= 3) w.i32(g.authorized_operations);
  }
}

}  // namespace samsa_server
