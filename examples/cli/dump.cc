// samsa dump: every segment's batches and index entries, in the spirit of kafka-dump-log.
// Read-only: the files are read directly, the Log is never opened.
#include <fmt/format.h>

#include "cli.h"
#include "samsa/group_records.h"
#include "segment_scan.h"

namespace samsa::cli {

namespace {

constexpr std::string_view kHelp = R"(usage: samsa dump DIR [--records] [--offsets-decoder]

Prints each segment of the log in DIR: its .log file, then per batch its position, offsets,
record count, size, codec, timestamps, producer id/epoch/sequence, leader epoch, flags and
whether its CRC is valid; then the entries of its .index and .timeindex files, each with
where it points ("ok") or what is wrong with it ("PROBLEM").

dump never modifies DIR: it reads the files directly and does not open the log (which
would run crash recovery). A batch whose framing is broken (e.g. a torn write) ends that
file's dump with the error; a log still open by another process may show a partial batch
at its end and preallocated (zero-filled) index entries.

  --records   also print each batch's records (offset, timestamp, key, value, headers;
              a null key or value prints as null)
  --offsets-decoder
              --records, with each key and value decoded as a __consumer_offsets record
              (Kafka's schemas: offset commits and group metadata; kafka-dump-log's flag)

Exit status: 0 when every batch and index entry checks out, 1 otherwise.
)";

std::string batch_flags(const RecordBatchView& batch) {
  std::string flags;
  const auto add = [&flags](std::string_view name) {
    if (!flags.empty()) flags += ',';
    flags += name;
  };
  if (batch.is_transactional()) add("transactional");
  if (batch.is_control()) add("control");
  if (batch.has_delete_horizon()) add("delete_horizon");
  return flags.empty() ? "none" : flags;
}

std::string_view timestamp_type_name(TimestampType type) {
  return type == TimestampType::create_time ? "create" : "log-append";
}

std::string describe_batch(const RecordBatchView& b) {
  return fmt::format(
      "position: {} base_offset: {} last_offset: {} count: {} size: {} codec: {} "
      "timestamp_type: {} base_timestamp: {} max_timestamp: {} producer_id: {} "
      "producer_epoch: {} base_sequence: {} leader_epoch: {} flags: {} {}",
      b.position(), b.base_offset().value(), b.last_offset().value(), b.records_count(),
      b.size_bytes(), to_string(b.compression()), timestamp_type_name(b.timestamp_type()),
      b.base_timestamp().value(), b.max_timestamp().value(), b.producer_id().value(),
      b.producer_epoch().value(), b.base_sequence().value(), b.partition_leader_epoch().value(),
      batch_flags(b), describe_crc(b));
}

// A __consumer_offsets record, decoded (or what does not decode, and why).
std::string describe_group_record(ByteSpan key, std::optional<ByteSpan> value) {
  auto k = decode_group_key(key);
  if (!k.ok()) return fmt::format("key PROBLEM: {}", k.status().to_string());
  if (const auto* ok = std::get_if<OffsetCommitKey>(&*k)) {
    std::string out = fmt::format("offset_commit group={} topic={} partition={}", ok->group,
                                  ok->topic, ok->partition);
    if (!value) return out + " tombstone";
    auto v = decode_offset_commit_value(*value);
    if (!v.ok()) return out + fmt::format(" value PROBLEM: {}", v.status().to_string());
    out += fmt::format(" offset={} leader_epoch={} metadata={:?} commit_timestamp={}", v->offset,
                       v->leader_epoch, v->metadata, v->commit_timestamp);
    if (v->expire_timestamp >= 0) out += fmt::format(" expire_timestamp={}", v->expire_timestamp);
    return out;
  }
  if (const auto* gk = std::get_if<GroupMetadataKey>(&*k)) {
    std::string out = fmt::format("group_metadata group={}", gk->group);
    if (!value) return out + " tombstone";
    auto v = decode_group_metadata_value(*value);
    if (!v.ok()) return out + fmt::format(" value PROBLEM: {}", v.status().to_string());
    out += fmt::format(
        " generation={} protocol_type={} protocol={} leader={} state_timestamp={} members=[",
        v->generation, v->protocol_type, v->protocol.value_or("null"), v->leader.value_or("null"),
        v->current_state_timestamp);
    for (std::size_t i = 0; i < v->members.size(); ++i) {
      const GroupMemberMetadata& m = v->members[i];
      out += fmt::format(
          "{}{}{} client={} host={} session={} rebalance={} subscription={}B assignment={}B",
          i ? ", " : "", m.member_id,
          m.group_instance_id ? fmt::format(" instance={}", *m.group_instance_id) : "", m.client_id,
          m.client_host, m.session_timeout, m.rebalance_timeout, m.subscription.size(),
          m.assignment.size());
    }
    return out + "]";
  }
  return fmt::format("key of version {} (not read by samsa)", std::get<OtherGroupKey>(*k).version);
}

// Prints the batch's records; false when they do not decode.
bool dump_records(const RecordBatchView& batch, RecordReader& reader, bool offsets_decoder) {
  Status status = reader.reset(batch);
  Record r;
  while (status.ok()) {
    auto more = reader.next(r);
    if (!more.ok()) {
      status = more.status();
      break;
    }
    if (!*more) break;
    std::string headers;
    for (const RecordHeader& h : r.headers) {
      headers += fmt::format(" {}={}", h.key, printable(h.value));
    }
    if (offsets_decoder && r.key) {
      fmt::print("    offset: {} timestamp: {} {}\n", r.offset.value(), r.timestamp.value(),
                 describe_group_record(*r.key, r.value));
      continue;
    }
    fmt::print("    offset: {} timestamp: {} key: {} value: {} headers:{}\n", r.offset.value(),
               r.timestamp.value(), printable(r.key), printable(r.value),
               headers.empty() ? " none" : headers);
  }
  if (!status.ok()) fmt::print("    records PROBLEM: {}\n", status.to_string());
  return status.ok();
}

// Prints the batches of one .log file; false when something is wrong with them.
enum class Records : std::uint8_t { none, raw, offsets };

bool dump_log_file(const SegmentFiles& segment, Records records,
                   std::vector<BatchSummary>& batches) {
  auto scanner = BatchScanner::open(Env::posix(), segment.log_path);
  if (!scanner.ok()) {
    fmt::print("segment {}: PROBLEM: {}\n", segment.log_path, scanner.status().to_string());
    return false;
  }
  fmt::print("segment {} (base offset {}, {} bytes)\n", segment.log_path,
             segment.base_offset.value(), (*scanner)->file_size());
  bool ok = true;
  RecordReader reader;
  while (true) {
    auto batch = (*scanner)->next();
    if (!batch.ok()) {
      fmt::print("  PROBLEM: {}\n  (the dump of this file stops here, {} bytes before its end)\n",
                 batch.status().to_string(), (*scanner)->file_size() - (*scanner)->position());
      return false;
    }
    if (!*batch) break;
    const RecordBatchView& b = **batch;
    fmt::print("  batch {}\n", describe_batch(b));
    if (b.crc() != b.compute_crc()) ok = false;
    if (records != Records::none && !dump_records(b, reader, records == Records::offsets)) {
      ok = false;
    }
    add_batch_summary(batches, b);
  }
  fmt::print("  {} batches\n", batches.size());
  return ok;
}

// Prints an index file's entries with their verdicts; false when one is wrong.
template <typename IndexFileT, typename Describe, typename Check>
bool dump_index(std::string_view kind, const Result<std::optional<IndexFileT>>& index,
                const std::string& path, Describe describe, Check check) {
  if (!index.ok()) {
    fmt::print("  {} {}: PROBLEM: {}\n", kind, path, index.status().to_string());
    return false;
  }
  if (!*index) {
    fmt::print("  {} {}: missing (opening the log rebuilds it)\n", kind, path);
    return true;
  }
  const IndexFileT& file = **index;
  std::string extra;
  if (file.zero_tail_entries > 0) {
    extra += fmt::format(
        ", then {} zero-filled entries (preallocated, not trimmed: the segment "
        "is active or the log was not closed cleanly)",
        file.zero_tail_entries);
  }
  bool ok = true;
  if (file.partial_bytes > 0) {
    extra +=
        fmt::format(", then {} bytes that are not a whole entry (PROBLEM)", file.partial_bytes);
    ok = false;
  }
  fmt::print("  {} {}: {} entries ({} bytes){}\n", kind, path, file.entries.size(), file.size_bytes,
             extra);
  for (std::size_t i = 0; i < file.entries.size(); ++i) {
    const EntryVerdict verdict = check(file.entries[i], i > 0 ? &file.entries[i - 1] : nullptr);
    fmt::print("    {} -> {}: {}\n", describe(file.entries[i]), verdict.ok ? "ok" : "PROBLEM",
               verdict.what);
    if (!verdict.ok) ok = false;
  }
  return ok;
}

bool dump_segment(const SegmentFiles& segment, Records records) {
  std::vector<BatchSummary> batches;
  bool ok = dump_log_file(segment, records, batches);
  Env& env = Env::posix();
  ok &= dump_index(
      "index", read_offset_index(env, segment.index_path, segment.base_offset), segment.index_path,
      [](const OffsetPosition& e) {
        return fmt::format("offset: {} position: {}", e.offset.value(), e.position.value());
      },
      [&batches](const OffsetPosition& e, const OffsetPosition* prev) {
        return check_offset_entry(e, prev, batches);
      });
  ok &= dump_index(
      "timeindex", read_time_index(env, segment.time_index_path, segment.base_offset),
      segment.time_index_path,
      [](const TimestampOffset& e) {
        return fmt::format("timestamp: {} offset: {}", e.timestamp.value(), e.offset.value());
      },
      [&batches](const TimestampOffset& e, const TimestampOffset* prev) {
        return check_time_entry(e, prev, batches);
      });
  return ok;
}

}  // namespace

int run_dump(std::span<char* const> argv) {
  const FlagSpec specs[] = {{"--records", false}, {"--offsets-decoder", false}};
  auto args = parse_args(argv, specs);
  if (!args.ok()) return usage_error("dump", args.status().message());
  if (args->help) {
    fmt::print("{}", kHelp);
    return kExitOk;
  }
  auto dir = single_dir(*args);
  if (!dir.ok()) return usage_error("dump", dir.status().message());
  if (Status s = require_dir(*dir); !s.ok()) return failure("dump", s.to_string());
  auto listing = list_log_dir(Env::posix(), *dir);
  if (!listing.ok()) return failure("dump", listing.status().to_string());

  const Records records = args->has("--offsets-decoder") ? Records::offsets
                          : args->has("--records")       ? Records::raw
                                                         : Records::none;
  fmt::print("log directory {}: {} segments\n", *dir, listing->segments.size());
  bool ok = true;
  for (const SegmentFiles& segment : listing->segments) {
    ok &= dump_segment(segment, records);
  }
  for (const std::string& path : listing->orphan_indexes) {
    fmt::print("index file without a .log: {}\n", path);
  }
  for (const std::string& path : listing->other_files) fmt::print("other file: {}\n", path);
  std::fflush(stdout);
  if (!ok) return failure("dump", fmt::format("{}: problems found (marked PROBLEM above)", *dir));
  return kExitOk;
}

}  // namespace samsa::cli
