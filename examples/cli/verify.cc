// samsa verify: checks every batch, offset and index entry of a log directory without
// modifying it (the Log is never opened), with progress on stderr for large logs.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <type_traits>

#include "cli.h"
#include "segment_scan.h"

namespace samsa::cli {

namespace {

constexpr std::string_view kHelp = R"(usage: samsa verify DIR

Checks the log in DIR without modifying it (it reads the files directly and does not open
the log, which would run crash recovery):
  - every batch of every segment: framing, CRC-32C, and its records (decompressed);
  - offsets: each batch's base offset is above the previous batch's last offset, across
    segments too, and no batch lies below its segment's base offset (the file name);
  - every .index entry points at a batch start holding its offset, every .timeindex entry
    at the batch carrying its timestamp, and entries increase.
Each problem is printed as FILE: position N: WHAT. Warnings (a missing or not yet trimmed
index, which opening the log rebuilds or trims; leftover files) do not fail the check.
Progress goes to stderr once a second on large logs.

Exit status: 0 when everything is valid, 1 when a problem was found (a torn tail after a
crash is one: `samsa recover DIR` cuts it).
)";

using SteadyClock = std::chrono::steady_clock;

constexpr auto kProgressEvery = std::chrono::seconds(1);

// A stderr line once a second: bytes checked of the total and the rate.
class Progress {
 public:
  explicit Progress(std::uint64_t total_bytes) : total_(total_bytes) {}

  void add(std::uint64_t bytes) {
    done_ += bytes;
    const auto now = SteadyClock::now();
    if (now - last_ < kProgressEvery) return;
    last_ = now;
    print(now);
    printed_ = true;
  }
  void finish() {
    if (printed_) print(SteadyClock::now());
  }

 private:
  void print(SteadyClock::time_point now) const {
    const double seconds = std::chrono::duration<double>(now - start_).count();
    const double mib = 1024.0 * 1024.0;
    fmt::print(
        stderr, "verify: {:.1f} of {:.1f} MiB checked ({:.0f}%), {:.0f} MB/s\n",
        static_cast<double>(done_) / mib, static_cast<double>(total_) / mib,
        total_ == 0 ? 100.0 : 100.0 * static_cast<double>(done_) / static_cast<double>(total_),
        seconds > 0 ? static_cast<double>(done_) / 1e6 / seconds : 0.0);
  }

  const std::uint64_t total_;
  std::uint64_t done_ = 0;
  const SteadyClock::time_point start_ = SteadyClock::now();
  SteadyClock::time_point last_ = start_;
  bool printed_ = false;
};

class Verifier {
 public:
  explicit Verifier(std::uint64_t total_bytes) : progress_(total_bytes) {}

  void verify_segment(const SegmentFiles& segment) {
    std::vector<BatchSummary> batches;
    const bool whole = verify_log_file(segment, batches);
    if (!whole) {
      fmt::print("note: {} and {} not checked: the .log could not be read to its end\n",
                 segment.index_path, segment.time_index_path);
      return;
    }
    Env& env = Env::posix();
    verify_index("index", read_offset_index(env, segment.index_path, segment.base_offset),
                 segment.index_path, batches, [](const OffsetPosition& e) {
                   return fmt::format("entry (offset {}, position {})", e.offset.value(),
                                      e.position.value());
                 });
    verify_index("timeindex", read_time_index(env, segment.time_index_path, segment.base_offset),
                 segment.time_index_path, batches, [](const TimestampOffset& e) {
                   return fmt::format("entry (timestamp {}, offset {})", e.timestamp.value(),
                                      e.offset.value());
                 });
  }

  void problem(const std::string& what) {
    ++problems_;
    fmt::print("problem: {}\n", what);
  }
  void warning(const std::string& what) {
    ++warnings_;
    fmt::print("warning: {}\n", what);
  }

  int summarize(const std::string& dir, std::size_t segments) {
    progress_.finish();
    const std::string offsets =
        batches_ == 0 ? std::string("no records")
                      : fmt::format("offsets {}..{}", first_offset_.value(), last_offset_.value());
    if (problems_ == 0) {
      fmt::print("verify {}: ok: {} segments, {} batches, {} records, {} bytes, {}, {} warnings\n",
                 dir, segments, batches_, records_, bytes_, offsets, warnings_);
      std::fflush(stdout);
      return kExitOk;
    }
    fmt::print("verify {}: {} problems ({} segments, {} batches checked), {} warnings\n", dir,
               problems_, segments, batches_, warnings_);
    std::fflush(stdout);
    return kExitFailure;
  }

 private:
  // Checks the batches of one .log; false when the file could not be read to its end.
  bool verify_log_file(const SegmentFiles& segment, std::vector<BatchSummary>& batches) {
    auto scanner = BatchScanner::open(Env::posix(), segment.log_path);
    if (!scanner.ok()) {
      problem(scanner.status().to_string());
      return false;
    }
    if (last_offset_ != Offset::none() && segment.base_offset <= last_offset_) {
      problem(fmt::format("{}: segment base offset {} is not above the previous last offset {}",
                          segment.log_path, segment.base_offset.value(), last_offset_.value()));
    }
    while (true) {
      const std::uint64_t position = (*scanner)->position();
      auto batch = (*scanner)->next();
      if (!batch.ok()) {
        problem(fmt::format("{} ({} bytes from there to the end of the file not checked)",
                            batch.status().message(), (*scanner)->file_size() - position));
        return false;
      }
      if (!*batch) return true;
      verify_batch(segment, **batch, batches.empty());
      add_batch_summary(batches, **batch);
      progress_.add((*batch)->size_bytes());
    }
  }

  void verify_batch(const SegmentFiles& segment, const RecordBatchView& b, bool first) {
    const std::string where = fmt::format("{}: position {}", segment.log_path, b.position());
    if (b.crc() != b.compute_crc()) {
      problem(fmt::format("{}: batch (offsets {}..{}): {}", where, b.base_offset().value(),
                          b.last_offset().value(), describe_crc(b)));
    }
    if (Status s = b.check_records(); !s.ok()) problem(fmt::format("{}: {}", where, s.message()));
    if (first && b.base_offset() < segment.base_offset) {
      problem(fmt::format("{}: batch base offset {} is below the segment's base offset {}", where,
                          b.base_offset().value(), segment.base_offset.value()));
    }
    if (last_offset_ != Offset::none() && b.base_offset() <= last_offset_) {
      problem(
          fmt::format("{}: batch base offset {} is not above the previous batch's last "
                      "offset {}",
                      where, b.base_offset().value(), last_offset_.value()));
    }
    if (batches_ == 0) first_offset_ = b.base_offset();
    last_offset_ = b.last_offset();
    ++batches_;
    records_ += b.records_count();
    bytes_ += b.size_bytes();
  }

  template <typename IndexFileT, typename Describe>
  void verify_index(std::string_view kind, const Result<std::optional<IndexFileT>>& index,
                    const std::string& path, const std::vector<BatchSummary>& batches,
                    Describe describe) {
    if (!index.ok()) return problem(index.status().to_string());
    if (!*index) return warning(fmt::format("{}: missing (opening the log rebuilds it)", path));
    const IndexFileT& file = **index;
    if (file.zero_tail_entries > 0) {
      warning(
          fmt::format("{}: {} zero-filled {} entries at the end (preallocated, not trimmed: "
                      "the segment is active or the log was not closed cleanly)",
                      path, file.zero_tail_entries, kind));
    }
    if (file.partial_bytes > 0) {
      problem(fmt::format("{}: position {}: {} bytes that are not a whole entry", path,
                          file.size_bytes - file.partial_bytes, file.partial_bytes));
    }
    constexpr std::size_t entry_size = std::is_same_v<IndexFileT, OffsetIndexFile>
                                           ? index_layout::kOffsetEntrySize
                                           : index_layout::kTimeEntrySize;
    for (std::size_t i = 0; i < file.entries.size(); ++i) {
      const auto* previous = i > 0 ? &file.entries[i - 1] : nullptr;
      EntryVerdict verdict;
      if constexpr (std::is_same_v<IndexFileT, OffsetIndexFile>) {
        verdict = check_offset_entry(file.entries[i], previous, batches);
      } else {
        verdict = check_time_entry(file.entries[i], previous, batches);
      }
      if (!verdict.ok) {
        problem(fmt::format("{}: position {}: {} {}", path, i * entry_size,
                            describe(file.entries[i]), verdict.what));
      }
    }
  }

  Progress progress_;
  std::int64_t problems_ = 0;
  std::int64_t warnings_ = 0;
  std::int64_t batches_ = 0;
  std::int64_t records_ = 0;
  std::uint64_t bytes_ = 0;
  Offset first_offset_ = Offset::none();
  Offset last_offset_ = Offset::none();  // the last offset of the last batch checked
};

}  // namespace

int run_verify(std::span<char* const> argv) {
  auto args = parse_args(argv, {});
  if (!args.ok()) return usage_error("verify", args.status().message());
  if (args->help) {
    fmt::print("{}", kHelp);
    return kExitOk;
  }
  auto dir = single_dir(*args);
  if (!dir.ok()) return usage_error("verify", dir.status().message());
  if (Status s = require_dir(*dir); !s.ok()) return failure("verify", s.to_string());
  Env& env = Env::posix();
  auto listing = list_log_dir(env, *dir);
  if (!listing.ok()) return failure("verify", listing.status().to_string());

  std::uint64_t total_bytes = 0;
  for (const SegmentFiles& segment : listing->segments) {
    auto size = env.file_size(segment.log_path);
    if (size.ok()) total_bytes += *size;
  }
  Verifier verifier(total_bytes);
  for (const SegmentFiles& segment : listing->segments) verifier.verify_segment(segment);
  for (const std::string& path : listing->orphan_indexes) {
    verifier.warning(fmt::format("{}: an index file without a .log", path));
  }
  for (const std::string& path : listing->other_files) {
    if (path.ends_with(".deleted") || path.ends_with(".cleaned") || path.ends_with(".swap")) {
      verifier.warning(fmt::format("{}: a leftover file (opening the log resolves it)", path));
    }
  }
  return verifier.summarize(*dir, listing->segments.size());
}

}  // namespace samsa::cli
