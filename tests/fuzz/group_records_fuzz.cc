// libFuzzer target for floor 8: arbitrary bytes as __consumer_offsets records (what a
// coordinator replays from a possibly corrupt log) and as consumer-protocol subscriptions
// and assignments (what members send). The first byte picks the reader: 0 a record key,
// 1 an OffsetCommitValue, 2 a GroupMetadataValue, 3 the consumer-protocol parsers. Whatever
// decodes must encode and decode again to the same value.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "samsa/group_records.h"

namespace {

using samsa::ByteSpan;

[[noreturn]] void broken(const char* what) {
  std::fprintf(stderr, "group_records_fuzz: %s\n", what);
  std::abort();
}

template <typename T, typename Decode>
void round_trip(const T& value, Decode decode) {
  auto again = decode(samsa::encode_group_value(value));
  if (!again.ok() || !(*again == value)) broken("value round trip broke");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const ByteSpan input(reinterpret_cast<const std::byte*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0: {
      auto key = samsa::decode_group_key(input);
      if (!key.ok()) return 0;
      if (const auto* k = std::get_if<samsa::OffsetCommitKey>(&*key)) {
        if (k->group.size() > 32767 || k->topic.size() > 32767) broken("oversized string read");
        auto again = samsa::decode_group_key(samsa::encode_group_key(*k));
        if (!again.ok() || std::get<samsa::OffsetCommitKey>(*again) != *k) broken("key round trip");
      } else if (const auto* g = std::get_if<samsa::GroupMetadataKey>(&*key)) {
        auto again = samsa::decode_group_key(samsa::encode_group_key(*g));
        if (!again.ok() || !(std::get<samsa::GroupMetadataKey>(*again) == *g))
          broken("key round trip");
      }
      break;
    }
    case 1:
      if (auto v = samsa::decode_offset_commit_value(input); v.ok()) {
        round_trip(*v, [](ByteSpan b) { return samsa::decode_offset_commit_value(b); });
      }
      break;
    case 2:
      if (auto v = samsa::decode_group_metadata_value(input); v.ok()) {
        round_trip(*v, [](ByteSpan b) { return samsa::decode_group_metadata_value(b); });
      }
      break;
    default:
      (void)samsa::consumer_subscription_topics(input);
      (void)samsa::consumer_assignment_partitions(input);
  }
  return 0;
}
