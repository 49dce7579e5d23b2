// quickstart: an in-process event log in a directory, built from samsa's floors 1-3.
//
//   quickstart [DIR]          (DIR defaults to ./samsa-data)
//
// Appends a batch of records (keys, values, headers, timestamps) to DIR's segment file in
// Kafka's on-disk format, syncs it, closes it, reopens it, validates every batch and
// prints the records. Run it again and it continues from the last offset. When the Log
// class lands (floor 5), this example moves onto it; the file format stays the same.
#include <fmt/format.h>

#include <cstdio>
#include <string>
#include <vector>

#include "samsa/clock.h"
#include "samsa/env.h"
#include "samsa/record_batch.h"

using namespace samsa;

namespace {

struct Scan {
  Offset next_offset{0};
  int batches = 0;
  std::uint64_t valid_bytes = 0;
};

// Walks the file's batches, validating each; stops at the first that does not check out
// (a torn tail from a crash) and reports how far the valid prefix goes.
Scan scan_log(ByteSpan bytes, bool print) {
  Scan scan;
  RecordReader reader;
  while (scan.valid_bytes < bytes.size()) {
    auto view = RecordBatchView::validate(bytes.subspan(scan.valid_bytes), {}, scan.valid_bytes);
    if (!view.ok()) {
      fmt::print("  stopping at byte {}: {}\n", scan.valid_bytes, view.status().to_string());
      break;
    }
    if (print) {
      Record r;
      if (!reader.reset(*view).ok()) break;
      while (reader.next(r).value()) {
        std::string headers;
        for (const RecordHeader& h : r.headers) {
          headers += fmt::format(" {}={}", h.key, h.value ? as_chars(*h.value) : "(null)");
        }
        fmt::print("  offset {:>3}  ts {}  key {:<8} value {:<22} headers{}\n", r.offset.value(),
                   r.timestamp.value(), r.key ? as_chars(*r.key) : "(null)",
                   r.value ? as_chars(*r.value) : "(tombstone)", headers);
      }
    }
    scan.next_offset = view->next_offset();
    scan.valid_bytes += view->size_bytes();
    ++scan.batches;
  }
  return scan;
}

int fail(const Status& s) {
  fmt::print(stderr, "quickstart: {}\n", s.to_string());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : "samsa-data";
  const std::string path = join_path(dir, "00000000000000000000.log");
  Env& env = Env::posix();
  fmt::print("samsa quickstart: event log in {}\n", path);

  if (Status s = env.create_dirs(dir); !s.ok()) return fail(s);
  auto file = env.open(path, {.create = true});
  if (!file.ok()) return fail(file.status());
  // A new file's directory entry is durable only once the directory is synced.
  if (Status s = env.sync_dir(dir); !s.ok()) return fail(s);
  auto existing = read_file(env, path);
  if (!existing.ok()) return fail(existing.status());
  const Scan before = scan_log(*existing, false);
  fmt::print("opened: {} batches, next offset {}\n", before.batches, before.next_offset.value());
  if (before.valid_bytes < existing->size()) {
    fmt::print("cutting a torn tail of {} bytes\n", existing->size() - before.valid_bytes);
    if (Status s = (*file)->truncate(before.valid_bytes); !s.ok()) return fail(s);
  }

  BatchOptions options;
  options.base_offset = before.next_offset;
  options.compression = Compression::lz4;
  RecordBatchBuilder builder(options);
  const Timestamp now = SystemClock::instance().now();
  const char* users[] = {"alice", "bob", "carol"};
  for (int i = 0; i < 5; ++i) {
    const std::string key = users[i % 3];
    const std::string value = fmt::format("clicked button {}", before.next_offset.value() + i);
    const RecordHeader headers[] = {{"source", as_bytes("quickstart")}, {"trace", std::nullopt}};
    Status s = i == 4 ? builder.append(now + i, as_bytes("carol"), std::nullopt)  // a tombstone
                      : builder.append(now + i, as_bytes(key), as_bytes(value), headers);
    if (!s.ok()) return fail(s);
  }
  auto batch = builder.build();
  if (!batch.ok()) return fail(batch.status());
  if (Status s = (*file)->append(*batch); !s.ok()) return fail(s);
  if (Status s = (*file)->sync(); !s.ok()) return fail(s);
  if (Status s = (*file)->close(); !s.ok()) return fail(s);
  fmt::print("appended offsets {}..{} ({} records, lz4, {} bytes) and synced; closed\n",
             before.next_offset.value(), before.next_offset.value() + 4, 5, batch->size());

  auto reread = read_file(env, path);
  if (!reread.ok()) return fail(reread.status());
  fmt::print("reopened and read back ({} bytes):\n", reread->size());
  const Scan after = scan_log(*reread, true);
  fmt::print("{} batches valid (CRC-32C and framing checked), next offset {}\n", after.batches,
             after.next_offset.value());
  return after.next_offset == before.next_offset + 5 ? 0 : 1;
}
