// Floor 4: SparseIndex, the in-memory mirror of a Kafka .index or .timeindex file
// (include/samsa/index.h, docs/FORMAT.md "Segment files").
//
// Entries live in a table of chunks that double in size (64, 128, 256, ... entries),
// allocated as entries arrive and freed only with the index: an index of a few entries
// costs a few hundred bytes however large max_index_bytes is, and a slot, once allocated,
// never moves, so a reader racing a truncation reads stale values, never freed memory.
// Slots hold the fields as the file stores them (relative offset, i32 position), in native
// byte order; each field is read and written through std::atomic_ref (relaxed), so even
// that race is not undefined behaviour. The entry count is published with release after
// the slot is written; readers load it with acquire and read only below it.
#include "samsa/index.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <limits>
#include <string_view>
#include <utility>
#include <vector>

#include "invariant.h"
#include "samsa/coding.h"

namespace samsa {
namespace {

constexpr std::int64_t kInt32Max = std::numeric_limits<std::int32_t>::max();

template <typename T>
T load_relaxed(const T& field) {
  // The slots are heap memory the index owns and writes; const only on this path.
  return std::atomic_ref<T>(const_cast<T&>(field)).load(std::memory_order_relaxed);
}
template <typename T>
void store_relaxed(T& field, T value) {
  std::atomic_ref<T>(field).store(value, std::memory_order_relaxed);
}

// What differs between the two index files.
template <typename Entry>
struct Layout;

template <>
struct Layout<OffsetPosition> {
  static constexpr std::size_t kEntrySize = index_layout::kOffsetEntrySize;
  static constexpr std::string_view kKind = "offset index";
  struct Slot {
    std::int32_t relative_offset;
    std::int32_t position;
  };

  static void encode(const Slot& s, std::byte* p) {
    put_be<std::int32_t>(p, load_relaxed(s.relative_offset));
    put_be<std::int32_t>(p + 4, load_relaxed(s.position));
  }
  static void decode(const std::byte* p, Slot& s) {
    s.relative_offset = get_be<std::int32_t>(p);
    s.position = get_be<std::int32_t>(p + 4);
  }
  static OffsetPosition load(const Slot& s, Offset base) {
    // A negative i32 position (only in a corrupt file) becomes >= 2^31: see fields_valid.
    const auto position = static_cast<std::uint32_t>(load_relaxed(s.position));
    return {base + load_relaxed(s.relative_offset), Position(position)};
  }
  // Precondition: fits(e, base).
  static void store(Slot& s, const OffsetPosition& e, Offset base) {
    store_relaxed(s.relative_offset, static_cast<std::int32_t>(e.offset - base));
    store_relaxed(s.position, static_cast<std::int32_t>(e.position.value()));
  }
  // The entry's fields fit the file's i32 fields.
  static bool fits(const OffsetPosition& e, Offset base) {
    const std::int64_t relative = e.offset - base;
    return relative >= 0 && relative <= kInt32Max &&
           e.position.value() <= static_cast<std::uint64_t>(kInt32Max);
  }
  static bool strictly_follows(const OffsetPosition& prev, const OffsetPosition& next) {
    return next.offset > prev.offset && next.position > prev.position;
  }
  static std::string describe(const OffsetPosition& e) {
    return fmt::format("(offset {}, position {})", e.offset.value(), e.position.value());
  }
};

template <>
struct Layout<TimestampOffset> {
  static constexpr std::size_t kEntrySize = index_layout::kTimeEntrySize;
  static constexpr std::string_view kKind = "time index";
  struct Slot {
    std::int64_t timestamp;
    std::int32_t relative_offset;
  };

  static void encode(const Slot& s, std::byte* p) {
    put_be<std::int64_t>(p, load_relaxed(s.timestamp));
    put_be<std::int32_t>(p + 8, load_relaxed(s.relative_offset));
  }
  static void decode(const std::byte* p, Slot& s) {
    s.timestamp = get_be<std::int64_t>(p);
    s.relative_offset = get_be<std::int32_t>(p + 8);
  }
  static TimestampOffset load(const Slot& s, Offset base) {
    return {Timestamp(load_relaxed(s.timestamp)), base + load_relaxed(s.relative_offset)};
  }
  static void store(Slot& s, const TimestampOffset& e, Offset base) {
    store_relaxed(s.timestamp, e.timestamp.value());
    store_relaxed(s.relative_offset, static_cast<std::int32_t>(e.offset - base));
  }
  static bool fits(const TimestampOffset& e, Offset base) {
    const std::int64_t relative = e.offset - base;
    return relative >= 0 && relative <= kInt32Max;
  }
  static bool strictly_follows(const TimestampOffset& prev, const TimestampOffset& next) {
    return next.timestamp > prev.timestamp && next.offset > prev.offset;
  }
  static std::string describe(const TimestampOffset& e) {
    return fmt::format("(timestamp {}, offset {})", e.timestamp.value(), e.offset.value());
  }
};

static_assert(sizeof(Layout<OffsetPosition>::Slot) == index_layout::kOffsetEntrySize);
static_assert(index_layout::kTimeEntrySize == sizeof(std::int64_t) + sizeof(std::int32_t));

// Slots in chunks of 64 << k entries for chunk k: chunk k holds entries
// [64 * (2^k - 1), 64 * (2^(k+1) - 1)). The last chunk is cut to the capacity.
template <typename Slot>
class SlotTable {
 public:
  explicit SlotTable(std::size_t capacity) : capacity_(capacity) {}

  // The writer's slot i, allocating its chunk on first use. Precondition: i < capacity.
  Slot& for_write(std::size_t i) {
    const auto [k, within] = locate(i);
    if (!chunks_[k]) {
      const std::size_t start = chunk_start(k);
      const std::size_t size = std::min(kFirstChunkEntries << k, capacity_ - start);
      chunks_[k] = std::make_unique_for_overwrite<Slot[]>(size);
    }
    return chunks_[k][within];
  }
  // Precondition: slot i was allocated by for_write (i is below a published count).
  const Slot& at(std::size_t i) const {
    const auto [k, within] = locate(i);
    return chunks_[k][within];
  }

 private:
  static constexpr std::size_t kFirstChunkEntries = 64;
  static constexpr std::size_t kMaxChunks = 32;
  // The largest capacity (max_index_bytes is a u32, entries are >= 8 bytes) needs
  // bit_width(2^29 / 64 + 1) = 24 chunks.
  static_assert(std::bit_width(std::uint64_t{std::numeric_limits<std::uint32_t>::max()} /
                                   index_layout::kOffsetEntrySize / kFirstChunkEntries +
                               1) <= kMaxChunks);

  static std::size_t chunk_start(std::size_t k) {
    return kFirstChunkEntries * ((std::size_t{1} << k) - 1);
  }
  static std::pair<std::size_t, std::size_t> locate(std::size_t i) {
    const std::size_t k = std::bit_width(i / kFirstChunkEntries + 1) - 1;
    return {k, i - chunk_start(k)};
  }

  const std::size_t capacity_;
  // Written only by the writer, for a chunk no published entry lives in yet.
  std::array<std::unique_ptr<Slot[]>, kMaxChunks> chunks_;
};

// An entry's timestamp. Defined for OffsetPosition too only because clang before 15
// instantiates every member in `template class`, even one whose constraints fail.
template <typename Entry>
Timestamp timestamp_of(const Entry& e) {
  if constexpr (std::is_same_v<Entry, TimestampOffset>) {
    return e.timestamp;
  } else {
    SAMSA_ASSERT(false, "timestamp_of an offset index entry ({})", e.offset.value());
    return Timestamp::none();
  }
}

}  // namespace

template <typename Entry>
struct SparseIndex<Entry>::Impl {
  using L = Layout<Entry>;
  using Slot = typename L::Slot;

  Impl(Env& e, std::string p, Offset base, std::size_t max)
      : env(e), path(std::move(p)), base_offset(base), max_entries(max), slots(max) {}

  Entry load(std::size_t i) const { return L::load(slots.at(i), base_offset); }

  // The first i in [0, n) for which keep_left(load(i)) is false (entries are sorted).
  template <typename Pred>
  std::size_t partition_point(std::size_t n, Pred keep_left) const {
    std::size_t lo = 0;
    std::size_t hi = n;
    while (lo < hi) {
      const std::size_t mid = lo + (hi - lo) / 2;
      if (keep_left(load(mid))) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return lo;
  }

  // The file for a write: reopened when release_file() let it go, refused after close().
  Status check_open(std::string_view op) {
    if (file) return Status();
    if (closed) {
      return Status::failed_precondition(fmt::format("{} {}: the index is closed", op, path));
    }
    SAMSA_TRY_ASSIGN(file, env.open(path, {.create = true}));
    return Status();
  }

  // Writes entries [written, count) and, with zero_stale_tail, zeros over the entries of
  // the file past count (dropped by a truncation), all with one write.
  Status write_pending(bool zero_stale_tail) {
    const std::size_t n = count.load(std::memory_order_relaxed);
    const std::size_t end = zero_stale_tail ? std::max(n, file_entries) : n;
    if (written >= end) return Status();
    // Bounded by max_entries * entry size <= max_index_bytes.
    std::vector<std::byte> buffer((end - written) * L::kEntrySize);  // zeros past n
    for (std::size_t i = written; i < n; ++i) {
      L::encode(slots.at(i), buffer.data() + (i - written) * L::kEntrySize);
    }
    needs_sync = true;
    SAMSA_TRY(file->write_at(std::uint64_t{written} * L::kEntrySize, buffer));
    written = n;
    file_entries = zero_stale_tail ? n : std::max(file_entries, n);
    return Status();
  }

  Status sync_if_needed() {
    if (!needs_sync) return Status();
    SAMSA_TRY(file->sync());
    needs_sync = false;
    return Status();
  }

  Env& env;
  std::string path;  // changed by rename_file only
  const Offset base_offset;
  const std::size_t max_entries;
  std::uint64_t file_bytes_at_open = 0;  // what sanity_check judges the file's length by
  std::unique_ptr<File> file;            // null once closed or released
  bool closed = false;                   // by close(): no write reopens the file
  SlotTable<Slot> slots;
  // Entries [0, count) are readable. Stored with release after the slot is written.
  std::atomic<std::size_t> count{0};

  // Writer-only. Invariant: written <= count, written <= file_entries.
  // Entries [0, written) are in the file as they are in memory.
  std::size_t written = 0;
  // The file's leading slots that may hold entries: past count they are stale (dropped by
  // a truncation) and the next flush() zeros them.
  std::size_t file_entries = 0;
  // Something was written or cut since the last successful sync.
  bool needs_sync = false;
};

template <typename Entry>
SparseIndex<Entry>::SparseIndex(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

template <typename Entry>
SparseIndex<Entry>::~SparseIndex() = default;

template <typename Entry>
Result<std::unique_ptr<SparseIndex<Entry>>> SparseIndex<Entry>::open(Env& env,
                                                                     const std::string& path,
                                                                     Offset base_offset,
                                                                     std::uint32_t max_index_bytes,
                                                                     bool preallocate) {
  using L = Layout<Entry>;
  const std::size_t max_entries = max_index_bytes / L::kEntrySize;
  auto impl = std::make_unique<Impl>(env, path, base_offset, max_entries);

  OpenOptions options;
  options.create = true;
  SAMSA_TRY_ASSIGN(impl->file, env.open(path, options));
  SAMSA_TRY_ASSIGN(impl->file_bytes_at_open, impl->file->size());

  // Kafka's rule: a reopened file holds size / entry size entries. A file longer than
  // max_index_bytes loads its first max_entries and fails sanity_check().
  const std::size_t n = static_cast<std::size_t>(
      std::min<std::uint64_t>(impl->file_bytes_at_open / L::kEntrySize, max_entries));
  if (n > 0) {
    std::vector<std::byte> bytes(n * L::kEntrySize);
    SAMSA_TRY_ASSIGN(std::size_t read, impl->file->read_at(0, bytes));
    if (read != bytes.size()) {
      return Status::io_error(fmt::format("{} {}: read {} of its {} bytes at open", L::kKind, path,
                                          read, bytes.size()));
    }
    for (std::size_t i = 0; i < n; ++i) {
      L::decode(bytes.data() + i * L::kEntrySize, impl->slots.for_write(i));
    }
  }
  impl->count.store(n, std::memory_order_release);
  impl->written = n;
  // A partial entry at the end counts, so that a flush zeros it too.
  impl->file_entries = static_cast<std::size_t>(std::min<std::uint64_t>(
      (impl->file_bytes_at_open + L::kEntrySize - 1) / L::kEntrySize, max_entries));

  const std::uint64_t max_bytes = std::uint64_t{max_entries} * L::kEntrySize;
  if (preallocate && impl->file_bytes_at_open < max_bytes) {
    // As Kafka's RandomAccessFile.setLength: the file grows, the entries stay.
    SAMSA_TRY(impl->file->allocate(0, max_bytes, /*keep_size=*/false));
  }
  return std::unique_ptr<SparseIndex>(new SparseIndex(std::move(impl)));
}

template <typename Entry>
const std::string& SparseIndex<Entry>::path() const {
  return impl_->path;
}

template <typename Entry>
Offset SparseIndex<Entry>::base_offset() const {
  return impl_->base_offset;
}

template <typename Entry>
std::size_t SparseIndex<Entry>::entries() const {
  return impl_->count.load(std::memory_order_acquire);
}

template <typename Entry>
std::size_t SparseIndex<Entry>::max_entries() const {
  return impl_->max_entries;
}

template <typename Entry>
Entry SparseIndex<Entry>::entry(std::size_t i) const {
  const std::size_t n = entries();
  SAMSA_ASSERT(i < n, "entry {} of {} {} which has {} entries", i, Impl::L::kKind, impl_->path, n);
  return impl_->load(i);
}

template <typename Entry>
std::optional<Entry> SparseIndex<Entry>::last() const {
  const std::size_t n = entries();
  if (n == 0) return std::nullopt;
  return impl_->load(n - 1);
}

template <typename Entry>
Status SparseIndex<Entry>::sanity_check() const {
  using L = typename Impl::L;
  const Impl& d = *impl_;
  if (d.file_bytes_at_open % L::kEntrySize != 0) {
    return Status::corruption(
        fmt::format("{} {}: {} bytes is not a whole number of {}-byte entries", L::kKind, d.path,
                    d.file_bytes_at_open, L::kEntrySize));
  }
  if (d.file_bytes_at_open / L::kEntrySize > d.max_entries) {
    return Status::corruption(
        fmt::format("{} {}: {} bytes holds {} entries, more than its maximum {}", L::kKind, d.path,
                    d.file_bytes_at_open, d.file_bytes_at_open / L::kEntrySize, d.max_entries));
  }
  const std::size_t n = entries();
  std::optional<Entry> prev;
  for (std::size_t i = 0; i < n; ++i) {
    const Entry e = d.load(i);
    if (!L::fits(e, d.base_offset)) {
      return Status::corruption(
          fmt::format("{} {}: entry {} {} is outside the segment (base offset {})", L::kKind,
                      d.path, i, L::describe(e), d.base_offset.value()));
    }
    if (prev && !L::strictly_follows(*prev, e)) {
      return Status::corruption(
          fmt::format("{} {}: entry {} {} does not strictly follow entry {} {}", L::kKind, d.path,
                      i, L::describe(e), i - 1, L::describe(*prev)));
    }
    prev = e;
  }
  return Status();
}

template <typename Entry>
void SparseIndex<Entry>::append(Entry e) {
  using L = typename Impl::L;
  Impl& d = *impl_;
  const std::size_t n = d.count.load(std::memory_order_relaxed);
  SAMSA_ASSERT(n < d.max_entries, "append {} to full {} {} ({} entries)", L::describe(e), L::kKind,
               d.path, n);
  SAMSA_ASSERT(L::fits(e, d.base_offset),
               "append {} to {} {}: outside the segment's i32 fields (base offset {})",
               L::describe(e), L::kKind, d.path, d.base_offset.value());
  if (n > 0) {
    const Entry prev = d.load(n - 1);
    SAMSA_ASSERT(L::strictly_follows(prev, e),
                 "append {} to {} {}: does not strictly follow the last entry {}", L::describe(e),
                 L::kKind, d.path, L::describe(prev));
  }
  L::store(d.slots.for_write(n), e, d.base_offset);
  d.count.store(n + 1, std::memory_order_release);
}

template <typename Entry>
std::optional<Entry> SparseIndex<Entry>::lookup(
    Offset target) const requires std::is_same_v<Entry, OffsetPosition> {
  // With the entries in memory a plain binary search is as good as Kafka's warm section.
  const std::size_t i =
      impl_->partition_point(entries(), [&](const Entry& e) { return e.offset <= target; });
  if (i == 0) return std::nullopt;
  return impl_->load(i - 1);
}

template <typename Entry>
std::optional<Entry> SparseIndex<Entry>::lookup(
    Timestamp target) const requires std::is_same_v<Entry, TimestampOffset> {
  const std::size_t i =
      impl_->partition_point(entries(), [&](const Entry& e) { return timestamp_of(e) <= target; });
  if (i == 0) return std::nullopt;
  return impl_->load(i - 1);
}

template <typename Entry>
std::optional<Entry> SparseIndex<Entry>::first_at_or_after(
    Timestamp target) const requires std::is_same_v<Entry, TimestampOffset> {
  const std::size_t n = entries();
  const std::size_t i =
      impl_->partition_point(n, [&](const Entry& e) { return timestamp_of(e) < target; });
  if (i == n) return std::nullopt;
  return impl_->load(i);
}

template <typename Entry>
Status SparseIndex<Entry>::truncate_to(Offset offset) {
  Impl& d = *impl_;
  const std::size_t n = d.count.load(std::memory_order_relaxed);
  const std::size_t keep = d.partition_point(n, [&](const Entry& e) { return e.offset < offset; });
  d.count.store(keep, std::memory_order_release);
  d.written = std::min(d.written, keep);
  return Status();
}

template <typename Entry>
Status SparseIndex<Entry>::reset() {
  impl_->count.store(0, std::memory_order_release);
  impl_->written = 0;
  return Status();
}

template <typename Entry>
Status SparseIndex<Entry>::flush() {
  SAMSA_TRY(impl_->check_open("flush"));
  SAMSA_TRY(impl_->write_pending(/*zero_stale_tail=*/true));
  return impl_->sync_if_needed();
}

template <typename Entry>
Status SparseIndex<Entry>::trim() {
  Impl& d = *impl_;
  SAMSA_TRY(d.check_open("trim"));
  // The stale tail is about to be cut, so it need not be zeroed first.
  SAMSA_TRY(d.write_pending(/*zero_stale_tail=*/false));
  const std::size_t n = d.count.load(std::memory_order_relaxed);
  const std::uint64_t bytes = std::uint64_t{n} * Impl::L::kEntrySize;
  SAMSA_TRY_ASSIGN(std::uint64_t size, d.file->size());
  if (size != bytes) {
    d.needs_sync = true;
    SAMSA_TRY(d.file->truncate(bytes));
  }
  d.file_entries = n;
  return d.sync_if_needed();
}

template <typename Entry>
Status SparseIndex<Entry>::release_file() {
  if (!impl_->file) return Status();
  Status status = impl_->file->close();
  impl_->file.reset();
  return status;
}

template <typename Entry>
Status SparseIndex<Entry>::close() {
  impl_->closed = true;
  if (!impl_->file) return Status();
  Status status = impl_->file->close();
  impl_->file.reset();
  return status;
}

template <typename Entry>
Status SparseIndex<Entry>::remove() {
  // Removing matters more than a close error of a file about to be gone: try both.
  const Status closed = close();
  SAMSA_TRY(impl_->env.remove(impl_->path));
  return closed;
}

template <typename Entry>
Status SparseIndex<Entry>::rename_file(const std::string& new_path) {
  SAMSA_TRY(impl_->env.rename(impl_->path, new_path));
  impl_->path = new_path;
  return Status();
}

template class SparseIndex<OffsetPosition>;
template class SparseIndex<TimestampOffset>;

}  // namespace samsa
