// Writes the seed corpus for record_batch_fuzz: small valid batches of every shape the
// reader must handle, one file each, into the directory named by the first argument.
// scripts/test runs it before fuzzing, so no binary seeds live in the repository.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "samsa/record_batch.h"

namespace {

using samsa::as_bytes;
using samsa::BatchOptions;
using samsa::ByteSpan;
using samsa::Compression;
using samsa::RecordBatchBuilder;
using samsa::RecordHeader;
using samsa::Status;
using samsa::Timestamp;

constexpr std::int64_t kT0 = 1'700'000'000'000;  // ms since the epoch

struct Seed {
  const char* name;
  BatchOptions options;
  std::function<Status(RecordBatchBuilder&)> fill;
};

// `count` records with short keys and values and one header each.
std::function<Status(RecordBatchBuilder&)> plain_records(int count) {
  return [count](RecordBatchBuilder& b) -> Status {
    for (int i = 0; i < count; ++i) {
      const std::string key = "key-" + std::to_string(i);
      const std::string value =
          "value-" + std::to_string(i) + std::string(std::size_t(i % 7) * 5, 'x');
      const RecordHeader header{"h", as_bytes("v")};
      SAMSA_TRY(b.append(Timestamp(kT0 + i), as_bytes(key), as_bytes(value), {&header, 1}));
    }
    return {};
  };
}

BatchOptions with_compression(Compression c) {
  BatchOptions o;
  o.compression = c;
  return o;
}

std::vector<Seed> seeds() {
  BatchOptions idempotent;
  idempotent.base_offset = samsa::Offset(1000);
  idempotent.partition_leader_epoch = samsa::LeaderEpoch(3);
  idempotent.producer_id = samsa::ProducerId(42);
  idempotent.producer_epoch = samsa::ProducerEpoch(1);
  idempotent.base_sequence = samsa::Sequence(10);

  BatchOptions control = idempotent;
  control.transactional = true;
  control.control = true;

  BatchOptions compacted;
  compacted.delete_horizon = Timestamp(kT0 + 86'400'000);
  BatchOptions append_time;
  append_time.timestamp_type = samsa::TimestampType::log_append_time;
  append_time.log_append_time = Timestamp(kT0 + 5);

  return {
      {"plain", {}, plain_records(3)},
      {"lz4", with_compression(Compression::lz4), plain_records(20)},
      {"zstd", with_compression(Compression::zstd), plain_records(20)},
      {"gzip", with_compression(Compression::gzip), plain_records(5)},
      {"snappy", with_compression(Compression::snappy), plain_records(5)},
      {"idempotent", idempotent, plain_records(4)},
      {"headers",
       {},
       [](RecordBatchBuilder& b) -> Status {
         const RecordHeader headers[] = {
             {"trace", as_bytes("abc")}, {"null", std::nullopt}, {"", as_bytes("")}};
         return b.append(Timestamp(kT0), as_bytes("k"), as_bytes("v"), headers);
       }},
      {"nulls",
       {},
       [](RecordBatchBuilder& b) -> Status {
         SAMSA_TRY(b.append(Timestamp(kT0), std::nullopt, as_bytes("no key")));
         SAMSA_TRY(b.append(Timestamp(kT0 + 1), as_bytes("tombstone"), std::nullopt));
         return b.append(Timestamp(kT0 + 2), as_bytes(""), as_bytes(""));
       }},
      {"control", control,
       [](RecordBatchBuilder& b) -> Status {
         const auto key = samsa::control_record_key(samsa::ControlRecordType::commit);
         const std::byte marker[6] = {};  // EndTxnMarker v0: version 0, coordinator epoch 0
         return b.append(Timestamp(kT0), ByteSpan(key), ByteSpan(marker));
       }},
      {"compacted", compacted,
       [](RecordBatchBuilder& b) -> Status {
         SAMSA_TRY(b.append_with_offset_delta(0, Timestamp(kT0), as_bytes("a"), as_bytes("1")));
         SAMSA_TRY(b.append_with_offset_delta(3, Timestamp(kT0 + 3), as_bytes("b"), std::nullopt));
         b.set_last_offset_delta(5);
         return {};
       }},
      {"append-time", append_time, plain_records(2)},
  };
}

bool write_file(const std::filesystem::path& path, ByteSpan bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  return static_cast<bool>(out);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_corpus DIR\n");
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  std::filesystem::create_directories(dir);
  std::vector<std::byte> log;  // every batch one after another, as a .log file holds them
  int written = 0;
  for (const Seed& seed : seeds()) {
    RecordBatchBuilder builder(seed.options);
    Status status = seed.fill(builder);
    auto batch = status.ok() ? builder.build() : samsa::Result<samsa::MutableByteSpan>(status);
    if (!batch.ok()) {
      // A codec this build lacks is no reason to fuzz without the other seeds.
      if (batch.status().code() == samsa::StatusCode::not_supported) {
        std::fprintf(stderr, "make_corpus: skipped %s: %s\n", seed.name,
                     batch.status().message().c_str());
        continue;
      }
      std::fprintf(stderr, "make_corpus: %s: %s\n", seed.name, batch.status().message().c_str());
      return 1;
    }
    if (!write_file(dir / seed.name, *batch)) {
      std::fprintf(stderr, "make_corpus: cannot write %s\n", (dir / seed.name).c_str());
      return 1;
    }
    log.insert(log.end(), batch->begin(), batch->end());
    ++written;
  }
  if (!write_file(dir / "log", log)) return 1;
  std::printf("make_corpus: %d seeds and their concatenation in %s\n", written, dir.c_str());
  return 0;
}
