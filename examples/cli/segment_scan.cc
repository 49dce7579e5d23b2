// Read-only scanning of a log directory's segment and index files (segment_scan.h).
#include "segment_scan.h"

#include <fmt/format.h>

#include <algorithm>

#include "samsa/coding.h"
#include "samsa/segment.h"

namespace samsa::cli {

namespace {

// How much of a .log file one read brings in; a larger batch gets a larger window.
constexpr std::size_t kWindowBytes = std::size_t{4} << 20;

constexpr std::string_view kLogSuffix = ".log";
constexpr std::string_view kIndexSuffix = ".index";
constexpr std::string_view kTimeIndexSuffix = ".timeindex";

std::optional<Offset> segment_name(std::string_view name, std::string_view suffix) {
  if (!name.ends_with(suffix)) return std::nullopt;
  return parse_segment_file_name(name, suffix);
}

template <typename Entry, std::size_t kEntrySize, typename Decode>
Result<std::optional<IndexFile<Entry>>> read_index(Env& env, const std::string& path,
                                                   Decode decode) {
  SAMSA_TRY_ASSIGN(bool exists, env.exists(path));
  if (!exists) return std::optional<IndexFile<Entry>>();
  SAMSA_TRY_ASSIGN(std::vector<std::byte> bytes, read_file(env, path));
  IndexFile<Entry> index;
  index.path = path;
  index.size_bytes = bytes.size();
  const std::size_t whole = bytes.size() / kEntrySize;
  index.partial_bytes = bytes.size() % kEntrySize;
  std::size_t used = whole;
  const auto is_zero = [](std::byte b) { return b == std::byte{0}; };
  while (used > 0) {
    const std::byte* p = bytes.data() + (used - 1) * kEntrySize;
    if (!std::all_of(p, p + kEntrySize, is_zero)) break;
    --used;
  }
  index.zero_tail_entries = whole - used;
  index.entries.reserve(used);
  for (std::size_t i = 0; i < used; ++i)
    index.entries.push_back(decode(bytes.data() + i * kEntrySize));
  return std::optional<IndexFile<Entry>>(std::move(index));
}

std::string describe_batch(const BatchSummary& b) {
  return fmt::format("batch offsets {}..{} at position {}", b.base_offset.value(),
                     b.last_offset.value(), b.position);
}

}  // namespace

Result<DirListing> list_log_dir(Env& env, const std::string& dir) {
  SAMSA_TRY_ASSIGN(std::vector<std::string> names, env.list_dir(dir));
  DirListing listing;
  for (const std::string& name : names) {
    if (auto base = segment_name(name, kLogSuffix)) {
      listing.segments.push_back({*base, join_path(dir, name),
                                  join_path(dir, offset_index_file_name(*base)),
                                  join_path(dir, time_index_file_name(*base))});
      continue;
    }
    std::optional<Offset> index_base = segment_name(name, kIndexSuffix);
    if (!index_base) index_base = segment_name(name, kTimeIndexSuffix);
    if (!index_base) {
      listing.other_files.push_back(join_path(dir, name));
    } else if (!std::binary_search(names.begin(), names.end(), log_file_name(*index_base))) {
      listing.orphan_indexes.push_back(join_path(dir, name));
    }
  }
  std::sort(
      listing.segments.begin(), listing.segments.end(),
      [](const SegmentFiles& a, const SegmentFiles& b) { return a.base_offset < b.base_offset; });
  return listing;
}

BatchScanner::BatchScanner(std::unique_ptr<File> file, std::uint64_t size)
    : file_(std::move(file)), path_(file_->path()), size_(size) {}

Result<std::unique_ptr<BatchScanner>> BatchScanner::open(Env& env, const std::string& path) {
  OpenOptions options;
  options.read_only = true;
  SAMSA_TRY_ASSIGN(std::unique_ptr<File> file, env.open(path, options));
  SAMSA_TRY_ASSIGN(std::uint64_t size, file->size());
  return std::unique_ptr<BatchScanner>(new BatchScanner(std::move(file), size));
}

Status BatchScanner::load(std::size_t n) {
  if (position_ >= buffer_start_ && position_ + n <= buffer_start_ + buffer_bytes_) {
    return Status();
  }
  const std::size_t want = std::max(
      n, static_cast<std::size_t>(std::min<std::uint64_t>(kWindowBytes, size_ - position_)));
  if (buffer_.size() < want) buffer_.resize(want);
  buffer_start_ = position_;
  buffer_bytes_ = 0;
  SAMSA_TRY_ASSIGN(std::size_t got,
                   file_->read_at(position_, MutableByteSpan(buffer_.data(), want)));
  buffer_bytes_ = got;
  if (got < n) {
    return Status::io_error(
        fmt::format("{}: read {} bytes at position {} but got {}: the file "
                    "shrank while being read",
                    path_, n, position_, got));
  }
  return Status();
}

ByteSpan BatchScanner::window(std::size_t n) const {
  return ByteSpan(buffer_.data() + (position_ - buffer_start_), n);
}

Result<std::optional<RecordBatchView>> BatchScanner::next() {
  namespace L = batch_layout;
  if (position_ >= size_) return std::optional<RecordBatchView>();
  const std::uint64_t remaining = size_ - position_;
  if (remaining < L::kHeaderSize) {
    // Too short for a header: parse() names what is missing.
    SAMSA_TRY(load(static_cast<std::size_t>(remaining)));
    auto torn = RecordBatchView::parse(window(static_cast<std::size_t>(remaining)), position_);
    if (!torn.ok()) return torn.status().with_context(path_);
    return Status::corruption(
        fmt::format("{}: batch at position {}: only {} bytes left", path_, position_, remaining));
  }
  SAMSA_TRY(load(L::kHeaderSize));
  const std::int32_t length = get_be<std::int32_t>(window(L::kHeaderSize).data() + L::kLength);
  std::size_t batch_bytes = L::kHeaderSize;  // a length below the header's: parse() says so
  if (length >= static_cast<std::int32_t>(L::kHeaderSize - L::kLogOverhead)) {
    const std::uint64_t total = L::kLogOverhead + static_cast<std::uint64_t>(length);
    if (total > remaining) {
      return Status::corruption(
          fmt::format("{}: batch at position {}: length field says {} bytes but only {} remain "
                      "in the file (a torn write or a corrupt length)",
                      path_, position_, total, remaining));
    }
    batch_bytes = static_cast<std::size_t>(total);
  }
  SAMSA_TRY(load(batch_bytes));
  auto batch = RecordBatchView::parse(window(batch_bytes), position_);
  if (!batch.ok()) return batch.status().with_context(path_);
  position_ += batch->size_bytes();
  return std::optional<RecordBatchView>(*batch);
}

Result<std::optional<OffsetIndexFile>> read_offset_index(Env& env, const std::string& path,
                                                         Offset base_offset) {
  return read_index<OffsetPosition, index_layout::kOffsetEntrySize>(
      env, path, [base_offset](const std::byte* p) {
        const auto relative = get_be<std::int32_t>(p);
        const auto position = get_be<std::uint32_t>(p + 4);
        return OffsetPosition{base_offset + relative, Position(position)};
      });
}

Result<std::optional<TimeIndexFile>> read_time_index(Env& env, const std::string& path,
                                                     Offset base_offset) {
  return read_index<TimestampOffset, index_layout::kTimeEntrySize>(
      env, path, [base_offset](const std::byte* p) {
        const auto timestamp = get_be<std::int64_t>(p);
        const auto relative = get_be<std::int32_t>(p + 8);
        return TimestampOffset{Timestamp(timestamp), base_offset + relative};
      });
}

EntryVerdict check_offset_entry(const OffsetPosition& entry, const OffsetPosition* previous,
                                const std::vector<BatchSummary>& batches) {
  const std::uint64_t position = entry.position.value();
  const std::int64_t offset = entry.offset.value();
  if (previous != nullptr &&
      (entry.offset <= previous->offset || entry.position <= previous->position)) {
    return {false, fmt::format("does not follow the previous entry (offset {} position {}): "
                               "offsets and positions must increase",
                               previous->offset.value(), previous->position.value())};
  }
  auto it = std::lower_bound(batches.begin(), batches.end(), position,
                             [](const BatchSummary& b, std::uint64_t p) { return b.position < p; });
  if (it == batches.end() || it->position != position) {
    if (batches.empty() || position >= batches.back().position + batches.back().size_bytes) {
      const std::uint64_t end =
          batches.empty() ? 0 : batches.back().position + batches.back().size_bytes;
      return {false, fmt::format("position {} is past the end of the segment's valid batches "
                                 "({} bytes)",
                                 position, end)};
    }
    return {false, fmt::format("position {} is not a batch start (it is inside the {})", position,
                               describe_batch(*std::prev(it)))};
  }
  if (entry.offset < it->base_offset) {
    return {false, fmt::format("offset {} is below the base offset of the {}", offset,
                               describe_batch(*it))};
  }
  if (entry.offset > batches.back().last_offset) {
    return {false, fmt::format("offset {} is past the segment's last offset {}", offset,
                               batches.back().last_offset.value())};
  }
  return {true, fmt::format("batch start ({})", describe_batch(*it))};
}

EntryVerdict check_time_entry(const TimestampOffset& entry, const TimestampOffset* previous,
                              const std::vector<BatchSummary>& batches) {
  const std::int64_t ts = entry.timestamp.value();
  const std::int64_t offset = entry.offset.value();
  if (previous != nullptr &&
      (entry.timestamp <= previous->timestamp || entry.offset < previous->offset)) {
    return {false, fmt::format("does not follow the previous entry (timestamp {} offset {}): "
                               "timestamps must increase and offsets not decrease",
                               previous->timestamp.value(), previous->offset.value())};
  }
  auto it = std::lower_bound(batches.begin(), batches.end(), entry.offset,
                             [](const BatchSummary& b, Offset o) { return b.last_offset < o; });
  if (it == batches.end() || it->base_offset > entry.offset) {
    return {false, fmt::format("offset {} is in no batch of this segment", offset)};
  }
  if (it->max_timestamp != entry.timestamp) {
    return {false, fmt::format("timestamp {} is not the max timestamp {} of the {}", ts,
                               it->max_timestamp.value(), describe_batch(*it))};
  }
  if (it->max_timestamp_before != Timestamp::none() &&
      it->max_timestamp_before >= entry.timestamp) {
    return {false, fmt::format("an earlier batch already reached timestamp {} (>= {}), so the "
                               "entry should name that batch",
                               it->max_timestamp_before.value(), ts)};
  }
  return {true, fmt::format("{} (max timestamp {})", describe_batch(*it), ts)};
}

void add_batch_summary(std::vector<BatchSummary>& batches, const RecordBatchView& batch) {
  Timestamp before = Timestamp::none();
  if (!batches.empty())
    before = std::max(batches.back().max_timestamp_before, batches.back().max_timestamp);
  batches.push_back({batch.position(), static_cast<std::uint32_t>(batch.size_bytes()),
                     batch.base_offset(), batch.last_offset(), batch.max_timestamp(), before});
}

std::string describe_crc(const RecordBatchView& batch) {
  const std::uint32_t stored = batch.crc();
  const std::uint32_t computed = batch.compute_crc();
  if (stored == computed) return "crc valid";
  return fmt::format("crc INVALID (stored {:#010x} computed {:#010x})", stored, computed);
}

}  // namespace samsa::cli
