// libFuzzer target for floor 7: arbitrary bytes as a KRaft snapshot file, through
// validate_snapshot_bytes (what SnapshotReader::data_batches and SnapshotReceiver::finish
// run). The epoch expected is the first batch's, when there are enough bytes to hold one.
// Every data batch returned must validate on its own.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "samsa/raft_snapshot.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const samsa::ByteSpan input(reinterpret_cast<const std::byte*>(data), size);
  samsa::LeaderEpoch epoch(0);
  if (size >= samsa::batch_layout::kHeaderSizeUpToMagic) {
    epoch = samsa::LeaderEpoch(
        samsa::get_be<std::int32_t>(input.data() + samsa::batch_layout::kPartitionLeaderEpoch));
  }
  auto batches = samsa::validate_snapshot_bytes(input, epoch, "fuzz");
  if (!batches.ok()) return 0;
  for (const auto& b : *batches) {
    if (!samsa::RecordBatchView::validate(b).ok()) {
      std::fprintf(stderr, "snapshot_fuzz: a returned data batch does not validate\n");
      std::abort();
    }
  }
  return 0;
}
