// quickstart: an in-process, durable event log in a directory.
//
//   quickstart [DIR]          (DIR defaults to ./samsa-data)
//
// Opens the log in DIR (Kafka's on-disk format), appends a batch of records with keys,
// values, headers and timestamps (durable once append returns), closes it, reopens it and
// reads every record back. Run it again and it continues from the last offset.
#include <fmt/format.h>

#include <string>
#include <vector>

#include "samsa/log.h"

using namespace samsa;

namespace {

// Prints every record from the log start to the log end; returns how many.
Result<std::int64_t> print_all(const Log& log) {
  std::int64_t printed = 0;
  RecordReader reader;
  Record r;
  for (Offset next = log.log_start_offset(); next < log.log_end_offset();) {
    SAMSA_TRY_ASSIGN(LogSlice slice, log.read(next, {.max_bytes = 1 << 20}));
    std::vector<std::byte> bytes;
    SAMSA_TRY(slice.read_into(bytes));
    for (std::size_t at = 0; at < bytes.size();) {
      SAMSA_TRY_ASSIGN(RecordBatchView batch,
                       RecordBatchView::validate(ByteSpan(bytes).subspan(at)));
      SAMSA_TRY(reader.reset(batch));
      while (true) {
        SAMSA_TRY_ASSIGN(bool more, reader.next(r));
        if (!more) break;
        std::string headers;
        for (const RecordHeader& h : r.headers) {
          headers += fmt::format(" {}={}", h.key, h.value ? as_chars(*h.value) : "(null)");
        }
        fmt::print("  offset {:>3}  ts {}  key {:<6} value {:<20} headers{}\n", r.offset.value(),
                   r.timestamp.value(), r.key ? as_chars(*r.key) : "(null)",
                   r.value ? as_chars(*r.value) : "(tombstone)", headers);
        ++printed;
      }
      at += batch.size_bytes();
    }
    next = slice.next_offset;
  }
  return printed;
}

Status run(const std::string& dir) {
  SAMSA_TRY_ASSIGN(auto log, Log::open(Env::posix(), dir, LogConfig{}));
  const RecoveryReport& report = log->recovery_report();
  fmt::print("opened {}: offsets [{}, {}), {} segment(s), {}\n", dir,
             log->log_start_offset().value(), log->log_end_offset().value(), log->segments().size(),
             report.clean_shutdown           ? "clean shutdown"
             : report.segments_rescanned > 0 ? "recovered"
                                             : "new");

  RecordBatchBuilder builder(BatchOptions{.compression = Compression::lz4});
  const Timestamp now = SystemClock::instance().now();
  const RecordHeader headers[] = {{"source", as_bytes("quickstart")}, {"trace", std::nullopt}};
  const char* users[] = {"alice", "bob", "carol", "alice"};
  for (int i = 0; i < 4; ++i) {
    const std::string value = fmt::format("clicked button {}", log->log_end_offset().value() + i);
    SAMSA_TRY(builder.append(now + i, as_bytes(users[i]), as_bytes(value), headers));
  }
  SAMSA_TRY(builder.append(now + 4, as_bytes("bob"), std::nullopt));  // a tombstone
  SAMSA_TRY_ASSIGN(AppendInfo info, log->append(builder));            // returns once fdatasync'd
  fmt::print("appended offsets {}..{} ({} records, lz4, {} bytes), durable\n",
             info.first_offset.value(), info.last_offset.value(), info.records, info.bytes);
  SAMSA_TRY(log->close());
  log.reset();

  SAMSA_TRY_ASSIGN(log, Log::open(Env::posix(), dir, LogConfig{}));
  fmt::print("reopened ({}); reading from offset {}:\n",
             log->recovery_report().clean_shutdown ? "clean shutdown" : "recovered",
             log->log_start_offset().value());
  SAMSA_TRY_ASSIGN(const std::int64_t printed, print_all(*log));
  fmt::print("read {} records; the log ends at offset {}\n", printed,
             log->log_end_offset().value());
  return log->close();
}

}  // namespace

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : "samsa-data";
  if (Status s = run(dir); !s.ok()) {
    fmt::print(stderr, "quickstart: {}\n", s.to_string());
    return 1;
  }
  return 0;
}
