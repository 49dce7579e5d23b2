// libFuzzer target for floor 7: arbitrary bytes as KRaft control records.
//
// The input is read two ways: (1) its first 4 bytes as a control record key and the rest
// as the value, through decode_control_record; (2) the whole input as a RecordBatch,
// validated as a log stores it, then decode_control_batch. Whatever decodes must encode
// and decode again to the same records (values are not compared byte for byte: unknown
// tagged fields are skipped on read).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "samsa/raft_records.h"

namespace {

using samsa::ByteSpan;

[[noreturn]] void broken(const char* what) {
  std::fprintf(stderr, "control_record_fuzz: %s\n", what);
  std::abort();
}

void one_record(ByteSpan input) {
  if (input.size() < 4) return;
  auto decoded = samsa::decode_control_record(input.first(4), input.subspan(4));
  if (!decoded.ok()) return;
  const auto key = samsa::control_record_key(samsa::control_record_type(*decoded));
  const auto value = samsa::encode_control_value(*decoded);
  auto again = samsa::decode_control_record(key, value);
  if (!again.ok() || !(*again == *decoded)) broken("record round trip broke");
}

void one_batch(ByteSpan input) {
  auto batch = samsa::RecordBatchView::validate(input);
  if (!batch.ok() || !batch->is_control()) return;
  auto records = samsa::decode_control_batch(*batch);
  if (!records.ok()) return;
  if (records->empty()) return;  // a control batch with no records decodes to nothing
  auto bytes = samsa::encode_control_batch(*records, batch->partition_leader_epoch(),
                                           batch->base_timestamp(), batch->base_offset());
  if (!bytes.ok()) broken("re-encoding a decoded batch failed");
  auto view = samsa::RecordBatchView::validate(*bytes);
  if (!view.ok()) broken("an encoded control batch does not validate");
  auto again = samsa::decode_control_batch(*view);
  if (!again.ok() || !(*again == *records)) broken("batch round trip broke");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ByteSpan input(reinterpret_cast<const std::byte*>(data), size);
  one_record(input);
  one_batch(input);
  return 0;
}
