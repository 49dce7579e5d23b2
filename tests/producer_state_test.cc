// ProducerStateManager: Kafka's idempotent-producer rules (duplicates, epochs, sequences
// with their wrap), expiry, and the `.snapshot` file (golden bytes, round trip, corruption,
// which snapshot is loaded). One named test per rule.
#include <catch2/catch.hpp>

#include <limits>

#include "samsa/crc32c.h"
#include "samsa/faulty_env.h"
#include "samsa/producer_state.h"
#include "samsa/record_batch.h"
#include "test_util.h"

using namespace samsa;
using Catch::Matchers::Contains;

namespace {

constexpr ProducerId kPid{42};
constexpr ProducerEpoch kEpoch{3};
constexpr Timestamp kT0{1'700'000'000'000};
constexpr std::int32_t kSeqMax = std::numeric_limits<std::int32_t>::max();
constexpr auto kClient = ProducerAppendOrigin::client;
constexpr auto kReplication = ProducerAppendOrigin::replication;

using AddResult = Result<std::optional<ProducerBatchMetadata>>;

// A batch of `records` records of `pid`, its offsets assigned from `base`; the max
// timestamp is ts + records - 1.
std::vector<std::byte> make_batch(ProducerId pid, ProducerEpoch epoch, Sequence seq, Offset base,
                                  int records = 1, Timestamp ts = kT0) {
  BatchOptions options;
  options.producer_id = pid;
  options.producer_epoch = epoch;
  options.base_sequence = seq;
  RecordBatchBuilder builder(options);
  for (int i = 0; i < records; ++i) {
    REQUIRE(builder.append(ts + i, as_bytes("k"), as_bytes("v")).ok());
  }
  auto built = builder.build();
  REQUIRE(built.ok());
  set_base_offset(*built, base);
  return test::to_vector(*built);
}

RecordBatchView view_of(const std::vector<std::byte>& bytes) {
  auto view = RecordBatchView::parse(bytes);
  REQUIRE(view.ok());
  return *view;
}

// Puts the CRC of the bytes after it in place, as a writer would.
std::vector<std::byte> with_crc(std::vector<std::byte> bytes) {
  put_be<std::uint32_t>(bytes.data() + 2, crc32c(ByteSpan(bytes).subspan(6)));
  return bytes;
}

struct Fixture {
  FaultyEnv env{11};
  const std::string dir = "/data/orders-0";
  ProducerStateManager state;
  Offset next{0};  // where the next batch goes

  explicit Fixture(ProducerStateManager::Config config = {}) : state(env, dir, config) {
    REQUIRE(env.create_dirs(dir).ok());
  }

  // Offers one batch at `next` in an update of its own, committing it when it is new.
  AddResult send(ProducerId pid, ProducerEpoch epoch, Sequence seq, int records = 1,
                 ProducerAppendOrigin origin = kClient, Timestamp ts = kT0) {
    const auto bytes = make_batch(pid, epoch, seq, next, records, ts);
    auto update = state.begin_update();
    AddResult added = update.add(view_of(bytes), origin);
    if (added.ok() && !added->has_value()) {
      next = next + records;
      state.commit(std::move(update), next);
    }
    return added;
  }

  // send(), which must accept the batch as new; returns what was recorded for it.
  ProducerBatchMetadata accept(ProducerId pid, ProducerEpoch epoch, Sequence seq, int records = 1,
                               ProducerAppendOrigin origin = kClient, Timestamp ts = kT0) {
    AddResult added = send(pid, epoch, seq, records, origin, ts);
    INFO(added.status().to_string());
    REQUIRE(added.ok());
    REQUIRE(!added->has_value());
    return state.entry(pid)->batches.back();
  }

  // send(), which must refuse the batch with `code`; returns the error's message.
  std::string refuse(StatusCode code, ProducerId pid, ProducerEpoch epoch, Sequence seq,
                     int records = 1) {
    AddResult added = send(pid, epoch, seq, records);
    INFO(added.status().to_string());
    REQUIRE(!added.ok());
    CHECK(added.status().code() == code);
    return added.status().message();
  }

  std::vector<Offset> snapshots() {
    auto listed = state.list_snapshots();
    REQUIRE(listed.ok());
    return *listed;
  }
  void write_snapshot_file(Offset offset, const std::vector<std::byte>& bytes) {
    const std::string path = join_path(dir, ProducerStateManager::snapshot_file_name(offset));
    REQUIRE(write_file_atomically(env, path, bytes).ok());
  }
};

}  // namespace

// --- what is tracked

TEST_CASE("Batches without a producer id are ignored", "[producer]") {
  Fixture f;
  const auto bytes =
      make_batch(ProducerId::none(), ProducerEpoch::none(), Sequence::none(), Offset(0), 3);
  auto update = f.state.begin_update();
  AddResult added = update.add(view_of(bytes), kClient);
  REQUIRE(added.ok());
  CHECK(!added->has_value());
  CHECK(update.empty());
  f.state.commit(std::move(update), Offset(3));
  CHECK(f.state.producers().empty());
  CHECK(f.state.map_end_offset() == Offset(3));
}

TEST_CASE("Control batches do not move producer state", "[producer]") {
  Fixture f;
  f.accept(kPid, kEpoch, Sequence(0));
  BatchOptions options;
  options.producer_id = kPid;
  options.producer_epoch = ProducerEpoch(9);
  options.control = true;
  options.transactional = true;
  RecordBatchBuilder builder(options);
  const auto key = control_record_key(ControlRecordType::commit);
  REQUIRE(builder.append(kT0, ByteSpan(key), as_bytes("marker")).ok());
  auto built = builder.build();
  REQUIRE(built.ok());
  set_base_offset(*built, Offset(1));
  auto update = f.state.begin_update();
  AddResult added = update.add(view_of(test::to_vector(*built)), kClient);
  REQUIRE(added.ok());
  CHECK(!added->has_value());
  CHECK(update.empty());
}

TEST_CASE("Commit records the batch and the map end offset", "[producer]") {
  Fixture f;
  const ProducerBatchMetadata recorded = f.accept(kPid, kEpoch, Sequence(0), 3);
  CHECK(recorded == ProducerBatchMetadata{Sequence(0), Sequence(2), Offset(0), Offset(2), kT0 + 2});
  const auto entry = f.state.entry(kPid);
  REQUIRE(entry.has_value());
  CHECK(entry->producer_id == kPid);
  CHECK(entry->epoch == kEpoch);
  CHECK(entry->last_sequence() == Sequence(2));
  CHECK(entry->last_offset() == Offset(2));
  CHECK(entry->last_timestamp == kT0 + 2);  // the batch's max timestamp
  CHECK(f.state.map_end_offset() == Offset(3));
}

// --- duplicates and the five remembered batches

TEST_CASE("A retry of each of the last 5 batches is a duplicate with its original offsets",
          "[producer]") {
  Fixture f;
  std::vector<ProducerBatchMetadata> sent;
  for (int i = 0; i < 6; ++i) sent.push_back(f.accept(kPid, kEpoch, Sequence(2 * i), 2));
  const Offset end = f.state.map_end_offset();
  const auto before = f.state.entry(kPid)->batches;
  for (int i = 1; i < 6; ++i) {
    INFO("retry of batch " << i);
    AddResult retry = f.send(kPid, kEpoch, Sequence(2 * i), 2);  // lands at new offsets
    REQUIRE(retry.ok());
    REQUIRE(retry->has_value());
    CHECK(**retry == sent[i]);
    CHECK((*retry)->first_offset == Offset(2 * i));
  }
  // Nothing recorded for the retries.
  CHECK(f.state.entry(kPid)->batches == before);
  CHECK(f.state.map_end_offset() == end);
}

TEST_CASE("A retry of the 6th-oldest batch is out of order, not a duplicate", "[producer]") {
  Fixture f;
  for (int i = 0; i < 6; ++i) f.accept(kPid, kEpoch, Sequence(2 * i), 2);
  const auto entry = f.state.entry(kPid);
  REQUIRE(entry->batches.size() == ProducerStateManager::kMaxBatchesPerProducer);
  CHECK(entry->batches.front().first_sequence == Sequence(2));  // sequences 0..1 forgotten
  const std::string s = f.refuse(StatusCode::out_of_order_sequence, kPid, kEpoch, Sequence(0), 2);
  CHECK_THAT(s, Contains("expected sequence 12, received 0"));
}

TEST_CASE("A retry overlapping a remembered batch but not equal to it is out of order",
          "[producer]") {
  Fixture f;
  f.accept(kPid, kEpoch, Sequence(0), 3);
  f.refuse(StatusCode::out_of_order_sequence, kPid, kEpoch, Sequence(0), 2);
}

// --- epochs

TEST_CASE("A new epoch starting at sequence 0 is accepted and forgets the old batches",
          "[producer]") {
  Fixture f;
  for (int i = 0; i < 3; ++i) f.accept(kPid, kEpoch, Sequence(i));
  const ProducerEpoch bumped(4);
  const ProducerBatchMetadata first = f.accept(kPid, bumped, Sequence(0));
  const auto entry = f.state.entry(kPid);
  CHECK(entry->epoch == bumped);
  REQUIRE(entry->batches.size() == 1);
  CHECK(entry->batches.front() == first);
  // A retry from the old epoch is now stale, not a duplicate.
  f.refuse(StatusCode::invalid_producer_epoch, kPid, kEpoch, Sequence(2));
}

TEST_CASE("A new epoch not starting at sequence 0 is out of order", "[producer]") {
  Fixture f;
  f.accept(kPid, kEpoch, Sequence(0), 5);
  const std::string s =
      f.refuse(StatusCode::out_of_order_sequence, kPid, ProducerEpoch(4), Sequence(5));
  CHECK_THAT(s, Contains("producer 42 epoch 4"));
  CHECK_THAT(s, Contains("must start at sequence 0, received 5"));
  CHECK(f.state.entry(kPid)->epoch == kEpoch);
}

TEST_CASE("An epoch older than the producer's is refused", "[producer]") {
  Fixture f;
  f.accept(kPid, kEpoch, Sequence(0));
  const std::string s =
      f.refuse(StatusCode::invalid_producer_epoch, kPid, ProducerEpoch(2), Sequence(1));
  CHECK_THAT(s, Contains("producer 42 epoch 2 sequences 1..1"));
  CHECK_THAT(s, Contains("current epoch 3"));
}

// --- sequences

TEST_CASE("An unknown producer must start at sequence 0", "[producer]") {
  Fixture f;
  const std::string s = f.refuse(StatusCode::unknown_producer_id, kPid, kEpoch, Sequence(5));
  CHECK_THAT(s, Contains("producer 42 epoch 3"));
  CHECK_THAT(s, Contains("expected sequence 0, received 5"));
  CHECK(!f.state.entry(kPid).has_value());
  f.accept(kPid, kEpoch, Sequence(0));
  CHECK(f.state.entry(kPid)->last_sequence() == Sequence(0));
}

TEST_CASE("A sequence gap is out of order", "[producer]") {
  Fixture f;
  f.accept(kPid, kEpoch, Sequence(0), 2);
  const std::string s = f.refuse(StatusCode::out_of_order_sequence, kPid, kEpoch, Sequence(3));
  CHECK_THAT(s, Contains("producer 42 epoch 3"));
  CHECK_THAT(s, Contains("expected sequence 2, received 3"));
  f.accept(kPid, kEpoch, Sequence(2));
}

TEST_CASE("Sequences wrap from INT32_MAX to 0", "[producer]") {
  Fixture f;
  SECTION("a batch ending at INT32_MAX is followed by 0") {
    f.accept(kPid, kEpoch, Sequence(kSeqMax - 1), 2, kReplication);
    CHECK(f.state.entry(kPid)->last_sequence() == Sequence(kSeqMax));
    f.refuse(StatusCode::out_of_order_sequence, kPid, kEpoch, Sequence(1));
    f.accept(kPid, kEpoch, Sequence(0));
  }
  SECTION("a batch spanning the wrap") {
    f.accept(kPid, kEpoch, Sequence(kSeqMax - 5), 4, kReplication);  // .. INT32_MAX - 2
    // INT32_MAX - 1, INT32_MAX, 0, 1
    const ProducerBatchMetadata spanning = f.accept(kPid, kEpoch, Sequence(kSeqMax - 1), 4);
    CHECK(spanning.first_sequence == Sequence(kSeqMax - 1));
    CHECK(spanning.last_sequence == Sequence(1));
    AddResult retry = f.send(kPid, kEpoch, Sequence(kSeqMax - 1), 4);
    REQUIRE(retry.ok());
    CHECK(*retry == std::optional(spanning));
    f.accept(kPid, kEpoch, Sequence(2));
  }
}

// --- updates

TEST_CASE("Two batches of one producer in one update are checked in order", "[producer]") {
  Fixture f;
  const auto first = make_batch(kPid, kEpoch, Sequence(0), Offset(0), 2);
  const auto second = make_batch(kPid, kEpoch, Sequence(2), Offset(2), 2);
  const auto gap = make_batch(kPid, kEpoch, Sequence(5), Offset(4));
  const auto stale = make_batch(kPid, ProducerEpoch(2), Sequence(4), Offset(4));
  auto update = f.state.begin_update();
  REQUIRE(update.add(view_of(first), kClient).ok());
  // The second is checked against the first, which is not committed yet.
  REQUIRE(update.add(view_of(second), kClient).ok());
  CHECK(!f.state.entry(kPid).has_value());
  AddResult refused = update.add(view_of(gap), kClient);
  CHECK(refused.status().code() == StatusCode::out_of_order_sequence);
  CHECK_THAT(refused.status().message(), Contains("expected sequence 4, received 5"));
  CHECK(update.add(view_of(stale), kClient).status().code() == StatusCode::invalid_producer_epoch);
  f.state.commit(std::move(update), Offset(4));
  const auto entry = f.state.entry(kPid);
  REQUIRE(entry->batches.size() == 2);
  CHECK(entry->last_sequence() == Sequence(3));
  CHECK(f.state.map_end_offset() == Offset(4));
}

TEST_CASE("Duplicates are found in the committed state only", "[producer]") {
  Fixture f;
  const auto first = make_batch(kPid, kEpoch, Sequence(0), Offset(0), 2);
  const auto again = make_batch(kPid, kEpoch, Sequence(0), Offset(2), 2);
  auto update = f.state.begin_update();
  REQUIRE(update.add(view_of(first), kClient).ok());
  // Kafka checks only acknowledged-or-lost batches: one in the same request is a gap.
  CHECK(update.add(view_of(again), kClient).status().code() == StatusCode::out_of_order_sequence);
}

TEST_CASE("A failed update leaves the committed state unchanged", "[producer]") {
  Fixture f;
  f.accept(kPid, kEpoch, Sequence(0), 5);
  const auto before = f.state.entry(kPid);
  const Offset end = f.state.map_end_offset();
  {
    const auto good = make_batch(kPid, kEpoch, Sequence(5), end, 2);
    const auto bad = make_batch(kPid, kEpoch, Sequence(9), end + 2);
    auto update = f.state.begin_update();
    REQUIRE(update.add(view_of(good), kClient).ok());
    REQUIRE(!update.add(view_of(bad), kClient).ok());
    // The owner drops the update: nothing was written.
  }
  const auto after = f.state.entry(kPid);
  CHECK(after->batches == before->batches);
  CHECK(after->epoch == before->epoch);
  CHECK(f.state.map_end_offset() == end);
  f.accept(kPid, kEpoch, Sequence(5), 2);
}

TEST_CASE("Replication origin records batches without checks", "[producer]") {
  Fixture f;
  f.accept(kPid, kEpoch, Sequence(7), 1, kReplication);            // unknown, not at 0
  f.accept(kPid, kEpoch, Sequence(20), 1, kReplication);           // a gap
  f.accept(kPid, ProducerEpoch(1), Sequence(5), 1, kReplication);  // an older epoch
  const auto entry = f.state.entry(kPid);
  CHECK(entry->epoch == ProducerEpoch(1));
  REQUIRE(entry->batches.size() == 1);  // the epoch change forgot the others
  CHECK(entry->last_sequence() == Sequence(5));
}

TEST_CASE("Replay records without checks and advances the map end offset", "[producer]") {
  Fixture f;
  const auto plain =
      make_batch(ProducerId::none(), ProducerEpoch::none(), Sequence::none(), Offset(0), 4);
  const auto idempotent = make_batch(kPid, kEpoch, Sequence(7), Offset(4), 3);
  f.state.replay(view_of(plain));
  CHECK(f.state.map_end_offset() == Offset(4));
  CHECK(f.state.producers().empty());
  f.state.replay(view_of(idempotent));
  CHECK(f.state.map_end_offset() == Offset(7));
  const auto entry = f.state.entry(kPid);
  REQUIRE(entry.has_value());
  CHECK(entry->batches.back() ==
        ProducerBatchMetadata{Sequence(7), Sequence(9), Offset(4), Offset(6), kT0 + 2});
}

TEST_CASE("clear forgets every producer and restarts at the given offset", "[producer]") {
  Fixture f;
  f.accept(kPid, kEpoch, Sequence(0), 3);
  REQUIRE(f.state.take_snapshot().ok());
  f.state.clear(Offset(50));
  CHECK(f.state.producers().empty());
  CHECK(f.state.map_end_offset() == Offset(50));
  CHECK(f.snapshots() == std::vector{Offset(3)});
}

// --- expiry

TEST_CASE("Producers expire exactly producer_id_expiration_ms after their last batch",
          "[producer]") {
  Fixture f(ProducerStateManager::Config{.producer_id_expiration_ms = 1000});
  const ProducerId other(43);
  f.accept(kPid, kEpoch, Sequence(0), 1, kClient, kT0);
  f.accept(other, kEpoch, Sequence(0), 1, kClient, kT0 + 1);
  CHECK(f.state.remove_expired(kT0 + 999) == 0);
  CHECK(f.state.remove_expired(kT0 + 1000) == 1);  // kPid: exactly 1000 ms idle
  CHECK(!f.state.entry(kPid).has_value());
  CHECK(f.state.entry(other).has_value());  // 999 ms idle
  // The expired producer is now unknown.
  f.refuse(StatusCode::unknown_producer_id, kPid, kEpoch, Sequence(1));
}

TEST_CASE("A producer inside a transaction does not expire", "[producer]") {
  Fixture f(ProducerStateManager::Config{.producer_id_expiration_ms = 1000});
  f.accept(kPid, kEpoch, Sequence(0));
  ProducerStateEntry in_txn = *f.state.entry(kPid);
  in_txn.current_txn_first_offset = Offset(0);
  f.write_snapshot_file(Offset(1), encode_producer_snapshot({{kPid, in_txn}}));
  REQUIRE(f.state.load_latest_snapshot(Offset(1)).ok());
  CHECK(f.state.remove_expired(kT0 + 5000) == 0);
}

// --- snapshots

TEST_CASE("Snapshot file names are the offset in 20 digits", "[producer]") {
  CHECK(ProducerStateManager::snapshot_file_name(Offset(0)) == "00000000000000000000.snapshot");
  CHECK(ProducerStateManager::snapshot_file_name(Offset(1234)) == "00000000000000001234.snapshot");
}

TEST_CASE("Snapshot bytes for one producer are Kafka's version 1 format", "[producer]") {
  // Producer 42, epoch 3, last batch sequences 5..7 at offsets 100..102, max timestamp
  // 1700000000002 (0x18bcfe56802), no coordinator epoch, no transaction:
  //   00 01                    version 1
  //   f6 e9 6c c8              CRC-32C of the 50 bytes below
  //   00 00 00 01              1 entry
  //   00 00 00 00 00 00 00 2a  producer id 42
  //   00 03                    epoch 3
  //   00 00 00 07              last sequence 7
  //   00 00 00 00 00 00 00 66  last offset 102
  //   00 00 00 02              offset delta 2 (102 - 100)
  //   00 00 01 8b cf e5 68 02  timestamp 1700000000002
  //   ff ff ff ff              coordinator epoch -1
  //   ff ff ff ff ff ff ff ff  current transaction first offset -1
  const auto golden = test::from_hex(
      "0001 f6e96cc8 00000001"
      "000000000000002a 0003 00000007 0000000000000066 00000002 0000018bcfe56802"
      "ffffffff ffffffffffffffff");
  Fixture f;
  f.state.replay(view_of(make_batch(kPid, kEpoch, Sequence(5), Offset(100), 3)));
  CHECK(encode_producer_snapshot(f.state.producers()) == golden);
  REQUIRE(f.state.take_snapshot().ok());
  auto file = read_file(f.env, f.dir + "/00000000000000000103.snapshot");
  REQUIRE(file.ok());
  CHECK(*file == golden);
}

TEST_CASE("A snapshot round trip keeps each producer's last batch", "[producer]") {
  Fixture f;
  const ProducerId wrapping(7), idle(8);
  for (int i = 0; i < 3; ++i) f.accept(kPid, kEpoch, Sequence(2 * i), 2);
  f.accept(wrapping, ProducerEpoch(0), Sequence(kSeqMax - 1), 3, kReplication);
  ProducerStateEntry no_batch;  // a producer whose batches are gone: Kafka writes offset -1
  no_batch.producer_id = idle;
  no_batch.epoch = ProducerEpoch(2);
  no_batch.coordinator_epoch = 9;
  no_batch.last_timestamp = kT0 + 50;
  auto producers = f.state.producers();
  producers.emplace(idle, no_batch);

  auto decoded = decode_producer_snapshot(encode_producer_snapshot(producers), "mem");
  INFO(decoded.status().to_string());
  REQUIRE(decoded.ok());
  REQUIRE(decoded->size() == 3);
  for (const auto& [id, original] : producers) {
    INFO("producer " << id.value());
    const ProducerStateEntry& e = decoded->at(id);
    CHECK(e.producer_id == id);
    CHECK(e.epoch == original.epoch);
    CHECK(e.coordinator_epoch == original.coordinator_epoch);
    CHECK(e.current_txn_first_offset == original.current_txn_first_offset);
    CHECK(e.last_timestamp == original.last_timestamp);
    if (original.batches.empty()) {
      CHECK(e.batches.empty());
    } else {
      REQUIRE(e.batches.size() == 1);
      CHECK(e.batches.front() == original.batches.back());
    }
  }
  // The first sequence is rebuilt across the wrap: INT32_MAX - 1 .. 0.
  CHECK(decoded->at(wrapping).batches.front().first_sequence == Sequence(kSeqMax - 1));
}

TEST_CASE("A producer loaded from a snapshot detects a retry of its last batch", "[producer]") {
  Fixture f;
  for (int i = 0; i < 3; ++i) f.accept(kPid, kEpoch, Sequence(2 * i), 2);
  const ProducerBatchMetadata last = f.state.entry(kPid)->batches.back();
  REQUIRE(f.state.take_snapshot().ok());
  f.state.clear(Offset(0));
  auto loaded = f.state.load_latest_snapshot(Offset(6));
  REQUIRE(loaded.ok());
  CHECK(*loaded == std::optional(Offset(6)));
  CHECK(f.state.map_end_offset() == Offset(6));
  AddResult retry = f.send(kPid, kEpoch, Sequence(4), 2);
  REQUIRE(retry.ok());
  CHECK(*retry == std::optional(last));
  // Only the last batch was kept: an older retry is out of order.
  f.refuse(StatusCode::out_of_order_sequence, kPid, kEpoch, Sequence(2), 2);
  f.accept(kPid, kEpoch, Sequence(6));
}

TEST_CASE("A snapshot survives a power cut", "[producer]") {
  Fixture f;
  f.accept(kPid, kEpoch, Sequence(0), 4);
  REQUIRE(f.state.take_snapshot().ok());
  f.env.power_cut(PowerCutMode::drop_unsynced);
  ProducerStateManager reopened(f.env, f.dir, {});
  auto loaded = reopened.load_latest_snapshot(Offset(4));
  INFO(loaded.status().to_string());
  REQUIRE(loaded.ok());
  CHECK(*loaded == std::optional(Offset(4)));
  CHECK(reopened.entry(kPid)->last_sequence() == Sequence(3));
}

TEST_CASE("A corrupt snapshot is reported naming the file", "[producer]") {
  Fixture f;
  f.state.replay(view_of(make_batch(kPid, kEpoch, Sequence(5), Offset(100), 3)));
  const std::vector<std::byte> good = encode_producer_snapshot(f.state.producers());
  std::vector<std::byte> bad = good;
  std::string expected;
  SECTION("a flipped bit fails the CRC") {
    bad[20] ^= std::byte{0x10};
    expected = "CRC mismatch";
  }
  SECTION("an empty file") {
    bad.clear();
    expected = "shorter than the 10-byte header";
  }
  SECTION("a header cut short") {
    bad.resize(7);
    expected = "shorter than the 10-byte header";
  }
  SECTION("an unknown version") {
    bad[1] = std::byte{2};  // the version is outside the CRC
    expected = "unknown version 2";
  }
  SECTION("an entry cut short, CRC recomputed") {
    bad.resize(bad.size() - 4);
    bad = with_crc(bad);
    expected = "truncated";
  }
  SECTION("trailing bytes, CRC recomputed") {
    bad.push_back(std::byte{0});
    bad = with_crc(bad);
    expected = "trailing bytes";
  }
  SECTION("a negative count") {
    put_be<std::int32_t>(bad.data() + 6, -1);
    bad = with_crc(bad);
    expected = "negative entry count -1";
  }
  SECTION("a producer twice") {
    bad.insert(bad.end(), good.begin() + 10, good.end());
    put_be<std::int32_t>(bad.data() + 6, 2);
    bad = with_crc(bad);
    expected = "producer 42 appears twice";
  }
  SECTION("an offset delta beyond the last offset") {
    put_be<std::int32_t>(bad.data() + 32, 103);
    bad = with_crc(bad);
    expected = "offset delta 103 for last offset 102";
  }
  f.write_snapshot_file(Offset(103), bad);
  auto loaded = f.state.load_latest_snapshot(Offset(103));
  INFO(loaded.status().to_string());
  REQUIRE(!loaded.ok());
  CHECK(loaded.status().is_corruption());
  CHECK_THAT(loaded.status().message(), Contains("/data/orders-0/00000000000000000103.snapshot"));
  CHECK_THAT(loaded.status().message(), Contains(expected));
  CHECK(f.state.producers().empty());
}

TEST_CASE("load_latest_snapshot deletes newer snapshots and loads the newest at or below",
          "[producer]") {
  Fixture f;
  for (int i = 0; i < 3; ++i) {
    f.accept(kPid, kEpoch, Sequence(10 * i), 10);
    REQUIRE(f.state.take_snapshot().ok());  // at 10, 20, 30
  }
  REQUIRE(f.snapshots() == std::vector{Offset(10), Offset(20), Offset(30)});
  SECTION("between two snapshots") {
    auto loaded = f.state.load_latest_snapshot(Offset(25));
    REQUIRE(loaded.ok());
    CHECK(*loaded == std::optional(Offset(20)));
    CHECK(f.snapshots() == std::vector{Offset(10), Offset(20)});
    CHECK(f.state.map_end_offset() == Offset(20));
    CHECK(f.state.entry(kPid)->last_sequence() == Sequence(19));
  }
  SECTION("exactly at a snapshot") {
    auto loaded = f.state.load_latest_snapshot(Offset(20));
    REQUIRE(loaded.ok());
    CHECK(*loaded == std::optional(Offset(20)));
    CHECK(f.snapshots() == std::vector{Offset(10), Offset(20)});
  }
  SECTION("below every snapshot") {
    auto loaded = f.state.load_latest_snapshot(Offset(9));
    REQUIRE(loaded.ok());
    CHECK(!loaded->has_value());
    CHECK(f.snapshots().empty());
    CHECK(f.state.producers().empty());
    CHECK(f.state.map_end_offset() == Offset(0));
  }
}

TEST_CASE("Snapshot listing ignores other files", "[producer]") {
  Fixture f;
  f.write_snapshot_file(Offset(5), encode_producer_snapshot({}));
  for (const char* name : {"00000000000000000007.snapshot.tmp", "00000000000000000005.log",
                           "5.snapshot", "leader-epoch-checkpoint"}) {
    REQUIRE(write_file_atomically(f.env, join_path(f.dir, name), as_bytes("x")).ok());
  }
  CHECK(f.snapshots() == std::vector{Offset(5)});
}

TEST_CASE("delete_snapshots_before deletes only older snapshots", "[producer]") {
  Fixture f;
  for (std::int64_t offset : {10, 20, 30}) {
    f.write_snapshot_file(Offset(offset), encode_producer_snapshot({}));
  }
  REQUIRE(f.state.delete_snapshots_before(Offset(20)).ok());
  CHECK(f.snapshots() == std::vector{Offset(20), Offset(30)});
  REQUIRE(f.state.delete_snapshot(Offset(30)).ok());
  CHECK(f.snapshots() == std::vector{Offset(20)});
  CHECK(f.state.delete_snapshot(Offset(30)).ok());  // already gone
}
