// samsa-bench: what this machine does with plain POSIX calls on the same bytes samsa
// writes. The only code outside lib/ that calls POSIX I/O directly: benchmarks are not the
// library, and these baselines must not go through it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "stats.h"

namespace samsa::bench {

struct RawResult {
  std::int64_t batches = 0;  // batches written (or bytes read, for raw_read)
  std::uint64_t bytes = 0;   // file bytes written or read
  double seconds = 0;
  Histogram latency;  // per acknowledgement: one write(), or one write()+fdatasync()
};

// Writes `count` batches into a new file `path`, cycling through `batches` (a ring: the
// bytes of batch i are batches[i % size], identical to samsa's but for base offsets), until
// all are written or `time_cap` passes. group == 0: one write() per batch, page cache only. group
// >= 1: `group` batches gathered into one write() then fdatasync(), one acknowledgement per group
// (the ideal group commit of `group` concurrent appenders).
RawResult raw_write(const std::string& path, const std::vector<std::vector<std::byte>>& batches,
                    std::int64_t count, int group, std::chrono::milliseconds time_cap);

// `threads` threads share one file opened O_APPEND; each takes the next batch, write()s it
// and fdatasync()s, one acknowledgement per batch, until `count` are written or `time_cap`
// passes: write()+fdatasync() per acknowledgement from N concurrent appenders, with only the
// kernel's own sharing (concurrent fdatasyncs of one file wait for the same device flush).
// The latency yardstick of the replication and raft workloads: one writer, each of
// `batches` (cycled) written with one write() then fdatasync(), as a Row of `workload`
// named raw-write+fdatasync.
Row fdatasync_latency_row(const std::string& path,
                          const std::vector<std::vector<std::byte>>& batches,
                          const std::string& workload, std::int64_t value_bytes,
                          std::int64_t batch_records, std::chrono::milliseconds cell);

RawResult raw_write_threads(const std::string& path,
                            const std::vector<std::vector<std::byte>>& batches, std::int64_t count,
                            int threads, std::chrono::milliseconds time_cap);

// Reads the files in order with read() in 1 MiB chunks; bytes are touched (summed) so the
// copy is not optimised away. One latency sample per read().
RawResult raw_read(const std::vector<std::string>& paths);

// The *.log files of a samsa log directory, in offset order.
std::vector<std::string> segment_files(const std::string& dir);

}  // namespace samsa::bench
