// Floor 3 (internal): the codecs of Kafka's record batches, in the framing Kafka uses.
//   gzip:   a GZIP stream (RFC 1952), zlib.
//   snappy: xerial snappy-java framing: magic "\x82SNAPPY\0", i32 version 1, i32 compatible
//           version 1, then blocks of (i32 big-endian compressed length, snappy block).
//           Plain unframed snappy is accepted on decompression, as Kafka's clients are.
//   lz4:    an LZ4 frame (magic 0x184D2204), 64 KiB independent blocks, no block checksum.
//   zstd:   a standard zstd stream; frames without a content size are accepted.
#pragma once

#include <cstddef>
#include <vector>

#include "samsa/record_batch.h"
#include "samsa/status.h"

namespace samsa::internal {

// Both functions append to `out`; on error `out` is left at the size it had.

// Appends the compressed form of `input` to `out`. level 0 = the codec's default.
Status compress(Compression codec, int level, ByteSpan input, std::vector<std::byte>& out);

// Appends the decompressed form of `input` to `out`. Malformed input is corruption naming
// the codec. Output past `max_output` bytes is decompression_limit (a decompression bomb
// guard), naming the compressed byte where it was passed; then, as the one exception to the
// rule above, `out` keeps the first max_output bytes decoded (fewer for snappy, whose sizes
// are checked before decoding), so that the caller can say how far the records got.
//
// Memory: `out` grows to at most max_output + 1 bytes past its size (while it grows, the old
// buffer lives beside the new one), and zstd's window is at most
// zstd_window_bytes_max(max_output). The thread's codec contexts are reused across calls.
Status decompress(Compression codec, ByteSpan input, std::size_t max_output,
                  std::vector<std::byte>& out);

// The largest window a zstd frame may declare when the output is bounded by `max_output`:
// the largest power of two <= max_output, but at least 8 MiB (the window zstd's level 19
// declares for a stream of unknown size) and at most 128 MiB (zstd's own default limit).
// A frame asking for more is refused with decompression_limit.
std::size_t zstd_window_bytes_max(std::size_t max_output);

// What the last decompress() call of this thread allocated, measured by the decompressor
// (for tests and for the docs' figures).
struct DecompressMemory {
  // `out`'s buffer at its largest during the call, counting the old buffer beside the new
  // one while it grows, and its capacity on entry (a reused buffer is memory held).
  std::size_t output_bytes_peak = 0;
  // The codec's own state: zstd's context (window and buffers, ZSTD_sizeof_DCtx after the
  // call), zlib's allocations at their peak. 0 for snappy (it decodes into `out`) and lz4
  // (not measured; liblz4's frame decoder holds at most a 4 MiB block and a 64 KiB window).
  std::size_t codec_bytes_peak = 0;
};
DecompressMemory last_decompress_memory();

}  // namespace samsa::internal
