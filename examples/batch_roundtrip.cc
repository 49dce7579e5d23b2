// The README's in-process example, compiled so that it stays true.
#include <fmt/format.h>

#include <samsa/record_batch.h>

samsa::Status roundtrip() {
  samsa::BatchOptions options;
  options.base_offset = samsa::Offset(0);
  options.compression = samsa::Compression::lz4;
  samsa::RecordBatchBuilder builder(options);
  const samsa::RecordHeader headers[] = {{"source", samsa::as_bytes("quickstart")}};
  SAMSA_TRY(builder.append(samsa::Timestamp(1700000000000), samsa::as_bytes("alice"),
                           samsa::as_bytes("clicked"), headers));
  SAMSA_TRY_ASSIGN(samsa::ByteSpan batch, builder.build());  // Kafka's bytes, CRC included

  SAMSA_TRY_ASSIGN(auto view, samsa::RecordBatchView::validate(batch));
  samsa::RecordReader reader;
  SAMSA_TRY(reader.reset(view));
  samsa::Record record;
  while (true) {
    SAMSA_TRY_ASSIGN(bool more, reader.next(record));
    if (!more) break;
    // record.offset, record.timestamp, record.key, record.value, record.headers
    fmt::print("offset {} key {} value {}\n", record.offset.value(), samsa::as_chars(*record.key),
               samsa::as_chars(*record.value));
  }
  return samsa::Status();
}

int main() {
  const samsa::Status s = roundtrip();
  if (!s.ok()) fmt::print(stderr, "batch_roundtrip: {}\n", s.to_string());
  return s.ok() ? 0 : 1;
}
