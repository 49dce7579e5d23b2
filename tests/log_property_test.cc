// Random operations on a Log checked against an in-memory model after every one: appends
// (one batch or several laid end to end; none, lz4 and zstd), reads at random offsets with
// random limits (KIP-74), offset_for_timestamp, truncate_to, delete_records_before,
// apply_retention with a moving ManualClock, flush, close and reopen.
#include <catch2/catch.hpp>

#include <algorithm>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "log_test_util.h"
#include "samsa/faulty_env.h"
#include "samsa/log.h"

namespace samsa {
namespace {

using test::LogRecord;
using test::ModelBatch;
using test::ReadBatch;

constexpr int kOpsPerRun = 150;

class PropertyRun {
 public:
  // `dir` lives in `env`; a directory named "<topic>-<partition>", as Kafka names them.
  PropertyRun(std::uint64_t seed, Env& env, std::string dir)
      : seed_(seed), rng_(seed), env_(env), dir_(std::move(dir)) {
    config_.segment_bytes = rng_.uniform(2048, 32768);
    config_.index_interval_bytes = static_cast<std::uint32_t>(rng_.uniform(64, 2048));
    constexpr std::uint32_t kIndexBytes[] = {1024, 4096, 65536};
    config_.segment_index_bytes = kIndexBytes[rng_.uniform(0, 2)];
    config_.retention_ms = rng_.percent(50) ? -1 : rng_.uniform_signed(5'000, 60'000);
    config_.retention_bytes = rng_.percent(50) ? -1 : rng_.uniform_signed(8 << 10, 64 << 10);
    if (rng_.percent(30)) config_.segment_ms = rng_.uniform_signed(2'000, 20'000);
    config_.file_delete_delay_ms = rng_.uniform_signed(0, 5'000);
    constexpr FlushPolicy kPolicies[] = {FlushPolicy::durable, FlushPolicy::durable,
                                         FlushPolicy::interval_may_lose_recent,
                                         FlushPolicy::manual_may_lose_unflushed};
    config_.flush_policy = kPolicies[rng_.uniform(0, 3)];
    config_.flush_interval_bytes = rng_.uniform(1024, 65536);
    config_.flush_interval_ms = rng_.uniform_signed(10, 5'000);
  }

  std::string context() const {
    return fmt::format(
        "seed {} dir {} segment_bytes {} index_interval_bytes {} segment_index_bytes {} "
        "retention_ms {} retention_bytes {} segment_ms {} file_delete_delay_ms {} policy {}\n"
        "log start {} end {}; ops: {}",
        seed_, dir_, config_.segment_bytes, config_.index_interval_bytes,
        config_.segment_index_bytes, config_.retention_ms, config_.retention_bytes,
        config_.segment_ms, config_.file_delete_delay_ms, to_string(config_.flush_policy),
        model_.log_start.value(), model_.log_end.value(), trace_);
  }

  void run() {
    open();
    for (int i = 0; i < kOpsPerRun; ++i) {
      step();
      check_model();
    }
    // Every .deleted file goes once file_delete_delay_ms has passed. The bound keeps these
    // calls from deleting segments (and making new .deleted files) for any other reason.
    retention(model_.log_start);
    clock_.advance_ms(config_.file_delete_delay_ms + 1);
    retention(model_.log_start);
    check_model();
    {
      auto names = env_.list_dir(dir_);
      REQUIRE(names.ok());
      for (const std::string& name : *names) {
        INFO(context());
        INFO("left over: " << name);
        CHECK_FALSE(name.ends_with(".deleted"));
      }
    }
    close_and_reopen();
    REQUIRE(log_->close().ok());
  }

 private:
  void trace(std::string_view what) {
    trace_ += what;
    trace_ += ' ';
  }

  void open() {
    auto log = Log::open(env_, dir_, config_, clock_);
    INFO(context());
    INFO(log.status().to_string());
    REQUIRE(log.ok());
    log_ = std::move(log).value();
  }

  void step() {
    const int pick = rng_.uniform_int(0, 99);
    if (pick < 40) {
      append_one();
    } else if (pick < 45) {
      append_several();
    } else if (pick < 65) {
      read_random();
    } else if (pick < 73) {
      offset_for_timestamp();
    } else if (pick < 77) {
      truncate_random();
    } else if (pick < 81) {
      delete_records_random();
    } else if (pick < 88) {
      clock_.advance_ms(rng_.uniform_signed(0, 10'000));
      std::optional<Offset> bound;
      if (rng_.percent(50)) {
        bound = Offset(rng_.uniform_signed(model_.log_start.value(), model_.log_end.value()));
      }
      retention(bound);
    } else if (pick < 93) {
      trace("advance");
      clock_.advance_ms(rng_.uniform_signed(0, 5'000));
    } else if (pick < 97) {
      trace("flush");
      Status status = log_->flush();
      INFO(context());
      INFO(status.to_string());
      REQUIRE(status.ok());
    } else {
      close_and_reopen();
    }
  }

  std::vector<LogRecord> random_records(Offset first) {
    const int count = rng_.percent(5) ? rng_.uniform_int(100, 400) : rng_.uniform_int(1, 30);
    const std::size_t value_bytes_max = rng_.percent(5) ? 4000 : rng_.uniform(0, 200);
    auto records = test::make_records(rng_.next(), first, count, clock_.now(), value_bytes_max);
    for (LogRecord& r : records) r.timestamp = clock_.now() + rng_.uniform_signed(-3'000, 1'000);
    return records;
  }

  Compression random_codec() {
    constexpr Compression kCodecs[] = {Compression::none, Compression::lz4, Compression::zstd};
    return kCodecs[rng_.uniform(0, 2)];
  }

  void append_one() {
    auto records = random_records(model_.log_end);
    const Compression codec = random_codec();
    trace(
        fmt::format("append[{}+{} {}]", model_.log_end.value(), records.size(), to_string(codec)));
    auto info = test::append_records(*log_, records, codec);
    INFO(context());
    INFO(info.status().to_string());
    REQUIRE(info.ok());
    CHECK(info->first_offset.value() == model_.log_end.value());
    CHECK(info->last_offset.value() == records.back().offset.value());
    CHECK(info->batches == 1);
    CHECK(info->records == static_cast<std::int64_t>(records.size()));
    model_.append(std::move(records), info->bytes);
  }

  // Several batches in one append(MutableByteSpan), as a produce request brings them.
  void append_several() {
    const int batch_count = rng_.uniform_int(2, 4);
    std::vector<std::byte> bytes;
    std::vector<std::vector<LogRecord>> batches;
    std::vector<std::uint64_t> sizes;
    Offset next = model_.log_end;
    RecordBatchBuilder builder;
    for (int i = 0; i < batch_count; ++i) {
      auto records = random_records(next);
      next = records.back().offset + 1;
      REQUIRE(test::fill_builder(builder, records, random_codec()).ok());
      auto built = builder.build();
      REQUIRE(built.ok());
      bytes.insert(bytes.end(), built->begin(), built->end());
      sizes.push_back(built->size());
      batches.push_back(std::move(records));
    }
    trace(fmt::format("append_batches[{}..{} in {}]", model_.log_end.value(), next.value() - 1,
                      batch_count));
    auto info = log_->append(MutableByteSpan(bytes));
    INFO(context());
    INFO(info.status().to_string());
    REQUIRE(info.ok());
    CHECK(info->first_offset.value() == model_.log_end.value());
    CHECK(info->last_offset.value() == next.value() - 1);
    CHECK(info->batches == batch_count);
    CHECK(info->bytes == bytes.size());
    for (std::size_t i = 0; i < batches.size(); ++i) model_.append(std::move(batches[i]), sizes[i]);
  }

  // The model's batches from the one holding `offset` on.
  std::vector<const ModelBatch*> model_batches_from(Offset offset) const {
    std::vector<const ModelBatch*> out;
    for (const ModelBatch& b : model_.batches) {
      if (b.last_offset >= offset) out.push_back(&b);
    }
    return out;
  }

  void read_random() {
    const Offset offset(std::max<std::int64_t>(
        0, rng_.uniform_signed(model_.log_start.value() - 3, model_.log_end.value() + 3)));
    constexpr std::uint64_t kMaxBytes[] = {1, 100, 1000, 4000, 16384, 1 << 20};
    ReadOptions options;
    options.max_bytes = kMaxBytes[rng_.uniform(0, 5)];
    options.min_one_batch = rng_.percent(85);
    if (rng_.percent(20)) {
      options.max_offset = Offset(rng_.uniform_signed(offset.value(), model_.log_end.value() + 2));
    }
    trace(fmt::format(
        "read[{} max_bytes {}{}{}]", offset.value(), options.max_bytes,
        options.min_one_batch ? "" : " !min_one",
        options.max_offset ? fmt::format(" max_offset {}", options.max_offset->value()) : ""));
    auto slice = log_->read(offset, options);
    INFO(context());
    INFO(slice.status().to_string());
    if (offset < model_.log_start || offset > model_.log_end) {
      CHECK(slice.status().code() == StatusCode::out_of_range);
      return;
    }
    REQUIRE(slice.ok());
    if (offset == model_.log_end) {
      CHECK(slice->empty());
      return;
    }
    const auto expected = model_batches_from(offset);
    REQUIRE(!expected.empty());
    const ModelBatch& first = *expected.front();
    REQUIRE(first.base_offset <= offset);
    const bool first_allowed = !options.max_offset || first.last_offset < *options.max_offset;
    const bool first_fits = first.size_bytes <= options.max_bytes || options.min_one_batch;
    if (!first_allowed || !first_fits) {
      CHECK(slice->empty());
      return;
    }
    // KIP-74: at least the whole batch holding the offset.
    REQUIRE_FALSE(slice->empty());
    std::vector<std::byte> bytes;
    REQUIRE(slice->read_into(bytes).ok());
    auto batches = test::decode_batches(bytes, slice->position.value(), "slice");
    INFO(batches.status().to_string());
    REQUIRE(batches.ok());
    REQUIRE_FALSE(batches->empty());
    CHECK(slice->first_offset.value() == first.base_offset.value());
    CHECK(slice->next_offset.value() == batches->back().last_offset.value() + 1);
    if (batches->size() > 1) CHECK(bytes.size() <= options.max_bytes);
    for (std::size_t i = 0; i < batches->size(); ++i) {
      const ReadBatch& got = (*batches)[i];
      REQUIRE(i < expected.size());
      const ModelBatch& want = *expected[i];
      INFO("batch #" << i);
      CHECK(got.base_offset.value() == want.base_offset.value());
      CHECK(got.last_offset.value() == want.last_offset.value());
      CHECK(got.size_bytes == want.size_bytes);
      CHECK(test::first_difference(want.records, got.records) == "");
      if (options.max_offset) CHECK(got.last_offset.value() < options.max_offset->value());
    }
  }

  void offset_for_timestamp() {
    Timestamp ts;
    const int pick = rng_.uniform_int(0, 9);
    if (pick == 0) {
      ts = kEarliestTimestamp;
    } else if (pick == 1) {
      ts = kLatestTimestamp;
    } else if (pick < 5 && !model_.batches.empty()) {
      // Exactly some record's timestamp.
      const ModelBatch& b = model_.batches[rng_.uniform(0, model_.batches.size() - 1)];
      ts = b.records[rng_.uniform(0, b.records.size() - 1)].timestamp;
    } else {
      ts = clock_.now() + rng_.uniform_signed(-60'000, 2'000);
    }
    trace(fmt::format("offset_for_timestamp[{}]", ts.value()));
    auto got = log_->offset_for_timestamp(ts);
    INFO(context());
    INFO(got.status().to_string());
    REQUIRE(got.ok());
    std::optional<TimestampOffset> want;
    if (ts == kEarliestTimestamp) {
      want = TimestampOffset{Timestamp::none(), model_.log_start};
    } else if (ts == kLatestTimestamp) {
      want = TimestampOffset{Timestamp::none(), model_.log_end};
    } else {
      want = model_.offset_for_timestamp(ts);
    }
    REQUIRE(got->has_value() == want.has_value());
    if (want) {
      CHECK((*got)->timestamp.value() == want->timestamp.value());
      CHECK((*got)->offset.value() == want->offset.value());
    }
  }

  void truncate_random() {
    const Offset to(rng_.uniform_signed(std::max<std::int64_t>(0, model_.log_start.value() - 3),
                                        model_.log_end.value()));
    // Above the log start but inside a batch that begins below it: what the log end becomes
    // is not specified (below the log start?), so the model does not go there.
    if (to > model_.log_start) {
      const ModelBatch* holder = model_.batch_containing(to);
      if (holder != nullptr && holder->base_offset < model_.log_start) return;
    }
    trace(fmt::format("truncate_to[{}]", to.value()));
    Status status = log_->truncate_to(to);
    INFO(context());
    INFO(status.to_string());
    REQUIRE(status.ok());
    model_.truncate_to(to);
  }

  void delete_records_random() {
    if (rng_.percent(10)) {
      const Offset past = model_.log_end + rng_.uniform_signed(1, 5);
      trace(fmt::format("delete_records_before[{}]", past.value()));
      Status status = log_->delete_records_before(past);
      INFO(context());
      CHECK(status.code() == StatusCode::out_of_range);
      return;
    }
    const Offset to(rng_.uniform_signed(model_.log_start.value(), model_.log_end.value()));
    trace(fmt::format("delete_records_before[{}]", to.value()));
    Status status = log_->delete_records_before(to);
    INFO(context());
    INFO(status.to_string());
    REQUIRE(status.ok());
    model_.delete_records_before(to);
  }

  // apply_retention, checked against the rules: only a prefix of segments goes, each one
  // wholly below the bound, and each for a reason (below the log start, past
  // retention_bytes, older than retention_ms); the first one left has no such reason.
  void retention(std::optional<Offset> bound) {
    const auto before = log_->segments();
    const Offset start_before = log_->log_start_offset();
    const Offset end = log_->log_end_offset();
    const Offset limit = bound ? std::min(*bound, end) : end;
    trace(fmt::format("retention[{}]", bound ? std::to_string(bound->value()) : "-"));
    auto report = log_->apply_retention(bound);
    INFO(context());
    INFO(report.status().to_string());
    REQUIRE(report.ok());
    const auto after = log_->segments();
    const Offset start_after = log_->log_start_offset();
    CHECK(report->log_start_offset.value() == start_after.value());
    CHECK(start_after.value() >= start_before.value());
    REQUIRE_FALSE(after.empty());
    std::set<std::int64_t> kept;
    for (const SegmentInfo& s : after) kept.insert(s.base_offset.value());
    std::size_t removed = 0;
    while (removed < before.size() && !kept.contains(before[removed].base_offset.value())) {
      ++removed;
    }
    for (std::size_t i = removed; i < before.size(); ++i) {
      INFO("segment " << before[i].base_offset.value() << " removed out of order");
      CHECK(kept.contains(before[i].base_offset.value()));
    }
    CHECK(report->segments_deleted == static_cast<std::int64_t>(removed));
    std::uint64_t total = 0;
    for (const SegmentInfo& s : before) total += s.size_bytes;
    const auto now = clock_.now();
    auto reason = [&](const SegmentInfo& s, std::uint64_t size_left_after) {
      const bool breach = s.next_offset <= start_before;
      const bool by_size = config_.retention_bytes >= 0 &&
                           size_left_after >= static_cast<std::uint64_t>(config_.retention_bytes);
      const bool by_time = config_.retention_ms >= 0 && s.max_timestamp.timestamp.value() >= 0 &&
                           now - s.max_timestamp.timestamp > config_.retention_ms;
      return breach || by_size || by_time;
    };
    std::uint64_t size_left = total;
    for (std::size_t i = 0; i < removed; ++i) {
      const SegmentInfo& s = before[i];
      size_left -= s.size_bytes;
      INFO("removed segment " << s.base_offset.value() << " [.., " << s.next_offset.value()
                              << ") max ts " << s.max_timestamp.timestamp.value());
      CHECK(s.next_offset.value() <= limit.value());
      CHECK(reason(s, size_left));
      if (i + 1 == before.size()) {
        // The active segment goes only after a roll (Kafka rolls when all are deletable).
        CHECK(after.back().base_offset.value() == end.value());
        CHECK(after.back().size_bytes == 0);
      }
    }
    const SegmentInfo& first = after.front();
    const bool first_is_active = after.size() == 1;
    if (!first_is_active && first.next_offset <= limit) {
      std::uint64_t total_after = 0;
      for (const SegmentInfo& s : after) total_after += s.size_bytes;
      INFO("kept segment " << first.base_offset.value() << " [.., " << first.next_offset.value()
                           << ") max ts " << first.max_timestamp.timestamp.value() << " size after "
                           << total_after);
      // Compared with the log start before the call: a later one came from these deletions.
      const bool breach = first.next_offset <= start_before;
      const bool by_size =
          config_.retention_bytes >= 0 &&
          total_after - first.size_bytes >= static_cast<std::uint64_t>(config_.retention_bytes);
      const bool by_time = config_.retention_ms >= 0 &&
                           first.max_timestamp.timestamp.value() >= 0 &&
                           now - first.max_timestamp.timestamp > config_.retention_ms;
      CHECK_FALSE(breach);
      CHECK_FALSE(by_size);
      CHECK_FALSE(by_time);
    }
    model_.advance_start(start_after);
  }

  void close_and_reopen() {
    trace("close");
    {
      Status status = log_->close();
      INFO(context());
      INFO(status.to_string());
      REQUIRE(status.ok());
      Status again = log_->close();  // idempotent
      CHECK((again.ok() || again.code() == StatusCode::failed_precondition));
      auto refused =
          test::append_records(*log_, test::make_records(1, model_.log_end, 1, clock_.now(), 4));
      CHECK(refused.status().code() == StatusCode::failed_precondition);
    }
    log_.reset();
    {
      Status format = test::check_kafka_format(env_, dir_);
      INFO(context());
      INFO(format.to_string());
      CHECK(format.ok());
    }
    open();
    INFO(context());
    CHECK(log_->recovery_report().clean_shutdown);
  }

  // The log holds exactly the model: both ends, every record, a consistent segment list.
  void check_model() {
    INFO(context());
    REQUIRE(log_->log_start_offset().value() == model_.log_start.value());
    REQUIRE(log_->log_end_offset().value() == model_.log_end.value());
    auto records = test::read_all(*log_, model_.log_start);
    INFO(records.status().to_string());
    REQUIRE(records.ok());
    const std::string difference =
        test::first_difference(model_.records_from(model_.log_start), *records);
    REQUIRE(difference == "");
    const auto segments = log_->segments();
    REQUIRE_FALSE(segments.empty());
    std::uint64_t size = 0;
    for (std::size_t i = 0; i < segments.size(); ++i) {
      size += segments[i].size_bytes;
      CHECK(segments[i].base_offset.value() <= segments[i].next_offset.value());
      if (i + 1 < segments.size()) {
        CHECK(segments[i].next_offset.value() == segments[i + 1].base_offset.value());
      }
    }
    CHECK(segments.front().base_offset.value() <= model_.log_start.value());
    CHECK(segments.back().next_offset.value() == model_.log_end.value());
    CHECK(log_->size_bytes() == size);
  }

  const std::uint64_t seed_;
  test::Rng rng_;
  Env& env_;
  const std::string dir_;
  ManualClock clock_;
  LogConfig config_;
  std::unique_ptr<Log> log_;
  test::LogModel model_;
  std::string trace_;
};

}  // namespace

TEST_CASE("A log under random operations on FaultyEnv matches a simple model", "[log][property]") {
  const int seeds = 50 * test::test_scale();
  for (int s = 1; s <= seeds; ++s) {
    const auto seed = static_cast<std::uint64_t>(s);
    if (!test::seed_selected(seed)) continue;
    INFO("seed " << seed);
    FaultyEnv env(seed);
    PropertyRun run(seed, env, "data/orders-7");
    run.run();
  }
}

TEST_CASE("A log under random operations on the POSIX Env matches a simple model",
          "[log][property][posix]") {
  const int seeds = 6 * test::test_scale();
  for (int s = 1; s <= seeds; ++s) {
    const auto seed = static_cast<std::uint64_t>(1000 + s);
    if (!test::seed_selected(seed)) continue;
    INFO("seed " << seed);
    test::TempDir tmp;
    REQUIRE_FALSE(tmp.path().empty());
    PropertyRun run(seed, Env::posix(), join_path(tmp.path(), "orders-7"));
    run.run();
  }
}

}  // namespace samsa
