// SegmentFileCache: an LRU of sealed segments' .log files (include/samsa/segment_file_cache.h).
#include "samsa/segment_file_cache.h"

#include <utility>
#include <vector>

#include "invariant.h"

namespace samsa {

struct SegmentFileCache::Entry {
  // All guarded by the cache's mutex. Invariant: file != nullptr iff linked in the list.
  std::shared_ptr<File> file;
  Entry* prev = nullptr;
  Entry* next = nullptr;
};

SegmentFileCache::SegmentFileCache(std::size_t open_segment_files_max)
    : max_(open_segment_files_max) {
  SAMSA_ASSERT(open_segment_files_max >= 1, "open_segment_files_max {}", open_segment_files_max);
}

SegmentFileCache::~SegmentFileCache() {
  SAMSA_ASSERT(head_ == nullptr, "cache destroyed with {} files held", stats_.open_files);
}

SegmentFileCache& SegmentFileCache::process_default() {
  static auto* cache = new SegmentFileCache(kDefaultOpenSegmentFilesMax);
  return *cache;
}

std::size_t SegmentFileCache::open_segment_files_max() const {
  std::lock_guard lock(mu_);
  return max_;
}

void SegmentFileCache::set_open_segment_files_max(std::size_t n) {
  SAMSA_ASSERT(n >= 1, "open_segment_files_max {}", n);
  std::vector<std::shared_ptr<File>> evicted;
  std::lock_guard lock(mu_);
  max_ = n;
  evict_locked(evicted);
  // `evicted` is destroyed after the lock (declared before it): files close outside it.
}

SegmentFileCache::Stats SegmentFileCache::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

SegmentFileCache::Entry* SegmentFileCache::add() {
  return new Entry();
}

void SegmentFileCache::remove(Entry* entry) {
  std::shared_ptr<File> file = take(entry);
  delete entry;
}

void SegmentFileCache::unlink(Entry* e) {
  (e->prev ? e->prev->next : head_) = e->next;
  (e->next ? e->next->prev : tail_) = e->prev;
  e->prev = e->next = nullptr;
}

void SegmentFileCache::push_front(Entry* e) {
  e->prev = nullptr;
  e->next = head_;
  (head_ ? head_->prev : tail_) = e;
  head_ = e;
}

void SegmentFileCache::evict_locked(std::vector<std::shared_ptr<File>>& out) {
  // Bounded: each step unlinks one of the open_files entries.
  while (stats_.open_files > max_) {
    Entry* victim = tail_;
    SAMSA_ASSERT(victim != nullptr, "{} files counted, none linked", stats_.open_files);
    unlink(victim);
    out.push_back(std::move(victim->file));
    --stats_.open_files;
    ++stats_.evictions;
  }
}

Result<std::shared_ptr<File>> SegmentFileCache::acquire(Entry* entry, Env& env,
                                                        const std::function<std::string()>& path) {
  {
    std::lock_guard lock(mu_);
    if (entry->file) {
      unlink(entry);
      push_front(entry);
      ++stats_.hits;
      return entry->file;
    }
  }
  // Retention may rename the file (.deleted) between reading the path and opening it: a
  // second try takes the new name. Two tries bound it (one rename per segment life).
  std::string name = path();
  auto opened = env.open(name, {});
  if (!opened.ok() && opened.status().code() == StatusCode::not_found && path() != name) {
    opened = env.open(path(), {});
  }
  if (!opened.ok()) return opened.status();
  std::shared_ptr<File> file = std::move(*opened);
  std::vector<std::shared_ptr<File>> evicted;
  std::lock_guard lock(mu_);
  ++stats_.opens;
  if (entry->file) {  // another reader opened it meanwhile: use theirs, ours closes
    evicted.push_back(std::move(file));
    unlink(entry);
    push_front(entry);
    return entry->file;
  }
  entry->file = file;
  push_front(entry);
  ++stats_.open_files;
  evict_locked(evicted);
  return file;
}

void SegmentFileCache::put(Entry* entry, std::shared_ptr<File> file) {
  SAMSA_ASSERT(file != nullptr, "put of no file");
  std::vector<std::shared_ptr<File>> evicted;
  std::lock_guard lock(mu_);
  if (entry->file) {
    evicted.push_back(std::move(file));
    return;
  }
  entry->file = std::move(file);
  push_front(entry);
  ++stats_.open_files;
  evict_locked(evicted);
}

std::shared_ptr<File> SegmentFileCache::take(Entry* entry) {
  std::lock_guard lock(mu_);
  if (!entry->file) return nullptr;
  unlink(entry);
  --stats_.open_files;
  return std::move(entry->file);
}

}  // namespace samsa
