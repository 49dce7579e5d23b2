#include "batch_scanner.h"

#include <fmt/format.h>

#include <algorithm>

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

Result<BatchScanner::Step> BatchScanner::next(bool whole) {
  Step step;
  if (pos_ >= end_) return step;  // Kind::end
  const std::uint64_t remaining = end_ - pos_;
  if (remaining < L::kHeaderSizeUpToMagic) {
    step.kind = Kind::torn;
    step.why = fmt::format("{}: {} bytes at position {} are too few for a batch header", path_,
                           remaining, pos_);
    return step;
  }
  const auto header = static_cast<std::size_t>(std::min<std::uint64_t>(L::kHeaderSize, remaining));
  SAMSA_TRY_ASSIGN(const bool have_header, fill(pos_, header));
  if (!have_header) {
    step.kind = Kind::torn;
    step.why = fmt::format("{}: the file ends inside the batch header at position {}", path_, pos_);
    return step;
  }
  const auto length = get_be<std::int32_t>(at(pos_) + L::kLength);
  if (length < static_cast<std::int32_t>(L::kHeaderSize - L::kLogOverhead)) {
    step.kind = Kind::corrupt;
    step.why = fmt::format("{}: batch at position {}: length field {} (at byte {}) is too small",
                           path_, pos_, length, pos_ + L::kLength);
    return step;
  }
  const std::uint64_t size = static_cast<std::uint64_t>(length) + L::kLogOverhead;
  if (size > remaining) {
    step.kind = Kind::torn;
    step.why = fmt::format("{}: batch at position {} declares {} bytes but only {} remain", path_,
                           pos_, size, remaining);
    return step;
  }
  const auto magic = static_cast<std::int8_t>(at(pos_)[L::kMagic]);
  if (magic != L::kMagicV2) {
    step.kind = Kind::corrupt;
    step.why = fmt::format("{}: batch at position {}: magic {} (at byte {}) is not 2", path_, pos_,
                           magic, pos_ + L::kMagic);
    return step;
  }
  const std::byte* h = at(pos_);
  step.kind = Kind::batch;
  step.location.base_offset = Offset(get_be<std::int64_t>(h + L::kBaseOffset));
  step.location.last_offset = Offset(static_cast<std::int64_t>(
      static_cast<std::uint64_t>(step.location.base_offset.value()) +
      static_cast<std::uint64_t>(get_be<std::int32_t>(h + L::kLastOffsetDelta))));
  step.location.max_timestamp = Timestamp(get_be<std::int64_t>(h + L::kMaxTimestamp));
  step.location.position = Position(pos_);
  step.location.size_bytes = static_cast<std::uint32_t>(size);
  if (whole) {
    SAMSA_TRY_ASSIGN(const bool have_batch, fill(pos_, static_cast<std::size_t>(size)));
    if (!have_batch) {
      step.kind = Kind::torn;
      step.why = fmt::format("{}: the file ends inside the batch at position {}", path_, pos_);
      return step;
    }
    step.bytes = ByteSpan(at(pos_), static_cast<std::size_t>(size));
  }
  pos_ += size;
  return step;
}

}  // namespace samsa::internal
