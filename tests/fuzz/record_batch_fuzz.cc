// libFuzzer target for floor 3: arbitrary bytes through the RecordBatch v2 reader.
//
// The input is read three ways, as untrusted bytes reach samsa: (1) one batch, validated
// as a log stores it and as a producer sends it; (2) its records walked with RecordReader,
// CRC or no CRC, every key, value and header byte touched so that ASan sees any read
// outside the input or the reader's buffer; (3) a segment's worth of batches walked one
// after another the way log recovery scans a .log file, stopping at the first error.
// Errors are fine; a crash, a sanitizer report or a broken pairing between validate() and
// RecordReader is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "samsa/record_batch.h"

namespace {

using samsa::ByteSpan;
using samsa::RecordBatchView;
using samsa::ValidateOptions;

// Keeps the sums alive so the compiler cannot drop the reads.
volatile std::uint64_t g_sink = 0;

// A pairing the library promises broke: report it and crash so libFuzzer keeps the input.
[[noreturn]] void broken(const char* what, const samsa::Status& status) {
  std::fprintf(stderr, "record_batch_fuzz: %s: %s\n", what, status.message().c_str());
  std::abort();
}

std::uint64_t sum(ByteSpan bytes) {
  std::uint64_t s = 0;
  for (std::byte b : bytes) s += static_cast<std::uint8_t>(b);
  return s;
}

// Every header field, the way a log reads a batch it stores.
void touch_header(const RecordBatchView& batch) {
  std::uint64_t s = static_cast<std::uint64_t>(batch.base_offset().value());
  s += static_cast<std::uint64_t>(batch.length()) + batch.crc() + batch.compute_crc();
  s += static_cast<std::uint64_t>(batch.partition_leader_epoch().value());
  s += static_cast<std::uint64_t>(batch.magic()) + static_cast<std::uint16_t>(batch.attributes());
  s += static_cast<std::uint64_t>(batch.compression()) +
       static_cast<std::uint64_t>(batch.timestamp_type());
  s += batch.is_transactional() + batch.is_control() + batch.has_delete_horizon();
  s += static_cast<std::uint64_t>(batch.last_offset_delta());
  s += static_cast<std::uint64_t>(batch.base_timestamp().value());
  s += static_cast<std::uint64_t>(batch.max_timestamp().value());
  if (auto horizon = batch.delete_horizon()) s += static_cast<std::uint64_t>(horizon->value());
  s += static_cast<std::uint64_t>(batch.producer_id().value());
  s += static_cast<std::uint64_t>(batch.producer_epoch().value());
  s += static_cast<std::uint64_t>(batch.base_sequence().value());
  s += static_cast<std::uint64_t>(batch.last_sequence().value());
  s += static_cast<std::uint64_t>(batch.records_count()) + sum(batch.records_bytes());
  g_sink = g_sink + s;
}

// Reads every record of `batch`, touching every byte. When check_records() accepted the
// batch (`checked`), the reader must agree with it record for record; otherwise the reader
// may fail, but must fail cleanly.
void touch_records(const RecordBatchView& batch, const ValidateOptions& options, bool checked) {
  samsa::RecordReader reader;
  if (auto s = reader.reset(batch, options); !s.ok()) {
    if (checked) broken("reset() refused a checked batch", s);
    return;
  }
  std::uint64_t s = 0;
  std::int32_t count = 0;
  samsa::Record record;
  // Bounded: each record takes at least one byte of a buffer of bounded size, and a
  // checked batch has records_count() of them.
  for (;;) {
    auto more = reader.next(record);
    if (!more.ok()) {
      if (checked) broken("next() failed on a checked batch", more.status());
      return;
    }
    if (!*more) break;
    ++count;
    s += static_cast<std::uint64_t>(record.offset_delta) + record.size_bytes;
    s += static_cast<std::uint64_t>(record.timestamp_delta);
    if (record.key) s += sum(*record.key);
    if (record.value) s += sum(*record.value);
    for (const samsa::RecordHeader& header : record.headers) {
      s += sum(samsa::as_bytes(header.key));
      if (header.value) s += sum(*header.value);
    }
  }
  if (checked && count != batch.records_count()) {
    broken("reader and header disagree on the record count",
           samsa::Status::corruption(std::to_string(count) + " records read, header says " +
                                     std::to_string(batch.records_count())));
  }
  g_sink = g_sink + s;
}

// (1) and (2): the input as one batch. validate() checks the CRC, which mutated inputs
// almost never match, so the records are also checked and read past it: that is where the
// decoding (and decompression) code the fuzzer should reach lives.
void read_one_batch(ByteSpan input, const ValidateOptions& options) {
  auto batch = RecordBatchView::parse(input);
  const bool valid = RecordBatchView::validate(input, options).ok();
  if (!batch.ok()) {
    if (valid) broken("validate() accepted what parse() refused", batch.status());
    return;
  }
  touch_header(*batch);
  const samsa::Status records = batch->check_records(options);
  if (valid && !records.ok()) broken("validate() accepted what check_records() refused", records);
  touch_records(*batch, options, records.ok());
}

// Base offset and leader epoch lie outside the CRC: a Log rewrites them in place and the
// batch must stay valid (house rule 1).
void check_rewrite(const RecordBatchView& batch, std::uint64_t position,
                   const ValidateOptions& options) {
  std::vector<std::byte> copy(batch.bytes().begin(), batch.bytes().end());
  samsa::set_base_offset(copy, samsa::Offset(static_cast<std::int64_t>(position)));
  samsa::set_partition_leader_epoch(copy, samsa::LeaderEpoch(7));
  auto rewritten = RecordBatchView::validate(copy, options, position);
  if (!rewritten.ok()) {
    broken("a batch stopped validating after set_base_offset", rewritten.status());
  }
}

// (3): the input as a .log file, scanned batch by batch as recovery does.
void recover(ByteSpan input, const ValidateOptions& options) {
  std::uint64_t position = 0;
  // Bounded: every accepted batch is at least kHeaderSize bytes, so at most
  // input.size() / kHeaderSize iterations.
  while (position < input.size()) {
    auto batch = RecordBatchView::parse(input.subspan(position), position);
    if (!batch.ok()) return;  // a torn tail or garbage: recovery cuts here
    if (batch->size_bytes() < samsa::batch_layout::kHeaderSize ||
        batch->size_bytes() > input.size() - position) {
      broken("parse() returned a batch outside the bytes",
             samsa::Status::corruption("size " + std::to_string(batch->size_bytes()) +
                                       " at position " + std::to_string(position)));
    }
    if (!batch->check_crc().ok() || !batch->check_records(options).ok()) return;
    touch_header(*batch);
    touch_records(*batch, options, /*checked=*/true);
    check_rewrite(*batch, position, options);
    position += batch->size_bytes();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ByteSpan input(reinterpret_cast<const std::byte*>(data), size);
  ValidateOptions from_log;
  from_log.max_decompressed_bytes = std::size_t{1} << 20;  // 1 MiB: keeps each run fast
  ValidateOptions from_producer = from_log;
  from_producer.producer_batch = true;

  read_one_batch(input, from_log);
  read_one_batch(input, from_producer);
  recover(input, from_log);
  return 0;
}
