// libFuzzer target for floor 3's legacy message sets (magic 0 and 1, Produce v0-v2):
// arbitrary bytes through convert_legacy_message_set. When the input's first byte is odd,
// the rest gets every outer message's CRC-32 made right first, so that mutations reach the
// fields behind the checksum. Errors are fine; a crash, a sanitizer report, or a converted
// batch that does not validate as a producer's batch is a bug.
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "samsa/legacy_records.h"
#include "samsa/record_batch.h"

namespace {

namespace LL = samsa::legacy_layout;

// Walks the messages by their size fields and rewrites each one's CRC-32.
void fix_outer_crcs(std::vector<std::byte>& set) {
  for (std::size_t at = 0; set.size() - at >= LL::kMagic + 1;) {  // each step moves >= 16 bytes
    const auto size = samsa::get_be<std::int32_t>(set.data() + at + LL::kSize);
    if (size < 4 || static_cast<std::size_t>(size) > set.size() - at - LL::kLogOverhead) return;
    const std::size_t end = at + LL::kLogOverhead + static_cast<std::size_t>(size);
    const auto* p = reinterpret_cast<const Bytef*>(set.data() + at + LL::kMagic);
    const auto crc = static_cast<std::uint32_t>(
        crc32(crc32(0L, Z_NULL, 0), p, static_cast<uInt>(end - at - LL::kMagic)));
    samsa::put_be<std::uint32_t>(set.data() + at + LL::kCrc, crc);
    at = end;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::vector<std::byte> set(reinterpret_cast<const std::byte*>(data) + 1,
                             reinterpret_cast<const std::byte*>(data) + size);
  if (data[0] & 1) fix_outer_crcs(set);
  // A small bound keeps each run fast; the bound's own path is exercised all the same.
  auto converted = samsa::convert_legacy_message_set(set, {.max_decompressed_bytes = 1 << 20});
  if (!converted.ok()) return 0;
  auto view = samsa::RecordBatchView::validate(*converted, {.producer_batch = true});
  if (!view.ok() || view->size_bytes() != converted->size()) {
    std::fprintf(stderr, "legacy_records_fuzz: converted batch does not validate: %s\n",
                 view.status().to_string().c_str());
    std::abort();
  }
  return 0;
}
