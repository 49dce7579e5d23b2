// GroupCoordinator: offsets (OffsetCommit, OffsetFetch, OffsetDelete), group listing and
// deletion, offset expiry (KIP-211), and loading from the partition's records. Kafka's
// OffsetMetadataManager and ClassicGroup.validateOffsetCommit are the authority.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <set>

#include "group_coordinator_impl.h"
#include "invariant.h"

namespace samsa {

namespace {

OffsetCommitResponse commit_error(const OffsetCommitRequest& req, KafkaError error) {
  OffsetCommitResponse out;
  for (const OffsetCommitTopic& t : req.topics) {
    OffsetCommitTopicResponse tr{t.name, {}};
    for (const OffsetCommitPartition& p : t.partitions) {
      tr.partitions.push_back({p.partition_index, error});
    }
    out.topics.push_back(std::move(tr));
  }
  return out;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Kafka's ClassicGroup.validateOffsetCommit for a non-transactional commit.
KafkaError validate_offset_commit(const GroupCoordinator::Impl& s, const Group& g,
                                  const OffsetCommitRequest& req) {
  if (g.state == GroupState::dead) return KafkaError::coordinator_not_available;
  // Generation -1: the admin client or a consumer without group management; accepted
  // while the group is empty.
  if (req.generation_id < 0 && g.state == GroupState::empty) return KafkaError::none;
  if (req.generation_id >= 0 || !req.member_id.empty() || req.group_instance_id) {
    if (KafkaError e = s.validate_member(g, req.member_id, req.group_instance_id);
        e != KafkaError::none) {
      return e;
    }
    if (req.generation_id != g.generation) return KafkaError::illegal_generation;
  } else if (g.state != GroupState::empty) {
    return KafkaError::unknown_member_id;
  }
  if (g.state == GroupState::completing_rebalance) return KafkaError::rebalance_in_progress;
  return KafkaError::none;
}

}  // namespace

void GroupCoordinator::offset_commit(GroupRequestId id, const OffsetCommitRequest& req,
                                     std::int64_t now) {
  Impl& s = *impl_;
  if (!s.loaded) return s.respond(id, commit_error(req, KafkaError::coordinator_load_in_progress));
  if (!s.valid_group_id(req.group_id)) {
    return s.respond(id, commit_error(req, KafkaError::invalid_group_id));
  }
  Group* g = s.find(req.group_id);
  if (!g) {
    if (req.generation_id >= 0)
      return s.respond(id, commit_error(req, KafkaError::illegal_generation));
    g = &s.groups[req.group_id];  // a simple group: offsets, no members
    g->id = req.group_id;
  }
  if (KafkaError e = validate_offset_commit(s, *g, req); e != KafkaError::none) {
    return s.respond(id, commit_error(req, e));
  }
  OffsetCommitResponse out = commit_error(req, KafkaError::none);
  std::vector<std::pair<TopicPartitionKey, OffsetCommitValue>> staged;
  for (std::size_t t = 0; t < req.topics.size(); ++t) {
    for (std::size_t p = 0; p < req.topics[t].partitions.size(); ++p) {
      const OffsetCommitPartition& part = req.topics[t].partitions[p];
      const std::string metadata = part.committed_metadata.value_or("");
      if (metadata.size() > static_cast<std::size_t>(s.config.offset_metadata_max_bytes)) {
        out.topics[t].partitions[p].error_code = KafkaError::offset_metadata_too_large;
        continue;
      }
      OffsetCommitValue v;
      v.offset = part.committed_offset;
      v.leader_epoch = part.committed_leader_epoch;
      v.metadata = metadata;
      v.commit_timestamp = now;
      v.expire_timestamp = req.retention_time_ms >= 0 ? now + req.retention_time_ms : -1;
      OffsetCommitKey key{req.group_id, req.topics[t].name, part.partition_index};
      s.append(GroupRecord{encode_group_key(key), encode_group_value(v)});
      staged.emplace_back(TopicPartitionKey{key.topic, key.partition}, std::move(v));
    }
  }
  if (staged.empty()) {
    s.respond(id, std::move(out));
    return s.check_invariants(req.group_id);
  }
  const std::string group_id = req.group_id;
  s.on_durable([&s, id, group_id, staged = std::move(staged), out = std::move(out)](
                   KafkaError err, std::int64_t) mutable {
    if (err == KafkaError::none) {
      Group& target = s.groups[group_id];
      target.id = group_id;
      for (auto& [key, value] : staged) target.offsets[key] = std::move(value);
      s.counters.offsets_committed += staged.size();
    }
    for (OffsetCommitTopicResponse& t : out.topics) {
      for (OffsetCommitPartitionResponse& p : t.partitions) {
        if (p.error_code == KafkaError::none) p.error_code = err;
      }
    }
    s.respond(id, std::move(out));
  });
  s.check_invariants(req.group_id);
}

OffsetFetchResponse GroupCoordinator::offset_fetch(const OffsetFetchRequest& req) const {
  const Impl& s = *impl_;
  OffsetFetchResponse out;
  if (!s.loaded) {
    out.error_code = KafkaError::coordinator_load_in_progress;
    return out;
  }
  if (!s.valid_group_id(req.group_id)) {
    out.error_code = KafkaError::invalid_group_id;
    return out;
  }
  const Group* g = s.find(req.group_id);
  if (!req.topics) {
    if (!g) return out;
    for (const auto& [key, v] : g->offsets) {
      if (out.topics.empty() || out.topics.back().name != key.first) {
        out.topics.push_back({key.first, {}});
      }
      out.topics.back().partitions.push_back(
          {key.second, v.offset, v.leader_epoch, v.metadata, KafkaError::none});
    }
    return out;
  }
  for (const OffsetFetchTopic& t : *req.topics) {
    OffsetFetchTopicResponse tr{t.name, {}};
    for (std::int32_t p : t.partition_indexes) {
      OffsetFetchPartitionResponse pr;
      pr.partition_index = p;
      pr.metadata = "";
      if (g) {
        auto it = g->offsets.find({t.name, p});
        if (it != g->offsets.end()) {
          pr.committed_offset = it->second.offset;
          pr.committed_leader_epoch = it->second.leader_epoch;
          pr.metadata = it->second.metadata;
        }
      }
      tr.partitions.push_back(std::move(pr));
    }
    out.topics.push_back(std::move(tr));
  }
  return out;
}

std::optional<std::int64_t> GroupCoordinator::committed_offset(const std::string& group,
                                                               const std::string& topic,
                                                               std::int32_t partition) const {
  const Group* g = impl_->find(group);
  if (!g) return std::nullopt;
  auto it = g->offsets.find({topic, partition});
  if (it == g->offsets.end()) return std::nullopt;
  return it->second.offset;
}

std::vector<ListedGroup> GroupCoordinator::list_groups(
    const std::vector<std::string>& states_filter) const {
  std::vector<ListedGroup> out;
  if (!impl_->loaded) return out;
  for (const auto& [id, g] : impl_->groups) {
    if (g.state == GroupState::dead) continue;
    const std::string state(group_state_name(g.state));
    if (!states_filter.empty() &&
        std::none_of(states_filter.begin(), states_filter.end(),
                     [&](const std::string& f) { return lower(f) == lower(state); })) {
      continue;
    }
    out.push_back(ListedGroup{id, g.protocol_type.value_or(""), state});
  }
  return out;
}

std::vector<DescribedGroup> GroupCoordinator::describe_groups(
    const std::vector<std::string>& group_ids) const {
  const Impl& s = *impl_;
  std::vector<DescribedGroup> out;
  for (const std::string& id : group_ids) {
    DescribedGroup d;
    d.group_id = id;
    d.group_state = "Dead";
    const Group* g = s.loaded ? s.find(id) : nullptr;
    if (!s.loaded) {
      d.error_code = KafkaError::coordinator_load_in_progress;
    } else if (!s.valid_group_id(id)) {
      d.error_code = KafkaError::invalid_group_id;
    } else if (g) {
      d.group_state = std::string(group_state_name(g->state));
      d.protocol_type = g->protocol_type.value_or("");
      // Metadata and assignments only while Stable, as Kafka describes a group.
      const bool stable = g->state == GroupState::stable;
      if (stable) d.protocol_data = g->protocol_name.value_or("");
      for (const auto& [mid, m] : g->members) {
        DescribedGroupMember dm{mid, m.instance_id, m.client_id, m.client_host, {}, {}};
        if (stable) {
          dm.member_metadata = *m.metadata(*g->protocol_name);
          dm.member_assignment = m.assignment;
        }
        d.members.push_back(std::move(dm));
      }
    }
    out.push_back(std::move(d));
  }
  return out;
}

void GroupCoordinator::delete_groups(GroupRequestId id, const std::vector<std::string>& group_ids,
                                     std::int64_t now) {
  (void)now;
  Impl& s = *impl_;
  DeleteGroupsResponse out;
  std::vector<std::string> deleting;
  for (const std::string& gid : group_ids) {
    DeleteGroupResult r{gid, KafkaError::none};
    Group* g = s.loaded ? s.find(gid) : nullptr;
    if (!s.loaded) {
      r.error_code = KafkaError::coordinator_load_in_progress;
    } else if (!s.valid_group_id(gid)) {
      r.error_code = KafkaError::invalid_group_id;
    } else if (!g || g->state == GroupState::dead) {
      r.error_code = KafkaError::group_id_not_found;
    } else if (g->state != GroupState::empty) {
      r.error_code = KafkaError::non_empty_group;
    } else {
      for (const auto& [key, v] : g->offsets) {
        s.append(GroupRecord{encode_group_key(OffsetCommitKey{gid, key.first, key.second}),
                             std::nullopt});
      }
      s.append(GroupRecord{encode_group_key(GroupMetadataKey{gid}), std::nullopt});
      g->state = GroupState::dead;  // refuses everything until the tombstones are durable
      deleting.push_back(gid);
    }
    out.results.push_back(std::move(r));
  }
  if (deleting.empty()) {
    s.respond(id, std::move(out));
    return s.check_invariants();
  }
  s.on_durable([&s, id, deleting, out = std::move(out)](KafkaError err, std::int64_t) mutable {
    for (const std::string& gid : deleting) {
      if (err == KafkaError::none) {
        s.groups.erase(gid);
      } else if (Group* g = s.find(gid)) {
        g->state = GroupState::empty;
      }
    }
    for (DeleteGroupResult& r : out.results) {
      if (r.error_code == KafkaError::none) r.error_code = err;
    }
    s.respond(id, std::move(out));
  });
  s.check_invariants();
}

void GroupCoordinator::offset_delete(GroupRequestId id, const OffsetDeleteRequest& req,
                                     std::int64_t now) {
  (void)now;
  Impl& s = *impl_;
  OffsetDeleteResponse out;
  Group* g = s.loaded ? s.find(req.group_id) : nullptr;
  if (!s.loaded) {
    out.error_code = KafkaError::coordinator_load_in_progress;
  } else if (!s.valid_group_id(req.group_id)) {
    out.error_code = KafkaError::invalid_group_id;
  } else if (!g || g->state == GroupState::dead) {
    out.error_code = KafkaError::group_id_not_found;
  } else if (g->state != GroupState::empty && g->protocol_type != "consumer") {
    out.error_code = KafkaError::non_empty_group;
  }
  if (out.error_code != KafkaError::none) return s.respond(id, std::move(out));
  // A consumer group's members' subscriptions (a subscription that does not parse counts
  // as subscribed to everything).
  std::set<std::string> subscribed;
  bool subscribed_to_all = false;
  if (g->state != GroupState::empty && g->protocol_name) {
    for (const auto& [mid, m] : g->members) {
      const std::vector<std::byte>* md = m.metadata(*g->protocol_name);
      auto topics = md ? consumer_subscription_topics(*md) : std::nullopt;
      if (!topics) {
        subscribed_to_all = true;
        continue;
      }
      subscribed.insert(topics->begin(), topics->end());
    }
  }
  std::vector<TopicPartitionKey> deleting;
  for (const OffsetFetchTopic& t : req.topics) {
    OffsetCommitTopicResponse tr{t.name, {}};
    const bool busy =
        g->state != GroupState::empty && (subscribed_to_all || subscribed.count(t.name));
    for (std::int32_t p : t.partition_indexes) {
      OffsetCommitPartitionResponse pr{p, KafkaError::none};
      if (busy) {
        pr.error_code = KafkaError::group_subscribed_to_topic;
      } else if (g->offsets.count({t.name, p})) {
        s.append(
            GroupRecord{encode_group_key(OffsetCommitKey{req.group_id, t.name, p}), std::nullopt});
        deleting.emplace_back(t.name, p);
      }
      tr.partitions.push_back(pr);
    }
    out.topics.push_back(std::move(tr));
  }
  if (deleting.empty()) return s.respond(id, std::move(out));
  const std::string group_id = req.group_id;
  s.on_durable(
      [&s, id, group_id, deleting, out = std::move(out)](KafkaError err, std::int64_t) mutable {
        if (Group* target = s.find(group_id); target && err == KafkaError::none) {
          for (const TopicPartitionKey& k : deleting) target->offsets.erase(k);
        }
        for (OffsetCommitTopicResponse& t : out.topics) {
          for (OffsetCommitPartitionResponse& p : t.partitions) {
            if (p.error_code == KafkaError::none) p.error_code = err;
          }
        }
        s.respond(id, std::move(out));
      });
  s.check_invariants(req.group_id);
}

// --- expiry (KIP-211) and deletion

void GroupCoordinator::Impl::delete_group_now(const std::string& id) {
  append(GroupRecord{encode_group_key(GroupMetadataKey{id}), std::nullopt});
  groups.erase(id);
}

void GroupCoordinator::Impl::expire_offsets(std::int64_t now) {
  std::vector<std::string> emptied;
  for (auto& [id, g] : groups) {
    // Offsets of a group with members never expire; an empty group's expire a retention
    // after it became empty; a simple group's, a retention after each commit.
    const bool simple = !g.protocol_type;
    if (g.state == GroupState::dead || (!simple && g.state != GroupState::empty)) continue;
    for (auto it = g.offsets.begin(); it != g.offsets.end();) {
      const OffsetCommitValue& v = it->second;
      const std::int64_t base =
          !simple && g.state_timestamp >= 0 ? g.state_timestamp : v.commit_timestamp;
      const bool expired = v.expire_timestamp >= 0 ? now >= v.expire_timestamp
                                                   : now >= base + config.offsets_retention_ms;
      if (!expired) {
        ++it;
        continue;
      }
      append(GroupRecord{encode_group_key(OffsetCommitKey{id, it->first.first, it->first.second}),
                         std::nullopt});
      ++counters.offsets_expired;
      it = g.offsets.erase(it);
    }
    if (g.state == GroupState::empty && g.offsets.empty() && g.members.empty() &&
        g.pending_members.empty()) {
      emptied.push_back(id);
    }
  }
  for (const std::string& id : emptied) delete_group_now(id);
}

// --- loading

Status GroupCoordinator::replay(ByteSpan key, std::optional<ByteSpan> value) {
  Impl& s = *impl_;
  SAMSA_ASSERT(!s.loaded, "replay after loaded()");
  auto k = decode_group_key(key);
  if (!k.ok()) return k.status();
  if (std::holds_alternative<OtherGroupKey>(*k)) {
    ++s.counters.records_skipped;
    return Status::ok_status();
  }
  if (const auto* ok = std::get_if<OffsetCommitKey>(&*k)) {
    if (!value) {
      if (Group* g = s.find(ok->group)) g->offsets.erase({ok->topic, ok->partition});
    } else {
      auto v = decode_offset_commit_value(*value);
      if (!v.ok()) return v.status();
      Group& g = s.groups[ok->group];
      g.id = ok->group;
      g.offsets[{ok->topic, ok->partition}] = std::move(*v);
    }
    ++s.counters.records_replayed;
    return Status::ok_status();
  }
  const auto& gk = std::get<GroupMetadataKey>(*k);
  if (!value) {
    s.groups.erase(gk.group);  // Kafka deletes a group's offsets (as tombstones) first
    ++s.counters.records_replayed;
    return Status::ok_status();
  }
  auto v = decode_group_metadata_value(*value);
  if (!v.ok()) return v.status();
  if (!v->members.empty() && !v->protocol) {
    return Status::corruption(fmt::format(
        "GroupMetadataValue of group {}: {} members and no protocol", gk.group, v->members.size()));
  }
  Group& g = s.groups[gk.group];
  const auto offsets = std::move(g.offsets);
  g = Group{};
  g.id = gk.group;
  g.offsets = std::move(offsets);
  g.generation = v->generation;
  if (!v->protocol_type.empty()) g.protocol_type = v->protocol_type;
  g.protocol_name = v->protocol;
  g.state_timestamp = v->current_state_timestamp;
  for (GroupMemberMetadata& mm : v->members) {
    GroupMember m;
    m.member_id = mm.member_id;
    m.instance_id = mm.group_instance_id;
    m.client_id = mm.client_id;
    m.client_host = mm.client_host;
    m.rebalance_timeout_ms = mm.rebalance_timeout >= 0 ? mm.rebalance_timeout : mm.session_timeout;
    m.session_timeout_ms = mm.session_timeout;
    m.protocols.push_back(JoinGroupProtocol{*v->protocol, std::move(mm.subscription)});
    m.assignment = std::move(mm.assignment);
    if (m.instance_id) g.static_members[*m.instance_id] = m.member_id;
    g.members.emplace(m.member_id, std::move(m));
  }
  if (!g.members.empty()) {
    g.leader = v->leader && g.members.count(*v->leader) ? *v->leader : g.members.begin()->first;
    g.state = GroupState::stable;
  }
  ++s.counters.records_replayed;
  return Status::ok_status();
}

void GroupCoordinator::loaded(std::int64_t now) {
  Impl& s = *impl_;
  s.loaded = true;
  // Member ids of this coordinator's life must not repeat a predecessor's (a client may
  // still hold one): the load time joins the seed.
  s.rng_state ^= static_cast<std::uint64_t>(now) * 0x9E3779B97F4A7C15ull;
  for (auto it = s.groups.begin(); it != s.groups.end();) {
    Group& g = it->second;
    if (g.members.empty() && g.offsets.empty() && !g.protocol_type) {
      it = s.groups.erase(it);
      continue;
    }
    for (auto& [mid, m] : g.members) m.heartbeat_deadline = now + m.session_timeout_ms;
    ++it;
  }
  s.next_expiry_check = now + s.config.offsets_retention_check_interval_ms;
  s.check_invariants();
}

}  // namespace samsa
