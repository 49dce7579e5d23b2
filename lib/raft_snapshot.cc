#include "samsa/raft_snapshot.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "samsa/raft_records.h"

namespace samsa {

namespace {

constexpr std::string_view kSuffix = ".checkpoint";
constexpr std::string_view kPartSuffix = ".part";  // Kafka: ".checkpoint.part"
constexpr std::size_t kOffsetDigits = 20;
constexpr std::size_t kEpochDigits = 10;
constexpr std::size_t kNameSize = kOffsetDigits + 1 + kEpochDigits + 11;
static_assert(kSuffix.size() == 11);

bool all_digits(std::string_view s) {
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

std::string part_path(const std::string& dir, SnapshotId id) {
  return join_path(dir, snapshot_file_name(id)) + std::string(kPartSuffix);
}

Result<std::vector<std::byte>> read_all(const File& file, std::uint64_t size) {
  std::vector<std::byte> bytes(size);
  std::uint64_t done = 0;
  while (done < size) {
    SAMSA_TRY_ASSIGN(const std::size_t n, file.read_at(done, MutableByteSpan(bytes).subspan(done)));
    if (n == 0) {
      return Status::corruption(fmt::format("snapshot {} at byte {}: file ended before its size {}",
                                            file.path(), done, size));
    }
    done += n;
  }
  return bytes;
}

Status open_part(Env& env, const std::string& path, std::unique_ptr<File>& out) {
  OpenOptions options;
  options.create = true;
  options.truncate = true;
  SAMSA_TRY_ASSIGN(out, env.open(path, options));
  return {};
}

// The kind of control record a batch must hold at `index`.
Status expect_control(const RecordBatchView& batch, std::string_view path, std::size_t index,
                      ControlRecordType type, bool only) {
  auto bad = [&](std::string_view what) {
    return Status::corruption(
        fmt::format("snapshot {} at byte {}: {}", path, batch.position(), what));
  };
  const std::string_view expected =
      type == ControlRecordType::snapshot_header
          ? "the first batch is not a control batch starting with a SnapshotHeaderRecord"
          : "the last batch is not a control batch holding one SnapshotFooterRecord";
  if (!batch.is_control()) return bad(expected);
  auto records = decode_control_batch(batch);
  if (!records.ok()) return bad(records.status().message());
  if (records->size() <= index || control_record_type((*records)[index]) != type ||
      (only && records->size() != 1)) {
    return bad(expected);
  }
  return {};
}

// Restamps whole data batches in place with base offsets from `next` and the snapshot's
// epoch; returns the offset after them. A control batch is invalid_argument.
Result<Offset> restamp_data_batches(MutableByteSpan bytes, Offset next, LeaderEpoch epoch,
                                    std::string_view path) {
  for (std::size_t position = 0; position < bytes.size();) {
    SAMSA_TRY_ASSIGN(const auto batch,
                     RecordBatchView::validate(ByteSpan(bytes).subspan(position), {}, position));
    if (batch.is_control()) {
      return Status::invalid_argument(
          fmt::format("snapshot {}: appended batch at byte {} is a control batch", path, position));
    }
    const std::size_t size = batch.size_bytes();
    const std::int32_t delta = batch.last_offset_delta();
    const MutableByteSpan stored = bytes.subspan(position, size);
    set_base_offset(stored, next);
    set_partition_leader_epoch(stored, epoch);
    next = next + delta + 1;
    position += size;
  }
  return next;
}

}  // namespace

Result<std::vector<std::byte>> encode_snapshot(SnapshotId id,
                                               Timestamp last_contained_log_timestamp,
                                               ByteSpan data_batches) {
  const ControlRecord header = SnapshotHeaderRecord{last_contained_log_timestamp.value()};
  SAMSA_TRY_ASSIGN(
      std::vector<std::byte> out,
      encode_control_batch({&header, 1}, id.epoch, last_contained_log_timestamp, Offset(0)));
  std::vector<std::byte> data(data_batches.begin(), data_batches.end());
  SAMSA_TRY_ASSIGN(const Offset next,
                   restamp_data_batches(data, Offset(1), id.epoch, snapshot_file_name(id)));
  out.insert(out.end(), data.begin(), data.end());
  const ControlRecord footer = SnapshotFooterRecord{};
  SAMSA_TRY_ASSIGN(const auto tail, encode_control_batch({&footer, 1}, id.epoch,
                                                         last_contained_log_timestamp, next));
  out.insert(out.end(), tail.begin(), tail.end());
  return out;
}

std::string snapshot_file_name(SnapshotId id) {
  return fmt::format("{:020}-{:010}{}", id.end_offset.value(), id.epoch.value(), kSuffix);
}

std::optional<SnapshotId> parse_snapshot_file_name(std::string_view name) {
  if (name.size() != kNameSize || name.substr(kOffsetDigits + 1 + kEpochDigits) != kSuffix ||
      name[kOffsetDigits] != '-') {
    return std::nullopt;
  }
  const std::string_view offset = name.substr(0, kOffsetDigits);
  const std::string_view epoch = name.substr(kOffsetDigits + 1, kEpochDigits);
  if (!all_digits(offset) || !all_digits(epoch)) return std::nullopt;
  std::int64_t o = 0;
  std::int32_t e = 0;
  if (std::from_chars(offset.data(), offset.data() + offset.size(), o).ec != std::errc() ||
      std::from_chars(epoch.data(), epoch.data() + epoch.size(), e).ec != std::errc()) {
    return std::nullopt;  // out of range for i64 / i32
  }
  return SnapshotId{Offset(o), LeaderEpoch(e)};
}

Result<std::vector<SnapshotId>> list_snapshots(Env& env, const std::string& dir) {
  SAMSA_TRY_ASSIGN(const auto names, env.list_dir(dir));
  std::vector<SnapshotId> out;
  for (const auto& name : names) {
    if (auto id = parse_snapshot_file_name(name)) out.push_back(*id);
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<std::vector<std::vector<std::byte>>> validate_snapshot_bytes(ByteSpan bytes,
                                                                    LeaderEpoch epoch,
                                                                    std::string_view path) {
  std::vector<RecordBatchView> batches;
  std::uint64_t position = 0;
  Offset expected{0};
  while (position < bytes.size()) {
    auto batch = RecordBatchView::validate(bytes.subspan(position), {}, position);
    if (!batch.ok()) {
      return Status::corruption(fmt::format("snapshot {}: {}", path, batch.status().message()));
    }
    if (batch->partition_leader_epoch() != epoch) {
      return Status::corruption(fmt::format(
          "snapshot {} at byte {}: partition leader epoch {}, expected the snapshot's {}", path,
          position, batch->partition_leader_epoch().value(), epoch.value()));
    }
    if (batch->base_offset() != expected) {
      return Status::corruption(fmt::format("snapshot {} at byte {}: base offset {}, expected {}",
                                            path, position, batch->base_offset().value(),
                                            expected.value()));
    }
    expected = batch->next_offset();
    position += batch->size_bytes();
    batches.push_back(*batch);
  }
  if (batches.size() < 2) {
    return Status::corruption(fmt::format(
        "snapshot {} at byte {}: {} batches, a snapshot has at least a header and a footer", path,
        position, batches.size()));
  }
  SAMSA_TRY(expect_control(batches.front(), path, 0, ControlRecordType::snapshot_header, false));
  SAMSA_TRY(expect_control(batches.back(), path, 0, ControlRecordType::snapshot_footer, true));
  std::vector<std::vector<std::byte>> out;
  for (std::size_t i = 1; i + 1 < batches.size(); ++i) {
    const ByteSpan b = batches[i].bytes();
    out.emplace_back(b.begin(), b.end());
  }
  return out;
}

Result<std::vector<std::vector<std::byte>>> snapshot_record_values(
    const std::vector<std::vector<std::byte>>& data_batches) {
  std::vector<std::vector<std::byte>> values;
  RecordReader records;
  Record record;
  for (const auto& b : data_batches) {
    SAMSA_TRY_ASSIGN(const RecordBatchView view, RecordBatchView::parse(ByteSpan(b)));
    SAMSA_TRY(records.reset(view));
    // Bounded by the batch's record count: next() returns false after the last.
    for (;;) {
      SAMSA_TRY_ASSIGN(const bool more, records.next(record));
      if (!more) break;
      if (record.value) {
        values.emplace_back(record.value->begin(), record.value->end());
      } else {
        values.emplace_back();
      }
    }
  }
  return values;
}

// ---- SnapshotWriter

struct SnapshotWriter::Impl {
  Env& env;
  std::string dir;
  SnapshotId id;
  Timestamp timestamp;
  std::string part;
  std::unique_ptr<File> file;
  // Invariant: the base offset the next appended batch gets (the header batch is 0).
  Offset next_offset{0};
  bool frozen = false;
  bool broken = false;  // a write failed: how much of it landed is unknown

  Status check_writable() const {
    if (frozen) return Status::failed_precondition(fmt::format("snapshot {} is frozen", part));
    if (broken) {
      return Status::failed_precondition(fmt::format("snapshot {}: an earlier write failed", part));
    }
    return {};
  }
};

SnapshotWriter::SnapshotWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

SnapshotWriter::~SnapshotWriter() {
  if (impl_->frozen) return;
  if (impl_->file) (void)impl_->file->close();
  (void)impl_->env.remove(impl_->part);  // best effort: .part files are never listed
}

Result<std::unique_ptr<SnapshotWriter>> SnapshotWriter::create(
    Env& env, const std::string& dir, SnapshotId id, Timestamp last_contained_log_timestamp) {
  const std::string final_path = join_path(dir, snapshot_file_name(id));
  SAMSA_TRY_ASSIGN(const bool exists, env.exists(final_path));
  if (exists) return Status::already_exists(fmt::format("snapshot {} exists", final_path));
  auto impl = std::unique_ptr<Impl>(
      new Impl{env, dir, id, last_contained_log_timestamp, part_path(dir, id), nullptr});
  SAMSA_TRY(open_part(env, impl->part, impl->file));
  std::unique_ptr<SnapshotWriter> writer(new SnapshotWriter(std::move(impl)));
  const ControlRecord header = SnapshotHeaderRecord{last_contained_log_timestamp.value()};
  SAMSA_TRY_ASSIGN(const auto batch, encode_control_batch({&header, 1}, id.epoch,
                                                          last_contained_log_timestamp, Offset(0)));
  SAMSA_TRY(writer->impl_->file->append(batch));
  writer->impl_->next_offset = Offset(1);
  return writer;
}

Status SnapshotWriter::append(ByteSpan batches) {
  Impl& s = *impl_;
  SAMSA_TRY(s.check_writable());
  std::vector<std::byte> copy(batches.begin(), batches.end());
  SAMSA_TRY_ASSIGN(const Offset next,
                   restamp_data_batches(copy, s.next_offset, s.id.epoch, s.part));
  if (Status st = s.file->append(copy); !st.ok()) {
    s.broken = true;
    return st;
  }
  s.next_offset = next;
  return {};
}

Status SnapshotWriter::freeze() {
  Impl& s = *impl_;
  SAMSA_TRY(s.check_writable());
  const ControlRecord footer = SnapshotFooterRecord{};
  SAMSA_TRY_ASSIGN(const auto batch,
                   encode_control_batch({&footer, 1}, s.id.epoch, s.timestamp, s.next_offset));
  // Any failure from here on leaves the .part file in an unknown state: never retry into it.
  s.broken = true;
  SAMSA_TRY(s.file->append(batch));
  SAMSA_TRY(s.file->sync());
  SAMSA_TRY(s.file->close());
  SAMSA_TRY(s.env.rename(s.part, join_path(s.dir, snapshot_file_name(s.id))));
  s.frozen = true;
  return s.env.sync_dir(s.dir);
}

// ---- SnapshotReader

struct SnapshotReader::Impl {
  SnapshotId id;
  std::unique_ptr<File> file;
  std::uint64_t size = 0;
};

SnapshotReader::SnapshotReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SnapshotReader::~SnapshotReader() = default;

Result<std::unique_ptr<SnapshotReader>> SnapshotReader::open(Env& env, const std::string& dir,
                                                             SnapshotId id) {
  const std::string path = join_path(dir, snapshot_file_name(id));
  SAMSA_TRY_ASSIGN(const bool exists, env.exists(path));
  if (!exists) return Status::not_found(fmt::format("snapshot {} does not exist", path));
  OpenOptions options;
  options.read_only = true;
  auto impl = std::make_unique<Impl>();
  impl->id = id;
  SAMSA_TRY_ASSIGN(impl->file, env.open(path, options));
  SAMSA_TRY_ASSIGN(impl->size, impl->file->size());
  return std::unique_ptr<SnapshotReader>(new SnapshotReader(std::move(impl)));
}

SnapshotId SnapshotReader::id() const {
  return impl_->id;
}
std::uint64_t SnapshotReader::size_bytes() const {
  return impl_->size;
}

Result<std::size_t> SnapshotReader::read_at(std::uint64_t position, MutableByteSpan out) const {
  if (position > impl_->size) {
    return Status::out_of_range(fmt::format("snapshot {}: position {} is past its {} bytes",
                                            impl_->file->path(), position, impl_->size));
  }
  const std::uint64_t left = impl_->size - position;
  if (out.size() > left) out = out.first(static_cast<std::size_t>(left));
  return impl_->file->read_at(position, out);
}

Result<std::vector<std::vector<std::byte>>> SnapshotReader::data_batches() const {
  SAMSA_TRY_ASSIGN(const auto bytes, read_all(*impl_->file, impl_->size));
  return validate_snapshot_bytes(bytes, impl_->id.epoch, impl_->file->path());
}

// ---- SnapshotReceiver

struct SnapshotReceiver::Impl {
  Env& env;
  std::string dir;
  SnapshotId id;
  std::string part;
  std::unique_ptr<File> file;
  std::uint64_t received = 0;
  bool finished = false;
  bool broken = false;  // a write failed: how much of it landed is unknown
};

SnapshotReceiver::SnapshotReceiver(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

SnapshotReceiver::~SnapshotReceiver() {
  if (impl_->finished) return;
  if (impl_->file) (void)impl_->file->close();
  (void)impl_->env.remove(impl_->part);
}

Result<std::unique_ptr<SnapshotReceiver>> SnapshotReceiver::create(Env& env, const std::string& dir,
                                                                   SnapshotId id) {
  const std::string final_path = join_path(dir, snapshot_file_name(id));
  SAMSA_TRY_ASSIGN(const bool exists, env.exists(final_path));
  if (exists) return Status::already_exists(fmt::format("snapshot {} exists", final_path));
  auto impl = std::unique_ptr<Impl>(new Impl{env, dir, id, part_path(dir, id), nullptr});
  SAMSA_TRY(open_part(env, impl->part, impl->file));
  return std::unique_ptr<SnapshotReceiver>(new SnapshotReceiver(std::move(impl)));
}

Status SnapshotReceiver::write_chunk(std::uint64_t position, ByteSpan bytes) {
  Impl& s = *impl_;
  if (s.finished || s.broken) {
    return Status::failed_precondition(
        fmt::format("snapshot {}: {}", s.part, s.finished ? "finished" : "a write failed"));
  }
  if (position != s.received) {
    return Status::out_of_range(fmt::format("snapshot {}: chunk at position {}, expected {}",
                                            s.part, position, s.received));
  }
  if (Status st = s.file->append(bytes); !st.ok()) {
    s.broken = true;
    return st;
  }
  s.received += bytes.size();
  return {};
}

std::uint64_t SnapshotReceiver::received_bytes() const {
  return impl_->received;
}

Status SnapshotReceiver::finish() {
  Impl& s = *impl_;
  if (s.finished || s.broken) {
    return Status::failed_precondition(
        fmt::format("snapshot {}: {}", s.part, s.finished ? "finished" : "a write failed"));
  }
  SAMSA_TRY_ASSIGN(const auto bytes, read_all(*s.file, s.received));
  if (auto valid = validate_snapshot_bytes(bytes, s.id.epoch, s.part); !valid.ok()) {
    s.broken = true;
    (void)s.file->close();
    (void)s.env.remove(s.part);  // best effort; a .part file is never listed
    return valid.status();
  }
  SAMSA_TRY(s.file->sync());
  SAMSA_TRY(s.file->close());
  SAMSA_TRY(s.env.rename(s.part, join_path(s.dir, snapshot_file_name(s.id))));
  s.finished = true;
  return s.env.sync_dir(s.dir);
}

}  // namespace samsa
