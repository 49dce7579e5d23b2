// The consumer-group APIs: each request is decoded, mapped field for field onto the
// library's request (samsa/group_coordinator.h), handed to the group's coordinator through
// GroupService, and its answer mapped back and encoded at the request's version.
#include <fmt/format.h>

#include <atomic>

#include "codec/group_messages.h"
#include "group_service.h"
#include "handlers.h"

namespace samsa_server {
namespace {

std::int16_t code(samsa::KafkaError e) {
  return static_cast<std::int16_t>(e);
}

template <typename M>
Reply encoded(const Request& request, const M& m) {
  ResponseWriter out(request.header.correlation_id);
  encode(m, request.header.api_version, out.body());
  return Reply::of(out.finish());
}

// The peer's address as Kafka prints a client host ("/127.0.0.1").
std::string client_host(const Request& request) {
  return request.client_ip.empty() ? std::string("/unknown") : "/" + request.client_ip;
}

std::vector<samsa::OffsetFetchTopic> to_library(const std::vector<OffsetDeleteTopic>& topics) {
  std::vector<samsa::OffsetFetchTopic> out;
  for (const OffsetDeleteTopic& t : topics) {
    samsa::OffsetFetchTopic lt{t.name, {}};
    for (const OffsetDeletePartition& p : t.partitions)
      lt.partition_indexes.push_back(p.partition_index);
    out.push_back(std::move(lt));
  }
  return out;
}

}  // namespace

void Handlers::join_group(const std::shared_ptr<Request>& request) {
  Reader r = request->body();
  auto d = decode_join_group(r, request->header.api_version);
  if (!d.ok()) return request->respond(Reply::close(d.status().to_string()));
  samsa::JoinGroupRequest q;
  q.group_id = d->group_id;
  q.session_timeout_ms = d->session_timeout_ms;
  q.rebalance_timeout_ms = d->rebalance_timeout_ms;
  q.member_id = d->member_id;
  q.group_instance_id = d->group_instance_id;
  q.protocol_type = d->protocol_type;
  for (auto& p : d->protocols) q.protocols.push_back({p.name, std::move(p.metadata)});
  q.api_version = request->header.api_version;
  q.client_id = request->header.client_id.value_or("");
  q.client_host = client_host(*request);
  groups_->submit(
      q.group_id,
      [&q](samsa::GroupCoordinator& gc, samsa::GroupRequestId id, std::int64_t now) {
        gc.join_group(id, q, now);
      },
      [request](samsa::GroupResponseBody body) {
        auto& a = std::get<samsa::JoinGroupResponse>(body);
        JoinGroupResponse m;
        m.error_code = code(a.error_code);
        m.generation_id = a.generation_id;
        m.protocol_name = a.protocol_name.value_or("");
        m.leader = a.leader;
        m.member_id = a.member_id;
        for (auto& member : a.members) {
          m.members.push_back(
              {member.member_id, member.group_instance_id, std::move(member.metadata)});
        }
        request->respond(encoded(*request, m));
      });
}

void Handlers::sync_group(const std::shared_ptr<Request>& request) {
  Reader r = request->body();
  auto d = decode_sync_group(r, request->header.api_version);
  if (!d.ok()) return request->respond(Reply::close(d.status().to_string()));
  samsa::SyncGroupRequest q;
  q.group_id = d->group_id;
  q.generation_id = d->generation_id;
  q.member_id = d->member_id;
  q.group_instance_id = d->group_instance_id;
  for (auto& a : d->assignments) q.assignments.push_back({a.member_id, std::move(a.assignment)});
  groups_->submit(
      q.group_id,
      [&q](samsa::GroupCoordinator& gc, samsa::GroupRequestId id, std::int64_t now) {
        gc.sync_group(id, q, now);
      },
      [request](samsa::GroupResponseBody body) {
        auto& a = std::get<samsa::SyncGroupResponse>(body);
        SyncGroupResponse m;
        m.error_code = code(a.error_code);
        m.assignment = std::move(a.assignment);
        request->respond(encoded(*request, m));
      });
}

void Handlers::offset_commit(const std::shared_ptr<Request>& request) {
  Reader r = request->body();
  auto d = decode_offset_commit(r, request->header.api_version);
  if (!d.ok()) return request->respond(Reply::close(d.status().to_string()));
  samsa::OffsetCommitRequest q;
  q.group_id = d->group_id;
  q.generation_id = d->generation_id_or_member_epoch;
  q.member_id = d->member_id;
  q.group_instance_id = d->group_instance_id;
  q.retention_time_ms = d->retention_time_ms;
  for (const auto& t : d->topics) {
    samsa::OffsetCommitTopic lt{t.name, {}};
    for (const auto& p : t.partitions) {
      lt.partitions.push_back(
          {p.partition_index, p.committed_offset, p.committed_leader_epoch, p.committed_metadata});
    }
    q.topics.push_back(std::move(lt));
  }
  groups_->submit(
      q.group_id,
      [&q](samsa::GroupCoordinator& gc, samsa::GroupRequestId id, std::int64_t now) {
        gc.offset_commit(id, q, now);
      },
      [request](samsa::GroupResponseBody body) {
        auto& a = std::get<samsa::OffsetCommitResponse>(body);
        OffsetCommitResponse m;
        for (const auto& t : a.topics) {
          OffsetCommitTopicResponse mt{t.name, {}};
          for (const auto& p : t.partitions)
            mt.partitions.push_back({p.partition_index, code(p.error_code)});
          m.topics.push_back(std::move(mt));
        }
        request->respond(encoded(*request, m));
      });
}

void Handlers::delete_groups(const std::shared_ptr<Request>& request) {
  Reader r = request->body();
  auto d = decode_delete_groups(r, request->header.api_version);
  if (!d.ok()) return request->respond(Reply::close(d.status().to_string()));
  // One request per shard; the response is sent when the last of them is answered.
  std::map<std::int32_t, std::vector<std::string>> by_shard;
  for (const std::string& g : d->groups_names) {
    by_shard[samsa::group_partition(g, groups_->partitions())].push_back(g);
  }
  struct Gather {
    std::mutex mu;
    std::size_t left = 0;
    DeleteGroupsResponse response;
  };
  auto gather = std::make_shared<Gather>();
  gather->left = by_shard.size();
  if (by_shard.empty()) return request->respond(encoded(*request, gather->response));
  for (auto& [shard, names] : by_shard) {
    groups_->submit(
        names.front(),
        [&names](samsa::GroupCoordinator& gc, samsa::GroupRequestId id, std::int64_t now) {
          gc.delete_groups(id, names, now);
        },
        [request, gather](samsa::GroupResponseBody body) {
          auto& a = std::get<samsa::DeleteGroupsResponse>(body);
          std::lock_guard lock(gather->mu);
          for (const auto& res : a.results) {
            gather->response.results.push_back({res.group_id, code(res.error_code)});
          }
          if (--gather->left == 0) request->respond(encoded(*request, gather->response));
        });
  }
}

void Handlers::offset_delete(const std::shared_ptr<Request>& request) {
  Reader r = request->body();
  auto d = decode_offset_delete(r, request->header.api_version);
  if (!d.ok()) return request->respond(Reply::close(d.status().to_string()));
  samsa::OffsetDeleteRequest q{d->group_id, to_library(d->topics)};
  groups_->submit(
      q.group_id,
      [&q](samsa::GroupCoordinator& gc, samsa::GroupRequestId id, std::int64_t now) {
        gc.offset_delete(id, q, now);
      },
      [request](samsa::GroupResponseBody body) {
        auto& a = std::get<samsa::OffsetDeleteResponse>(body);
        OffsetDeleteResponse m;
        m.error_code = code(a.error_code);
        for (const auto& t : a.topics) {
          OffsetDeleteTopicResponse mt{t.name, {}};
          for (const auto& p : t.partitions)
            mt.partitions.push_back({p.partition_index, code(p.error_code)});
          m.topics.push_back(std::move(mt));
        }
        request->respond(encoded(*request, m));
      });
}

Reply Handlers::heartbeat(const Request& request) {
  Reader r = request.body();
  auto d = decode_heartbeat(r, request.header.api_version);
  if (!d.ok()) return Reply::close(d.status().to_string());
  samsa::HeartbeatRequest q{d->group_id, d->generation_id, d->member_id, d->group_instance_id};
  HeartbeatResponse m;
  m.error_code =
      code(groups_->with_group(q.group_id, [&](samsa::GroupCoordinator& gc, std::int64_t now) {
        return gc.heartbeat(q, now);
      }));
  return encoded(request, m);
}

Reply Handlers::leave_group(const Request& request) {
  Reader r = request.body();
  const std::int16_t version = request.header.api_version;
  auto d = decode_leave_group(r, version);
  if (!d.ok()) return Reply::close(d.status().to_string());
  samsa::LeaveGroupRequest q;
  q.group_id = d->group_id;
  if (version < 3) {
    q.members.push_back({d->member_id, std::nullopt});
  } else {
    for (const auto& m : d->members) q.members.push_back({m.member_id, m.group_instance_id});
  }
  auto a = groups_->with_group(q.group_id, [&](samsa::GroupCoordinator& gc, std::int64_t now) {
    return gc.leave_group(q, now);
  });
  LeaveGroupResponse m;
  // Kafka's LeaveGroupResponse: the top-level code is the request's error; v0-v2 have only
  // the top level, so there it carries the one member's error when the request has none.
  // v3+ keeps member errors per member (a client reads the top level as the request's fate).
  m.error_code = code(a.error_code);
  for (const auto& mr : a.members) {
    if (version < 3) {
      if (m.error_code == 0) m.error_code = code(mr.error_code);
    } else {
      m.members.push_back({mr.member_id, mr.group_instance_id, code(mr.error_code)});
    }
  }
  return encoded(request, m);
}

Reply Handlers::offset_fetch(const Request& request) {
  Reader r = request.body();
  const std::int16_t version = request.header.api_version;
  auto d = decode_offset_fetch(r, version);
  if (!d.ok()) return Reply::close(d.status().to_string());
  samsa::OffsetFetchRequest q;
  q.group_id = d->group_id;
  if (d->topics) {
    q.topics.emplace();
    for (const auto& t : *d->topics) q.topics->push_back({t.name, t.partition_indexes});
  }
  auto a = groups_->with_group(
      q.group_id, [&](samsa::GroupCoordinator& gc, std::int64_t) { return gc.offset_fetch(q); });
  OffsetFetchResponse m;
  m.error_code = code(a.error_code);
  for (const auto& t : a.topics) {
    OffsetFetchTopicResponse mt{t.name, {}};
    for (const auto& p : t.partitions) {
      // Before v2 there is no top-level error code: each partition carries the group's.
      const std::int16_t e = version < 2 && a.error_code != samsa::KafkaError::none
                                 ? code(a.error_code)
                                 : code(p.error_code);
      mt.partitions.push_back(
          {p.partition_index, p.committed_offset, p.committed_leader_epoch, p.metadata, e});
    }
    m.topics.push_back(std::move(mt));
  }
  if (version < 2 && a.error_code != samsa::KafkaError::none && d->topics) {
    // The coordinator answered no partitions: each requested one carries the error.
    m.topics.clear();
    for (const auto& t : *d->topics) {
      OffsetFetchTopicResponse mt{t.name, {}};
      for (std::int32_t p : t.partition_indexes)
        mt.partitions.push_back({p, -1, -1, "", code(a.error_code)});
      m.topics.push_back(std::move(mt));
    }
  }
  return encoded(request, m);
}

Reply Handlers::list_groups(const Request& request) {
  Reader r = request.body();
  auto d = decode_list_groups(r, request.header.api_version);
  if (!d.ok()) return Reply::close(d.status().to_string());
  ListGroupsResponse m;
  groups_->for_each([&m](const samsa::GroupCoordinator& gc) {
    for (const samsa::ListedGroup& g : gc.list_groups())
      m.groups.push_back({g.group_id, g.protocol_type});
  });
  return encoded(request, m);
}

Reply Handlers::describe_groups(const Request& request) {
  Reader r = request.body();
  auto d = decode_describe_groups(r, request.header.api_version);
  if (!d.ok()) return Reply::close(d.status().to_string());
  DescribeGroupsResponse m;
  for (const std::string& id : d->groups) {
    auto described = groups_->with_group(
        id, [&](samsa::GroupCoordinator& gc, std::int64_t) { return gc.describe_groups({id}); });
    for (auto& g : described) {
      DescribedGroup dg;
      dg.error_code = code(g.error_code);
      dg.group_id = g.group_id;
      dg.group_state = g.group_state;
      dg.protocol_type = g.protocol_type;
      dg.protocol_data = g.protocol_data;
      for (auto& mem : g.members) {
        dg.members.push_back({mem.member_id, mem.group_instance_id, mem.client_id, mem.client_host,
                              std::move(mem.member_metadata), std::move(mem.member_assignment)});
      }
      m.groups.push_back(std::move(dg));
    }
  }
  return encoded(request, m);
}

}  // namespace samsa_server
