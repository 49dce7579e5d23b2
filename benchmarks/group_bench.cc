// samsa-bench --only groups: the consumer-group coordinator (GroupCoordinator + GroupDriver)
// over one samsa::Partition of __consumer_offsets on the real disk, durable (the default
// flush policy: fdatasync before an append returns), no sockets.
//
//   groups_commit   OffsetCommit of one partition per request, N requests queued before each
//                   ready()/append (the coordinator batches them into one append): N = 1 and
//                   100. Beside it, in the same run, the raw Partition append of a batch of N
//                   records of the same key and value sizes per append (one fdatasync each):
//                   the ratio commits/s over raw records/s is what to read (the median over
//                   3 alternating pairs of 1 s cells; full: 5 pairs of 2 s).
//   groups_join     1,000 consumers in 100 groups join and stabilize: JoinGroup v5 twice
//                   (MEMBER_ID_REQUIRED, then the join), one tick (initial delay 0), the
//                   leaders' SyncGroup, then every follower's SyncGroup answered. Coordinator
//                   time: the clock the coordinator sees does not move; wall time is reported
//                   (median of 3), with the records written; then once with 4,000 consumers
//                   in 400 groups, to show how the cost grows with the coordinator's size.
//   groups_load     GroupDriver::load of a partition holding 1,000,000 offset commits
//                   (quick: 100,000) written as batches of 1,000 records: records/s (median
//                   of 3 loads, page cache warm).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "samsa/group_coordinator.h"
#include "samsa/group_driver.h"
#include "samsa/group_records.h"
#include "samsa/partition.h"
#include "stats.h"

namespace samsa::bench {
namespace fs = std::filesystem;

namespace {

using BenchClock = std::chrono::steady_clock;

double seconds_since(BenchClock::time_point t0) {
  return std::chrono::duration<double>(BenchClock::now() - t0).count();
}

// This thread's CPU time: the coordinator's work without the waits for the disk.
double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// A fixed coordinator time: the figures are of the work, not of timers.
constexpr std::int64_t kNowMs = 1'700'000'000'000;

void check(const Status& s, const char* what) {
  if (!s.ok()) throw std::runtime_error(fmt::format("groups: {}: {}", what, s.to_string()));
}

std::unique_ptr<Partition> open_partition(const std::string& dir) {
  PartitionConfig config;  // durable: the default flush policy
  config.log.retention_ms = -1;
  auto p = Partition::open(Env::posix(), dir, config);
  check(p.status(), "open");
  return std::move(*p);
}

GroupCoordinatorConfig coordinator_config() {
  GroupCoordinatorConfig c;
  c.initial_rebalance_delay_ms = 0;
  return c;
}

// The record an OffsetCommit of (group, "bench-topic", partition) writes, for the raw baseline.
GroupRecord commit_record(const std::string& group, std::int32_t partition, std::int64_t offset) {
  OffsetCommitValue v;
  v.offset = offset;
  v.commit_timestamp = kNowMs;
  return {encode_group_key(OffsetCommitKey{group, "bench-topic", partition}),
          encode_group_value(v)};
}

struct CommitFigures {
  std::int64_t commits = 0;
  double seconds = 0;
  std::uint64_t appends = 0;
  std::int64_t record_bytes = 0;  // key + value of one record
};

// Commits with generation -1 into one simple group, `outstanding` requests (each of one
// partition) queued before each run() of the driver, until `cell` has passed.
CommitFigures commit_rate(const std::string& dir, int outstanding, std::chrono::milliseconds cell) {
  auto partition = open_partition(dir);
  GroupCoordinator gc(coordinator_config());
  GroupDriver driver(gc, *partition);
  check(driver.load(kNowMs).status(), "load");
  const Offset end0 = partition->log_end_offset();
  CommitFigures out;
  std::int64_t answered = 0;
  std::int64_t failed = 0;
  GroupRequestId id = 1;
  const auto t0 = BenchClock::now();
  const auto deadline = t0 + cell;
  while (BenchClock::now() < deadline) {
    for (int k = 0; k < outstanding; ++k) {
      OffsetCommitRequest req;
      req.group_id = "bench-simple";
      req.topics.push_back({"bench-topic", {{k, out.commits + k, -1, std::string()}}});
      gc.offset_commit(id++, req, kNowMs);
    }
    out.commits += outstanding;
    driver.run(kNowMs, [&](GroupResponse r) {
      const auto& a = std::get<OffsetCommitResponse>(r.body);
      ++answered;
      if (a.topics.at(0).partitions.at(0).error_code != KafkaError::none) ++failed;
    });
  }
  out.seconds = seconds_since(t0);
  if (answered != out.commits || failed != 0) {
    throw std::runtime_error(
        fmt::format("groups: {} commits, {} answered, {} failed", out.commits, answered, failed));
  }
  if (partition->log_end_offset().value() - end0.value() != out.commits)
    throw std::runtime_error("groups: not one record per commit");
  check(partition->close(), "close");
  // How many appends carried them: the batches a fresh load reads.
  auto reopened = open_partition(dir);
  GroupCoordinator again(coordinator_config());
  auto report = GroupDriver(again, *reopened).load(kNowMs);
  check(report.status(), "reload");
  out.appends = report->batches;
  check(reopened->close(), "close");
  return out;
}

// The baseline: the same records, `batch` per Partition append (one fdatasync each).
CommitFigures raw_rate(const std::string& dir, int batch, std::chrono::milliseconds cell) {
  auto partition = open_partition(dir);
  CommitFigures out;
  const auto t0 = BenchClock::now();
  const auto deadline = t0 + cell;
  while (BenchClock::now() < deadline) {
    RecordBatchBuilder builder;
    for (int k = 0; k < batch; ++k) {
      const GroupRecord r = commit_record("bench-simple", k, out.commits + k);
      check(builder.append(Timestamp(kNowMs), ByteSpan(r.key), ByteSpan(*r.value)), "build");
    }
    check(partition->append(builder).status(), "append");
    out.commits += batch;
    ++out.appends;
  }
  out.seconds = seconds_since(t0);
  check(partition->close(), "close");
  return out;
}

struct JoinFigures {
  double seconds = 0;
  double first_join_s = 0;   // MEMBER_ID_REQUIRED answered to every member
  double second_join_s = 0;  // every join answered (after the tick)
  std::int64_t records = 0;
  std::uint64_t appends = 0;
  double cpu_seconds = 0;  // of the whole, this thread
};

JoinFigures join_and_stabilize(const std::string& dir, int groups, int members_per_group) {
  auto partition = open_partition(dir);
  GroupCoordinator gc(coordinator_config());
  GroupDriver driver(gc, *partition);
  check(driver.load(kNowMs).status(), "load");
  const Offset end0 = partition->log_end_offset();
  const auto n = static_cast<std::size_t>(groups * members_per_group);
  std::vector<JoinGroupResponse> joined(n);
  std::vector<SyncGroupResponse> synced(n);
  std::vector<bool> sync_answered(n, false);
  std::size_t answers = 0;
  // Request ids: 1 + member for joins, 1 + n + member for syncs.
  auto send = [&](GroupResponse r) {
    ++answers;
    const std::size_t i = static_cast<std::size_t>(r.request_id - 1);
    if (i < n) {
      joined[i] = std::get<JoinGroupResponse>(std::move(r.body));
    } else {
      synced[i - n] = std::get<SyncGroupResponse>(std::move(r.body));
      sync_answered[i - n] = true;
    }
  };
  auto group_of = [&](std::size_t i) {
    return fmt::format("bench-group-{}", i / members_per_group);
  };
  auto join = [&](std::size_t i, const std::string& member_id) {
    JoinGroupRequest q;
    q.group_id = group_of(i);
    q.session_timeout_ms = 30'000;
    q.rebalance_timeout_ms = 60'000;
    q.member_id = member_id;
    q.protocol_type = "consumer";
    q.protocols.push_back({"range", std::vector<std::byte>(24, std::byte{1})});
    q.api_version = 5;
    q.client_id = "bench";
    q.client_host = "/127.0.0.1";
    gc.join_group(i + 1, q, kNowMs);
  };

  const auto t0 = BenchClock::now();
  const double cpu0 = thread_cpu_seconds();
  JoinFigures out;
  for (std::size_t i = 0; i < n; ++i) join(i, "");
  driver.run(kNowMs, send);
  out.first_join_s = seconds_since(t0);
  for (std::size_t i = 0; i < n; ++i) {
    if (joined[i].error_code != KafkaError::member_id_required)
      throw std::runtime_error("groups: the first join did not ask for a member id");
    join(i, joined[i].member_id);
  }
  answers = 0;
  driver.run(kNowMs, send);
  gc.tick(kNowMs);  // the initial delay (0) ends: every group completes its join phase
  driver.run(kNowMs, send);
  if (answers != n) throw std::runtime_error(fmt::format("groups: {} of {} joined", answers, n));
  out.second_join_s = seconds_since(t0) - out.first_join_s;
  // The leaders first, with an assignment for every member of their group; then the others.
  for (int pass = 0; pass < 2; ++pass) {
    for (std::size_t i = 0; i < n; ++i) {
      const JoinGroupResponse& j = joined[i];
      const bool leader = j.leader == j.member_id;
      if (j.error_code != KafkaError::none) throw std::runtime_error("groups: join failed");
      if (leader != (pass == 0)) continue;
      SyncGroupRequest q;
      q.group_id = group_of(i);
      q.generation_id = j.generation_id;
      q.member_id = j.member_id;
      for (const JoinGroupMember& m : j.members)
        q.assignments.push_back({m.member_id, std::vector<std::byte>(32, std::byte{2})});
      gc.sync_group(1 + n + i, q, kNowMs);
    }
    driver.run(kNowMs, send);
  }
  out.seconds = seconds_since(t0);
  out.cpu_seconds = thread_cpu_seconds() - cpu0;
  for (std::size_t i = 0; i < n; ++i) {
    if (!sync_answered[i] || synced[i].error_code != KafkaError::none)
      throw std::runtime_error(fmt::format("groups: member {} did not sync", i));
  }
  out.records = partition->log_end_offset().value() - end0.value();
  check(partition->close(), "close");
  auto reopened = open_partition(dir);  // the batches a fresh load reads: the appends
  GroupCoordinator again(coordinator_config());
  auto report = GroupDriver(again, *reopened).load(kNowMs);
  check(report.status(), "reload");
  out.appends = report->batches;
  check(reopened->close(), "close");
  return out;
}

struct LoadFigures {
  std::int64_t records = 0;
  double write_seconds = 0;
  std::vector<double> load_seconds;  // one per load
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

LoadFigures load_rate(const std::string& dir, std::int64_t records, int loads) {
  constexpr int kBatch = 1000;
  constexpr std::int64_t kGroups = 100;
  constexpr std::int64_t kPartitionsPerGroup = 100;  // 10,000 distinct keys
  LoadFigures out;
  {
    auto partition = open_partition(dir);
    const auto t0 = BenchClock::now();
    for (std::int64_t i = 0; i < records; i += kBatch) {
      RecordBatchBuilder builder;
      for (std::int64_t k = i; k < i + kBatch && k < records; ++k) {
        const GroupRecord r =
            commit_record(fmt::format("bench-group-{}", k % kGroups),
                          static_cast<std::int32_t>((k / kGroups) % kPartitionsPerGroup), k);
        check(builder.append(Timestamp(kNowMs), ByteSpan(r.key), ByteSpan(*r.value)), "build");
      }
      check(partition->append(builder).status(), "append");
    }
    out.write_seconds = seconds_since(t0);
    check(partition->close(), "close");
  }
  for (int i = 0; i < loads; ++i) {
    auto partition = open_partition(dir);
    GroupCoordinator gc(coordinator_config());
    GroupDriver driver(gc, *partition);
    const auto t0 = BenchClock::now();
    auto report = driver.load(kNowMs);
    out.load_seconds.push_back(seconds_since(t0));
    check(report.status(), "load");
    out.records = static_cast<std::int64_t>(report->records);
    if (out.records != records)
      throw std::runtime_error(fmt::format("groups: loaded {} of {}", out.records, records));
    // (bench-group-0, partition 0) is committed at every multiple of 10,000: the last wins.
    const std::int64_t last = (records - 1) / 10'000 * 10'000;
    if (gc.committed_offset("bench-group-0", "bench-topic", 0) != last)
      throw std::runtime_error("groups: the last commit of bench-group-0/0 was not loaded");
    check(partition->close(), "close");
  }
  return out;
}

}  // namespace

std::vector<Row> run_groups(const std::string& dir, bool full, std::chrono::milliseconds cell) {
  fs::create_directories(dir);
  std::vector<Row> rows;
  int cell_number = 0;
  auto fresh = [&] { return fmt::format("{}/p-{}", dir, cell_number++); };
  auto row = [&](std::string workload, std::string system, std::string configuration,
                 std::int64_t batch, std::int64_t records, double seconds) {
    Row r;
    r.workload = std::move(workload);
    r.system = std::move(system);
    r.configuration = std::move(configuration);
    r.durability = "durable";
    r.batch_records = batch;
    r.records = records;
    r.seconds = seconds;
    rows.push_back(std::move(r));
    return &rows.back();
  };

  // The disk and the machine are shared: each figure comes from alternating pairs (raw, then
  // coordinator) of `cell` each, and the ratio reported is the median of the pairs' ratios.
  const int pairs = full ? 5 : 3;
  const GroupRecord sample = commit_record("bench-simple", 0, 0);
  const auto record_bytes = static_cast<std::int64_t>(sample.key.size() + sample.value->size());
  for (const int outstanding : {1, 100}) {
    CommitFigures raw_sum, sum;
    std::vector<double> ratios;
    for (int pair = 0; pair < pairs; ++pair) {
      const CommitFigures raw = raw_rate(fresh(), outstanding, cell);
      const CommitFigures commits = commit_rate(fresh(), outstanding, cell);
      ratios.push_back((static_cast<double>(commits.commits) / commits.seconds) /
                       (static_cast<double>(raw.commits) / raw.seconds));
      raw_sum.commits += raw.commits;
      raw_sum.seconds += raw.seconds;
      sum.commits += commits.commits;
      sum.seconds += commits.seconds;
      sum.appends += commits.appends;
    }
    const double ratio = median(ratios);
    const double raw_rate_s = static_cast<double>(raw_sum.commits) / raw_sum.seconds;
    const double rate_s = static_cast<double>(sum.commits) / sum.seconds;
    const double per_append = static_cast<double>(sum.commits) /
                              static_cast<double>(std::max<std::uint64_t>(sum.appends, 1));
    fmt::print(
        "groups: OffsetCommit, {} outstanding: {:.0f} commits/s ({:.1f} commits per append); "
        "raw Partition append of {} records/append: {:.0f} records/s; ratio (median of {} "
        "pairs) {:.2f}, pairs {:.2f}\n",
        outstanding, rate_s, per_append, outstanding, raw_rate_s, pairs, ratio,
        fmt::join(ratios, " "));
    Row* raw_row = row(
        "groups_commit", "raw-partition-append",
        fmt::format("Partition append of {} OffsetCommit records per batch, durable", outstanding),
        outstanding, raw_sum.commits, raw_sum.seconds);
    raw_row->value_bytes = record_bytes;
    raw_row->bytes = record_bytes * raw_sum.commits;
    Row* r = row("groups_commit", "samsa-group-coordinator",
                 fmt::format("{} OffsetCommit requests (1 partition each) per ready(), simple "
                             "group, durable; {:.1f} commits per append; ratio to raw append "
                             "{:.2f} (median of {} pairs)",
                             outstanding, per_append, ratio, pairs),
                 outstanding, sum.commits, sum.seconds);
    r->ratio_to_raw = ratio;
    r->value_bytes = record_bytes;
    r->bytes = record_bytes * sum.commits;
  }

  constexpr int kRepeats = 3;  // the median of three
  std::vector<double> join_seconds;
  std::int64_t join_records = 0;
  std::uint64_t join_appends = 0;
  for (int i = 0; i < kRepeats; ++i) {
    const JoinFigures j = join_and_stabilize(fresh(), 100, 10);
    join_seconds.push_back(j.seconds);
    join_records = j.records;
    join_appends = j.appends;
    fmt::print(
        "groups: join run {}: first joins {:.3f} s, second joins + tick {:.3f} s, syncs "
        "{:.3f} s; CPU {:.3f} s of the {:.3f} s\n",
        i, j.first_join_s, j.second_join_s, j.seconds - j.first_join_s - j.second_join_s,
        j.cpu_seconds, j.seconds);
  }
  const double join_s = median(join_seconds);
  fmt::print(
      "groups: 1000 consumers in 100 groups joined and stabilized in {:.3f} s (median of "
      "{}: {:.3f}); {} records written in {} appends\n",
      join_s, kRepeats, fmt::join(join_seconds, " "), join_records, join_appends);
  row("groups_join", "samsa-group-coordinator",
      fmt::format("1000 members, 100 groups, JoinGroup v5 x2 + SyncGroup, initial delay 0; {} "
                  "records written in {} appends; median of {}",
                  join_records, join_appends, kRepeats),
      1, 1000, join_s);

  // The same at 4x the size in one coordinator: how the cost per member grows with the
  // groups the coordinator holds (it checks every group's invariants after each request).
  const JoinFigures big = join_and_stabilize(fresh(), 400, 10);
  fmt::print(
      "groups: 4000 consumers in 400 groups joined and stabilized in {:.3f} s (CPU {:.3f} "
      "s; {:.1f}x the time of 1000 in 100 groups); {} records written in {} appends\n",
      big.seconds, big.cpu_seconds, big.seconds / join_s, big.records, big.appends);
  row("groups_join", "samsa-group-coordinator",
      fmt::format("4000 members, 400 groups (otherwise as the 1000-member row); CPU {:.3f} s; "
                  "{:.1f}x the 1000-member time",
                  big.cpu_seconds, big.seconds / join_s),
      1, 4000, big.seconds);

  const std::int64_t commits = full ? 1'000'000 : 100'000;
  const LoadFigures l = load_rate(fresh(), commits, kRepeats);
  const double load_s = median(l.load_seconds);
  fmt::print(
      "groups: load of {} offset commits (batches of 1000) in {:.3f} s (median of {}: "
      "{:.3f}): {:.0f} records/s (written in {:.1f} s)\n",
      l.records, load_s, kRepeats, fmt::join(l.load_seconds, " "),
      static_cast<double>(l.records) / load_s, l.write_seconds);
  row("groups_load", "samsa-group-coordinator",
      fmt::format("GroupDriver::load of {} OffsetCommit records, 1000 per batch, 10,000 keys, "
                  "page cache warm; median of {}",
                  l.records, kRepeats),
      1000, l.records, load_s);
  return rows;
}

}  // namespace samsa::bench
