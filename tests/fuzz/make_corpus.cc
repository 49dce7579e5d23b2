// Writes the seed corpus for record_batch_fuzz: small valid batches of every shape the
// reader must handle, one file each, into the directory named by the first argument.
// scripts/test runs it before fuzzing, so no binary seeds live in the repository.
//
// `make_corpus DIR requests` also writes request_fuzz's request seeds: a well-formed body of
// every group API version the server has a codec for (group_messages.h), as request_fuzz's
// mode 2 reads them (byte 0 = 2, byte 1 the API key, byte 2 the version, then the body).
// They are built byte by byte from Kafka's schemas here: this tool does not link the server.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
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

// Kafka's primitive types, big-endian, after request_fuzz's mode-2 prefix.
class RequestSeed {
 public:
  RequestSeed(int key, int version) {
    out_.push_back(std::byte{2});
    out_.push_back(static_cast<std::byte>(key));
    out_.push_back(static_cast<std::byte>(version));
  }
  RequestSeed& i8(std::int64_t v) { return be(v, 1); }
  RequestSeed& i32(std::int64_t v) { return be(v, 4); }
  RequestSeed& i64(std::int64_t v) { return be(v, 8); }
  RequestSeed& str(std::string_view s) {
    be(static_cast<std::int64_t>(s.size()), 2);
    for (char c : s) out_.push_back(static_cast<std::byte>(c));
    return *this;
  }
  RequestSeed& null_str() { return be(-1, 2); }
  RequestSeed& blob(std::string_view s) {
    be(static_cast<std::int64_t>(s.size()), 4);
    for (char c : s) out_.push_back(static_cast<std::byte>(c));
    return *this;
  }
  const std::vector<std::byte>& bytes() const { return out_; }

 private:
  RequestSeed& be(std::int64_t v, int width) {
    const auto u = static_cast<std::uint64_t>(v);
    for (int i = width - 1; i >= 0; --i) {
      out_.push_back(static_cast<std::byte>((u >> (8 * i)) & 0xff));
    }
    return *this;
  }
  std::vector<std::byte> out_;
};

// One seed per group API version: (file name, bytes).
std::vector<std::pair<std::string, std::vector<std::byte>>> request_seeds() {
  std::vector<std::pair<std::string, std::vector<std::byte>>> out;
  auto add = [&out](const char* api, int version, const RequestSeed& seed) {
    out.emplace_back(std::string("request-") + api + "-v" + std::to_string(version), seed.bytes());
  };
  for (int v = 0; v <= 7; ++v) {  // OffsetCommit (8)
    RequestSeed s(8, v);
    s.str("group");
    if (v >= 1) s.i32(1).str("member-1");
    if (v >= 7) s.null_str();
    if (v >= 2 && v <= 4) s.i64(-1);
    s.i32(1).str("topic").i32(1).i32(0).i64(42);
    if (v >= 6) s.i32(0);
    if (v == 1) s.i64(kT0);
    s.str("");
    add("offset-commit", v, s);
  }
  for (int v = 0; v <= 5; ++v) {  // OffsetFetch (9)
    RequestSeed s(9, v);
    s.str("group").i32(1).str("topic").i32(2).i32(0).i32(1);
    add("offset-fetch", v, s);
  }
  for (int v = 0; v <= 5; ++v) {  // JoinGroup (11)
    RequestSeed s(11, v);
    s.str("group").i32(10'000);
    if (v >= 1) s.i32(30'000);
    s.str("");
    if (v >= 5) s.str("instance-1");
    // ConsumerProtocolSubscription v0: version, topics ["t"], user data (empty).
    constexpr char kSubscription[] = "\0\0\0\0\0\1\0\1t\0\0\0\0";
    s.str("consumer").i32(1).str("range").blob({kSubscription, sizeof kSubscription - 1});
    add("join-group", v, s);
  }
  for (int v = 0; v <= 3; ++v) {  // Heartbeat (12)
    RequestSeed s(12, v);
    s.str("group").i32(1).str("member-1");
    if (v >= 3) s.null_str();
    add("heartbeat", v, s);
  }
  for (int v = 0; v <= 3; ++v) {  // LeaveGroup (13)
    RequestSeed s(13, v);
    s.str("group");
    if (v <= 2) {
      s.str("member-1");
    } else {
      s.i32(1).str("member-1").null_str();
    }
    add("leave-group", v, s);
  }
  for (int v = 0; v <= 3; ++v) {  // SyncGroup (14)
    RequestSeed s(14, v);
    s.str("group").i32(1).str("member-1");
    if (v >= 3) s.null_str();
    s.i32(1).str("member-1").blob("assignment");
    add("sync-group", v, s);
  }
  for (int v = 0; v <= 4; ++v) {  // DescribeGroups (15)
    RequestSeed s(15, v);
    s.i32(1).str("group");
    if (v >= 3) s.i8(1);
    add("describe-groups", v, s);
  }
  for (int v = 0; v <= 2; ++v) add("list-groups", v, RequestSeed(16, v));  // no fields
  for (int v = 0; v <= 1; ++v) {                                           // DeleteGroups (42)
    RequestSeed s(42, v);
    s.i32(2).str("group").str("other");
    add("delete-groups", v, s);
  }
  RequestSeed offset_delete(47, 0);
  offset_delete.str("group").i32(1).str("topic").i32(1).i32(0);
  add("offset-delete", 0, offset_delete);
  return out;
}

bool write_file(const std::filesystem::path& path, ByteSpan bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  return static_cast<bool>(out);
}

}  // namespace

int main(int argc, char** argv) {
  const bool requests = argc == 3 && std::string_view(argv[2]) == "requests";
  if (argc != 2 && !requests) {
    std::fprintf(stderr, "usage: make_corpus DIR [requests]\n");
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
  if (requests) {
    const auto seeds = request_seeds();
    for (const auto& [name, bytes] : seeds) {
      if (!write_file(dir / name, bytes)) {
        std::fprintf(stderr, "make_corpus: cannot write %s\n", (dir / name).c_str());
        return 1;
      }
    }
    std::printf("make_corpus: %zu request seeds in %s\n", seeds.size(), dir.c_str());
  }
  return 0;
}
