#include "batch_scanner.h"

#include <fmt/format.h>

#include <algorithm>

#include "invariant.h"
#include "samsa/record_batch.h"

namespace samsa::internal {

namespace L = batch_layout;

BatchScanner::BatchScanner(const File& file, std::uint64_t start, std::uint64_t end,
                           std::string path, std::size_t chunk_bytes)
    : file_(file),
      pos_(start),
      end_(end),
      path_(std::move(path)),
      chunk_bytes_(chunk_bytes),
      next_chunk_(std::min(chunk_bytes, kFirstChunkBytes)) {}

BatchScanner::BatchScanner(std::shared_ptr<const File> file, std::uint64_t start, std::uint64_t end,
                           std::string path, std::size_t chunk_bytes)
    : owner_(std::move(file)),
      file_(*owner_),
      pos_(start),
      end_(end),
      path_(std::move(path)),
      chunk_bytes_(chunk_bytes),
      next_chunk_(std::min(chunk_bytes, kFirstChunkBytes)) {}

Result<bool> BatchScanner::fill(std::uint64_t pos, std::size_t need) {
  if (pos >= buf_pos_ && pos + need <= buf_pos_ + buf_len_) return true;
  const std::uint64_t want = std::min<std::uint64_t>(std::max(need, next_chunk_), end_ - pos);
  next_chunk_ = std::min(next_chunk_ * 2, chunk_bytes_);
  if (buf_capacity_ < want) {
    buf_capacity_ = static_cast<std::size_t>(want);
    buf_ = std::make_unique_for_overwrite<std::byte[]>(buf_capacity_);
  }
  SAMSA_TRY_ASSIGN(const std::size_t got,
                   file_.read_at(pos, MutableByteSpan(buf_.get(), static_cast<std::size_t>(want))));
  buf_pos_ = pos;
  buf_len_ = got;
  return got >= need;
}

Result<BatchScanner::Step> BatchScanner::next(Read read) {
  Step step;
  if (pos_ >= end_) return step;  // Kind::end
  const std::uint64_t remaining = end_ - pos_;
  const auto header = static_cast<std::size_t>(std::min<std::uint64_t>(L::kHeaderSize, remaining));
  if (remaining >= L::kHeaderSizeUpToMagic) {
    SAMSA_TRY_ASSIGN(const bool have_header, fill(pos_, header));
    if (!have_header) {
      step.kind = Kind::torn;
      step.why =
          fmt::format("{}: the file ends inside the batch header at position {}", path_, pos_);
      return step;
    }
  }
  // Too few bytes for a header: inspect_batch_header says so without reading them.
  step = inspect_batch_header(
      remaining >= L::kHeaderSizeUpToMagic ? ByteSpan(at(pos_), header) : ByteSpan(), pos_,
      remaining, path_);
  if (step.kind != Kind::batch) return step;
  const std::uint32_t size = step.location.size_bytes;
  if (read == Read::whole_batch) {
    SAMSA_TRY_ASSIGN(const bool have_batch, fill(pos_, size));
    if (!have_batch) {
      step.kind = Kind::torn;
      step.why = fmt::format("{}: the file ends inside the batch at position {}", path_, pos_);
      return step;
    }
    step.bytes = ByteSpan(at(pos_), size);
  }
  pos_ += size;
  return step;
}

BatchScanner::Step inspect_batch_header(ByteSpan header, std::uint64_t pos, std::uint64_t remaining,
                                        std::string_view path) {
  using Kind = BatchScanner::Kind;
  BatchScanner::Step step;
  if (remaining < L::kHeaderSizeUpToMagic) {
    step.kind = Kind::torn;
    step.why = fmt::format("{}: {} bytes at position {} are too few for a batch header", path,
                           remaining, pos);
    return step;
  }
  SAMSA_ASSERT(header.size() == std::min<std::uint64_t>(L::kHeaderSize, remaining),
               "{}: {} header bytes at position {} with {} remaining", path, header.size(), pos,
               remaining);
  const std::byte* h = header.data();
  const auto length = get_be<std::int32_t>(h + L::kLength);
  if (length < static_cast<std::int32_t>(L::kHeaderSize - L::kLogOverhead)) {
    step.kind = Kind::corrupt;
    step.why = fmt::format("{}: batch at position {}: length field {} (at byte {}) is too small",
                           path, pos, length, pos + L::kLength);
    return step;
  }
  const std::uint64_t size = static_cast<std::uint64_t>(length) + L::kLogOverhead;
  if (size > remaining) {
    step.kind = Kind::torn;
    step.why = fmt::format("{}: batch at position {} declares {} bytes but only {} remain", path,
                           pos, size, remaining);
    return step;
  }
  const auto magic = static_cast<std::int8_t>(h[L::kMagic]);
  if (magic != L::kMagicV2) {
    step.kind = Kind::corrupt;
    step.why = fmt::format("{}: batch at position {}: magic {} (at byte {}) is not 2", path, pos,
                           magic, pos + L::kMagic);
    return step;
  }
  // size <= remaining and size >= kHeaderSize, so `header` holds the whole header.
  step.kind = Kind::batch;
  step.location.base_offset = Offset(get_be<std::int64_t>(h + L::kBaseOffset));
  step.location.last_offset = Offset(static_cast<std::int64_t>(
      static_cast<std::uint64_t>(step.location.base_offset.value()) +
      static_cast<std::uint64_t>(get_be<std::int32_t>(h + L::kLastOffsetDelta))));
  step.location.max_timestamp = Timestamp(get_be<std::int64_t>(h + L::kMaxTimestamp));
  step.location.position = Position(pos);
  step.location.size_bytes = static_cast<std::uint32_t>(size);
  return step;
}

Status check_batch_offsets(const BatchLocation& b, Offset previous_last, Offset segment_next,
                           std::string_view path) {
  if (b.base_offset > previous_last && b.last_offset >= b.base_offset &&
      b.last_offset < segment_next) {
    return Status();
  }
  return Status::corruption(fmt::format(
      "{}: batch at position {} claims offsets [{}, {}], out of order after offset {} in a "
      "segment ending before offset {}",
      path, b.position.value(), b.base_offset.value(), b.last_offset.value(), previous_last.value(),
      segment_next.value()));
}

}  // namespace samsa::internal
