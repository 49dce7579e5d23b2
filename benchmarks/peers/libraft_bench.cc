// samsa-bench --only raft, the peer: canonical's C Raft (Debian libraft-dev 0.15) with 3
// voters in one process, beside samsa's RaftDriver quorum of raft_bench.cc. Each node has its
// own data directory on the same disk, libraft's own disk I/O (raft_uv_init) and its TCP
// transport (raft_uv_tcp) on 127.0.0.1. The three share one libuv loop, run on the calling
// thread: no thread is started (libuv's own pool prepares segments).
//
// Durability, as strace shows it on ext4: each open segment is created O_DSYNC, preallocated
// with fallocate (the segment size), its directory fsync'd, then switched to O_DIRECT; entries
// are written block-aligned by kernel AIO (io_submit, RWF_NOWAIT; libuv's pool when that
// would block), so a write is on the disk when it completes. Term and vote go to metadata1/2
// with pwrite + fsync. A follower answers AppendEntries after its write completes and the
// leader counts itself once its own write has, so a committed entry is durable on a majority:
// the durability of samsa's quorum (fdatasync before anything is sent).
//
// The workload is raft_bench.cc's: the leader proposes batches of 100 records of 100 bytes,
// one raft_apply of one 10,000-byte entry per batch, keeping at most kWindow applies in
// flight (closed loop); a batch counts when its apply callback reports status 0 (committed
// by a majority, each write durable, and applied on the leader).
#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern "C" {
#include <raft.h>
#include <raft/uv.h>
}

#include "stats.h"

namespace samsa::bench {
namespace {

namespace fs = std::filesystem;
using BenchClock = std::chrono::steady_clock;

constexpr int kNodes = 3;
constexpr int kBatchRecords = 100;
constexpr int kValueBytes = 100;
constexpr int kWindow = 32;  // applies submitted and not yet called back, at most
// No snapshot during a run: libraft's default (1024 entries) would snapshot every ~10 MB,
// which samsa's quorum never does.
constexpr unsigned kSnapshotThreshold = 1'000'000'000;
// libraft's default is 8 MiB: on this disk that gave ~200 k records/s with ~110 ms stalls at
// p99 (a stall per segment roll); 64 MiB gave 290-530 k and 256 MiB-1 GiB no better.
constexpr std::size_t kSegmentBytes = std::size_t{64} << 20;
constexpr unsigned kLeaderElectionMs = 500;  // node 1 wins the first election
constexpr unsigned kOtherElectionMs = 10'000;

// 100 values of 100 bytes back to back: one entry, the payload of one samsa batch.
std::string make_entry(int seed) {
  std::string entry;
  std::string value(kValueBytes, 'x');
  for (int i = 0; i < kBatchRecords; ++i) {
    value[static_cast<std::size_t>(i % kValueBytes)] = static_cast<char>('a' + (seed + i) % 26);
    entry += value;
  }
  return entry;
}

// True when nothing listens on (and nothing holds) 127.0.0.1:port right now.
bool port_free(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof(a)) == 0;
  ::close(fd);
  return ok;
}

double thread_cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_THREAD, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// The FSM does nothing: the benchmark measures the log, not a state machine.
int fsm_apply(raft_fsm*, const raft_buffer*, void** result) {
  *result = nullptr;
  return 0;
}
int fsm_snapshot(raft_fsm* fsm, raft_buffer* bufs[], unsigned* n_bufs) {
  ++*static_cast<int*>(fsm->data);  // counted: a run should take none
  *bufs = static_cast<raft_buffer*>(raft_malloc(sizeof(raft_buffer)));
  if (!*bufs) return RAFT_NOMEM;
  (*bufs)[0].len = 8;
  (*bufs)[0].base = raft_calloc(1, 8);
  if (!(*bufs)[0].base) return RAFT_NOMEM;
  *n_bufs = 1;
  return 0;
}
int fsm_restore(raft_fsm*, raft_buffer* buf) {
  raft_free(buf->base);
  return 0;
}

class Cluster;

struct Node {
  Cluster* cluster = nullptr;
  raft r{};
  raft_io io{};
  raft_uv_transport transport{};
  raft_fsm fsm{};
  int snapshots = 0;
  std::string address;
  bool transport_inited = false, io_inited = false, raft_inited = false;
  bool closing = false, closed = false;
};

struct Apply {  // one raft_apply in flight
  struct raft_apply req {};
  Cluster* cluster = nullptr;
  BenchClock::time_point at;
};

class Cluster {
 public:
  // Throws when a node cannot be set up; the caller calls teardown() in every case.
  void start(const std::string& dir, int first_port) {
    if (int rc = uv_loop_init(&loop_); rc != 0)
      throw std::runtime_error(fmt::format("uv_loop_init: {}", uv_strerror(rc)));
    loop_inited_ = true;
    uv_timer_init(&loop_, &timer_);
    timer_.data = this;
    uv_check_init(&loop_, &check_);
    check_.data = this;
    handles_inited_ = true;
    for (int k = 0; k < 16; ++k) entries_.push_back(make_entry(k));
    for (auto& a : applies_) {
      a.cluster = this;
      a.req.data = &a;
      free_.push_back(&a);
    }

    raft_configuration conf;
    raft_configuration_init(&conf);
    for (int i = 0; i < kNodes; ++i) {
      nodes_[i].address = fmt::format("127.0.0.1:{}", first_port + i);
      if (int rv = raft_configuration_add(&conf, static_cast<raft_id>(i + 1),
                                          nodes_[i].address.c_str(), RAFT_VOTER);
          rv != 0) {
        raft_configuration_close(&conf);
        throw std::runtime_error(fmt::format("raft_configuration_add: {}", raft_strerror(rv)));
      }
    }
    try {
      for (int i = 0; i < kNodes; ++i) init_node(fmt::format("{}/n{}", dir, i + 1), i, conf);
    } catch (...) {
      raft_configuration_close(&conf);
      throw;
    }
    raft_configuration_close(&conf);
    for (int i = 0; i < kNodes; ++i) {
      if (int rv = raft_start(&nodes_[i].r); rv != 0)
        throw std::runtime_error(fmt::format("raft_start node {} ({}): {} ({})", i + 1,
                                             nodes_[i].address, raft_strerror(rv),
                                             raft_errmsg(&nodes_[i].r)));
    }
    uv_timer_start(&timer_, &Cluster::on_timer, 5, 5);  // wakes the loop; watches the leader
    uv_check_start(&check_, &Cluster::on_check);        // refills the window after callbacks
  }

  // Waits for a leader and one committed apply, then counts committed records over `cell`.
  void measure(std::chrono::milliseconds cell) {
    if (!run_until([this] { return find_leader() != nullptr; },
                   BenchClock::now() + std::chrono::seconds(10)))
      throw std::runtime_error("libraft bench: no leader in 10 s");
    leader_ = find_leader();
    submit();
    if (!run_until([this] { return ready_ || !error_.empty(); },
                   BenchClock::now() + std::chrono::seconds(10)))
      throw std::runtime_error("libraft bench: the first apply did not commit in 10 s");
    if (!error_.empty()) throw std::runtime_error(error_);
    records_ = 0;
    counting_ = true;
    const double cpu0 = thread_cpu_seconds();
    started_ = BenchClock::now();
    run_until([this] { return !error_.empty(); }, started_ + cell);
    seconds_ = static_cast<double>(elapsed_ns(started_, BenchClock::now())) / 1e9;
    loop_cpu_ = (thread_cpu_seconds() - cpu0) / seconds_;
    counting_ = false;
    stopping_ = true;
    if (!error_.empty()) throw std::runtime_error(error_);
  }

  // raft_close on every node, then the handles and the loop; bounded in time. False when
  // something did not close: the caller must then leak the Cluster, libuv may still use it.
  bool teardown() {
    stopping_ = true;
    if (!loop_inited_) return true;
    for (auto& n : nodes_) {
      if (n.raft_inited && !n.closing) {
        n.closing = true;
        raft_close(&n.r, &Cluster::on_raft_close);
      } else if (!n.raft_inited && !n.closing) {
        n.closing = true;
        n.closed = true;
        if (n.io_inited) raft_uv_close(&n.io);
        if (n.transport_inited) raft_uv_tcp_close(&n.transport);
      }
    }
    const auto deadline = BenchClock::now() + std::chrono::seconds(10);
    const auto all_closed = [this] {
      for (const auto& n : nodes_)
        if (!n.closed) return false;
      return true;
    };
    if (handles_inited_) {
      if (!run_until(all_closed, deadline)) return false;
      uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
      uv_close(reinterpret_cast<uv_handle_t*>(&check_), nullptr);
      handles_inited_ = false;
    }
    while (uv_run(&loop_, UV_RUN_NOWAIT) != 0) {
      if (BenchClock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (uv_loop_close(&loop_) != 0) return false;
    loop_inited_ = false;
    return true;
  }

  std::int64_t records() const { return records_; }
  double seconds() const { return seconds_; }
  const Histogram& latency() const { return latency_; }
  int snapshots() const {
    int s = 0;
    for (const auto& n : nodes_) s += n.snapshots;
    return s;
  }
  raft_id leader_id() const { return leader_ ? leader_->r.id : 0; }
  double loop_cpu() const { return loop_cpu_; }

 private:
  void init_node(const std::string& dir, int i, const raft_configuration& conf) {
    Node& n = nodes_[i];
    n.cluster = this;
    fs::create_directories(dir);
    if (int rv = raft_uv_tcp_init(&n.transport, &loop_); rv != 0)
      throw std::runtime_error(fmt::format("raft_uv_tcp_init: {}", raft_strerror(rv)));
    n.transport_inited = true;
    if (int rv = raft_uv_init(&n.io, &loop_, dir.c_str(), &n.transport); rv != 0)
      throw std::runtime_error(fmt::format("raft_uv_init {}: {}", dir, n.io.errmsg));
    n.io_inited = true;
    raft_uv_set_segment_size(&n.io, kSegmentBytes);
    n.fsm.version = 1;
    n.fsm.data = &n.snapshots;
    n.fsm.apply = &fsm_apply;
    n.fsm.snapshot = &fsm_snapshot;
    n.fsm.restore = &fsm_restore;
    if (int rv = raft_init(&n.r, &n.io, &n.fsm, static_cast<raft_id>(i + 1), n.address.c_str());
        rv != 0)
      throw std::runtime_error(fmt::format("raft_init: {} ({})", raft_strerror(rv), n.io.errmsg));
    n.raft_inited = true;
    n.r.data = &n;
    raft_set_election_timeout(&n.r, i == 0 ? kLeaderElectionMs : kOtherElectionMs);
    raft_set_snapshot_threshold(&n.r, kSnapshotThreshold);
    if (int rv = raft_bootstrap(&n.r, &conf); rv != 0)
      throw std::runtime_error(
          fmt::format("raft_bootstrap: {} ({})", raft_strerror(rv), raft_errmsg(&n.r)));
  }

  // Runs the loop until done() or the deadline (the timer wakes it every 5 ms).
  template <typename Done>
  bool run_until(Done done, BenchClock::time_point deadline) {
    while (!done()) {
      if (BenchClock::now() >= deadline) return false;
      uv_run(&loop_, UV_RUN_ONCE);
    }
    return true;
  }

  Node* find_leader() {
    for (auto& n : nodes_)
      if (raft_state(&n.r) == RAFT_LEADER) return &n;
    return nullptr;
  }

  void fail(std::string what) {
    if (error_.empty()) error_ = std::move(what);
    stopping_ = true;
  }

  void submit() {
    Apply* a = free_.back();
    const std::string& entry = entries_[submitted_++ % entries_.size()];
    raft_buffer buf;
    buf.len = entry.size();
    buf.base = raft_malloc(buf.len);  // libraft owns it once raft_apply returns 0
    if (!buf.base) return fail("libraft bench: raft_malloc failed");
    std::memcpy(buf.base, entry.data(), buf.len);
    a->at = BenchClock::now();
    if (int rv = raft_apply(&leader_->r, &a->req, &buf, 1, &Cluster::on_applied); rv != 0) {
      raft_free(buf.base);
      return fail(fmt::format("libraft bench: raft_apply: {} ({})", raft_strerror(rv),
                              raft_errmsg(&leader_->r)));
    }
    free_.pop_back();
  }

  static void on_applied(struct raft_apply* req, int status, void*) {
    auto* a = static_cast<Apply*>(req->data);
    Cluster* c = a->cluster;
    c->free_.push_back(a);
    if (status != 0) {
      if (!c->stopping_)
        c->fail(fmt::format("libraft bench: apply failed: {}", raft_strerror(status)));
      return;
    }
    c->ready_ = true;
    if (c->counting_) {
      c->records_ += kBatchRecords;
      c->latency_.add(elapsed_ns(a->at, BenchClock::now()));
    }
  }

  static void on_check(uv_check_t* h) {
    auto* c = static_cast<Cluster*>(h->data);
    if (!c->ready_ || c->stopping_ || !c->error_.empty()) return;
    while (!c->free_.empty() && c->error_.empty()) c->submit();
  }

  static void on_timer(uv_timer_t* h) {
    auto* c = static_cast<Cluster*>(h->data);
    if (c->leader_ && !c->stopping_ && raft_state(&c->leader_->r) != RAFT_LEADER)
      c->fail(fmt::format("libraft bench: node {} lost the leadership", c->leader_->r.id));
  }

  static void on_raft_close(raft* r) {
    auto* n = static_cast<Node*>(r->data);
    raft_uv_close(&n->io);
    raft_uv_tcp_close(&n->transport);
    n->closed = true;
  }

  uv_loop_t loop_{};
  uv_timer_t timer_{};
  uv_check_t check_{};
  bool loop_inited_ = false, handles_inited_ = false;
  std::array<Node, kNodes> nodes_;
  std::array<Apply, kWindow> applies_;
  std::vector<Apply*> free_;
  std::vector<std::string> entries_;
  std::uint64_t submitted_ = 0;
  Node* leader_ = nullptr;
  bool ready_ = false, counting_ = false, stopping_ = false;
  std::string error_;
  std::int64_t records_ = 0;
  BenchClock::time_point started_;
  double seconds_ = 0;
  double loop_cpu_ = 0;  // the loop thread's CPU time / wall time while counting
  Histogram latency_;
};

// Three consecutive free loopback ports from a range that depends on the pid, or -1.
int pick_ports(int attempt) {
  const int base = 20'000 + static_cast<int>((::getpid() * 37 + attempt * 101) % 20'000);
  for (int p = base; p < base + 2'000; ++p) {
    bool ok = true;
    for (int i = 0; i < kNodes && ok; ++i) ok = port_free(p + i);
    if (ok) return p;
  }
  return -1;
}

}  // namespace

std::vector<Row> run_libraft(const std::string& dir, std::chrono::milliseconds cell) {
  Row row;
  row.workload = "raft";
  row.system = "libraft-3-nodes";
  row.value_bytes = kValueBytes;
  row.batch_records = kBatchRecords;
  row.durability = "durable";
  std::string error;
  for (int attempt = 0; attempt < 5; ++attempt) {
    const int port = pick_ports(attempt);
    if (port < 0) {
      error = "no 3 free loopback ports";
      continue;
    }
    auto cluster = std::make_unique<Cluster>();
    error.clear();
    bool started = false;
    try {
      cluster->start(fmt::format("{}/try{}", dir, attempt), port);
      started = true;
      cluster->measure(cell);
    } catch (const std::exception& e) {
      error = e.what();
    }
    if (!cluster->teardown()) {
      (void)cluster.release();  // libuv may still reference it: leak rather than free
      if (error.empty()) error = "libraft bench: the nodes did not close in 10 s";
    }
    if (!error.empty() && !started) continue;  // e.g. a port taken between probe and listen
    if (error.empty()) {
      row.records = cluster->records();
      row.bytes = row.records * kValueBytes;
      row.seconds = cluster->seconds();
      row.set_latency(cluster->latency());
      row.configuration = fmt::format(
          "3 voters in one process, one libuv loop; raft_uv_init per node (open segments "
          "O_DIRECT|O_DSYNC, preallocated, written by kernel AIO: durable when a write completes), "
          "raft_uv_tcp on "
          "127.0.0.1; one raft_apply of one {}-byte entry per batch, at most {} in flight; "
          "segment {} MiB, snapshot threshold {} ({} taken), leader node {}, loop thread {:.0f}% "
          "CPU",
          kBatchRecords * kValueBytes, kWindow, kSegmentBytes >> 20, kSnapshotThreshold,
          cluster->snapshots(), cluster->leader_id(), 100 * cluster->loop_cpu());
    }
    break;
  }
  if (!error.empty()) {
    fmt::print(stderr, "libraft: {}\n", error);
    row.configuration = "ERROR " + error;
  }
  return {row};
}

}  // namespace samsa::bench
