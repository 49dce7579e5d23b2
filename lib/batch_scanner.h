// Internal: walks the batches of a .log file from a position, reading in chunks, telling a
// whole batch from a torn tail (the file ends inside a batch) and from corruption (a header
// that cannot be a batch's). Used by Segment for lookups and recovery; its header and
// offset checks also serve Log::read_into, which walks batch headers already in memory.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "samsa/env.h"
#include "samsa/segment.h"

namespace samsa::internal {

class BatchScanner {
 public:
  enum class Kind : std::uint8_t { batch, end, torn, corrupt };
  struct Step {
    Kind kind = Kind::end;
    BatchLocation location;
    ByteSpan bytes;   // the whole batch, with Read::whole_batch; valid until the next call
    std::string why;  // for torn and corrupt: what is wrong, naming the position
  };

  // Scans [start, end) of `file`; `path` names it in messages. Reads grow from
  // kFirstChunkBytes to `chunk_bytes`: a lookup reads a header or two, a walk reads on.
  static constexpr std::size_t kFirstChunkBytes = 4096;
  BatchScanner(const File& file, std::uint64_t start, std::uint64_t end, std::string path,
               std::size_t chunk_bytes = 64 * 1024);
  // The same, holding the file open for the scan's life: a sealed segment's file may be
  // evicted from the SegmentFileCache meanwhile, and this reference keeps it valid.
  BatchScanner(std::shared_ptr<const File> file, std::uint64_t start, std::uint64_t end,
               std::string path, std::size_t chunk_bytes = 64 * 1024);

  // What next() reads of a batch: the header (enough to step on), or all of its bytes.
  enum class Read : std::uint8_t { header_only, whole_batch };
  // The next batch, or where the scan ends. I/O errors are returned as errors; torn and
  // corrupt are Steps.
  Result<Step> next(Read read);
  std::uint64_t position() const { return pos_; }
  const std::string& path() const { return path_; }

 private:
  // Makes [pos, pos + need) available in buf_; false when the file holds fewer bytes.
  Result<bool> fill(std::uint64_t pos, std::size_t need);
  const std::byte* at(std::uint64_t pos) const { return buf_.get() + (pos - buf_pos_); }

  std::shared_ptr<const File> owner_;  // null when the caller keeps the file alive
  const File& file_;
  std::uint64_t pos_;
  std::uint64_t end_;
  std::string path_;
  std::size_t chunk_bytes_;
  std::size_t next_chunk_;  // the size of the next read, doubling up to chunk_bytes_
  // Not a std::vector: growing one zero-fills what the read overwrites at once.
  std::unique_ptr<std::byte[]> buf_;
  std::size_t buf_capacity_ = 0;
  std::uint64_t buf_pos_ = 0;
  std::size_t buf_len_ = 0;
};

// The batch header at position `pos` of the file `path`: `header` holds its first
// min(kHeaderSize, remaining) bytes, and `remaining` is how many bytes the file (or the
// buffer a caller walks) holds from `pos` on. A batch (its location; no bytes), torn (the
// bytes end inside it) or corrupt (a header that cannot be a batch's), with why naming the
// file and position. Reads nothing outside `header`.
BatchScanner::Step inspect_batch_header(ByteSpan header, std::uint64_t pos, std::uint64_t remaining,
                                        std::string_view path);

// Base offsets lie outside the CRC: a batch must start after `previous_last` (the last
// offset of the batch before it, or the segment's base - 1) and end before `segment_next`
// (the segment's next offset), else a flipped bit there would misplace it. Corruption
// naming the file and position otherwise.
Status check_batch_offsets(const BatchLocation& batch, Offset previous_last, Offset segment_next,
                           std::string_view path);

}  // namespace samsa::internal
