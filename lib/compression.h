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
// the codec; output past `max_output` bytes is out_of_range (a decompression bomb guard).
Status decompress(Compression codec, ByteSpan input, std::size_t max_output,
                  std::vector<std::byte>& out);

}  // namespace samsa::internal
