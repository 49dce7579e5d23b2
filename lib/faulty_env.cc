// Floor 2: FaultyEnv, an in-memory file system that knows what is durable (faulty_env.h).
//
// The model:
// - A file is an Inode: the bytes reads see, the durable image (what the last successful
//   sync() left on "disk"), and the changes made since then, in order. Invariant: the
//   durable image with every unsynced change applied in order is exactly the current bytes.
// - A directory has two name tables, name -> Inode: the current one (what list_dir() sees)
//   and the durable one (what the last successful sync_dir() left). Creating, renaming and
//   removing a file change only the current table.
// - Directories themselves are durable at once: create_dirs, remove_dir and renaming a
//   directory survive a power cut without a sync. Real filesystems need an fsync of the
//   parent for that too, but samsa creates its directories once, before any data, and
//   modelling it would only add noise to every test.
// - A power cut puts every directory back to its durable table and every file still named
//   there back to its durable image plus the part of its unsynced changes the mode keeps.
//
// Paths are strings, lightly normalized ("a//b/./c/" is "a/b/c"); ".." is not resolved.
// "/x" and "x" live in different trees (under "/" and under ".", both always present).
#include "samsa/faulty_env.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include "invariant.h"

namespace samsa {
namespace {

using Bytes = std::vector<std::byte>;

// The largest file FaultyEnv holds, so that a bad offset fails instead of exhausting memory.
constexpr std::uint64_t kFileBytesMax = std::uint64_t{1} << 30;

// One change to a file since its last sync, kept so that a power cut can replay a part.
struct Change {
  enum class Kind : std::uint8_t { write, resize };
  Kind kind = Kind::write;
  std::uint64_t offset = 0;  // write: where the bytes go
  Bytes bytes;               // write: the bytes
  std::uint64_t size = 0;    // resize: the new size
};

// Applies `change` to `image`; a write applies only its first `write_bytes` bytes.
void apply(Bytes& image, const Change& change, std::size_t write_bytes) {
  if (change.kind == Change::Kind::resize) {
    image.resize(change.size);  // new bytes are zeros
    return;
  }
  if (write_bytes == 0) return;
  const std::size_t end = change.offset + write_bytes;
  if (image.size() < end) image.resize(end);
  std::copy_n(change.bytes.begin(), write_bytes, image.begin() + change.offset);
}

struct Inode {
  Bytes data;     // what reads see
  Bytes durable;  // what survived the last successful sync
  // Invariant: `durable` with every change here applied in order equals `data`.
  std::vector<Change> unsynced;

  void write(std::uint64_t offset, ByteSpan bytes) {
    if (bytes.empty()) return;
    unsynced.push_back({Change::Kind::write, offset, Bytes(bytes.begin(), bytes.end()), 0});
    apply(data, unsynced.back(), bytes.size());
  }
  void resize(std::uint64_t size) {
    unsynced.push_back({Change::Kind::resize, 0, {}, size});
    apply(data, unsynced.back(), 0);
  }
};

using NameTable = std::map<std::string, std::shared_ptr<Inode>>;

struct Dir {
  NameTable names;          // what list_dir() sees
  NameTable durable_names;  // what survived the last successful sync_dir()
};

struct Fault {
  FaultOp op = FaultOp::write;
  std::uint64_t at = 0;  // fires on the attempt with this count; 0: on every attempt
  int err = EIO;
  bool short_write = false;
  std::optional<std::size_t> bytes_written;  // short_write: how many bytes land
};

std::size_t index_of(FaultOp op) {
  return static_cast<std::size_t>(op);
}

// "a//b/./c/" -> "a/b/c"; "" and "./" -> "."; "/" and "//" -> "/".
std::string normalize(std::string_view path) {
  std::string out = !path.empty() && path.front() == '/' ? "/" : "";
  std::size_t begin = 0;
  // Each round consumes one component and its '/', so it runs at most path.size() + 1 times.
  while (begin <= path.size()) {
    std::size_t end = path.find('/', begin);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view part = path.substr(begin, end - begin);
    if (!part.empty() && part != ".") {
      if (!out.empty() && out.back() != '/') out += '/';
      out += part;
    }
    begin = end + 1;
  }
  return out.empty() ? "." : out;
}

// A normalized path's directory and last name: "a/b" -> {"a", "b"}, "b" -> {".", "b"},
// "/b" -> {"/", "b"}. The roots "." and "/" have an empty name.
std::pair<std::string, std::string> split(const std::string& norm) {
  if (norm == "." || norm == "/") return {norm, ""};
  const std::size_t slash = norm.rfind('/');
  if (slash == std::string::npos) return {".", norm};
  if (slash == 0) return {"/", norm.substr(1)};
  return {norm.substr(0, slash), norm.substr(slash + 1)};
}

// Uniform in [lo, hi]. By hand rather than std::uniform_int_distribution, whose mapping
// differs between standard libraries: a seed must reproduce the same run everywhere.
std::uint64_t uniform(std::mt19937_64& rng, std::uint64_t lo, std::uint64_t hi) {
  const std::uint64_t span = hi - lo + 1;
  return span == 0 ? rng() : lo + rng() % span;
}

[[noreturn]] void die(const std::string& message) {
  SAMSA_FAIL("FaultyEnv: {}", message);
}

// Where a file name lives: its directory and its name in it.
struct Location {
  Dir* dir = nullptr;
  std::string name;
  std::string norm;  // the whole normalized path
};

// Everything behind FaultyEnv. Every member is guarded by `mu`, and so are the Inodes.
struct FaultyFs {
  explicit FaultyFs(std::uint64_t seed_in) : seed(seed_in), rng(seed_in) {
    dirs["."];
    dirs["/"];
  }

  std::optional<Fault> next_fault(FaultOp op);
  Result<Location> locate(std::string_view what, const std::string& path);
  Result<std::shared_ptr<Inode>> open_inode(std::string_view what, const std::string& path,
                                            OpenOptions options);
  Status write(Inode& inode, const std::string& path, std::uint64_t offset, ByteSpan data);
  Status rename_file(const std::string& from, const std::string& to);
  Status rename_dir(const std::string& from, const std::string& to);
  bool has_children(const std::string& norm) const;
  void recover(Inode& inode, PowerCutMode mode);

  std::mutex mu;
  const std::uint64_t seed;
  std::mt19937_64 rng;
  std::map<std::string, Dir> dirs;  // by normalized path; always holds "." and "/"
  std::set<std::string> locked;     // normalized paths of held FileLocks
  std::vector<Fault> faults;        // pending, in the order they were asked for
  std::array<std::uint64_t, 4> counts{};
  // Bumped by every power cut; a handle from an older generation is dead.
  std::uint64_t generation = 0;
};

// Counts an attempt of `op` and returns the fault that fires on it, if any (the first
// asked for wins). One-shot faults at or before this attempt are used up.
std::optional<Fault> FaultyFs::next_fault(FaultOp op) {
  const std::uint64_t n = ++counts[index_of(op)];
  std::optional<Fault> fired;
  for (const Fault& fault : faults) {
    if (fault.op == op && (fault.at == 0 || fault.at == n)) {
      fired = fault;
      break;
    }
  }
  std::erase_if(faults, [&](const Fault& f) { return f.op == op && f.at != 0 && f.at <= n; });
  return fired;
}

Result<Location> FaultyFs::locate(std::string_view what, const std::string& path) {
  std::string norm = normalize(path);
  auto [dir, name] = split(norm);
  if (name.empty()) return Status::from_errno(EISDIR, fmt::format("{} {}", what, path));
  auto it = dirs.find(dir);
  if (it == dirs.end()) return Status::from_errno(ENOENT, fmt::format("{} {}", what, path));
  return Location{&it->second, std::move(name), std::move(norm)};
}

Result<std::shared_ptr<Inode>> FaultyFs::open_inode(std::string_view what, const std::string& path,
                                                    OpenOptions options) {
  SAMSA_TRY_ASSIGN(Location loc, locate(what, path));
  if (dirs.contains(loc.norm)) return Status::from_errno(EISDIR, fmt::format("{} {}", what, path));
  auto it = loc.dir->names.find(loc.name);
  if (it != loc.dir->names.end()) {
    if (options.create && options.exclusive) {
      return Status::from_errno(EEXIST, fmt::format("{} {}", what, path));
    }
    if (options.truncate && !it->second->data.empty()) it->second->resize(0);
    return it->second;
  }
  if (!options.create) return Status::from_errno(ENOENT, fmt::format("{} {}", what, path));
  auto inode = std::make_shared<Inode>();
  loc.dir->names.emplace(loc.name, inode);
  return inode;
}

Status FaultyFs::write(Inode& inode, const std::string& path, std::uint64_t offset, ByteSpan data) {
  if (offset > kFileBytesMax || data.size() > kFileBytesMax - offset) {
    return Status::from_errno(
        EFBIG, fmt::format("pwrite {} at {} ({} bytes): past FaultyEnv's {} byte file limit", path,
                           offset, data.size(), kFileBytesMax));
  }
  const std::optional<Fault> fault = next_fault(FaultOp::write);
  if (!fault) {
    inode.write(offset, data);
    return Status();
  }
  std::size_t landed = 0;
  if (fault->short_write) {
    landed = fault->bytes_written ? std::min(*fault->bytes_written, data.size())
             : data.empty()       ? 0
                                  : uniform(rng, 0, data.size() - 1);
  }
  inode.write(offset, data.first(landed));
  return Status::from_errno(fault->err, fmt::format("pwrite {} at {} ({} bytes)", path,
                                                    offset + landed, data.size() - landed));
}

Status FaultyFs::rename_file(const std::string& from, const std::string& to) {
  const std::string what = fmt::format("rename {} to {}", from, to);
  SAMSA_TRY_ASSIGN(Location src, locate(what, from));
  auto it = src.dir->names.find(src.name);
  if (it == src.dir->names.end()) return Status::from_errno(ENOENT, what);
  SAMSA_TRY_ASSIGN(Location dst, locate(what, to));
  if (dirs.contains(dst.norm)) return Status::from_errno(EISDIR, what);
  if (src.norm == dst.norm) return Status();
  std::shared_ptr<Inode> inode = it->second;
  src.dir->names.erase(it);
  dst.dir->names[dst.name] = std::move(inode);
  return Status();
}

bool FaultyFs::has_children(const std::string& norm) const {
  auto it = dirs.find(norm);
  if (it != dirs.end() && !it->second.names.empty()) return true;
  return std::any_of(dirs.begin(), dirs.end(), [&](const auto& entry) {
    return entry.first != norm && split(entry.first).first == norm;
  });
}

// Moves a directory and everything under it, durably at once (see the top of the file).
Status FaultyFs::rename_dir(const std::string& from, const std::string& to) {
  const std::string what = fmt::format("rename {} to {}", from, to);
  const std::string nfrom = normalize(from);
  const std::string nto = normalize(to);
  if (nfrom == "." || nfrom == "/") return Status::from_errno(EBUSY, what);
  if (nfrom == nto) return Status();
  if (nto.starts_with(nfrom + "/")) return Status::from_errno(EINVAL, what);
  SAMSA_TRY_ASSIGN(Location dst, locate(what, to));
  if (dst.dir->names.contains(dst.name)) return Status::from_errno(ENOTDIR, what);
  if (dirs.contains(nto)) {
    if (has_children(nto)) return Status::from_errno(ENOTEMPTY, what);
    dirs.erase(nto);
  }
  std::vector<std::string> moving;
  for (const auto& [path, dir] : dirs) {
    if (path == nfrom || path.starts_with(nfrom + "/")) moving.push_back(path);
  }
  for (const std::string& path : moving) {
    auto node = dirs.extract(path);
    node.key() = nto + path.substr(nfrom.size());
    dirs.insert(std::move(node));
  }
  return Status();
}

// Replays the part of the unsynced changes that `mode` keeps on top of the durable image.
void FaultyFs::recover(Inode& inode, PowerCutMode mode) {
  Bytes image = inode.durable;
  const std::vector<Change>& changes = inode.unsynced;
  // Changes [0, keep) survive; the one at `torn` (a write, if any) keeps only `torn_bytes`.
  std::size_t keep = 0;
  std::size_t torn = changes.size();
  std::size_t torn_bytes = 0;
  if (mode == PowerCutMode::tear_last_write) {
    keep = changes.size();
    for (std::size_t i = changes.size(); i-- > 0;) {
      if (changes[i].kind == Change::Kind::write) {
        torn = i;
        torn_bytes = uniform(rng, 0, changes[i].bytes.size() - 1);  // a strict prefix
        break;
      }
    }
  } else if (mode == PowerCutMode::random_prefix) {
    keep = uniform(rng, 0, changes.size());
    if (keep > 0 && changes[keep - 1].kind == Change::Kind::write) {
      torn = keep - 1;
      // The cut may fall at the very end, so "everything landed" is a possible outcome.
      torn_bytes = uniform(rng, 0, changes[torn].bytes.size());
    }
  }
  for (std::size_t i = 0; i < keep; ++i) {
    apply(image, changes[i], i == torn ? torn_bytes : changes[i].bytes.size());
  }
  inode.data = image;
  inode.durable = std::move(image);
  inode.unsynced.clear();
}

class FaultyFile final : public File {
 public:
  FaultyFile(std::shared_ptr<FaultyFs> fs, std::shared_ptr<Inode> inode, std::string path,
             bool read_only)
      : fs_(std::move(fs)),
        inode_(std::move(inode)),
        path_(std::move(path)),
        read_only_(read_only),
        generation_(fs_->generation) {}

  const std::string& path() const override { return path_; }
  Result<std::size_t> read_at(std::uint64_t offset, MutableByteSpan dst) const override;
  Status write_at(std::uint64_t offset, ByteSpan data) override;
  Status append(ByteSpan data) override;
  Status sync() override;
  Status allocate(std::uint64_t offset, std::uint64_t length, bool keep_size) override;
  Status truncate(std::uint64_t size) override;
  Result<std::uint64_t> size() const override;
  Status close() override;

 private:
  // Whether the handle may do `op` now. Call with fs_->mu held.
  Status usable(std::string_view op, bool writes) const;
  Status check_size(std::string_view op, std::uint64_t offset, std::uint64_t length) const;

  const std::shared_ptr<FaultyFs> fs_;
  const std::shared_ptr<Inode> inode_;  // guarded by fs_->mu
  const std::string path_;
  const bool read_only_;
  const std::uint64_t generation_;
  bool closed_ = false;  // guarded by fs_->mu
};

Status FaultyFile::usable(std::string_view op, bool writes) const {
  if (closed_) {
    return Status::failed_precondition(fmt::format("{} {}: the file is closed", op, path_));
  }
  if (generation_ != fs_->generation) {
    return Status::io_error(
        fmt::format("{} {}: handle from before a simulated power cut", op, path_));
  }
  if (writes && read_only_) {
    return Status::failed_precondition(
        fmt::format("{} {}: the file was opened read_only", op, path_));
  }
  return Status();
}

Status FaultyFile::check_size(std::string_view op, std::uint64_t offset,
                              std::uint64_t length) const {
  if (offset <= kFileBytesMax && length <= kFileBytesMax - offset) return Status();
  return Status::from_errno(
      EFBIG, fmt::format("{} {} at {} ({} bytes): past FaultyEnv's {} byte file limit", op, path_,
                         offset, length, kFileBytesMax));
}

Result<std::size_t> FaultyFile::read_at(std::uint64_t offset, MutableByteSpan dst) const {
  std::lock_guard<std::mutex> guard(fs_->mu);
  SAMSA_TRY(usable("pread", false));
  const Bytes& data = inode_->data;
  if (offset >= data.size()) return std::size_t{0};
  const std::size_t n = std::min<std::size_t>(dst.size(), data.size() - offset);
  std::copy_n(data.begin() + offset, n, dst.begin());
  return n;
}

Status FaultyFile::write_at(std::uint64_t offset, ByteSpan data) {
  std::lock_guard<std::mutex> guard(fs_->mu);
  SAMSA_TRY(usable("pwrite", true));
  return fs_->write(*inode_, path_, offset, data);
}

Status FaultyFile::append(ByteSpan data) {
  std::lock_guard<std::mutex> guard(fs_->mu);
  SAMSA_TRY(usable("pwrite", true));
  return fs_->write(*inode_, path_, inode_->data.size(), data);
}

Status FaultyFile::sync() {
  std::lock_guard<std::mutex> guard(fs_->mu);
  SAMSA_TRY(usable("fdatasync", false));
  if (auto fault = fs_->next_fault(FaultOp::sync)) {
    // The durable image stays where it was: what the failed sync covered is not durable.
    return Status::from_errno(fault->err, fmt::format("fdatasync {}", path_));
  }
  inode_->durable = inode_->data;
  inode_->unsynced.clear();
  return Status();
}

Status FaultyFile::allocate(std::uint64_t offset, std::uint64_t length, bool keep_size) {
  std::lock_guard<std::mutex> guard(fs_->mu);
  SAMSA_TRY(usable("fallocate", true));
  SAMSA_TRY(check_size("fallocate", offset, length));
  // Reserving space changes nothing a reader or a power cut can see unless the size grows.
  if (!keep_size && offset + length > inode_->data.size()) inode_->resize(offset + length);
  return Status();
}

Status FaultyFile::truncate(std::uint64_t size) {
  std::lock_guard<std::mutex> guard(fs_->mu);
  SAMSA_TRY(usable("ftruncate", true));
  SAMSA_TRY(check_size("ftruncate", size, 0));
  inode_->resize(size);
  return Status();
}

Result<std::uint64_t> FaultyFile::size() const {
  std::lock_guard<std::mutex> guard(fs_->mu);
  SAMSA_TRY(usable("size", false));
  return std::uint64_t{inode_->data.size()};
}

Status FaultyFile::close() {
  std::lock_guard<std::mutex> guard(fs_->mu);
  if (closed_) return Status();
  const Status status = usable("close", false);
  closed_ = true;
  return status;
}

class FaultyFileLock final : public FileLock {
 public:
  FaultyFileLock(std::shared_ptr<FaultyFs> fs, std::string norm, std::string path)
      : fs_(std::move(fs)),
        norm_(std::move(norm)),
        path_(std::move(path)),
        generation_(fs_->generation) {}
  ~FaultyFileLock() override {
    std::lock_guard<std::mutex> guard(fs_->mu);
    // A power cut already released it, and someone may hold it again since.
    if (generation_ == fs_->generation) fs_->locked.erase(norm_);
  }
  const std::string& path() const override { return path_; }

 private:
  const std::shared_ptr<FaultyFs> fs_;
  const std::string norm_;
  const std::string path_;
  const std::uint64_t generation_;
};

}  // namespace

// Derives from FaultyFs so that the handles, which live in this file's anonymous
// namespace, can share it without naming the private FaultyEnv::State.
struct FaultyEnv::State : FaultyFs {
  using FaultyFs::FaultyFs;
};

FaultyEnv::FaultyEnv(std::uint64_t seed) : state_(std::make_shared<State>(seed)) {}
FaultyEnv::~FaultyEnv() = default;

std::uint64_t FaultyEnv::seed() const {
  return state_->seed;
}

Result<std::unique_ptr<File>> FaultyEnv::open(const std::string& path, OpenOptions options) {
  if (options.truncate && options.read_only) {
    return Status::invalid_argument(
        fmt::format("open {}: truncate needs a writable file, not read_only", path));
  }
  std::lock_guard<std::mutex> guard(state_->mu);
  SAMSA_TRY_ASSIGN(std::shared_ptr<Inode> inode, state_->open_inode("open", path, options));
  return std::unique_ptr<File>(
      std::make_unique<FaultyFile>(state_, std::move(inode), path, options.read_only));
}

Status FaultyEnv::rename(const std::string& from, const std::string& to) {
  std::lock_guard<std::mutex> guard(state_->mu);
  if (auto fault = state_->next_fault(FaultOp::rename)) {
    return Status::from_errno(fault->err, fmt::format("rename {} to {}", from, to));
  }
  if (state_->dirs.contains(normalize(from))) return state_->rename_dir(from, to);
  return state_->rename_file(from, to);
}

Status FaultyEnv::remove(const std::string& path) {
  std::lock_guard<std::mutex> guard(state_->mu);
  SAMSA_TRY_ASSIGN(Location loc, state_->locate("unlink", path));
  if (state_->dirs.contains(loc.norm)) {
    return Status::from_errno(EISDIR, fmt::format("unlink {}", path));
  }
  if (loc.dir->names.erase(loc.name) == 0) {
    return Status::from_errno(ENOENT, fmt::format("unlink {}", path));
  }
  return Status();
}

Status FaultyEnv::create_dirs(const std::string& path) {
  std::lock_guard<std::mutex> guard(state_->mu);
  const std::string norm = normalize(path);
  // Each prefix ending before a '/' (but not the root's), then the whole path. Creating
  // them in this order means every new directory's parent already exists.
  for (std::size_t end = 1; end <= norm.size(); ++end) {
    if (end < norm.size() && norm[end] != '/') continue;
    const std::string prefix = norm.substr(0, end);
    if (state_->dirs.contains(prefix)) continue;
    const auto [parent, name] = split(prefix);
    if (state_->dirs.at(parent).names.contains(name)) {
      return Status::from_errno(ENOTDIR, fmt::format("mkdir {} (creating {})", prefix, path));
    }
    state_->dirs[prefix];
  }
  return Status();
}

Status FaultyEnv::remove_dir(const std::string& path) {
  std::lock_guard<std::mutex> guard(state_->mu);
  const std::string norm = normalize(path);
  const std::string what = fmt::format("rmdir {}", path);
  if (norm == "." || norm == "/") return Status::from_errno(EBUSY, what);
  if (!state_->dirs.contains(norm)) {
    auto loc = state_->locate(what, path);
    const bool is_file = loc.ok() && loc->dir->names.contains(loc->name);
    return Status::from_errno(is_file ? ENOTDIR : ENOENT, what);
  }
  if (state_->has_children(norm)) return Status::from_errno(ENOTEMPTY, what);
  state_->dirs.erase(norm);
  return Status();
}

Result<std::vector<std::string>> FaultyEnv::list_dir(const std::string& dir) {
  std::lock_guard<std::mutex> guard(state_->mu);
  const std::string norm = normalize(dir);
  auto it = state_->dirs.find(norm);
  if (it == state_->dirs.end()) {
    return Status::from_errno(ENOENT, fmt::format("opendir {}", dir));
  }
  std::set<std::string> names;
  for (const auto& entry : it->second.names) names.insert(entry.first);
  for (const auto& entry : state_->dirs) {
    auto [parent, name] = split(entry.first);
    if (entry.first != norm && parent == norm) names.insert(std::move(name));
  }
  return std::vector<std::string>(names.begin(), names.end());
}

Status FaultyEnv::sync_dir(const std::string& dir) {
  std::lock_guard<std::mutex> guard(state_->mu);
  const std::string what = fmt::format("fsync directory {}", dir);
  if (auto fault = state_->next_fault(FaultOp::sync_dir)) {
    return Status::from_errno(fault->err, what);
  }
  auto it = state_->dirs.find(normalize(dir));
  if (it == state_->dirs.end()) return Status::from_errno(ENOENT, what);
  it->second.durable_names = it->second.names;
  return Status();
}

Result<bool> FaultyEnv::exists(const std::string& path) {
  std::lock_guard<std::mutex> guard(state_->mu);
  if (state_->dirs.contains(normalize(path))) return true;
  auto loc = state_->locate("stat", path);
  return loc.ok() && loc->dir->names.contains(loc->name);
}

Result<std::uint64_t> FaultyEnv::file_size(const std::string& path) {
  std::lock_guard<std::mutex> guard(state_->mu);
  if (state_->dirs.contains(normalize(path))) return std::uint64_t{0};
  SAMSA_TRY_ASSIGN(Location loc, state_->locate("stat", path));
  auto it = loc.dir->names.find(loc.name);
  if (it == loc.dir->names.end()) return Status::from_errno(ENOENT, fmt::format("stat {}", path));
  return std::uint64_t{it->second->data.size()};
}

Result<std::unique_ptr<FileLock>> FaultyEnv::lock(const std::string& path) {
  std::lock_guard<std::mutex> guard(state_->mu);
  std::string norm = normalize(path);
  if (state_->locked.contains(norm)) {
    return Status::busy(fmt::format("lock {}: another process or Log holds it", path));
  }
  OpenOptions options;
  options.create = true;
  SAMSA_TRY(state_->open_inode("open lock file", path, options));
  state_->locked.insert(norm);
  return std::unique_ptr<FileLock>(std::make_unique<FaultyFileLock>(state_, norm, path));
}

void FaultyEnv::fail_nth(FaultOp op, std::uint64_t n, int err) {
  std::lock_guard<std::mutex> guard(state_->mu);
  if (n == 0) die(fmt::format("fail_nth: n is 1-based, got 0 (op {})", index_of(op)));
  state_->faults.push_back({op, state_->counts[index_of(op)] + n, err, false, std::nullopt});
}

void FaultyEnv::short_write_nth(std::uint64_t n, std::optional<std::size_t> bytes_written,
                                int err) {
  std::lock_guard<std::mutex> guard(state_->mu);
  if (n == 0) die("short_write_nth: n is 1-based, got 0");
  const std::uint64_t at = state_->counts[index_of(FaultOp::write)] + n;
  state_->faults.push_back({FaultOp::write, at, err, true, bytes_written});
}

void FaultyEnv::fail_always(FaultOp op, int err) {
  std::lock_guard<std::mutex> guard(state_->mu);
  state_->faults.push_back({op, 0, err, false, std::nullopt});
}

void FaultyEnv::clear_faults() {
  std::lock_guard<std::mutex> guard(state_->mu);
  state_->faults.clear();
}

std::uint64_t FaultyEnv::count(FaultOp op) const {
  std::lock_guard<std::mutex> guard(state_->mu);
  return state_->counts[index_of(op)];
}

void FaultyEnv::power_cut(PowerCutMode mode) {
  std::lock_guard<std::mutex> guard(state_->mu);
  for (auto& [path, dir] : state_->dirs) dir.names = dir.durable_names;
  // Map order makes the random draws, and so the outcome, a function of the seed alone.
  std::set<const Inode*> recovered;
  for (auto& [path, dir] : state_->dirs) {
    for (auto& [name, inode] : dir.names) {
      if (recovered.insert(inode.get()).second) state_->recover(*inode, mode);
    }
  }
  ++state_->generation;
  state_->locked.clear();
  state_->faults.clear();
}

Result<std::uint64_t> FaultyEnv::synced_size(const std::string& path) const {
  std::lock_guard<std::mutex> guard(state_->mu);
  SAMSA_TRY_ASSIGN(Location loc, state_->locate("synced_size", path));
  auto it = loc.dir->durable_names.find(loc.name);
  if (it == loc.dir->durable_names.end()) {
    return Status::not_found(fmt::format("synced_size {}: the name is not durable", path));
  }
  return std::uint64_t{it->second->durable.size()};
}

}  // namespace samsa
