// Log::open: the lock, leftover files, checkpoints, and recovery of what was not known to be
// flushed (Kafka's LogLoader).
#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "batch_scanner.h"
#include "checkpoint.h"
#include "log_impl.h"

namespace samsa {

std::optional<TopicPartition> parse_partition_dir_name(std::string_view name) {
  const std::size_t dash = name.rfind('-');
  if (dash == std::string_view::npos || dash == 0 || dash + 1 == name.size()) return std::nullopt;
  const std::string_view digits = name.substr(dash + 1);
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;  // from_chars would take a sign
  }
  std::int32_t n = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  return TopicPartition{std::string(name.substr(0, dash)), n};
}

namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.ends_with(suffix);
}

// "/data/orders-3/" -> ("orders", 3); anything else -> (name, 0).
TopicPartition topic_partition_from_dir(const std::string& dir) {
  std::string name = dir;
  while (name.size() > 1 && name.back() == '/') name.pop_back();
  if (const auto slash = name.rfind('/'); slash != std::string::npos) name = name.substr(slash + 1);
  if (auto parsed = parse_partition_dir_name(name)) return *parsed;
  return {name.empty() ? std::string("samsa") : name, 0};
}

Status check_config(const LogConfig& c) {
  auto bad = [](std::string_view what) { return Status::invalid_argument(std::string(what)); };
  if (c.segment_bytes < batch_layout::kHeaderSize) return bad("segment_bytes must be at least 61");
  if (c.segment_ms <= 0) return bad("segment_ms must be positive");
  if (c.segment_index_bytes < 12) return bad("segment_index_bytes must hold at least one entry");
  if (c.max_batch_bytes < batch_layout::kHeaderSize)
    return bad("max_batch_bytes must be at least 61");
  if (c.retention_ms < -1 || c.retention_bytes < -1) return bad("retention must be -1 or more");
  if (c.file_delete_delay_ms < 0) return bad("file_delete_delay_ms must not be negative");
  return Status();
}

}  // namespace

Status Log::Impl::open() {
  SAMSA_TRY(check_config(config));
  segment_config = {config.index_interval_bytes, config.segment_index_bytes,
                    config.segment_file_cache};
  if (config.topic.empty()) {
    auto [topic, partition] = topic_partition_from_dir(dir);
    config.topic = topic;
    if (config.partition < 0) config.partition = partition;
  }
  if (config.partition < 0) config.partition = 0;
  SAMSA_TRY(env.create_dirs(dir));
  auto locked = env.lock(path(".lock"));
  if (!locked.ok()) {
    if (locked.status().code() == StatusCode::busy) {
      return Status::busy(fmt::format(
          "log directory {} is in use by another Log (in this process or another)", dir));
    }
    return locked.status();
  }
  dir_lock = std::move(locked).value();
  SAMSA_TRY_ASSIGN(std::vector<std::string> names, env.list_dir(dir));
  SAMSA_TRY(resolve_leftover_files(names));
  const std::string marker = path(internal::kCleanShutdownFile);
  SAMSA_TRY_ASSIGN(const bool clean, env.exists(marker));
  report.clean_shutdown = clean;
  if (clean) {
    // Gone at once: a crash from here on must not be taken for a clean shutdown.
    SAMSA_TRY(env.remove(marker));
    SAMSA_TRY(env.sync_dir(dir));
  }
  auto read_checkpoint = [&](std::string_view name) -> std::optional<std::int64_t> {
    auto entries = internal::read_offset_checkpoint(env, path(name));
    if (!entries.ok()) {
      if (!entries.status().is_not_found()) report.notes.push_back(entries.status().to_string());
      return std::nullopt;
    }
    for (const auto& e : *entries) {
      if (e.topic == config.topic && e.partition == config.partition) return e.offset;
    }
    // The file lives in this log's own directory, so a sole entry is this log's even when
    // the directory was copied or renamed since.
    if (entries->size() == 1) return entries->front().offset;
    return std::nullopt;
  };
  const auto checkpointed = read_checkpoint("recovery-point-offset-checkpoint");
  if (checkpointed) checkpointed_recovery_point = Offset(*checkpointed);
  checkpointed_log_start = Offset(read_checkpoint("log-start-offset-checkpoint").value_or(0));
  SAMSA_TRY(load_segments(names, clean));
  last_flush_ns = clock.monotonic_ns();
  active_created_ms = clock.now().value();
  return write_checkpoints();
}

// Kafka's rules: .deleted and .cleaned files (and our .tmp) are removed; a .log.swap is a
// finished replacement whose swap was cut short, so it replaces the segments it covers.
Status Log::Impl::resolve_leftover_files(std::vector<std::string>& names) {
  std::vector<std::string> kept;
  std::vector<std::string> swaps;
  bool changed = false;
  for (const std::string& name : names) {
    if (ends_with(name, ".deleted") || ends_with(name, ".cleaned") || ends_with(name, ".tmp") ||
        (ends_with(name, ".swap") && !ends_with(name, ".log.swap"))) {
      SAMSA_TRY(env.remove(path(name)));
      report.files_resolved.push_back(name + " (removed)");
      changed = true;
    } else if (ends_with(name, ".log.swap")) {
      swaps.push_back(name);
    } else {
      kept.push_back(name);
    }
  }
  for (const std::string& swap : swaps) {
    const auto base = parse_segment_file_name(swap.substr(0, swap.size() - 5), ".log");
    if (!base) continue;
    SAMSA_TRY_ASSIGN(std::unique_ptr<File> file, env.open(path(swap), {.read_only = true}));
    SAMSA_TRY_ASSIGN(const std::uint64_t size, file->size());
    internal::BatchScanner scanner(*file, 0, size, path(swap));
    Offset next = *base;
    for (;;) {  // each step takes a whole batch of the file's `size` bytes, or ends the scan
      SAMSA_TRY_ASSIGN(auto step, scanner.next(internal::BatchScanner::Read::header_only));
      if (step.kind != internal::BatchScanner::Kind::batch) break;
      next = step.location.last_offset + 1;
    }
    SAMSA_TRY(file->close());
    // The old segments the swap replaces lie within its offsets.
    std::vector<std::string> rest;
    for (const std::string& name : kept) {
      std::optional<Offset> b;
      for (const char* suffix : {".log", ".index", ".timeindex"}) {
        if (!b) b = parse_segment_file_name(name, suffix);
      }
      if (b && *b >= *base && (*b < next || *b == *base)) {
        SAMSA_TRY(env.remove(path(name)));
        report.files_resolved.push_back(name + " (replaced by " + swap + ")");
      } else {
        rest.push_back(name);
      }
    }
    kept = std::move(rest);
    const std::string final_name = swap.substr(0, swap.size() - 5);
    SAMSA_TRY(env.rename(path(swap), path(final_name)));
    kept.push_back(final_name);
    report.files_resolved.push_back(swap + " (renamed to " + final_name + ")");
    changed = true;
  }
  if (changed) SAMSA_TRY(env.sync_dir(dir));
  names = std::move(kept);
  return Status();
}

Status Log::Impl::cut_overlap(Segment& seg, Offset limit, bool& cut) {
  auto batch = seg.find_batch(limit);
  const std::string where =
      batch.ok() && *batch ? fmt::format("the batch at position {} claims offsets [{}, {}]",
                                         (*batch)->position.value(), (*batch)->base_offset.value(),
                                         (*batch)->last_offset.value())
                           : std::string("its last batch");
  const std::string what =
      fmt::format("{}: {}, past offset {} where {}", seg.log_path(), where, limit.value(),
                  limit == checkpointed_recovery_point ? "the log ended at its clean shutdown"
                                                       : "the next segment begins");
  if (!options.truncate_corruption) return Status::corruption(what);
  SAMSA_TRY_ASSIGN(const std::uint64_t removed, seg.truncate_to(limit));
  SAMSA_TRY(seg.flush_indexes());
  SAMSA_TRY(seg.sync());
  report.bytes_truncated += removed;
  report.notes.push_back("cut " + std::to_string(removed) + " bytes: " + what);
  cut = true;
  return Status();
}

Status Log::Impl::remove_segment_files(Offset base) {
  for (const auto& n :
       {log_file_name(base), offset_index_file_name(base), time_index_file_name(base)}) {
    SAMSA_TRY_ASSIGN(const bool exists, env.exists(path(n)));
    if (exists) SAMSA_TRY(env.remove(path(n)));
  }
  ++report.segments_removed;
  report.notes.push_back(fmt::format("removed segment {} after the cut", log_file_name(base)));
  return Status();
}

Status Log::Impl::rescan_segment(Segment& seg, bool rebuild_only, Offset keep_below, bool& cut) {
  auto recovered = seg.recover(keep_below);
  if (!recovered.ok()) return recovered.status();
  report.bytes_rescanned += recovered->valid_bytes + recovered->truncated_bytes;
  ++report.segments_rescanned;
  if (rebuild_only) ++report.indexes_rebuilt;
  if (recovered->truncated_bytes > 0) {
    report.bytes_truncated += recovered->truncated_bytes;
    report.notes.push_back(fmt::format("cut {} bytes from {} at byte {}: {}",
                                       recovered->truncated_bytes, seg.log_path(),
                                       recovered->valid_bytes, recovered->stopped_by.message()));
    cut = true;
  }
  if (Status s = seg.flush_indexes(); !s.ok()) return s;
  return seg.sync();
}

Result<std::shared_ptr<Segment>> Log::Impl::load_segment(Offset base,
                                                         std::optional<Offset> next_base,
                                                         bool clean, bool& cut) {
  const Offset rp = checkpointed_recovery_point.value_or(Offset(0));
  SAMSA_TRY_ASSIGN(const bool has_index, env.exists(path(offset_index_file_name(base))));
  SAMSA_TRY_ASSIGN(const bool has_time, env.exists(path(time_index_file_name(base))));
  const bool last = !next_base;
  SAMSA_TRY_ASSIGN(std::shared_ptr<Segment> seg,
                   Segment::open(env, dir, base, segment_config, last));
  // Kafka's logSegments(recoveryPoint, ...): the segment holding the recovery point and
  // every later one were maybe not flushed.
  const bool unflushed = !clean && (last || *next_base > rp);
  const bool rescan = options.rescan_all || unflushed;
  const bool rebuild = !rescan && (!has_index || !has_time || !seg->sanity_check().ok());
  if (rescan || rebuild) {
    if (rescan && report.rescanned_from == Offset::none()) report.rescanned_from = base;
    const Offset keep_below = options.truncate_corruption            ? Offset::none()
                              : unflushed || seg->next_offset() > rp ? rp
                                                                     : Offset(INT64_MAX);
    SAMSA_TRY(rescan_segment(*seg, rebuild, keep_below, cut));
  }
  // Base offsets lie outside the CRC: a flipped bit in a segment's last batch shows only
  // as a segment running into the next one (or, after a clean shutdown, past the log end
  // the recovery point recorded).
  const Offset limit = !last                                  ? *next_base
                       : clean && checkpointed_recovery_point ? rp
                                                              : Offset(INT64_MAX);
  if (!cut && seg->next_offset() > limit && seg->next_offset() > seg->base_offset()) {
    SAMSA_TRY(cut_overlap(*seg, limit, cut));
  }
  return seg;
}

Status Log::Impl::load_segments(const std::vector<std::string>& names, bool clean) {
  std::vector<Offset> bases;
  for (const std::string& name : names) {
    if (auto base = parse_segment_file_name(name, ".log")) bases.push_back(*base);
  }
  std::sort(bases.begin(), bases.end());
  SegmentList list;
  bool cut = false;
  for (std::size_t i = 0; i < bases.size(); ++i) {
    if (cut) {
      SAMSA_TRY(remove_segment_files(bases[i]));  // Kafka drops every segment after a cut one
      continue;
    }
    const auto next_base = i + 1 < bases.size() ? std::optional(bases[i + 1]) : std::nullopt;
    SAMSA_TRY_ASSIGN(std::shared_ptr<Segment> seg, load_segment(bases[i], next_base, clean, cut));
    list.push_back(std::move(seg));
  }
  if (cut && !bases.empty()) SAMSA_TRY(env.sync_dir(dir));
  if (list.empty()) {
    const Offset start = std::max(checkpointed_log_start, Offset(0));
    SAMSA_TRY_ASSIGN(std::unique_ptr<Segment> fresh,
                     Segment::create(env, dir, start, segment_config));
    SAMSA_TRY(env.sync_dir(dir));
    list.push_back(std::move(fresh));
  } else if (cut) {
    // The cut segment is the last one now: reopen it as the active segment.
    const Offset base = list.back()->base_offset();
    SAMSA_TRY(list.back()->close());
    SAMSA_TRY_ASSIGN(list.back(), Segment::open(env, dir, base, segment_config, true));
  }
  const Offset end = list.back()->next_offset();
  if (report.rescanned_from == Offset::none() || report.rescanned_from > end) {
    report.rescanned_from = end;
  }
  log_end.store(end);
  log_start.store(std::clamp(checkpointed_log_start, list.front()->base_offset(), end));
  // Everything is on disk now: what was rescanned was synced above, the rest was flushed.
  {
    std::lock_guard lock(sync_mu);
    group_commit = internal::GroupCommit(end);
    publish_recovery_point();
  }
  publish(std::move(list));
  return Status();
}

}  // namespace samsa
