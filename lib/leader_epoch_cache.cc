// Floor 6: the leader epoch cache (leader_epoch_cache.h), Kafka's LeaderEpochFileCache.
//
// The checkpoint file is Kafka's LeaderEpochCheckpointFile, text in UTF-8 (ASCII in practice):
//
//   0                      the format version, always 0
//   <count>                how many entry lines follow
//   <epoch> <start_offset> one line per entry, ascending; epoch is an i32, offset an i64
//
// e.g. "0\n2\n0 0\n3 100\n". It is rewritten whole on every change (tmp, fsync, rename,
// directory fsync), so a reader sees either the old file or the new one, never a mix.
#include "samsa/leader_epoch_cache.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <string_view>

#include "invariant.h"

namespace samsa {
namespace {

constexpr std::int32_t kCheckpointVersion = 0;

// Java's \s, which Kafka splits entry lines on.
bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

// The whole of `s` as a decimal integer of type T (no sign other than '-', no spaces).
template <typename T>
bool parse_int(std::string_view s, T& out) {
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return !s.empty() && ec == std::errc() && end == s.data() + s.size();
}

// Lines as Java's BufferedReader.readLine sees them: a final newline does not start another
// line, and a '\r' before the '\n' is not part of the line (a file written on Windows).
std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
  }
  return lines;
}

// The fields of an entry line split on runs of whitespace, as Java's split("\\s+") does:
// trailing whitespace is dropped, leading whitespace makes an empty first field.
std::vector<std::string_view> split_fields(std::string_view line) {
  std::vector<std::string_view> fields;
  std::size_t at = 0;
  while (at < line.size()) {
    std::size_t end = at;
    while (end < line.size() && !is_space(line[end])) ++end;
    fields.push_back(line.substr(at, end - at));
    at = end;
    while (at < line.size() && is_space(line[at])) ++at;
  }
  return fields;
}

class CheckpointParser {
 public:
  CheckpointParser(std::string_view text, std::string_view path)
      : lines_(split_lines(text)), path_(path) {}

  Result<std::vector<EpochEntry>> parse() {
    // Kafka creates the file empty before its first write and reads a file without a
    // version or count line as empty, so samsa reads Kafka's directories the same way.
    if (lines_.empty()) return std::vector<EpochEntry>{};
    std::int32_t version = -1;
    if (!parse_int(lines_[0], version) || version != kCheckpointVersion) {
      return bad(0, fmt::format("version '{}' is not {}", lines_[0], kCheckpointVersion));
    }
    if (lines_.size() == 1) return std::vector<EpochEntry>{};
    std::int32_t count = -1;
    if (!parse_int(lines_[1], count) || count < 0) {
      return bad(1, fmt::format("entry count '{}' is not a count", lines_[1]));
    }
    if (lines_.size() - 2 != static_cast<std::size_t>(count)) {
      return bad(1, fmt::format("expected {} entries but found {}", count, lines_.size() - 2));
    }
    std::vector<EpochEntry> entries;
    entries.reserve(lines_.size() - 2);
    for (std::size_t i = 2; i < lines_.size(); ++i) {
      SAMSA_TRY_ASSIGN(EpochEntry entry, parse_entry(i));
      SAMSA_TRY(check_follows(entries, entry, i));
      entries.push_back(entry);
    }
    return entries;
  }

 private:
  Result<EpochEntry> parse_entry(std::size_t i) const {
    const std::vector<std::string_view> fields = split_fields(lines_[i]);
    std::int32_t epoch = -1;
    std::int64_t offset = -1;
    if (fields.size() != 2 || !parse_int(fields[0], epoch) || !parse_int(fields[1], offset)) {
      return bad(i, fmt::format("'{}' is not '<epoch> <start_offset>'", lines_[i]));
    }
    if (epoch < 0 || offset < 0) return bad(i, fmt::format("'{}' is negative", lines_[i]));
    return EpochEntry{LeaderEpoch(epoch), Offset(offset)};
  }

  // Kafka only ever writes strictly ascending entries (the cache's invariant), so anything
  // else was not written by Kafka or samsa. Kafka would silently re-assign such entries and
  // drop some; samsa reports them instead of guessing which ones were meant.
  Status check_follows(const std::vector<EpochEntry>& entries, const EpochEntry& next,
                       std::size_t i) const {
    if (entries.empty()) return Status();
    const EpochEntry& prev = entries.back();
    if (next.epoch <= prev.epoch || next.start_offset <= prev.start_offset) {
      constexpr std::string_view kRule = "epochs and start offsets must increase";
      return bad(i, fmt::format("entry '{}' does not follow '{} {}' ({})", lines_[i],
                                prev.epoch.value(), prev.start_offset.value(), kRule));
    }
    return Status();
  }

  Status bad(std::size_t i, std::string_view what) const {
    return Status::corruption(
        fmt::format("leader epoch checkpoint {} line {}: {}", path_, i + 1, what));
  }

  std::vector<std::string_view> lines_;
  std::string_view path_;
};

std::string format_checkpoint(const std::vector<EpochEntry>& entries) {
  std::string out = fmt::format("{}\n{}\n", kCheckpointVersion, entries.size());
  for (const EpochEntry& e : entries) {
    out += fmt::format("{} {}\n", e.epoch.value(), e.start_offset.value());
  }
  return out;
}

// Kafka's isUpdateNeeded: re-assigning the latest epoch at the same or a later offset means
// the epoch already started earlier, which is what the cache records.
bool assign_needed(const std::vector<EpochEntry>& entries, const EpochEntry& entry) {
  if (entries.empty()) return true;
  const EpochEntry& latest = entries.back();
  return latest.epoch != entry.epoch || entry.start_offset < latest.start_offset;
}

// The first entry with an epoch greater than `epoch` (Kafka's higherEntry), or end.
std::vector<EpochEntry>::const_iterator first_above(const std::vector<EpochEntry>& entries,
                                                    LeaderEpoch epoch) {
  return std::upper_bound(entries.begin(), entries.end(), epoch,
                          [](LeaderEpoch e, const EpochEntry& entry) { return e < entry.epoch; });
}

// The first entry whose start offset is greater than `offset`, or end.
std::vector<EpochEntry>::const_iterator first_starting_after(const std::vector<EpochEntry>& entries,
                                                             Offset offset) {
  return std::upper_bound(entries.begin(), entries.end(), offset,
                          [](Offset o, const EpochEntry& entry) { return o < entry.start_offset; });
}

// The first entry whose start offset is >= `offset`, or end.
std::vector<EpochEntry>::const_iterator first_starting_at(const std::vector<EpochEntry>& entries,
                                                          Offset offset) {
  return std::partition_point(entries.begin(), entries.end(),
                              [&](const EpochEntry& entry) { return entry.start_offset < offset; });
}

// The cache's invariant (leader_epoch_cache.h), checked before any entries are written.
bool strictly_ascending(const std::vector<EpochEntry>& entries) {
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].epoch < LeaderEpoch(0) || entries[i].start_offset < Offset(0)) return false;
    if (i == 0) continue;
    const EpochEntry& prev = entries[i - 1];
    if (entries[i].epoch <= prev.epoch || entries[i].start_offset <= prev.start_offset) {
      return false;
    }
  }
  return true;
}

}  // namespace

Result<LeaderEpochCache> LeaderEpochCache::open(Env& env, std::string dir) {
  LeaderEpochCache cache(env, join_path(dir, kFileName));
  Result<std::vector<std::byte>> bytes = read_file(env, cache.path_);
  if (!bytes.ok() && bytes.status().is_not_found()) return cache;
  if (!bytes.ok()) return bytes.status();
  SAMSA_TRY_ASSIGN(cache.entries_, CheckpointParser(as_chars(*bytes), cache.path_).parse());
  return cache;
}

Status LeaderEpochCache::assign(LeaderEpoch epoch, Offset start_offset) {
  if (epoch < LeaderEpoch(0) || start_offset < Offset(0)) {
    return Status::invalid_argument(
        fmt::format("leader epoch cache {}: cannot assign epoch {} at offset {}", path_,
                    epoch.value(), start_offset.value()));
  }
  const EpochEntry entry{epoch, start_offset};
  if (!assign_needed(entries_, entry)) return Status();
  // Kafka's maybeTruncateNonMonotonicEntries: a new leader (KIP-279) or a replica that
  // re-fetched from an earlier offset invalidates every entry at or after the new one, by
  // epoch or by offset. Entries are ascending in both, so they are a suffix.
  std::vector<EpochEntry> next = entries_;
  while (!next.empty() &&
         (next.back().epoch >= epoch || next.back().start_offset >= start_offset)) {
    next.pop_back();
  }
  next.push_back(entry);
  return commit(std::move(next));
}

Status LeaderEpochCache::truncate_from_end(Offset end_offset) {
  if (end_offset < Offset(0)) {
    return Status::invalid_argument(
        fmt::format("leader epoch cache {}: cannot truncate to end {}", path_, end_offset.value()));
  }
  if (entries_.empty() || entries_.back().start_offset < end_offset) return Status();
  // Entries starting at or after the new log end describe records that are gone.
  std::vector<EpochEntry> next(entries_.cbegin(), first_starting_at(entries_, end_offset));
  return commit(std::move(next));
}

Status LeaderEpochCache::truncate_from_start(Offset start_offset) {
  if (start_offset < Offset(0)) {
    return Status::invalid_argument(fmt::format(
        "leader epoch cache {}: cannot truncate to start {}", path_, start_offset.value()));
  }
  const auto kept = first_starting_after(entries_, start_offset);
  if (kept == entries_.begin()) return Status();  // nothing starts at or below the new start
  // The epoch holding the new log start still owns the records from there on, so it stays
  // with its start moved up (Kafka's truncateFromStart); the epochs before it are gone.
  std::vector<EpochEntry> next;
  next.reserve(static_cast<std::size_t>(entries_.end() - kept) + 1);
  next.push_back({std::prev(kept)->epoch, start_offset});
  next.insert(next.end(), kept, entries_.cend());
  // Kafka rewrites the file even when the start already was start_offset; the bytes would
  // be the same, so samsa skips the fsyncs.
  if (next == entries_) return Status();
  return commit(std::move(next));
}

Status LeaderEpochCache::clear() {
  return commit({});
}

EpochEndOffset LeaderEpochCache::end_offset_for(LeaderEpoch requested,
                                                Offset log_end_offset) const {
  // A bootstrapping follower, or one on a message format without epochs.
  if (requested == LeaderEpoch::none()) return {};
  // The latest epoch is still being written to: it ends at the log end.
  if (!entries_.empty() && entries_.back().epoch == requested) return {requested, log_end_offset};
  const auto higher = first_above(entries_, requested);
  if (higher == entries_.end()) return {};  // larger than every known epoch
  // Below every known epoch: its records were removed from the log, so the follower is
  // told to truncate to where the first known epoch starts.
  if (higher == entries_.begin()) return {requested, higher->start_offset};
  return {std::prev(higher)->epoch, higher->start_offset};
}

std::optional<LeaderEpoch> LeaderEpochCache::latest_epoch() const {
  if (entries_.empty()) return std::nullopt;
  return entries_.back().epoch;
}

std::optional<LeaderEpoch> LeaderEpochCache::previous_epoch() const {
  if (entries_.size() < 2) return std::nullopt;
  return entries_[entries_.size() - 2].epoch;
}

std::optional<EpochEntry> LeaderEpochCache::earliest_entry() const {
  if (entries_.empty()) return std::nullopt;
  return entries_.front();
}

std::optional<EpochEntry> LeaderEpochCache::latest_entry() const {
  if (entries_.empty()) return std::nullopt;
  return entries_.back();
}

std::optional<LeaderEpoch> LeaderEpochCache::epoch_for_offset(Offset offset) const {
  const auto after = first_starting_after(entries_, offset);
  if (after == entries_.begin()) return std::nullopt;
  return std::prev(after)->epoch;
}

Status LeaderEpochCache::write_checkpoint() {
  const std::string text = format_checkpoint(entries_);
  return write_file_atomically(*env_, path_, as_bytes(text))
      .with_context(fmt::format("writing leader epoch checkpoint {}", path_));
}

Status LeaderEpochCache::commit(std::vector<EpochEntry> next) {
  SAMSA_ASSERT(strictly_ascending(next), "leader epoch cache {}: entries out of order", path_);
  entries_.swap(next);  // `next` now holds the old entries, restored if the write fails
  Status status = write_checkpoint();
  if (!status.ok()) entries_.swap(next);
  return status;
}

}  // namespace samsa
