// Floor 2: the Env helpers every implementation shares (env.h, bottom).
#include "samsa/env.h"

namespace samsa {

std::string join_path(std::string_view dir, std::string_view name) {
  if (dir.empty()) return std::string(name);
  if (name.empty()) return std::string(dir);
  const bool dir_has_slash = dir.back() == '/';
  const bool name_has_slash = name.front() == '/';
  if (dir_has_slash && name_has_slash) name.remove_prefix(1);
  std::string out(dir);
  if (!dir_has_slash && !name_has_slash) out += '/';
  out += name;
  return out;
}

std::string parent_dir(std::string_view path) {
  // "a/b/" names the directory b, so its parent is "a": trailing slashes do not count.
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  const std::size_t slash = path.rfind('/');
  if (slash == std::string_view::npos) return ".";
  std::string_view dir = path.substr(0, slash);
  while (dir.size() > 1 && dir.back() == '/') dir.remove_suffix(1);
  if (dir.empty()) return "/";  // "/c" lives in the root
  return std::string(dir);
}

Result<std::vector<std::byte>> read_file(Env& env, const std::string& path) {
  OpenOptions options;
  options.read_only = true;
  SAMSA_TRY_ASSIGN(std::unique_ptr<File> file, env.open(path, options));
  SAMSA_TRY_ASSIGN(std::uint64_t size, file->size());
  std::vector<std::byte> bytes(size);
  SAMSA_TRY_ASSIGN(std::size_t n, file->read_at(0, bytes));
  // A concurrent truncate may have shortened the file; return what is there.
  bytes.resize(n);
  SAMSA_TRY(file->close());
  return bytes;
}

namespace {

// The steps up to the rename; the caller removes the temporary file when one fails.
Status write_and_sync(Env& env, const std::string& tmp_path, ByteSpan data) {
  OpenOptions options;
  options.create = true;
  options.truncate = true;
  SAMSA_TRY_ASSIGN(std::unique_ptr<File> file, env.open(tmp_path, options));
  SAMSA_TRY(file->write_at(0, data));
  SAMSA_TRY(file->sync());
  return file->close();
}

}  // namespace

Status write_file_atomically(Env& env, const std::string& path, ByteSpan data) {
  const std::string tmp_path = path + ".tmp";
  Status status = write_and_sync(env, tmp_path, data);
  if (status.ok()) status = env.rename(tmp_path, path);
  if (!status.ok()) {
    // Best effort: a stale .tmp is harmless (the next write truncates it), so the first
    // error is the one worth reporting.
    (void)env.remove(tmp_path);
    return status;
  }
  return env.sync_dir(parent_dir(path));
}

}  // namespace samsa
