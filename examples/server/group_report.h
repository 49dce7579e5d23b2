// What the server reports about consumer groups: per group its state and members (with
// the partitions each is assigned, from the consumer protocol), and per committed
// partition the lag (log end offset minus the committed offset). Rendered as Prometheus
// gauges on the metrics endpoint, and as a table like `kafka-consumer-groups --describe`
// at its /groups path.
//
// Thread-safety: free functions; they take each coordinator shard's lock in turn.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "broker.h"
#include "group_service.h"

namespace samsa_server {

struct GroupReportPartition {
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t committed = -1;
  std::optional<std::int64_t> log_end;  // nullopt: no such partition here
  std::string member_id;                // who is assigned it; empty: nobody
  std::string client_id;
  std::string client_host;
};

struct GroupReportEntry {
  std::string group;
  std::string state;
  std::string protocol_type;
  std::string protocol;
  std::size_t members = 0;
  std::vector<GroupReportPartition> partitions;  // committed or assigned, sorted
};

std::vector<GroupReportEntry> group_report(GroupService& groups, const Broker& broker);
// samsa_group_members, samsa_group_committed_offset, samsa_group_lag.
std::string render_group_metrics(const std::vector<GroupReportEntry>& report);
// GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID
std::string render_group_table(const std::vector<GroupReportEntry>& report);

}  // namespace samsa_server
