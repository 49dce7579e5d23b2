// Internal: walks the batches of a .log file from a position, reading in chunks, telling a
// whole batch from a torn tail (the file ends inside a batch) and from corruption (a header
// that cannot be a batch's). Used by Segment for lookups and recovery.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "samsa/env.h"
#include "samsa/segment.h"

namespace samsa::internal {

class BatchScanner {
 public:
  enum class Kind : std::uint8_t { batch, end, torn, corrupt };
  struct Step {
    Kind kind = Kind::end;
    BatchLocation location;
    ByteSpan bytes;   // the whole batch, when next(true); valid until the next call
    std::string why;  // for torn and corrupt: what is wrong, naming the position
  };

  // Scans [start, end) of `file`; `path` names it in messages. Reads grow from
  // kFirstChunkBytes to `chunk_bytes`: a lookup reads a header or two, a walk reads on.
  static constexpr std::size_t kFirstChunkBytes = 4096;
  BatchScanner(const File& file, std::uint64_t start, std::uint64_t end, std::string path,
               std::size_t chunk_bytes = 64 * 1024);

  // The next batch (its header only, or all of it when `whole`), or where the scan ends.
  // I/O errors are returned as errors; torn and corrupt are Steps.
  Result<Step> next(bool whole);
  std::uint64_t position() const { return pos_; }

 private:
  // Makes [pos, pos + need) available in buf_; false when the file holds fewer bytes.
  Result<bool> fill(std::uint64_t pos, std::size_t need);
  const std::byte* at(std::uint64_t pos) const { return buf_.get() + (pos - buf_pos_); }

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

}  // namespace samsa::internal
