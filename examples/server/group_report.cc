#include "group_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

namespace samsa_server {

std::vector<GroupReportEntry> group_report(GroupService& groups, const Broker& broker) {
  std::vector<GroupReportEntry> out;
  groups.for_each([&](const samsa::GroupCoordinator& gc) {
    for (const samsa::ListedGroup& listed : gc.list_groups()) {
      GroupReportEntry e;
      e.group = listed.group_id;
      e.state = listed.group_state;
      e.protocol_type = listed.protocol_type;
      std::map<std::pair<std::string, std::int32_t>, GroupReportPartition> parts;
      const auto part = [&](const std::string& topic, std::int32_t p) -> GroupReportPartition& {
        GroupReportPartition& gp = parts[{topic, p}];
        gp.topic = topic;
        gp.partition = p;
        return gp;
      };
      for (const samsa::DescribedGroup& d : gc.describe_groups({listed.group_id})) {
        e.protocol = d.protocol_data;
        e.members = d.members.size();
        for (const samsa::DescribedGroupMember& m : d.members) {
          auto assigned = samsa::consumer_assignment_partitions(m.member_assignment);
          if (!assigned) continue;  // not the consumer protocol (or not Stable)
          for (const auto& t : *assigned) {
            for (std::int32_t p : t.partitions) {
              GroupReportPartition& gp = part(t.topic, p);
              gp.member_id = m.member_id;
              gp.client_id = m.client_id;
              gp.client_host = m.client_host;
            }
          }
        }
      }
      const samsa::OffsetFetchResponse offsets = gc.offset_fetch({listed.group_id, std::nullopt});
      for (const auto& t : offsets.topics) {
        for (const auto& p : t.partitions)
          part(t.name, p.partition_index).committed = p.committed_offset;
      }
      for (auto& [key, gp] : parts) {
        if (auto topic = broker.find(gp.topic)) {
          if (PartitionHandle* h = topic->partition(gp.partition)) {
            gp.log_end = h->partition->log_end_offset().value();
          }
        }
        e.partitions.push_back(std::move(gp));
      }
      out.push_back(std::move(e));
    }
  });
  std::sort(out.begin(), out.end(),
            [](const GroupReportEntry& a, const GroupReportEntry& b) { return a.group < b.group; });
  return out;
}

std::string render_group_metrics(const std::vector<GroupReportEntry>& report) {
  std::string out;
  out += "# HELP samsa_group_members Members of a consumer group, by its state.\n";
  out += "# TYPE samsa_group_members gauge\n";
  for (const auto& e : report) {
    out += fmt::format("samsa_group_members{{group=\"{}\",state=\"{}\"}} {}\n", e.group, e.state,
                       e.members);
  }
  out += "# HELP samsa_group_committed_offset A group's committed offset of a partition.\n";
  out += "# TYPE samsa_group_committed_offset gauge\n";
  for (const auto& e : report) {
    for (const auto& p : e.partitions) {
      if (p.committed < 0) continue;
      out += fmt::format(
          "samsa_group_committed_offset{{group=\"{}\",topic=\"{}\",partition=\"{}\"}} {}\n",
          e.group, p.topic, p.partition, p.committed);
    }
  }
  out += "# HELP samsa_group_lag Log end offset minus the group's committed offset.\n";
  out += "# TYPE samsa_group_lag gauge\n";
  for (const auto& e : report) {
    for (const auto& p : e.partitions) {
      if (p.committed < 0 || !p.log_end) continue;
      out +=
          fmt::format("samsa_group_lag{{group=\"{}\",topic=\"{}\",partition=\"{}\"}} {}\n", e.group,
                      p.topic, p.partition, std::max<std::int64_t>(*p.log_end - p.committed, 0));
    }
  }
  return out;
}

std::string render_group_table(const std::vector<GroupReportEntry>& report) {
  std::string out;
  for (const auto& e : report) {
    out += fmt::format("GROUP {} ({}, {} members, protocol {} {})\n", e.group, e.state, e.members,
                       e.protocol_type.empty() ? "-" : e.protocol_type,
                       e.protocol.empty() ? "-" : e.protocol);
    out += fmt::format("{:<24} {:<24} {:>9} {:>14} {:>14} {:>8} {:<48} {:<16} {}\n", "GROUP",
                       "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG",
                       "CONSUMER-ID", "HOST", "CLIENT-ID");
    for (const auto& p : e.partitions) {
      const std::string current = p.committed >= 0 ? std::to_string(p.committed) : "-";
      const std::string end = p.log_end ? std::to_string(*p.log_end) : "-";
      const std::string lag =
          p.committed >= 0 && p.log_end
              ? std::to_string(std::max<std::int64_t>(*p.log_end - p.committed, 0))
              : "-";
      out += fmt::format(
          "{:<24} {:<24} {:>9} {:>14} {:>14} {:>8} {:<48} {:<16} {}\n", e.group, p.topic,
          p.partition, current, end, lag, p.member_id.empty() ? "-" : p.member_id,
          p.client_host.empty() ? "-" : p.client_host, p.client_id.empty() ? "-" : p.client_id);
    }
    out += "\n";
  }
  return out;
}

}  // namespace samsa_server
