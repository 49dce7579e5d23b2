// Floor 7 formats: KRaft control records, the quorum-state file and KIP-630 snapshots.
//
// Golden bytes are derived by hand from Kafka's message schemas (field by field, in schema
// order, at the version ControlRecordUtils reads: 0), not from samsa's encoder:
//   clients/src/main/resources/common/message/{LeaderChangeMessage,SnapshotHeaderRecord,
//   SnapshotFooterRecord,KRaftVersionRecord,VotersRecord}.json
// All are "flexibleVersions": "0+", so (Kafka's generated Message code, KIP-482): int16/32/64
// big-endian; uuid 16 raw bytes; string = unsigned varint (length + 1) then UTF-8; array =
// unsigned varint (count + 1) then elements; every struct, nested ones too, ends with a
// tagged-field section: unsigned varint count (0 here).
// The quorum-state golden follows raft/src/main/resources/common/message/QuorumStateData.json
// and FileQuorumStateStore.writeElectionStateToFile: the generated JSON converter writes the
// version's fields in schema order with camelCase names, a uuid as Uuid.toString() (base64url,
// no padding), then "data_version" is set last; Jackson's toString() is compact.
#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "samsa/faulty_env.h"
#include "samsa/quorum_state_file.h"
#include "samsa/raft_records.h"
#include "samsa/raft_snapshot.h"
#include "test_util.h"

using namespace samsa;
using samsa::test::from_hex;

namespace {

constexpr std::int64_t kT0 = 1'700'000'000'000;  // 0x0000018BCFE56800

DirectoryId dir_0_to_15() {
  DirectoryId id;
  for (std::size_t i = 0; i < id.bytes.size(); ++i) id.bytes[i] = static_cast<std::byte>(i);
  return id;
}

struct Golden {
  const char* name;
  ControlRecord record;
  ControlRecordType type;
  const char* hex;
};

std::vector<Golden> goldens() {
  VoterEntry voter;
  voter.voter_id = 1;
  voter.directory_id = dir_0_to_15();
  voter.endpoints = {{"CONTROLLER", "localhost", 9093}};
  voter.min_kraft_version = 0;
  voter.max_kraft_version = 1;
  return {
      {"LeaderChangeMessage", LeaderChangeMessage{1, {1, 2, 3}, {1, 2}},
       ControlRecordType::leader_change,
       "0000"                                 // Version i16 0
       "00000001"                             // LeaderId i32 1
       "04"                                   // Voters: 3 + 1
       "00000001 00 00000002 00 00000003 00"  // VoterId i32, tagged fields 0, each
       "03"                                   // GrantingVoters: 2 + 1
       "00000001 00 00000002 00"              //
       "00"},                                 // tagged fields
      {"SnapshotHeaderRecord", SnapshotHeaderRecord{kT0}, ControlRecordType::snapshot_header,
       "0000"              // Version
       "0000018bcfe56800"  // LastContainedLogTimestamp i64
       "00"},
      {"SnapshotFooterRecord", SnapshotFooterRecord{}, ControlRecordType::snapshot_footer,
       "0000 00"},
      {"KRaftVersionRecord", KRaftVersionRecord{1}, ControlRecordType::kraft_version,
       "0000 0001 00"},
      {"VotersRecord", VotersRecord{{voter}}, ControlRecordType::kraft_voters,
       "0000"                              // Version
       "02"                                // Voters: 1 + 1
       "00000001"                          // VoterId
       "000102030405060708090a0b0c0d0e0f"  // VoterDirectoryId uuid
       "02"                                // Endpoints: 1 + 1
       "0b 434f4e54524f4c4c4552"           // Name "CONTROLLER": 10 + 1
       "0a 6c6f63616c686f7374"             // Host "localhost": 9 + 1
       "2385"                              // Port u16 9093
       "00"                                // Endpoint tagged fields
       "0000 0001"                         // KRaftVersionFeature min 0, max 1
       "00"                                // KRaftVersionFeature tagged fields
       "00"                                // Voter tagged fields
       "00"},                              // tagged fields
  };
}

bool has(const Status& s, std::string_view text) {
  return s.message().find(text) != std::string::npos;
}

// A plain data batch of `count` records.
std::vector<std::byte> data_batch(int count, std::int64_t base_offset = 0) {
  BatchOptions options;
  options.base_offset = Offset(base_offset);
  RecordBatchBuilder builder(options);
  for (int i = 0; i < count; ++i) {
    const std::string key = fmt::format("k{}", i);
    const std::string value = fmt::format("value-{}", i);
    REQUIRE(builder.append(Timestamp(kT0 + i), as_bytes(key), as_bytes(value)).ok());
  }
  auto built = builder.build();
  REQUIRE(built.ok());
  return {built->begin(), built->end()};
}

}  // namespace

TEST_CASE("ControlRecordGoldenBytes", "[raft_records]") {
  for (const Golden& g : goldens()) {
    INFO(g.name);
    const auto expected = from_hex(g.hex);
    CHECK(control_record_type(g.record) == g.type);
    CHECK(encode_control_value(g.record) == expected);
    const auto key = control_record_key(g.type);
    auto decoded = decode_control_record(key, expected);
    REQUIRE(decoded.ok());
    CHECK(*decoded == g.record);
  }
}

TEST_CASE("ControlRecordTruncatedValueIsCorruptionWithPosition", "[raft_records]") {
  for (const Golden& g : goldens()) {
    const auto bytes = from_hex(g.hex);
    const auto key = control_record_key(g.type);
    for (std::size_t n = 0; n < bytes.size(); ++n) {
      INFO(g.name << " cut at " << n);
      auto decoded = decode_control_record(key, ByteSpan(bytes).first(n));
      REQUIRE_FALSE(decoded.ok());
      CHECK(decoded.status().code() == StatusCode::corruption);
      CHECK(has(decoded.status(), "at byte"));
      CHECK(has(decoded.status(), g.name));
    }
    auto extra = bytes;
    extra.push_back(std::byte{0});
    auto decoded = decode_control_record(key, extra);
    REQUIRE_FALSE(decoded.ok());
    CHECK(has(decoded.status(), fmt::format("at byte {}", bytes.size())));
  }
}

TEST_CASE("ControlRecordFieldIsNamedInError", "[raft_records]") {
  // LeaderChangeMessage whose Voters count claims 1000 entries in 5 bytes.
  const auto value = from_hex("0000 00000001 e907 00000001 00");
  auto decoded = decode_control_record(control_record_key(ControlRecordType::leader_change), value);
  REQUIRE_FALSE(decoded.ok());
  CHECK(has(decoded.status(), "LeaderChangeMessage.Voters at byte 6"));
  // A null (0) array is not allowed.
  auto null_array = decode_control_record(control_record_key(ControlRecordType::leader_change),
                                          from_hex("0000 00000001 00 01 00"));
  REQUIRE_FALSE(null_array.ok());
  CHECK(has(null_array.status(), "null"));
}

TEST_CASE("ControlRecordUnknownTaggedFieldsAreSkipped", "[raft_records]") {
  // SnapshotFooterRecord with one tagged field: tag 7, 2 bytes.
  auto decoded = decode_control_record(control_record_key(ControlRecordType::snapshot_footer),
                                       from_hex("0000 01 07 02 abcd"));
  REQUIRE(decoded.ok());
  CHECK(std::holds_alternative<SnapshotFooterRecord>(*decoded));
  auto torn = decode_control_record(control_record_key(ControlRecordType::snapshot_footer),
                                    from_hex("0000 01 07 02 ab"));
  CHECK_FALSE(torn.ok());
}

TEST_CASE("ControlRecordKeyIsChecked", "[raft_records]") {
  const auto footer = from_hex("0000 00");
  CHECK(decode_control_record(from_hex("0000"), footer).status().code() == StatusCode::corruption);
  CHECK(has(decode_control_record(from_hex("ffff 0004"), footer).status(), "negative"));
  // Kafka reads a newer key version, and a longer key, as version 0.
  CHECK(decode_control_record(from_hex("0001 0004 ff"), footer).ok());
  CHECK(has(decode_control_record(from_hex("0000 0001"), footer).status(), "transaction marker"));
  CHECK(has(decode_control_record(from_hex("0000 0063"), footer).status(), "not a known type"));
}

TEST_CASE("ControlBatchRoundTrip", "[raft_records]") {
  std::vector<ControlRecord> records;
  for (const Golden& g : goldens()) records.push_back(g.record);
  auto bytes = encode_control_batch(records, LeaderEpoch(7), Timestamp(kT0), Offset(42));
  REQUIRE(bytes.ok());
  auto view = RecordBatchView::validate(*bytes);
  REQUIRE(view.ok());
  CHECK(view->is_control());
  CHECK_FALSE(view->is_transactional());
  CHECK(view->base_offset() == Offset(42));
  CHECK(view->partition_leader_epoch() == LeaderEpoch(7));
  CHECK(view->records_count() == 5);
  CHECK(view->producer_id() == ProducerId::none());
  auto decoded = decode_control_batch(*view);
  REQUIRE(decoded.ok());
  CHECK(*decoded == records);

  CHECK(encode_control_batch({}, LeaderEpoch(1), Timestamp(kT0)).status().code() ==
        StatusCode::invalid_argument);
  const auto plain = data_batch(1);
  auto plain_view = RecordBatchView::validate(plain);
  REQUIRE(plain_view.ok());
  CHECK(decode_control_batch(*plain_view).status().code() == StatusCode::invalid_argument);
}

TEST_CASE("ControlBatchWithBadRecordNamesOffset", "[raft_records]") {
  BatchOptions options;
  options.control = true;
  options.base_offset = Offset(10);
  RecordBatchBuilder builder(options);
  const auto key = control_record_key(ControlRecordType::snapshot_header);
  const auto value = from_hex("0000 00");  // a footer's bytes under a header's key
  REQUIRE(builder.append(Timestamp(kT0), ByteSpan(key), ByteSpan(value)).ok());
  auto built = builder.build();
  REQUIRE(built.ok());
  auto view = RecordBatchView::validate(*built);
  REQUIRE(view.ok());
  auto decoded = decode_control_batch(*view);
  REQUIRE_FALSE(decoded.ok());
  CHECK(has(decoded.status(), "record at offset 10"));
  CHECK(has(decoded.status(), "SnapshotHeaderRecord.LastContainedLogTimestamp at byte 2"));
}

// ---- quorum-state

namespace {
QuorumStateData sample_state() {
  return {1, 5, 2, dir_0_to_15()};
}
constexpr std::string_view kGoldenJson =
    R"({"leaderId":1,"leaderEpoch":5,"votedId":2,"votedDirectoryId":"AAECAwQFBgcICQoLDA0ODw","data_version":1})";
}  // namespace

TEST_CASE("QuorumStateGoldenJson", "[quorum_state]") {
  // "AAECAwQFBgcICQoLDA0ODw" is base64url(00 01 .. 0f) without padding (python:
  // base64.urlsafe_b64encode(bytes(range(16))).rstrip(b"=")).
  CHECK(encode_quorum_state_json(sample_state()) == kGoldenJson);
  auto parsed = parse_quorum_state_json(kGoldenJson, "qs");
  REQUIRE(parsed.ok());
  CHECK(*parsed == sample_state());
  // Kafka's ZERO_UUID spelling.
  CHECK(
      encode_quorum_state_json({-1, 3, -1, {}}) ==
      R"({"leaderId":-1,"leaderEpoch":3,"votedId":-1,"votedDirectoryId":"AAAAAAAAAAAAAAAAAAAAAA","data_version":1})");
}

TEST_CASE("QuorumStateVersion0IsRead", "[quorum_state]") {
  // As Kafka 2.8-3.7 wrote it (QuorumStateData version 0).
  auto parsed = parse_quorum_state_json(
      R"({"clusterId":"","leaderId":3,"leaderEpoch":9,"votedId":-1,"appliedOffset":0,"currentVoters":[{"voterId":1},{"voterId":3}],"data_version":0})",
      "qs");
  REQUIRE(parsed.ok());
  CHECK(*parsed == QuorumStateData{3, 9, -1, {}});
  auto no_voters = parse_quorum_state_json(
      R"({"clusterId":"","leaderId":3,"leaderEpoch":9,"votedId":-1,"appliedOffset":0,"data_version":0})",
      "qs");
  CHECK(has(no_voters.status(), "currentVoters"));
}

TEST_CASE("QuorumStateTornFileIsCorruptionWithPosition", "[quorum_state]") {
  for (std::size_t n = 0; n < kGoldenJson.size(); ++n) {
    INFO("cut at " << n);
    auto parsed = parse_quorum_state_json(kGoldenJson.substr(0, n), "/d/quorum-state");
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.status().code() == StatusCode::corruption);
    CHECK(has(parsed.status(), "/d/quorum-state"));
    CHECK(has(parsed.status(), "at byte"));
  }
}

TEST_CASE("QuorumStateMalformedIsCorruption", "[quorum_state]") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"leaderId":1,"leaderEpoch":5,"votedId":2,"data_version":1})", "votedDirectoryId"},
      {R"({"leaderId":"1","leaderEpoch":5,"votedId":2,"votedDirectoryId":"AAAAAAAAAAAAAAAAAAAAAA","data_version":1})",
       "at byte 12: \"leaderId\""},
      {R"({"leaderId":1.5,"leaderEpoch":5,"votedId":2,"votedDirectoryId":"AAAAAAAAAAAAAAAAAAAAAA","data_version":1})",
       "leaderId"},
      {R"({"leaderId":2147483648,"leaderEpoch":5,"votedId":2,"votedDirectoryId":"AAAAAAAAAAAAAAAAAAAAAA","data_version":1})",
       "leaderId"},
      {R"({"leaderId":1,"leaderEpoch":5,"votedId":2,"votedDirectoryId":"AAAA","data_version":1})",
       "votedDirectoryId"},
      {R"({"leaderId":1,"leaderEpoch":5,"votedId":2,"votedDirectoryId":"AAAAAAAAAAAAAAAAAAAAAB","data_version":1})",
       "votedDirectoryId"},
      {R"({"leaderId":1,"leaderEpoch":5,"votedId":2,"votedDirectoryId":"AAAAAAAAAAAAAAAAAAAAAA","data_version":2})",
       "data_version"},
      {R"({"leaderId":1,"leaderEpoch":5,"votedId":2,"votedDirectoryId":"AAAAAAAAAAAAAAAAAAAAAA"})",
       "data_version"},
      {R"({"leaderId":1,"leaderId":1,"leaderEpoch":5,"votedId":2,"votedDirectoryId":"AAAAAAAAAAAAAAAAAAAAAA","data_version":1})",
       "duplicate"},
      {std::string(kGoldenJson) + "x", "unexpected bytes"},
      {std::string(kGoldenJson) + "}", "at byte " + std::to_string(kGoldenJson.size())},
      {"[1,2]", "not a JSON object"},
      {R"({"leaderId":01})", "at byte 13"},
  };
  for (const auto& [text, expected] : cases) {
    INFO(text);
    auto parsed = parse_quorum_state_json(text, "qs");
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.status().code() == StatusCode::corruption);
    CHECK(has(parsed.status(), expected));
  }
  // Whitespace and a trailing newline are fine, unknown fields are ignored.
  auto spaced = parse_quorum_state_json(
      " { \"leaderId\" : 1 , \"leaderEpoch\":5,\"votedId\":2,\"future\":[{}],"
      "\"votedDirectoryId\":\"AAECAwQFBgcICQoLDA0ODw\",\"data_version\":1}\n",
      "qs");
  REQUIRE(spaced.ok());
  CHECK(*spaced == sample_state());
}

TEST_CASE("QuorumStateMissingFileIsNullopt", "[quorum_state]") {
  FaultyEnv env(1);
  REQUIRE(env.create_dirs("/d").ok());
  // A leftover .tmp from a write cut short does not count.
  REQUIRE(write_file_atomically(env, "/d/other", as_bytes("x")).ok());
  REQUIRE(env.rename("/d/other", "/d/quorum-state.tmp").ok());
  auto read = read_quorum_state(env, "/d/quorum-state");
  REQUIRE(read.ok());
  CHECK_FALSE(read->has_value());
  REQUIRE(write_quorum_state(env, "/d/quorum-state", sample_state()).ok());
  read = read_quorum_state(env, "/d/quorum-state");
  REQUIRE(read.ok());
  REQUIRE(read->has_value());
  CHECK(**read == sample_state());
}

TEST_CASE("QuorumStatePowerCutKeepsOldOrNew", "[quorum_state]") {
  const QuorumStateData old_state{1, 5, 2, dir_0_to_15()};
  const QuorumStateData new_state{-1, 6, 3, {}};
  const FaultOp ops[] = {FaultOp::write, FaultOp::sync, FaultOp::rename, FaultOp::sync_dir};
  const PowerCutMode modes[] = {PowerCutMode::drop_unsynced, PowerCutMode::tear_last_write,
                                PowerCutMode::random_prefix};
  int saw_old = 0;
  int saw_new = 0;
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    for (int fault = -1; fault < 4; ++fault) {  // -1: no fault, the write completes
      for (PowerCutMode mode : modes) {
        FaultyEnv env(seed);
        REQUIRE(env.create_dirs("/d").ok());
        REQUIRE(write_quorum_state(env, "/d/quorum-state", old_state).ok());
        if (fault >= 0) env.fail_nth(ops[fault], 1, 5 /* EIO */);
        const Status wrote = write_quorum_state(env, "/d/quorum-state", new_state);
        CHECK(wrote.ok() == (fault < 0));
        env.power_cut(mode);
        auto read = read_quorum_state(env, "/d/quorum-state");
        INFO("seed " << seed << " fault " << fault << " mode " << int(mode));
        REQUIRE(read.ok());
        REQUIRE(read->has_value());
        const bool is_old = **read == old_state;
        const bool is_new = **read == new_state;
        CHECK((is_old || is_new));
        if (fault < 0) CHECK(is_new);  // a write that returned ok is durable
        saw_old += is_old;
        saw_new += is_new;
      }
    }
  }
  CHECK(saw_old > 0);
  CHECK(saw_new > 0);
}

TEST_CASE("QuorumStateWrittenInPlaceTearsUnderPowerCut", "[quorum_state]") {
  // The contrast that shows the test above can fail: overwriting the file in place, without
  // the tmp + rename protocol, leaves a torn file that parse reports as corruption.
  int torn = 0;
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    FaultyEnv env(seed);
    REQUIRE(env.create_dirs("/d").ok());
    REQUIRE(write_quorum_state(env, "/d/quorum-state", sample_state()).ok());
    OpenOptions options;
    options.truncate = true;
    auto file = env.open("/d/quorum-state", options);
    REQUIRE(file.ok());
    REQUIRE((*file)->write_at(0, as_bytes(encode_quorum_state_json({7, 8, 9, {}}))).ok());
    env.power_cut(PowerCutMode::tear_last_write);
    auto read = read_quorum_state(env, "/d/quorum-state");
    if (!read.ok()) {
      CHECK(read.status().code() == StatusCode::corruption);
      ++torn;
    }
  }
  CHECK(torn > 0);
}

// ---- snapshots

TEST_CASE("SnapshotFileNames", "[raft_snapshot]") {
  const SnapshotId id{Offset(100), LeaderEpoch(3)};
  CHECK(snapshot_file_name(id) == "00000000000000000100-0000000003.checkpoint");
  CHECK(parse_snapshot_file_name("00000000000000000100-0000000003.checkpoint") == id);
  CHECK_FALSE(parse_snapshot_file_name("00000000000000000100-0000000003.checkpoint.part"));
  CHECK_FALSE(parse_snapshot_file_name("00000000000000000100-0000000003.checkpoint.deleted"));
  CHECK_FALSE(parse_snapshot_file_name("0000000000000000100-0000000003.checkpoint"));
  CHECK_FALSE(parse_snapshot_file_name("0000000000000000010a-0000000003.checkpoint"));
  CHECK_FALSE(parse_snapshot_file_name("99999999999999999999-0000000003.checkpoint"));
  CHECK_FALSE(parse_snapshot_file_name("00000000000000000100-9999999999.checkpoint"));
}

namespace {
// Writes a frozen snapshot of `batches` data batches with 3 records each.
void write_snapshot(Env& env, SnapshotId id, int batches) {
  auto writer = SnapshotWriter::create(env, "/d", id, Timestamp(kT0));
  REQUIRE(writer.ok());
  for (int i = 0; i < batches; ++i) REQUIRE((*writer)->append(data_batch(3, 1000)).ok());
  REQUIRE((*writer)->freeze().ok());
}
}  // namespace

TEST_CASE("SnapshotWriteAndRead", "[raft_snapshot]") {
  FaultyEnv env(1);
  REQUIRE(env.create_dirs("/d").ok());
  const SnapshotId id{Offset(100), LeaderEpoch(3)};
  write_snapshot(env, id, 2);
  auto listed = list_snapshots(env, "/d");
  REQUIRE(listed.ok());
  CHECK(*listed == std::vector<SnapshotId>{id});
  auto reader = SnapshotReader::open(env, "/d", id);
  REQUIRE(reader.ok());
  CHECK((*reader)->id() == id);
  auto batches = (*reader)->data_batches();
  REQUIRE(batches.ok());
  REQUIRE(batches->size() == 2);
  // Kafka's RecordsSnapshotWriter: offsets count from 0 across the file, the header batch
  // holds offset 0, every batch carries the snapshot's epoch.
  std::int64_t expected = 1;
  for (const auto& b : *batches) {
    auto view = RecordBatchView::validate(b);
    REQUIRE(view.ok());
    CHECK(view->base_offset() == Offset(expected));
    CHECK(view->partition_leader_epoch() == LeaderEpoch(3));
    CHECK(view->records_count() == 3);
    expected += 3;
  }
  // The whole file: header batch, the data, footer batch at offset 7.
  std::vector<std::byte> all((*reader)->size_bytes());
  auto n = (*reader)->read_at(0, all);
  REQUIRE(n.ok());
  CHECK(*n == all.size());
  auto header = RecordBatchView::validate(all);
  REQUIRE(header.ok());
  CHECK(header->base_offset() == Offset(0));
  auto header_records = decode_control_batch(*header);
  REQUIRE(header_records.ok());
  CHECK(header_records->front() == ControlRecord(SnapshotHeaderRecord{kT0}));
  CHECK((*reader)->read_at(all.size() + 1, all).status().code() == StatusCode::out_of_range);
  auto tail = (*reader)->read_at(all.size() - 5, all);
  REQUIRE(tail.ok());
  CHECK(*tail == 5);

  CHECK(SnapshotWriter::create(env, "/d", id, Timestamp(kT0)).status().code() ==
        StatusCode::already_exists);
}

TEST_CASE("SnapshotWriterRefusesControlBatch", "[raft_snapshot]") {
  FaultyEnv env(1);
  REQUIRE(env.create_dirs("/d").ok());
  auto writer = SnapshotWriter::create(env, "/d", {Offset(5), LeaderEpoch(1)}, Timestamp(kT0));
  REQUIRE(writer.ok());
  const ControlRecord footer = SnapshotFooterRecord{};
  auto control = encode_control_batch({&footer, 1}, LeaderEpoch(1), Timestamp(kT0));
  REQUIRE(control.ok());
  CHECK((*writer)->append(*control).code() == StatusCode::invalid_argument);
  auto garbage = data_batch(2);
  garbage[garbage.size() - 1] ^= std::byte{1};
  CHECK((*writer)->append(garbage).code() == StatusCode::corruption);
}

TEST_CASE("SnapshotPowerCutBeforeFreezeLeavesNoSnapshot", "[raft_snapshot]") {
  for (PowerCutMode mode : {PowerCutMode::drop_unsynced, PowerCutMode::tear_last_write}) {
    FaultyEnv env(3);
    REQUIRE(env.create_dirs("/d").ok());
    REQUIRE(env.sync_dir("/").ok());
    {
      auto writer = SnapshotWriter::create(env, "/d", {Offset(10), LeaderEpoch(2)}, Timestamp(kT0));
      REQUIRE(writer.ok());
      REQUIRE((*writer)->append(data_batch(3)).ok());
      REQUIRE(env.sync_dir("/d").ok());  // even if the .part name is durable
      env.power_cut(mode);
    }
    auto listed = list_snapshots(env, "/d");
    REQUIRE(listed.ok());
    CHECK(listed->empty());
    CHECK(SnapshotReader::open(env, "/d", {Offset(10), LeaderEpoch(2)}).status().code() ==
          StatusCode::not_found);
  }
  // After freeze() the snapshot survives the cut.
  FaultyEnv env(3);
  REQUIRE(env.create_dirs("/d").ok());
  write_snapshot(env, {Offset(10), LeaderEpoch(2)}, 1);
  env.power_cut(PowerCutMode::drop_unsynced);
  auto listed = list_snapshots(env, "/d");
  REQUIRE(listed.ok());
  CHECK(listed->size() == 1);
  auto reader = SnapshotReader::open(env, "/d", {Offset(10), LeaderEpoch(2)});
  REQUIRE(reader.ok());
  CHECK((*reader)->data_batches().ok());
}

TEST_CASE("SnapshotReceiverTakesChunksInOrder", "[raft_snapshot]") {
  FaultyEnv env(1);
  REQUIRE(env.create_dirs("/leader").ok());
  REQUIRE(env.create_dirs("/d").ok());
  const SnapshotId id{Offset(100), LeaderEpoch(3)};
  {
    auto writer = SnapshotWriter::create(env, "/leader", id, Timestamp(kT0));
    REQUIRE(writer.ok());
    REQUIRE((*writer)->append(data_batch(4)).ok());
    REQUIRE((*writer)->freeze().ok());
  }
  auto reader = SnapshotReader::open(env, "/leader", id);
  REQUIRE(reader.ok());
  auto receiver = SnapshotReceiver::create(env, "/d", id);
  REQUIRE(receiver.ok());
  std::vector<std::byte> chunk(50);
  auto first = (*reader)->read_at(0, chunk);
  REQUIRE(first.ok());
  REQUIRE((*receiver)->write_chunk(0, ByteSpan(chunk).first(*first)).ok());
  // A chunk out of order (a gap, or a repeat) is refused and changes nothing.
  CHECK((*receiver)->write_chunk(100, chunk).code() == StatusCode::out_of_range);
  CHECK((*receiver)->write_chunk(0, chunk).code() == StatusCode::out_of_range);
  CHECK((*receiver)->received_bytes() == 50);
  while ((*receiver)->received_bytes() < (*reader)->size_bytes()) {
    const std::uint64_t at = (*receiver)->received_bytes();
    auto n = (*reader)->read_at(at, chunk);
    REQUIRE(n.ok());
    REQUIRE((*receiver)->write_chunk(at, ByteSpan(chunk).first(*n)).ok());
  }
  REQUIRE((*receiver)->finish().ok());
  auto listed = list_snapshots(env, "/d");
  REQUIRE(listed.ok());
  CHECK(*listed == std::vector<SnapshotId>{id});
  auto copy = SnapshotReader::open(env, "/d", id);
  REQUIRE(copy.ok());
  auto a = (*copy)->data_batches();
  auto b = (*reader)->data_batches();
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(*a == *b);
  CHECK(SnapshotReceiver::create(env, "/d", id).status().code() == StatusCode::already_exists);
}

TEST_CASE("SnapshotFlippedByteIsReported", "[raft_snapshot]") {
  FaultyEnv env(1);
  REQUIRE(env.create_dirs("/d").ok());
  const SnapshotId id{Offset(100), LeaderEpoch(3)};
  write_snapshot(env, id, 2);
  const std::string path = "/d/" + snapshot_file_name(id);
  auto original = read_file(env, path);
  REQUIRE(original.ok());
  // Every byte flipped, one at a time, is caught by the reader and by a receiver.
  for (std::size_t i = 0; i < original->size(); i += 7) {
    INFO("flipped byte " << i);
    auto bytes = *original;
    bytes[i] ^= std::byte{0x10};
    REQUIRE(write_file_atomically(env, path, bytes).ok());
    auto reader = SnapshotReader::open(env, "/d", id);
    REQUIRE(reader.ok());
    auto batches = (*reader)->data_batches();
    REQUIRE_FALSE(batches.ok());
    CHECK(batches.status().code() == StatusCode::corruption);
    CHECK(has(batches.status(), path));

    const SnapshotId other{Offset(200), LeaderEpoch(3)};
    auto receiver = SnapshotReceiver::create(env, "/d", other);
    REQUIRE(receiver.ok());
    REQUIRE((*receiver)->write_chunk(0, bytes).ok());
    CHECK((*receiver)->finish().code() == StatusCode::corruption);
    auto listed = list_snapshots(env, "/d");
    REQUIRE(listed.ok());
    CHECK(*listed == std::vector<SnapshotId>{id});
  }
  // A CRC mismatch names the batch's byte position in the file.
  auto bytes = *original;
  bytes.back() ^= std::byte{0x10};
  auto invalid = validate_snapshot_bytes(bytes, LeaderEpoch(3), "snap");
  REQUIRE_FALSE(invalid.ok());
  CHECK(has(invalid.status(), "snap"));
}

TEST_CASE("SnapshotWithoutFooterIsRefused", "[raft_snapshot]") {
  const SnapshotHeaderRecord header{kT0};
  const ControlRecord h = header;
  auto header_batch = encode_control_batch({&h, 1}, LeaderEpoch(1), Timestamp(kT0));
  REQUIRE(header_batch.ok());
  auto bytes = *header_batch;
  auto data = data_batch(2, 1);
  set_partition_leader_epoch(data, LeaderEpoch(1));
  bytes.insert(bytes.end(), data.begin(), data.end());
  auto invalid = validate_snapshot_bytes(bytes, LeaderEpoch(1), "snap");
  REQUIRE_FALSE(invalid.ok());
  CHECK(has(invalid.status(), "SnapshotFooterRecord"));
  CHECK(has(validate_snapshot_bytes(bytes, LeaderEpoch(2), "snap").status(),
            "at byte 0: partition leader epoch 1, expected the snapshot's 2"));
  // Data batch with a gap in offsets.
  auto gap = *header_batch;
  auto data5 = data_batch(2, 5);
  set_partition_leader_epoch(data5, LeaderEpoch(1));
  gap.insert(gap.end(), data5.begin(), data5.end());
  auto gapped = validate_snapshot_bytes(gap, LeaderEpoch(1), "snap");
  REQUIRE_FALSE(gapped.ok());
  CHECK(has(gapped.status(),
            fmt::format("at byte {}: base offset 5, expected 1", header_batch->size())));
  CHECK_FALSE(validate_snapshot_bytes({}, LeaderEpoch(1), "snap").ok());
}

// Whole batches, built independently of samsa (a Python script packing DefaultRecordBatch
// and DefaultRecord field by field, with a bitwise CRC-32C, polynomial 0x82F63B78):
// attributes 0x0020 (control), producer id/epoch/sequence -1, one record each, key
// i16 0 + i16 type, timestamps kT0.
TEST_CASE("ControlBatchGoldenBytes", "[raft_records]") {
  const ControlRecord leader_change = LeaderChangeMessage{1, {1, 2, 3}, {1, 2}};
  auto batch = encode_control_batch({&leader_change, 1}, LeaderEpoch(5), Timestamp(kT0));
  REQUIRE(batch.ok());
  CHECK(*batch == from_hex("0000000000000000 0000005e 00000005 02 1735ab2b 0020 00000000"
                           "0000018bcfe56800 0000018bcfe56800 ffffffffffffffff ffff ffffffff"
                           "00000001"
                           "58 00 00 00 08 00000002 44"
                           "0000 00000001 04 0000000100 0000000200 0000000300 03 0000000100"
                           "0000000200 00"
                           "00"));
}

TEST_CASE("SnapshotGoldenBytes", "[raft_snapshot]") {
  // An empty snapshot at epoch 3: the header batch at offset 0, the footer batch at 1 (Kafka's
  // RecordsSnapshotWriter counts offsets from 0 within the file), both at epoch 3.
  FaultyEnv env(1);
  REQUIRE(env.create_dirs("/d").ok());
  const SnapshotId id{Offset(50), LeaderEpoch(3)};
  auto writer = SnapshotWriter::create(env, "/d", id, Timestamp(kT0));
  REQUIRE(writer.ok());
  REQUIRE((*writer)->freeze().ok());
  auto bytes = read_file(env, "/d/00000000000000000050-0000000003.checkpoint");
  REQUIRE(bytes.ok());
  CHECK(*bytes ==
        from_hex("0000000000000000 00000047 00000003 02 c7ac7804 0020 00000000"
                 "0000018bcfe56800 0000018bcfe56800 ffffffffffffffff ffff ffffffff 00000001"
                 "2a 00 00 00 08 00000003 16 0000 0000018bcfe56800 00 00"
                 "0000000000000001 0000003f 00000003 02 8f6608e6 0020 00000000"
                 "0000018bcfe56800 0000018bcfe56800 ffffffffffffffff ffff ffffffff 00000001"
                 "1a 00 00 00 08 00000004 06 0000 00 00"));
  auto reader = SnapshotReader::open(env, "/d", id);
  REQUIRE(reader.ok());
  auto data = (*reader)->data_batches();
  REQUIRE(data.ok());
  CHECK(data->empty());
}

TEST_CASE("SnapshotWriterFailedWriteIsNeverFrozen", "[raft_snapshot]") {
  for (FaultOp op : {FaultOp::write, FaultOp::sync, FaultOp::rename}) {
    INFO("failing op " << int(op));
    FaultyEnv env(1);
    REQUIRE(env.create_dirs("/d").ok());
    const SnapshotId id{Offset(10), LeaderEpoch(2)};
    {
      auto writer = SnapshotWriter::create(env, "/d", id, Timestamp(kT0));
      REQUIRE(writer.ok());
      env.short_write_nth(1, 10);  // only for op == write: a torn append
      if (op != FaultOp::write) {
        env.clear_faults();
        REQUIRE((*writer)->append(data_batch(3)).ok());
        env.fail_nth(op, 1, 5 /* EIO */);
        CHECK_FALSE((*writer)->freeze().ok());
      } else {
        CHECK_FALSE((*writer)->append(data_batch(3)).ok());
      }
      // Nothing more goes into a .part file whose contents are unknown.
      CHECK((*writer)->freeze().code() == StatusCode::failed_precondition);
    }
    auto listed = list_snapshots(env, "/d");
    REQUIRE(listed.ok());
    CHECK(listed->empty());
    auto names = env.list_dir("/d");
    REQUIRE(names.ok());
    CHECK(names->empty());  // the destroyed writer removed its .part file
  }
}
