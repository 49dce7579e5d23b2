// Floor 4: the bounded cache of sealed segments' open .log files.
//
// A sealed (inactive) segment is read rarely: by a consumer far behind, a timestamp lookup,
// the cleaner. Holding its files open costs a descriptor per segment for the life of the
// process, so a node with many partitions and segments runs out of them. Instead a sealed
// segment's .log is opened on first use, through the segment's Env (so FaultyEnv still
// injects faults), and kept in this cache, which closes the least recently used file once
// more than open_segment_files_max() are held (Kafka does the same for its indexes). A
// sealed segment's index files hold no descriptor at all: their entries live in memory and
// a file is opened only for the rare write (recovery, truncation). The active segment's
// three files are pinned by the segment and never counted here.
//
// An evicted file is only unreferenced, not closed: a reader (a LogSlice, a scan) that
// holds its shared_ptr<File> keeps reading it, and it closes when the last holder lets go.
// So the descriptors in use are at most open_segment_files_max() + the files readers still
// hold + 3 per active segment.
//
// Thread-safety: every method is thread-safe. One mutex guards the LRU list; no file is
// opened or closed while it is held.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "samsa/env.h"

namespace samsa {

class SegmentFileCache {
 public:
  // The process default's bound. Sealed segments are the cold part of a node: 1024 open
  // files hold the working set of many lagging readers while staying well under the usual
  // RLIMIT_NOFILE soft limit (1024 to 65536) next to the active segments and sockets.
  static constexpr std::size_t kDefaultOpenSegmentFilesMax = 1024;

  // Precondition: open_segment_files_max >= 1.
  explicit SegmentFileCache(std::size_t open_segment_files_max);
  ~SegmentFileCache();
  SegmentFileCache(const SegmentFileCache&) = delete;
  SegmentFileCache& operator=(const SegmentFileCache&) = delete;

  // The cache every Log uses unless LogConfig::segment_file_cache names another, bounded by
  // kDefaultOpenSegmentFilesMax. Never destroyed.
  static SegmentFileCache& process_default();

  std::size_t open_segment_files_max() const;
  // Lowers or raises the bound; lowering evicts at once. Precondition: n >= 1.
  void set_open_segment_files_max(std::size_t n);

  struct Stats {
    std::size_t open_files = 0;   // files held by the cache now (<= open_segment_files_max)
    std::uint64_t opens = 0;      // files opened on a miss
    std::uint64_t hits = 0;       // acquires answered by a held file
    std::uint64_t evictions = 0;  // files let go to stay within the bound
  };
  Stats stats() const;

  // One sealed segment's place in the cache, owned by its Segment (through add()/remove()).
  struct Entry;

  // A new entry holding no file. remove() frees it.
  Entry* add();
  // Drops the entry and lets go of its file, if any. Precondition: `entry` came from add().
  void remove(Entry* entry);

  // The entry's open file, most recently used from now on; on a miss it is opened with
  // env.open(path(), {}) (outside the lock; path() is asked again if the file was renamed
  // meanwhile), and the least recently used files beyond the bound are let go.
  Result<std::shared_ptr<File>> acquire(Entry* entry, Env& env,
                                        const std::function<std::string()>& path);
  // Hands an already open file to the cache (a segment that was just sealed keeps the
  // handle it wrote with). Keeps the entry's file when it already has one.
  void put(Entry* entry, std::shared_ptr<File> file);
  // Takes the entry's file out of the cache (nullptr when it holds none): the segment pins
  // it again (it became active) or closes it.
  std::shared_ptr<File> take(Entry* entry);

 private:
  void unlink(Entry* e);
  void push_front(Entry* e);
  // Unlinks the least recently used files beyond the bound into `out` (closed by the
  // caller once the lock is released).
  void evict_locked(std::vector<std::shared_ptr<File>>& out);

  mutable std::mutex mu_;
  std::size_t max_;
  // Entries holding a file, most recently used first (intrusive list through Entry).
  Entry* head_ = nullptr;
  Entry* tail_ = nullptr;
  Stats stats_;
};

}  // namespace samsa
