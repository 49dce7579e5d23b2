#include "samsa/group_driver.h"

#include <fmt/format.h>

#include "samsa/record_batch.h"

namespace samsa {

Result<GroupLoadReport> GroupDriver::load(std::int64_t now) {
  GroupLoadReport report;
  Offset at = partition_.log_start_offset();
  std::vector<std::byte> buf;
  RecordReader reader;
  for (;;) {
    PartitionReadOptions options;
    options.max_bytes = 1 << 20;
    options.isolation = Isolation::committed;
    SAMSA_TRY_ASSIGN(PartitionReadResult read, partition_.read(at, options));
    if (read.slice.empty()) break;
    buf.clear();
    SAMSA_TRY(read.slice.read_into(buf));
    ByteSpan rest(buf);
    while (!rest.empty()) {
      SAMSA_TRY_ASSIGN(RecordBatchView batch, RecordBatchView::parse(rest));
      rest = rest.subspan(batch.size_bytes());
      ++report.batches;
      if (batch.is_control()) continue;
      SAMSA_TRY(reader.reset(batch));
      Record r;
      for (;;) {
        SAMSA_TRY_ASSIGN(bool more, reader.next(r));
        if (!more) break;
        if (!r.key) {
          return Status::corruption(fmt::format("{} offset {}: a record without a key",
                                                partition_.dir(), r.offset.value()));
        }
        Status st = coordinator_.replay(*r.key, r.value);
        if (!st.ok()) {
          return st.with_context(fmt::format("{} offset {}", partition_.dir(), r.offset.value()));
        }
        ++report.records;
      }
    }
    if (!(read.slice.next_offset > at)) break;  // no progress: nothing more below the HW
    at = read.slice.next_offset;
  }
  coordinator_.loaded(now);
  return report;
}

Status GroupDriver::append(const std::vector<GroupRecord>& records, std::int64_t now) {
  RecordBatchBuilder builder;
  for (const GroupRecord& r : records) {
    std::optional<ByteSpan> value;
    if (r.value) value = ByteSpan(*r.value);
    SAMSA_TRY(builder.append(Timestamp(now), ByteSpan(r.key), value));
  }
  SAMSA_TRY_ASSIGN(PartitionAppendResult result, partition_.append(builder));
  (void)result;
  return Status::ok_status();
}

void GroupDriver::run(std::int64_t now, const Send& send) {
  // Bounded: each pass either sends or appends, and appends finish the coordinator's work.
  for (int pass = 0; pass < 1000 && coordinator_.has_ready(); ++pass) {
    GroupReady ready = coordinator_.ready();
    for (GroupResponse& r : ready.responses) send(std::move(r));
    if (ready.records.empty()) continue;
    Status st = append(ready.records, now);
    if (!st.ok()) ++appends_failed_;
    coordinator_.advance(st, now);
  }
}

}  // namespace samsa
