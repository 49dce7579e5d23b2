// Uses the installed samsa's public API: builds an lz4 batch of two records, validates it
// as untrusted bytes and reads it back. Prints "consumer ok <n> records"; exits non-zero
// naming the first mismatch.
#include <samsa/crc32c.h>
#include <samsa/record_batch.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace {

bool check(bool ok, const char* what) {
  if (!ok) std::fprintf(stderr, "consumer: mismatch: %s\n", what);
  return ok;
}
int fail(const char* what, const samsa::Status& status) {
  std::fprintf(stderr, "consumer: %s: %s\n", what, status.message().c_str());
  return 1;
}
bool equals(const std::optional<samsa::ByteSpan>& bytes, std::string_view text) {
  return bytes && samsa::as_chars(*bytes) == text;
}

struct Expected {
  std::string_view key;
  std::string_view value;
  std::int32_t headers;
};
constexpr std::array<Expected, 2> kRecords = {{{"k1", "v1", 1}, {"k2", "value two", 0}}};
constexpr std::int64_t kT0 = 1'700'000'000'000;

}  // namespace

int main() {
  using samsa::as_bytes;
  if (!check(samsa::crc32c(as_bytes("123456789")) == 0xE3069283u, "crc32c(\"123456789\")")) {
    return 1;
  }

  samsa::BatchOptions options;
  options.compression = samsa::Compression::lz4;
  options.base_offset = samsa::Offset(42);
  samsa::RecordBatchBuilder builder(options);
  const std::array<samsa::RecordHeader, 1> headers = {{{"trace-id", as_bytes("abc")}}};
  for (std::size_t i = 0; i < kRecords.size(); ++i) {
    const std::span<const samsa::RecordHeader> h(headers.data(), std::size_t(kRecords[i].headers));
    samsa::Status s = builder.append(samsa::Timestamp(kT0 + std::int64_t(i)),
                                     as_bytes(kRecords[i].key), as_bytes(kRecords[i].value), h);
    if (!s.ok()) return fail("append", s);
  }
  auto bytes = builder.build();
  if (!bytes.ok()) return fail("build", bytes.status());

  samsa::ValidateOptions strict;
  strict.producer_batch = true;
  auto batch = samsa::RecordBatchView::validate(*bytes, strict);
  if (!batch.ok()) return fail("validate", batch.status());
  if (!check(batch->records_count() == 2, "records_count") ||
      !check(batch->base_offset() == samsa::Offset(42), "base_offset") ||
      !check(batch->compression() == samsa::Compression::lz4, "compression")) {
    return 1;
  }

  samsa::RecordReader reader;
  if (samsa::Status s = reader.reset(*batch, strict); !s.ok()) return fail("reset", s);
  samsa::Record record;
  std::size_t n = 0;
  for (;;) {
    auto more = reader.next(record);
    if (!more.ok()) return fail("next", more.status());
    if (!*more) break;
    if (!check(n < kRecords.size(), "more records than appended")) return 1;
    const Expected& want = kRecords[n];
    if (!check(record.offset == samsa::Offset(42 + std::int64_t(n)), "offset") ||
        !check(record.timestamp == samsa::Timestamp(kT0 + std::int64_t(n)), "timestamp") ||
        !check(equals(record.key, want.key), "key") ||
        !check(equals(record.value, want.value), "value") ||
        !check(record.headers.size() == want.headers, "header count")) {
      return 1;
    }
    for (const samsa::RecordHeader& header : record.headers) {
      if (!check(header.key == "trace-id" && equals(header.value, "abc"), "header")) return 1;
    }
    ++n;
  }
  if (!check(n == kRecords.size(), "records read")) return 1;
  std::printf("consumer ok %zu records\n", n);
  return 0;
}
