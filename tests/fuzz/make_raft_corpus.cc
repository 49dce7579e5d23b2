// Writes the seed corpus for the floor 7 format fuzzers into DIR:
//   make_raft_corpus DIR quorum_state    quorum-state files, versions 0 and 1
//   make_raft_corpus DIR control_record  control batches, and key + value concatenations
//   make_raft_corpus DIR snapshot        whole snapshot files
// scripts/test runs it before fuzzing, so no binary seeds live in the repository.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "samsa/faulty_env.h"
#include "samsa/group_records.h"
#include "samsa/quorum_state_file.h"
#include "samsa/raft_records.h"
#include "samsa/raft_snapshot.h"

namespace {

using namespace samsa;

constexpr std::int64_t kT0 = 1'700'000'000'000;

std::string fmt_name(std::string_view prefix, int n) {
  return std::string(prefix) + std::to_string(n);
}

bool write_file(const std::filesystem::path& path, ByteSpan bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  return static_cast<bool>(out);
}

std::vector<ControlRecord> records() {
  DirectoryId dir;
  for (std::size_t i = 0; i < dir.bytes.size(); ++i) dir.bytes[i] = std::byte(i * 17);
  VoterEntry a{1, dir, {{"CONTROLLER", "localhost", 9093}}, 0, 1};
  VoterEntry b{2, {}, {{"CONTROLLER", "h2", 9094}, {"EXTERNAL", "h2.example", 19094}}, 0, 1};
  return {LeaderChangeMessage{1, {1, 2, 3}, {1, 2}},
          LeaderChangeMessage{-1, {}, {}},
          SnapshotHeaderRecord{kT0},
          SnapshotFooterRecord{},
          KRaftVersionRecord{1},
          VotersRecord{{a, b}}};
}

int quorum_state(const std::filesystem::path& dir) {
  DirectoryId id;
  id.bytes[0] = std::byte{0xab};
  id.bytes[15] = std::byte{0x01};
  int n = 0;
  for (const QuorumStateData& s : {QuorumStateData{}, QuorumStateData{1, 5, 2, id},
                                   QuorumStateData{2147483647, -2147483647 - 1, 3, {}}}) {
    if (!write_file(dir / fmt_name("v1-", n++), as_bytes(encode_quorum_state_json(s)))) return 1;
  }
  const std::string_view v0 =
      R"({"clusterId":"abc","leaderId":3,"leaderEpoch":9,"votedId":-1,"appliedOffset":0,"currentVoters":[{"voterId":1},{"voterId":3}],"data_version":0})";
  const std::string_view spaced =
      " {\"leaderId\" : 1, \"x\": [1.5e3, true, null, {\"y\": \"\\u0041\\n\"}], \"leaderEpoch\":5,"
      "\"votedId\":2,\"votedDirectoryId\":\"AAECAwQFBgcICQoLDA0ODw\",\"data_version\":1}\n";
  if (!write_file(dir / "v0", as_bytes(v0)) || !write_file(dir / "spaced", as_bytes(spaced))) {
    return 1;
  }
  return 0;
}

int control_record(const std::filesystem::path& dir) {
  int n = 0;
  for (const ControlRecord& r : records()) {
    const auto key = control_record_key(control_record_type(r));
    auto seed = std::vector<std::byte>(key.begin(), key.end());
    const auto value = encode_control_value(r);
    seed.insert(seed.end(), value.begin(), value.end());
    if (!write_file(dir / fmt_name("record-", n), seed)) return 1;
    auto batch = encode_control_batch({&r, 1}, LeaderEpoch(3), Timestamp(kT0), Offset(n));
    if (!batch.ok() || !write_file(dir / fmt_name("batch-", n), *batch)) return 1;
    ++n;
  }
  const auto all = records();
  auto batch = encode_control_batch(all, LeaderEpoch(7), Timestamp(kT0), Offset(100));
  return batch.ok() && write_file(dir / "batch-all", *batch) ? 0 : 1;
}

int snapshot(const std::filesystem::path& dir) {
  FaultyEnv env(1);
  if (!env.create_dirs("/s").ok()) return 1;
  for (int batches = 0; batches < 3; ++batches) {
    const SnapshotId id{Offset(100 + batches), LeaderEpoch(batches + 1)};
    auto writer = SnapshotWriter::create(env, "/s", id, Timestamp(kT0));
    if (!writer.ok()) return 1;
    for (int b = 0; b < batches; ++b) {
      RecordBatchBuilder builder;
      for (int i = 0; i < 3; ++i) {
        if (!builder.append(Timestamp(kT0 + i), as_bytes("key"), as_bytes("value")).ok()) return 1;
      }
      auto built = builder.build();
      if (!built.ok() || !(*writer)->append(*built).ok()) return 1;
    }
    if (!(*writer)->freeze().ok()) return 1;
    auto bytes = read_file(env, join_path("/s", snapshot_file_name(id)));
    if (!bytes.ok() || !write_file(dir / snapshot_file_name(id), *bytes)) return 1;
  }
  return 0;
}

// Seeds for group_records_fuzz: a selector byte, then a key, a value or a consumer-protocol
// blob as samsa writes them.
int group_records(const std::filesystem::path& dir) {
  using B = std::vector<std::byte>;
  const auto with = [](std::uint8_t selector, const B& bytes) {
    B out{std::byte{selector}};
    out.insert(out.end(), bytes.begin(), bytes.end());
    return out;
  };
  GroupMetadataValue g;
  g.protocol_type = "consumer";
  g.generation = 3;
  g.protocol = "range";
  g.leader = "m-1";
  g.current_state_timestamp = 1700000000000;
  g.members.push_back({"m-1", "i-1", "client", "/127.0.0.1", 30000, 10000, B(12, std::byte{1}),
                       B(20, std::byte{2})});
  const std::vector<B> seeds = {
      with(0, encode_group_key(OffsetCommitKey{"group", "topic", 7})),
      with(0, encode_group_key(GroupMetadataKey{"group"})),
      with(1, encode_group_value(OffsetCommitValue{42, 5, "meta", 1700000000000, -1})),
      with(1, encode_group_value(OffsetCommitValue{42, -1, "", 1700000000000, 1800000000000})),
      with(2, encode_group_value(g)),
      with(2, encode_group_value(GroupMetadataValue{"consumer", 4, {}, {}, 5, {}})),
  };
  for (std::size_t i = 0; i < seeds.size(); ++i) {
    if (!write_file(dir / ("group-" + std::to_string(i)), seeds[i])) return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(
        stderr, "usage: make_raft_corpus DIR quorum_state|control_record|snapshot|group_records\n");
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  const std::string_view kind = argv[2];
  std::filesystem::create_directories(dir);
  int rc = 2;
  if (kind == "quorum_state") rc = quorum_state(dir);
  if (kind == "control_record") rc = control_record(dir);
  if (kind == "snapshot") rc = snapshot(dir);
  if (kind == "group_records") rc = group_records(dir);
  if (rc != 0) std::fprintf(stderr, "make_raft_corpus: %s failed\n", argv[2]);
  return rc;
}
