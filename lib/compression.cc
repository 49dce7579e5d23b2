// The codecs of Kafka's record batches. See compression.h for the framing of each.
//
// Decompression writes straight into `out`, which grows geometrically but never past
// max_output + 1 bytes beyond what it held: one byte past the limit proves the limit was
// passed, so a decompression bomb costs at most its limit in memory (plus zstd's window,
// bounded by zstd_window_bytes_max). On an error other than the limit `out` is restored to
// the size it had, so callers never see a partial result; at the limit it keeps the first
// max_output bytes, so that the caller can say how far the records got.
#include "compression.h"

// For LZ4F_compressFrame_usingCDict (stable in liblz4 since 1.8.0): a frame from a
// reusable context.
#define LZ4F_STATIC_LINKING_ONLY
#include <lz4frame.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <string_view>

#include <fmt/format.h>

#include "invariant.h"
#include "samsa/coding.h"

namespace samsa::internal {
namespace {

// --- framing constants

// Kafka's SnappyOutputStream (xerial snappy-java) cuts the input into 32 KiB blocks.
constexpr std::size_t kSnappyBlockBytes = 32 * 1024;
constexpr std::array<std::uint8_t, 8> kXerialMagic = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
constexpr std::int32_t kXerialVersion = 1;
constexpr std::int32_t kXerialCompatibleVersion = 1;
constexpr std::size_t kXerialHeaderBytes = kXerialMagic.size() + 4 + 4;
constexpr std::size_t kXerialBlockLengthBytes = 4;
static_assert(kXerialHeaderBytes == 16);

// The zstd window a frame may ask for (zstd_window_bytes_max): at most zstd's own default
// limit (2^27 = 128 MiB), which is also what Kafka's Java consumer accepts, and at least
// 2^23 (8 MiB), the window zstd's level 19 declares for a stream of unknown size (level 3,
// Kafka's default, declares 2 MiB), so that a small bound does not refuse a legitimate frame
// for its window. In between, the largest power of two within the output bound: a frame
// without a content size makes the decoder allocate its whole window, whatever it decodes.
constexpr int kZstdWindowLogMax = 27;
constexpr int kZstdWindowLogFloor = 23;

// Kafka's accepted level ranges (CompressionType): gzip 1..9, lz4 1..17 (liblz4 treats
// levels above 12 as 12), zstd from ZSTD_minCLevel() to ZSTD_maxCLevel().
constexpr int kGzipLevelMax = 9;
constexpr int kLz4LevelMax = 17;

// First input given to the zstd decoder, before it has a hint of what it wants: enough
// to learn the frame header's length (ZSTD_FRAMEHEADERSIZE_PREFIX(ZSTD_f_zstd1)).
constexpr std::size_t kZstdFirstFeedBytes = 5;

// When a stream does not say how large its output is, start with this many bytes or
// kOutputGuessRatio times the input, whichever is more.
constexpr std::size_t kOutputGuessMinBytes = 64 * 1024;
constexpr std::size_t kOutputGuessRatio = 4;
// A size the stream declares (zstd content size, gzip ISIZE) is believed only up to this
// many times the compressed size: a lying header must not make every call allocate (and
// zero) max_output bytes before any output proves it. Past it, the buffer grows by doubling.
constexpr std::size_t kDeclaredSizeRatioMax = 256;

// zlib counts in uInt.
constexpr std::size_t kZlibChunkMax = std::numeric_limits<uInt>::max();

// Kafka's codec name ("lz4"), for messages; one place knows the names (record_batch.h).
std::string_view codec_name(Compression codec) {
  return to_string(codec);
}

Status unknown_codec(Compression codec) {
  return Status::not_supported(
      fmt::format("compression codec id {} is unknown", static_cast<int>(codec)));
}

// `pos`: the compressed byte at which the output passed the limit.
Status limit_passed(std::string_view codec, std::size_t max_output, std::size_t pos,
                    std::size_t input_bytes) {
  return Status::decompression_limit(
      fmt::format("{}: decompressed size passes the limit of {} bytes at compressed byte {} of {}",
                  codec, max_output, pos, input_bytes));
}

// --- memory accounting (DecompressMemory)

thread_local DecompressMemory t_memory;

void note_output_bytes(std::size_t bytes) {
  t_memory.output_bytes_peak = std::max(t_memory.output_bytes_peak, bytes);
}
void note_codec_bytes(std::size_t bytes) {
  t_memory.codec_bytes_peak = std::max(t_memory.codec_bytes_peak, bytes);
}

Status truncated(std::string_view codec, std::size_t input_bytes) {
  return Status::corruption(fmt::format(
      "{}: stream truncated: ends at compressed byte {} inside a frame", codec, input_bytes));
}

Status no_progress(std::string_view codec, std::size_t pos) {
  return Status::corruption(
      fmt::format("{}: decoder made no progress at compressed byte {}", codec, pos));
}

Status check_level(Compression codec, int level) {
  int lo = 0;
  int hi = 0;
  switch (codec) {
    case Compression::none:
    case Compression::snappy:
      return Status();  // no levels; Kafka ignores them too
    case Compression::gzip:
      lo = 1, hi = kGzipLevelMax;
      break;
    case Compression::lz4:
      lo = 1, hi = kLz4LevelMax;
      break;
    case Compression::zstd:
      lo = ZSTD_minCLevel(), hi = ZSTD_maxCLevel();
      break;
    default:
      return unknown_codec(codec);
  }
  if (level == 0 || (lo <= level && level <= hi)) return Status();
  return Status::invalid_argument(fmt::format("{}: compression level {} is outside [{}, {}]",
                                              codec_name(codec), level, lo, hi));
}

std::byte* byte_ptr(std::vector<std::byte>& v, std::size_t at) {
  return v.data() + at;
}
char* char_ptr(std::byte* p) {
  return reinterpret_cast<char*>(p);
}
const char* char_ptr(const std::byte* p) {
  return reinterpret_cast<const char*>(p);
}

// Grows `out` to exactly `size` bytes; reserve first so the vector does not round its
// capacity up past what the caller bounded.
void grow_exactly(std::vector<std::byte>& out, std::size_t size) {
  out.reserve(size);
  out.resize(size);
}

// grow_exactly for decompression output, counted: while a vector moves, the old buffer
// lives beside the new one.
void grow_counted(std::vector<std::byte>& out, std::size_t size) {
  const std::size_t before = out.capacity();
  grow_exactly(out, size);
  const std::size_t after = out.capacity();
  note_output_bytes(after == before ? after : before + after);
}

// The decompressed bytes written into `out` past its original size, with the limit.
// Invariant: produced_ <= allocated_ <= cap_, where cap_ is max_output + 1.
class OutputSink {
 public:
  OutputSink(std::vector<std::byte>& out, std::size_t max_output, std::size_t size_guess)
      : out_(out), base_(out.size()), max_output_(max_output) {
    const std::size_t room_max = out.max_size() - base_;
    cap_ = max_output < room_max ? max_output + 1 : room_max;
    guess_ = std::clamp<std::size_t>(size_guess, 1, cap_);
  }

  // Free bytes to decode into; at least one unless the limit has been passed.
  MutableByteSpan room() {
    if (allocated_ == produced_) grow();
    SAMSA_ASSERT(allocated_ > produced_, "room() past the limit: {} bytes allocated, {} produced",
                 allocated_, produced_);
    return {byte_ptr(out_, base_ + produced_), allocated_ - produced_};
  }
  void commit(std::size_t n) { produced_ += n; }
  bool over_limit() const { return produced_ > max_output_; }
  // Trims `out` to what was produced.
  void finish() { out_.resize(base_ + produced_); }
  // Trims `out` to the first max_output bytes produced, and returns the limit's error.
  Status stop_at_limit(std::string_view codec, std::size_t pos, std::size_t input_bytes) {
    out_.resize(base_ + std::min(produced_, max_output_));
    return limit_passed(codec, max_output_, pos, input_bytes);
  }
  // Gives `out` back at the size it had (an error before any output counts).
  void discard() { out_.resize(base_); }

 private:
  void grow() {
    const std::size_t doubled = allocated_ > cap_ / 2 ? cap_ : 2 * allocated_;
    allocated_ = std::max({guess_, doubled, allocated_});
    grow_counted(out_, base_ + allocated_);
  }

  std::vector<std::byte>& out_;
  std::size_t base_;
  std::size_t max_output_;
  std::size_t cap_ = 0;
  std::size_t guess_ = 0;
  std::size_t allocated_ = 0;
  std::size_t produced_ = 0;
};

std::size_t ratio_guess(ByteSpan input) {
  return std::max(kOutputGuessMinBytes, input.size() * kOutputGuessRatio);
}

// A first output size from one the stream declares, plus one byte so that a stream ending
// exactly at its declared size never grows the buffer.
std::size_t declared_guess(ByteSpan input, std::uint64_t declared) {
  const std::size_t believable =
      std::max(kOutputGuessMinBytes, input.size() * kDeclaredSizeRatioMax);
  return declared < believable ? static_cast<std::size_t>(declared) + 1 : believable;
}

// --- gzip

struct DeflateEnd {
  void operator()(z_stream* zs) const { deflateEnd(zs); }
};
struct InflateEnd {
  void operator()(z_stream* zs) const { inflateEnd(zs); }
};

constexpr int kGzipWindowBits = 15 + 16;  // 32 KiB window, GZIP wrapper (not zlib)
constexpr int kGzipMemLevel = 8;          // zlib's default

// zlib's allocations during one inflate, counted (DecompressMemory::codec_bytes_peak).
// Each block carries its size in front, as zfree is not told it.
struct ZlibCount {
  std::size_t now = 0;
  std::size_t peak = 0;
};
constexpr std::size_t kZlibSizePrefix = alignof(std::max_align_t);

voidpf zlib_counted_alloc(voidpf opaque, uInt items, uInt size) {
  const std::size_t n = std::size_t{items} * size;
  auto* p = static_cast<std::byte*>(std::malloc(kZlibSizePrefix + n));
  if (p == nullptr) return Z_NULL;
  std::memcpy(p, &n, sizeof n);
  auto* count = static_cast<ZlibCount*>(opaque);
  count->now += n;
  count->peak = std::max(count->peak, count->now);
  return p + kZlibSizePrefix;
}
void zlib_counted_free(voidpf opaque, voidpf address) {
  if (address == Z_NULL) return;
  std::byte* p = static_cast<std::byte*>(address) - kZlibSizePrefix;
  std::size_t n = 0;
  std::memcpy(&n, p, sizeof n);
  static_cast<ZlibCount*>(opaque)->now -= n;
  std::free(p);
}

Status gzip_compress(int level, ByteSpan input, std::vector<std::byte>& out) {
  z_stream zs{};
  const int zlevel = level == 0 ? Z_DEFAULT_COMPRESSION : level;
  if (deflateInit2(&zs, zlevel, Z_DEFLATED, kGzipWindowBits, kGzipMemLevel, Z_DEFAULT_STRATEGY) !=
      Z_OK) {
    return Status::io_error("gzip: deflateInit2 failed (out of memory?)");
  }
  std::unique_ptr<z_stream, DeflateEnd> guard(&zs);
  const std::size_t base = out.size();
  std::size_t written = 0;
  grow_exactly(out, base + deflateBound(&zs, input.size()));
  std::size_t pos = 0;
  // Ends at Z_STREAM_END: each round feeds at most kZlibChunkMax more input, and the output
  // was sized by deflateBound, so deflate finishes once the last chunk is fed.
  while (true) {
    const std::size_t in_n = std::min(input.size() - pos, kZlibChunkMax);
    const std::size_t out_n = std::min(out.size() - base - written, kZlibChunkMax);
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(input.data() + pos));
    zs.avail_in = static_cast<uInt>(in_n);
    zs.next_out = reinterpret_cast<Bytef*>(byte_ptr(out, base + written));
    zs.avail_out = static_cast<uInt>(out_n);
    const bool last = pos + in_n == input.size();
    const int rc = deflate(&zs, last ? Z_FINISH : Z_NO_FLUSH);
    pos += in_n - zs.avail_in;
    written += out_n - zs.avail_out;
    if (rc == Z_STREAM_END) break;
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      return Status::io_error(fmt::format("gzip: deflate failed with code {}", rc));
    }
    // deflateBound is a true bound; growing is only a safety net.
    if (zs.avail_out == 0) grow_exactly(out, out.size() + kOutputGuessMinBytes);
  }
  out.resize(base + written);
  return Status();
}

// The ISIZE trailer of a single-member stream: the input size modulo 2^32. Untrusted, so
// only a first guess of the output size.
std::size_t gzip_size_guess(ByteSpan input) {
  constexpr std::size_t kGzipMinBytes = 18;  // 10 header + 2 empty deflate + 8 trailer
  if (input.size() < kGzipMinBytes) return kOutputGuessMinBytes;
  const std::byte* p = input.data() + input.size() - 4;
  std::uint32_t isize = 0;
  for (int i = 3; i >= 0; --i) isize = (isize << 8) | static_cast<std::uint8_t>(p[i]);
  return declared_guess(input, isize);
}

Status gzip_decompress(ByteSpan input, std::size_t max_output, std::vector<std::byte>& out) {
  ZlibCount count;
  z_stream zs{};
  zs.zalloc = zlib_counted_alloc;
  zs.zfree = zlib_counted_free;
  zs.opaque = &count;
  if (inflateInit2(&zs, kGzipWindowBits) != Z_OK) {
    return Status::io_error("gzip: inflateInit2 failed (out of memory?)");
  }
  std::unique_ptr<z_stream, InflateEnd> guard(&zs);
  // zlib's peak, noted on every way out (inflateEnd only frees, so the order is moot).
  struct NotePeak {
    const ZlibCount& c;
    ~NotePeak() { note_codec_bytes(c.peak); }
  } note{count};
  OutputSink sink(out, max_output, gzip_size_guess(input));
  std::size_t pos = 0;
  // Ends at Z_STREAM_END, an error, or when the sink passes max_output: every round consumes
  // input or produces output (else the stream is corrupt and the loop returns).
  while (true) {
    const MutableByteSpan room = sink.room();
    const std::size_t in_n = std::min(input.size() - pos, kZlibChunkMax);
    const std::size_t out_n = std::min(room.size(), kZlibChunkMax);
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(input.data() + pos));
    zs.avail_in = static_cast<uInt>(in_n);
    zs.next_out = reinterpret_cast<Bytef*>(room.data());
    zs.avail_out = static_cast<uInt>(out_n);
    const int rc = inflate(&zs, Z_NO_FLUSH);
    const std::size_t consumed = in_n - zs.avail_in;
    const std::size_t produced = out_n - zs.avail_out;
    if (rc == Z_MEM_ERROR) return Status::io_error("gzip: inflate ran out of memory");
    if (rc == Z_DATA_ERROR || rc == Z_NEED_DICT || rc == Z_STREAM_ERROR) {
      return Status::corruption(fmt::format("gzip: malformed stream at compressed byte {}: {}",
                                            pos + consumed, zs.msg ? zs.msg : "no detail"));
    }
    pos += consumed;
    sink.commit(produced);
    if (sink.over_limit()) return sink.stop_at_limit("gzip", pos, input.size());
    const bool input_done = pos == input.size();
    if (rc == Z_STREAM_END) {
      if (input_done) break;
      // RFC 1952 allows several members one after another; Java's GZIPInputStream reads
      // them all.
      if (inflateReset(&zs) != Z_OK) return no_progress("gzip", pos);
      continue;
    }
    if (input_done && produced < out_n) return truncated("gzip", input.size());
    if (consumed == 0 && produced == 0) return no_progress("gzip", pos);
  }
  sink.finish();
  return Status();
}

// --- snappy (xerial framing)

bool has_xerial_magic(ByteSpan input) {
  return input.size() >= kXerialMagic.size() &&
         std::memcmp(input.data(), kXerialMagic.data(), kXerialMagic.size()) == 0;
}

Status xerial_compress(ByteSpan input, std::vector<std::byte>& out) {
  const std::size_t blocks = (input.size() + kSnappyBlockBytes - 1) / kSnappyBlockBytes;
  const std::size_t block_bound =
      kXerialBlockLengthBytes + snappy_max_compressed_length(kSnappyBlockBytes);
  const std::size_t base = out.size();
  grow_exactly(out, base + kXerialHeaderBytes + blocks * block_bound);
  std::byte* p = byte_ptr(out, base);
  std::memcpy(p, kXerialMagic.data(), kXerialMagic.size());
  put_be<std::int32_t>(p + kXerialMagic.size(), kXerialVersion);
  put_be<std::int32_t>(p + kXerialMagic.size() + 4, kXerialCompatibleVersion);
  std::size_t written = kXerialHeaderBytes;
  for (std::size_t at = 0; at < input.size(); at += kSnappyBlockBytes) {
    const std::size_t n = std::min(kSnappyBlockBytes, input.size() - at);
    std::byte* block = p + written;
    std::size_t block_n = block_bound - kXerialBlockLengthBytes;
    if (snappy_compress(char_ptr(input.data() + at), n, char_ptr(block + kXerialBlockLengthBytes),
                        &block_n) != SNAPPY_OK) {
      return Status::io_error(fmt::format("snappy: compressing the block at byte {} failed", at));
    }
    put_be<std::int32_t>(block, static_cast<std::int32_t>(block_n));
    written += kXerialBlockLengthBytes + block_n;
  }
  out.resize(base + written);
  return Status();
}

// Reads the xerial block starting at `pos` into `block` and moves `pos` past it.
Status next_xerial_block(ByteSpan input, std::size_t& pos, std::size_t& block_pos,
                         ByteSpan& block) {
  const std::size_t left = input.size() - pos;
  if (left < kXerialBlockLengthBytes) {
    return Status::corruption(
        fmt::format("snappy: block length at byte {} is cut short ({} bytes)", pos, input.size()));
  }
  const auto length = get_be<std::int32_t>(input.data() + pos);
  if (length < 0 || static_cast<std::size_t>(length) > left - kXerialBlockLengthBytes) {
    return Status::corruption(fmt::format(
        "snappy: block length {} at byte {} passes the end ({} bytes)", length, pos, input.size()));
  }
  block_pos = pos + kXerialBlockLengthBytes;
  block = input.subspan(block_pos, static_cast<std::size_t>(length));
  pos = block_pos + block.size();
  return Status();
}

Status malformed_snappy_block(std::size_t block_pos) {
  return Status::corruption(
      fmt::format("snappy: malformed block at compressed byte {}", block_pos));
}

// The most a snappy block can expand: its densest element is a 3-byte copy of 64 bytes
// (64/3 < 22). A block declaring more is corrupt whatever the limit.
constexpr std::size_t kSnappyExpansionMax = 22;

// The uncompressed length a raw snappy block declares.
Result<std::size_t> snappy_block_length(ByteSpan block, std::size_t block_pos) {
  std::size_t n = 0;
  if (block.empty() ||
      snappy_uncompressed_length(char_ptr(block.data()), block.size(), &n) != SNAPPY_OK) {
    return malformed_snappy_block(block_pos);
  }
  if (n / kSnappyExpansionMax > block.size()) {
    return Status::corruption(
        fmt::format("snappy: block at compressed byte {} declares {} bytes, more than {} times "
                    "its {} bytes can hold",
                    block_pos, n, kSnappyExpansionMax, block.size()));
  }
  return n;
}

// Decodes one raw snappy block of `length` declared bytes at the end of `out`.
Status snappy_block_decode(ByteSpan block, std::size_t block_pos, std::size_t length,
                           std::byte* dst) {
  std::size_t n = length;
  if (snappy_uncompress(char_ptr(block.data()), block.size(), char_ptr(dst), &n) != SNAPPY_OK ||
      n != length) {
    return malformed_snappy_block(block_pos);
  }
  return Status();
}

// Calls fn(block, block_pos) for each raw snappy block: the blocks of a xerial stream, or
// the whole input when it lacks the xerial magic (plain snappy, as librdkafka accepts).
template <typename Fn>
Status for_each_snappy_block(ByteSpan input, Fn&& fn) {
  if (!has_xerial_magic(input)) return fn(input, std::size_t{0});
  if (input.size() < kXerialHeaderBytes) {
    return Status::corruption(fmt::format("snappy: xerial header is cut short ({} of {} bytes)",
                                          input.size(), kXerialHeaderBytes));
  }
  // The versions are not checked: librdkafka ignores them and xerial only ever wrote 1.
  std::size_t pos = kXerialHeaderBytes;
  while (pos < input.size()) {
    std::size_t block_pos = 0;
    ByteSpan block;
    SAMSA_TRY(next_xerial_block(input, pos, block_pos, block));
    SAMSA_TRY(fn(block, block_pos));
  }
  return Status();
}

// The sum of the sizes the blocks declare, checked against the limit before any of them
// is decoded.
Result<std::size_t> snappy_total_length(ByteSpan input, std::size_t max_output) {
  std::size_t total = 0;  // Invariant: total <= max_output
  Status s = for_each_snappy_block(input, [&](ByteSpan block, std::size_t block_pos) -> Status {
    SAMSA_TRY_ASSIGN(const std::size_t n, snappy_block_length(block, block_pos));
    if (n > max_output - total) return limit_passed("snappy", max_output, block_pos, input.size());
    total += n;
    return Status();
  });
  if (!s.ok()) return s;
  return total;
}

// Two passes: the first checks the framing and the limit, so that `out` grows once and
// exactly; the second decodes.
Status xerial_decompress(ByteSpan input, std::size_t max_output, std::vector<std::byte>& out) {
  SAMSA_TRY_ASSIGN(const std::size_t total, snappy_total_length(input, max_output));
  std::size_t at = out.size();
  grow_counted(out, at + total);
  return for_each_snappy_block(input, [&](ByteSpan block, std::size_t block_pos) -> Status {
    SAMSA_TRY_ASSIGN(const std::size_t n, snappy_block_length(block, block_pos));
    SAMSA_TRY(snappy_block_decode(block, block_pos, n, byte_ptr(out, at)));
    at += n;
    return Status();
  });
}

// --- lz4

struct Lz4DctxFree {
  void operator()(LZ4F_dctx* d) const { LZ4F_freeDecompressionContext(d); }
};
struct Lz4CctxFree {
  void operator()(LZ4F_cctx* c) const { LZ4F_freeCompressionContext(c); }
};

// Codec contexts cost more to set up than a small batch costs to compress (zstd's
// compression context allocates and fills its tables: 47 k instructions per record at one
// record per batch, made per call). Each thread keeps one context per codec and direction,
// reset before each use, so that an error left in one cannot leak into the next call.
// nullptr when it cannot be created; callers then fail or fall back.
LZ4F_cctx* lz4_cctx() {
  thread_local const std::unique_ptr<LZ4F_cctx, Lz4CctxFree> cctx([] {
    LZ4F_cctx* raw = nullptr;
    return LZ4F_isError(LZ4F_createCompressionContext(&raw, LZ4F_VERSION)) ? nullptr : raw;
  }());
  return cctx.get();
}
LZ4F_dctx* lz4_dctx() {
  thread_local const std::unique_ptr<LZ4F_dctx, Lz4DctxFree> dctx([] {
    LZ4F_dctx* raw = nullptr;
    return LZ4F_isError(LZ4F_createDecompressionContext(&raw, LZ4F_VERSION)) ? nullptr : raw;
  }());
  if (dctx) LZ4F_resetDecompressionContext(dctx.get());
  return dctx.get();
}

Status lz4_compress(int level, ByteSpan input, std::vector<std::byte>& out) {
  LZ4F_preferences_t prefs{};
  prefs.frameInfo.blockSizeID = LZ4F_max64KB;
  prefs.frameInfo.blockMode = LZ4F_blockIndependent;
  prefs.frameInfo.contentChecksumFlag = LZ4F_noContentChecksum;
  prefs.frameInfo.frameType = LZ4F_frame;
  prefs.frameInfo.contentSize = 0;  // Kafka's KafkaLZ4BlockOutputStream never sets it
  prefs.frameInfo.blockChecksumFlag = LZ4F_noBlockChecksum;
  prefs.compressionLevel = level;
  const std::size_t base = out.size();
  grow_exactly(out, base + LZ4F_compressFrameBound(input.size(), &prefs));
  // The same frame LZ4F_compressFrame makes, without initialising a new context each time.
  LZ4F_cctx* cctx = lz4_cctx();
  const std::size_t n =
      cctx == nullptr ? LZ4F_compressFrame(byte_ptr(out, base), out.size() - base, input.data(),
                                           input.size(), &prefs)
                      : LZ4F_compressFrame_usingCDict(cctx, byte_ptr(out, base), out.size() - base,
                                                      input.data(), input.size(), nullptr, &prefs);
  if (LZ4F_isError(n)) {
    return Status::io_error(fmt::format("lz4: compression failed: {}", LZ4F_getErrorName(n)));
  }
  out.resize(base + n);
  return Status();
}

// How much input to give the decoder at `pos`, where a frame starts: its whole header, so
// that a bad header is reported where the frame starts.
Result<std::size_t> lz4_header_feed(ByteSpan input, std::size_t pos) {
  const std::size_t left = input.size() - pos;
  if (left < LZ4F_MIN_SIZE_TO_KNOW_HEADER_LENGTH) return left;  // the decoder says truncated
  const std::size_t n = LZ4F_headerSize(input.data() + pos, left);
  if (!LZ4F_isError(n)) return n;
  return Status::corruption(
      fmt::format("lz4: malformed frame at compressed byte {}: {}", pos, LZ4F_getErrorName(n)));
}

// Feeds the decoder what its last hint asked for (a header, then a block at a time), so
// that an error names the input where it was found, to within a block.
Status lz4_decompress(ByteSpan input, std::size_t max_output, std::vector<std::byte>& out) {
  LZ4F_dctx* dctx = lz4_dctx();
  if (dctx == nullptr) return Status::io_error("lz4: cannot create a decompression context");
  OutputSink sink(out, max_output, ratio_guess(input));
  std::size_t pos = 0;
  SAMSA_TRY_ASSIGN(std::size_t feed, lz4_header_feed(input, pos));
  // Ends when LZ4F says the frame is done, an error, or the sink passes max_output: each
  // round consumes input or produces output (else the frame is truncated: corruption).
  while (true) {
    const MutableByteSpan room = sink.room();
    std::size_t src_n = std::min(feed, input.size() - pos);
    std::size_t dst_n = room.size();
    const std::size_t hint =
        LZ4F_decompress(dctx, room.data(), &dst_n, input.data() + pos, &src_n, nullptr);
    if (LZ4F_isError(hint)) {
      return Status::corruption(fmt::format("lz4: malformed frame at compressed byte {}: {}", pos,
                                            LZ4F_getErrorName(hint)));
    }
    pos += src_n;
    sink.commit(dst_n);
    if (sink.over_limit()) return sink.stop_at_limit("lz4", pos, input.size());
    const bool input_done = pos == input.size();
    if (hint == 0 && input_done) break;  // 0: the frame is decoded and flushed
    if (input_done && dst_n < room.size()) return truncated("lz4", input.size());
    if (!input_done && src_n == 0 && dst_n == 0) return no_progress("lz4", pos);
    feed = hint;
    if (hint == 0) {  // with input left: another frame
      SAMSA_TRY_ASSIGN(feed, lz4_header_feed(input, pos));
    }
  }
  sink.finish();
  return Status();
}

// --- zstd

struct ZstdDctxFree {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};
struct ZstdCctxFree {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};

// This thread's contexts (see lz4_cctx). ZSTD_compressCCtx resets its context itself.
ZSTD_CCtx* zstd_cctx() {
  thread_local const std::unique_ptr<ZSTD_CCtx, ZstdCctxFree> cctx(ZSTD_createCCtx());
  return cctx.get();
}
int zstd_window_log_max(std::size_t max_output) {
  const int fits = max_output == 0 ? 0 : static_cast<int>(std::bit_width(max_output)) - 1;
  return std::clamp(fits, kZstdWindowLogFloor, kZstdWindowLogMax);
}

// The window limit is set for each call: it follows the call's output bound.
ZSTD_DCtx* zstd_dctx(std::size_t max_output) {
  thread_local const std::unique_ptr<ZSTD_DCtx, ZstdDctxFree> dctx(ZSTD_createDCtx());
  if (!dctx) return nullptr;
  ZSTD_DCtx_reset(dctx.get(), ZSTD_reset_session_only);
  const int window_log = zstd_window_log_max(max_output);
  if (ZSTD_isError(ZSTD_DCtx_setParameter(dctx.get(), ZSTD_d_windowLogMax, window_log))) {
    return nullptr;
  }
  return dctx.get();
}

Status zstd_malformed(std::size_t hint, std::size_t pos, std::size_t input_bytes,
                      std::size_t max_output) {
  if (ZSTD_getErrorCode(hint) == ZSTD_error_frameParameter_windowTooLarge) {
    return Status::decompression_limit(fmt::format(
        "zstd: the frame at compressed byte {} of {} asks for a window above the {} bytes "
        "allowed with a limit of {} decompressed bytes",
        pos, input_bytes, zstd_window_bytes_max(max_output), max_output));
  }
  return Status::corruption(fmt::format("zstd: malformed stream at compressed byte {}: {}", pos,
                                        ZSTD_getErrorName(hint)));
}

Status zstd_compress(int level, ByteSpan input, std::vector<std::byte>& out) {
  const std::size_t base = out.size();
  grow_exactly(out, base + ZSTD_compressBound(input.size()));
  const int effective = level == 0 ? ZSTD_CLEVEL_DEFAULT : level;
  // ZSTD_compress is ZSTD_compressCCtx on a context made for the call: same bytes.
  ZSTD_CCtx* cctx = zstd_cctx();
  const std::size_t n = cctx == nullptr
                            ? ZSTD_compress(byte_ptr(out, base), out.size() - base, input.data(),
                                            input.size(), effective)
                            : ZSTD_compressCCtx(cctx, byte_ptr(out, base), out.size() - base,
                                                input.data(), input.size(), effective);
  if (ZSTD_isError(n)) {
    return Status::io_error(fmt::format("zstd: compression failed: {}", ZSTD_getErrorName(n)));
  }
  out.resize(base + n);
  return Status();
}

std::size_t zstd_size_guess(ByteSpan input) {
  const unsigned long long n = ZSTD_getFrameContentSize(input.data(), input.size());
  if (n == ZSTD_CONTENTSIZE_UNKNOWN || n == ZSTD_CONTENTSIZE_ERROR) return ratio_guess(input);
  return declared_guess(input, n);
}

// The streaming API, because Java's zstd-jni writes frames without a content size; it
// also reads concatenated frames. Input is fed as the decoder hints (one block at a time)
// so that an error names the block where it was found.
Status zstd_decompress(ByteSpan input, std::size_t max_output, std::vector<std::byte>& out) {
  ZSTD_DCtx* dctx = zstd_dctx(max_output);
  if (dctx == nullptr) return Status::io_error("zstd: cannot create a decompression context");
  // The context keeps its window between calls: what it holds after this one is its cost.
  struct NoteSize {
    const ZSTD_DCtx* d;
    ~NoteSize() { note_codec_bytes(ZSTD_sizeof_DCtx(d)); }
  } note{dctx};
  OutputSink sink(out, max_output, zstd_size_guess(input));
  std::size_t pos = 0;
  std::size_t feed = kZstdFirstFeedBytes;
  // Ends when the frame is done, an error, or the sink passes max_output: each round
  // consumes input or produces output (else the stream is truncated: corruption).
  while (true) {
    const MutableByteSpan room = sink.room();
    ZSTD_inBuffer in{input.data() + pos, std::min(feed, input.size() - pos), 0};
    ZSTD_outBuffer o{room.data(), room.size(), 0};
    const std::size_t hint = ZSTD_decompressStream(dctx, &o, &in);
    if (ZSTD_isError(hint)) {
      sink.discard();
      return zstd_malformed(hint, pos, input.size(), max_output);
    }
    pos += in.pos;
    sink.commit(o.pos);
    if (sink.over_limit()) return sink.stop_at_limit("zstd", pos, input.size());
    const bool input_done = pos == input.size();
    if (hint == 0 && input_done) break;  // 0: the frame is decoded and flushed
    if (input_done && o.pos < o.size) return truncated("zstd", input.size());
    if (!input_done && in.pos == 0 && o.pos == 0) return no_progress("zstd", pos);
    feed = hint == 0 ? kZstdFirstFeedBytes : hint;  // 0 with input left: another frame
  }
  sink.finish();
  return Status();
}

// --- none

Status copy_through(ByteSpan input, std::size_t max_output, std::vector<std::byte>& out) {
  if (input.size() > max_output) return limit_passed("none", max_output, 0, input.size());
  out.insert(out.end(), input.begin(), input.end());
  return Status();
}

Status compress_with(Compression codec, int level, ByteSpan input, std::vector<std::byte>& out) {
  switch (codec) {
    case Compression::none:
      return copy_through(input, input.size(), out);
    case Compression::gzip:
      return gzip_compress(level, input, out);
    case Compression::snappy:
      return xerial_compress(input, out);
    case Compression::lz4:
      return lz4_compress(level, input, out);
    case Compression::zstd:
      return zstd_compress(level, input, out);
  }
  return unknown_codec(codec);
}

Status decompress_with(Compression codec, ByteSpan input, std::size_t max_output,
                       std::vector<std::byte>& out) {
  switch (codec) {
    case Compression::none:
      return copy_through(input, max_output, out);
    case Compression::gzip:
      return gzip_decompress(input, max_output, out);
    case Compression::snappy:
      return xerial_decompress(input, max_output, out);
    case Compression::lz4:
      return lz4_decompress(input, max_output, out);
    case Compression::zstd:
      return zstd_decompress(input, max_output, out);
  }
  return unknown_codec(codec);
}

}  // namespace

Status compress(Compression codec, int level, ByteSpan input, std::vector<std::byte>& out) {
  SAMSA_TRY(check_level(codec, level));
  const std::size_t base = out.size();
  Status s = compress_with(codec, level, input, out);
  if (!s.ok()) out.resize(base);
  return s;
}

Status decompress(Compression codec, ByteSpan input, std::size_t max_output,
                  std::vector<std::byte>& out) {
  t_memory = DecompressMemory{.output_bytes_peak = out.capacity(), .codec_bytes_peak = 0};
  const std::size_t base = out.size();
  Status s = decompress_with(codec, input, max_output, out);
  // At the limit the codec left the prefix decoded within it (or nothing).
  if (!s.ok() && s.code() != StatusCode::decompression_limit) out.resize(base);
  SAMSA_ASSERT(out.size() <= base + max_output || s.ok(), "{} bytes kept past the limit {}",
               out.size() - base, max_output);
  return s;
}

std::size_t zstd_window_bytes_max(std::size_t max_output) {
  return std::size_t{1} << zstd_window_log_max(max_output);
}

DecompressMemory last_decompress_memory() {
  return t_memory;
}

}  // namespace samsa::internal
