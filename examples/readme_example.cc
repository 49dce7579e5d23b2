// The README's in-process example, compiled and run by the tests so that it stays true.
//
//   readme_example DIR
#include <fmt/format.h>

#include <samsa/log.h>

#include <vector>

samsa::Status example(const std::string& dir) {
  SAMSA_TRY_ASSIGN(auto log, samsa::Log::open(samsa::Env::posix(), dir, samsa::LogConfig{}));

  samsa::RecordBatchBuilder builder(samsa::BatchOptions{.compression = samsa::Compression::lz4});
  const samsa::RecordHeader headers[] = {{"source", samsa::as_bytes("quickstart")}};
  SAMSA_TRY(builder.append(samsa::SystemClock::instance().now(), samsa::as_bytes("alice"),
                           samsa::as_bytes("clicked button 0"), headers));
  SAMSA_TRY_ASSIGN(samsa::AppendInfo info, log->append(builder));  // returns once fdatasync'd

  SAMSA_TRY_ASSIGN(samsa::LogSlice slice, log->read(info.first_offset));  // whole batches
  std::vector<std::byte> bytes;
  SAMSA_TRY(slice.read_into(bytes));  // or hand slice.file/position/size_bytes to sendfile
  SAMSA_TRY_ASSIGN(auto batch, samsa::RecordBatchView::validate(bytes));
  samsa::RecordReader reader;
  SAMSA_TRY(reader.reset(batch));
  samsa::Record record;
  while (true) {
    SAMSA_TRY_ASSIGN(bool more, reader.next(record));
    if (!more) break;
    // record.offset, record.timestamp, record.key, record.value, record.headers
    fmt::print("offset {} key {} value {}\n", record.offset.value(), samsa::as_chars(*record.key),
               samsa::as_chars(*record.value));
  }
  SAMSA_TRY(log->close());
  return samsa::Status();
}

int main(int argc, char** argv) {
  const samsa::Status s = example(argc > 1 ? argv[1] : "readme-example-data");
  if (!s.ok()) fmt::print(stderr, "readme_example: {}\n", s.to_string());
  return s.ok() ? 0 : 1;
}
