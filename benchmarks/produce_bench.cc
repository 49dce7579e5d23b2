// produce_bench: one librdkafka producer against samsa-server, as in Kafka's 2014 benchmark
// ("Benchmarking Apache Kafka: 2 Million Writes Per Second (On Three Cheap Machines)": one
// producer, no replication, 6 partitions, 100-byte messages: 821,557 records/s on 6-core
// machines). Reports messages/s, MB/s and produce latency (enqueue to delivery report)
// percentiles.
//
//   produce_bench --server build/release/examples/server/samsa-server [--messages N]
//                 [--size 100] [--partitions 6] [--acks 1] [--rate MSGS_PER_S] [--keep DIR]
//   produce_bench --bootstrap HOST:PORT [...]      (a server already running)
//
// With --server it starts samsa-server on a free loopback port over a fresh data directory
// and stops it (SIGTERM) at the end.
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string server;
  std::string bootstrap;
  long messages = 5'000'000;
  int size = 100;
  int partitions = 6;
  std::string acks = "1";
  long rate = 0;  // messages/s; 0: as fast as the producer goes
  std::string keep;
  std::string flush_policy = "durable";
};

struct Delivery {
  std::vector<std::int64_t> sent_ns;  // by message number
  std::vector<std::int64_t> latency_ns;
  std::atomic<long> failed{0};
  Clock::time_point start;
};

std::int64_t since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count();
}

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* d = static_cast<Delivery*>(opaque);
  if (m->err) {
    if (d->failed.fetch_add(1) < 3) {
      fmt::print(stderr, "delivery failed: {}\n", rd_kafka_err2str(m->err));
    }
    return;
  }
  const auto id = reinterpret_cast<std::uintptr_t>(m->_private);
  d->latency_ns.push_back(since(d->start) - d->sent_ns[id]);
}

// Starts samsa-server; returns its pid and sets `bootstrap`.
pid_t start_server(const Options& o, const std::string& dir, std::string& bootstrap) {
  int out[2];
  if (pipe(out) != 0) return -1;
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], STDOUT_FILENO);
    close(out[0]);
    const std::string parts = std::to_string(o.partitions);
    execl(o.server.c_str(), o.server.c_str(), "--data-dir", dir.c_str(), "--listen", "127.0.0.1:0",
          "--default-partitions", parts.c_str(), "--flush-policy", o.flush_policy.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  close(out[1]);
  std::string text;
  char buf[256];
  while (text.find('\n') == std::string::npos) {
    const ssize_t n = read(out[0], buf, sizeof(buf));
    if (n <= 0) return -1;
    text.append(buf, static_cast<std::size_t>(n));
  }
  close(out[0]);  // the server's later lines go nowhere (it ignores SIGPIPE)
  const std::size_t at = text.find("listening on ");
  if (at == std::string::npos) return -1;
  bootstrap = text.substr(at + 13, text.find(' ', at + 13) - at - 13);
  return pid;
}

bool parse(int argc, char** argv, Options& o) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string f = argv[i];
    const char* v = argv[i + 1];
    if (f == "--server")
      o.server = v;
    else if (f == "--bootstrap")
      o.bootstrap = v;
    else if (f == "--messages")
      o.messages = std::atol(v);
    else if (f == "--size")
      o.size = std::atoi(v);
    else if (f == "--partitions")
      o.partitions = std::atoi(v);
    else if (f == "--acks")
      o.acks = v;
    else if (f == "--rate")
      o.rate = std::atol(v);
    else if (f == "--keep")
      o.keep = v;
    else if (f == "--flush-policy")
      o.flush_policy = v;
    else
      return false;
  }
  return (argc % 2 == 1) && (!o.server.empty() || !o.bootstrap.empty()) && o.messages > 0 &&
         o.size > 0;
}

rd_kafka_t* make_producer(const Options& o, const std::string& bootstrap, Delivery& d) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  const std::pair<const char*, std::string> settings[] = {
      {"bootstrap.servers", bootstrap},
      {"acks", o.acks},
      {"linger.ms", "5"},  // librdkafka's default, named for the record
      {"batch.num.messages", "10000"},
      {"queue.buffering.max.messages", "2000000"},
      {"queue.buffering.max.kbytes", "2097152"},
      {"compression.codec", "none"},
  };
  for (const auto& [k, v] : settings) {
    if (rd_kafka_conf_set(conf, k, v.c_str(), err, sizeof(err)) != RD_KAFKA_CONF_OK) {
      fmt::print(stderr, "{}: {}\n", k, err);
      return nullptr;
    }
  }
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  rd_kafka_conf_set_opaque(conf, &d);
  return rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
}

double percentile(std::vector<std::int64_t>& v, double p) {
  if (v.empty()) return 0;
  const auto k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
  return static_cast<double>(v[k]) / 1e6;
}

int run(const Options& o, const std::string& bootstrap) {
  Delivery d;
  d.sent_ns.resize(static_cast<std::size_t>(o.messages));
  d.latency_ns.reserve(static_cast<std::size_t>(o.messages));
  rd_kafka_t* rk = make_producer(o, bootstrap, d);
  if (rk == nullptr) return 1;
  rd_kafka_topic_t* topic = rd_kafka_topic_new(rk, "produce-bench", nullptr);
  std::string payload(static_cast<std::size_t>(o.size), 'x');
  // Warm up: metadata, topic creation, connection.
  rd_kafka_produce(topic, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, payload.data(),
                   payload.size(), nullptr, 0, reinterpret_cast<void*>(std::uintptr_t{0}));
  d.start = Clock::now();
  rd_kafka_flush(rk, 30000);
  d.latency_ns.clear();
  d.start = Clock::now();
  for (long i = 0; i < o.messages; ++i) {
    if (o.rate > 0) {
      const auto due = d.start + std::chrono::nanoseconds(i * 1'000'000'000 / o.rate);
      while (Clock::now() < due) rd_kafka_poll(rk, 0);
    }
    d.sent_ns[static_cast<std::size_t>(i)] = since(d.start);
    while (rd_kafka_produce(topic, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, payload.data(),
                            payload.size(), nullptr, 0,
                            reinterpret_cast<void*>(static_cast<std::uintptr_t>(i))) != 0) {
      rd_kafka_poll(rk, 1);  // queue full: serve delivery reports
    }
    if ((i & 1023) == 0) rd_kafka_poll(rk, 0);
  }
  rd_kafka_flush(rk, 120000);
  const double seconds = static_cast<double>(since(d.start)) / 1e9;
  const long delivered = static_cast<long>(d.latency_ns.size());
  fmt::print("produce_bench: {} messages of {} bytes, acks={}, {} partitions, linger.ms=5\n",
             o.messages, o.size, o.acks, o.partitions);
  fmt::print("  delivered {} ({} failed) in {:.2f} s: {:.0f} messages/s, {:.1f} MB/s\n", delivered,
             d.failed.load(), seconds, static_cast<double>(delivered) / seconds,
             static_cast<double>(delivered) * o.size / seconds / 1e6);
  fmt::print("  produce latency (enqueue to delivery report): p50 {:.2f} ms, p99 {:.2f} ms\n",
             percentile(d.latency_ns, 0.5), percentile(d.latency_ns, 0.99));
  fmt::print("  Kafka 2014 (one producer, no replication, 6-core machines): 821,557 messages/s\n");
  rd_kafka_topic_destroy(topic);
  rd_kafka_destroy(rk);
  return delivered == o.messages ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!parse(argc, argv, o)) {
    fmt::print(stderr,
               "usage: produce_bench (--server PATH | --bootstrap HOST:PORT) [--messages N] "
               "[--size BYTES] [--partitions N] [--acks 1|-1|0] [--rate MSGS_PER_S] "
               "[--flush-policy durable|interval|manual] [--keep DIR]\n");
    return 2;
  }
  if (!o.bootstrap.empty()) return run(o, o.bootstrap);
  const std::string dir = o.keep.empty() ? (std::filesystem::temp_directory_path() /
                                            fmt::format("samsa-produce-bench-{}", getpid()))
                                               .string()
                                         : o.keep;
  std::string bootstrap;
  const pid_t pid = start_server(o, dir, bootstrap);
  if (pid < 0) {
    fmt::print(stderr, "could not start {}\n", o.server);
    return 1;
  }
  const int rc = run(o, bootstrap);
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  if (o.keep.empty()) std::filesystem::remove_all(dir);
  return rc;
}
