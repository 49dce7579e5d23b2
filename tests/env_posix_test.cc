// Env::posix() against a real temporary directory, and the shared helpers of env.h.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "samsa/env.h"

namespace samsa {
namespace {

// A fresh directory under $TMPDIR (else /tmp), removed with everything in it at the end of
// the test. scripts/test runs the suite with TMPDIR on ext4 and on tmpfs.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "samsa-env-test-XXXXXX").string();
    const char* made = ::mkdtemp(tmpl.data());
    REQUIRE(made != nullptr);
    path_ = made;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string file(std::string_view name) const { return join_path(path_, name); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

OpenOptions create_options() {
  OpenOptions options;
  options.create = true;
  return options;
}

std::unique_ptr<File> open_ok(Env& env, const std::string& path, OpenOptions options) {
  auto file = env.open(path, options);
  REQUIRE(file.ok());
  return std::move(file).value();
}

std::string read_string(const File& file, std::uint64_t offset, std::size_t n) {
  std::vector<std::byte> buf(n);
  auto got = file.read_at(offset, buf);
  REQUIRE(got.ok());
  return std::string(as_chars(ByteSpan(buf).first(*got)));
}

std::string file_contents(Env& env, const std::string& path) {
  auto bytes = read_file(env, path);
  REQUIRE(bytes.ok());
  return std::string(as_chars(*bytes));
}

void check_names(const Status& status, StatusCode code, const std::string& path) {
  CHECK(status.code() == code);
  CHECK_THAT(status.message(), Catch::Contains(path));
}

}  // namespace

TEST_CASE("join_path joins with exactly one slash", "[env]") {
  CHECK(join_path("a/b", "c") == "a/b/c");
  CHECK(join_path("a/b/", "c") == "a/b/c");
  CHECK(join_path("a/b/", "/c") == "a/b/c");
  CHECK(join_path("/", "c") == "/c");
  CHECK(join_path("", "c") == "c");
}

TEST_CASE("parent_dir returns the directory part of a path", "[env]") {
  CHECK(parent_dir("a/b/c") == "a/b");
  CHECK(parent_dir("c") == ".");
  CHECK(parent_dir("/c") == "/");
  CHECK(parent_dir("/a/b/") == "/a");
  CHECK(parent_dir("/") == "/");
}

TEST_CASE("write_at and read_at round trip through a created file", "[env]") {
  TempDir dir;
  Env& env = Env::posix();
  auto file = open_ok(env, dir.file("f"), create_options());
  CHECK(file->path() == dir.file("f"));
  REQUIRE(file->write_at(0, as_bytes("hello world")).ok());
  REQUIRE(file->write_at(6, as_bytes("WORLD")).ok());
  CHECK(read_string(*file, 0, 11) == "hello WORLD");
  CHECK(*file->size() == 11);
  CHECK(file->native_handle() >= 0);
  REQUIRE(file->sync().ok());
  REQUIRE(file->close().ok());
  CHECK(*env.file_size(dir.file("f")) == 11);
}

TEST_CASE("open without create on a missing file is not_found naming the path", "[env]") {
  TempDir dir;
  auto file = Env::posix().open(dir.file("missing"), OpenOptions{});
  REQUIRE_FALSE(file.ok());
  check_names(file.status(), StatusCode::not_found, dir.file("missing"));
  CHECK_THAT(file.status().message(), Catch::StartsWith("open "));
}

TEST_CASE("exclusive create on an existing file is already_exists", "[env]") {
  TempDir dir;
  Env& env = Env::posix();
  OpenOptions options = create_options();
  options.exclusive = true;
  REQUIRE(env.open(dir.file("f"), options).ok());
  auto again = env.open(dir.file("f"), options);
  REQUIRE_FALSE(again.ok());
  check_names(again.status(), StatusCode::already_exists, dir.file("f"));
}

TEST_CASE("open with truncate cuts an existing file to zero bytes", "[env]") {
  TempDir dir;
  Env& env = Env::posix();
  REQUIRE(open_ok(env, dir.file("f"), create_options())->append(as_bytes("abc")).ok());
  OpenOptions options;
  options.truncate = true;
  CHECK(*open_ok(env, dir.file("f"), options)->size() == 0);
  options.read_only = true;
  CHECK(env.open(dir.file("f"), options).status().code() == StatusCode::invalid_argument);
}

TEST_CASE("opening a directory as a file fails naming it", "[env]") {
  TempDir dir;
  OpenOptions options;
  options.read_only = true;
  auto file = Env::posix().open(dir.path(), options);
  REQUIRE_FALSE(file.ok());
  check_names(file.status(), StatusCode::io_error, dir.path());
}

TEST_CASE("append writes at the end and read_at returns the bytes", "[env]") {
  TempDir dir;
  Env& env = Env::posix();
  auto file = open_ok(env, dir.file("f"), create_options());
  REQUIRE(file->append(as_bytes("abc")).ok());
  REQUIRE(file->append(as_bytes("defg")).ok());
  CHECK(*file->size() == 7);
  CHECK(read_string(*file, 0, 7) == "abcdefg");
  REQUIRE(file->close().ok());
  // A new handle starts appending at the size on disk.
  auto reopened = open_ok(env, dir.file("f"), OpenOptions{});
  REQUIRE(reopened->append(as_bytes("h")).ok());
  CHECK(read_string(*reopened, 0, 8) == "abcdefgh");
}

TEST_CASE("read_at past the end of the file is short", "[env]") {
  TempDir dir;
  auto file = open_ok(Env::posix(), dir.file("f"), create_options());
  REQUIRE(file->append(as_bytes("abcdef")).ok());
  CHECK(read_string(*file, 4, 10) == "ef");
  CHECK(read_string(*file, 6, 10).empty());
  CHECK(read_string(*file, 100, 10).empty());
}

TEST_CASE("allocate with keep_size keeps the size, without it grows with zeros", "[env]") {
  TempDir dir;
  auto file = open_ok(Env::posix(), dir.file("f"), create_options());
  REQUIRE(file->append(as_bytes("ab")).ok());
  REQUIRE(file->allocate(0, 4096, true).ok());
  CHECK(*file->size() == 2);
  CHECK(*Env::posix().file_size(dir.file("f")) == 2);
  REQUIRE(file->allocate(0, 10, false).ok());
  CHECK(*file->size() == 10);
  CHECK(*Env::posix().file_size(dir.file("f")) == 10);
  CHECK(read_string(*file, 0, 10) == std::string("ab") + std::string(8, '\0'));
  REQUIRE(file->allocate(0, 0, false).ok());  // an empty range is a no-op
  CHECK(*file->size() == 10);
}

TEST_CASE("truncate shrinks and grows the file", "[env]") {
  TempDir dir;
  auto file = open_ok(Env::posix(), dir.file("f"), create_options());
  REQUIRE(file->append(as_bytes("abcdef")).ok());
  REQUIRE(file->truncate(3).ok());
  CHECK(*file->size() == 3);
  CHECK(read_string(*file, 0, 10) == "abc");
  REQUIRE(file->truncate(5).ok());
  CHECK(read_string(*file, 0, 10) == std::string("abc") + std::string(2, '\0'));
  // append follows the truncated size, not the old end.
  REQUIRE(file->append(as_bytes("Z")).ok());
  CHECK(*Env::posix().file_size(dir.file("f")) == 6);
}

TEST_CASE("a read_only handle reads but refuses every write", "[env]") {
  TempDir dir;
  Env& env = Env::posix();
  REQUIRE(open_ok(env, dir.file("f"), create_options())->append(as_bytes("abc")).ok());
  OpenOptions options;
  options.read_only = true;
  auto file = open_ok(env, dir.file("f"), options);
  CHECK(read_string(*file, 0, 3) == "abc");
  check_names(file->write_at(0, as_bytes("x")), StatusCode::failed_precondition, dir.file("f"));
  CHECK_THAT(file->append(as_bytes("x")).message(), Catch::Contains("read_only"));
  CHECK(file->truncate(0).code() == StatusCode::failed_precondition);
  CHECK(file->allocate(0, 10, false).code() == StatusCode::failed_precondition);
  CHECK(file->sync().ok());
  CHECK(*env.file_size(dir.file("f")) == 3);
}

TEST_CASE("a closed File fails every call and close is idempotent", "[env]") {
  TempDir dir;
  auto file = open_ok(Env::posix(), dir.file("f"), create_options());
  REQUIRE(file->close().ok());
  REQUIRE(file->close().ok());
  CHECK(file->native_handle() == -1);
  std::vector<std::byte> buf(4);
  check_names(file->read_at(0, buf).status(), StatusCode::failed_precondition, dir.file("f"));
  CHECK_THAT(file->write_at(0, as_bytes("x")).message(), Catch::Contains("closed"));
  CHECK(file->append(as_bytes("x")).code() == StatusCode::failed_precondition);
  CHECK(file->sync().code() == StatusCode::failed_precondition);
  CHECK(file->truncate(0).code() == StatusCode::failed_precondition);
  CHECK(file->allocate(0, 1, false).code() == StatusCode::failed_precondition);
  CHECK(file->size().status().code() == StatusCode::failed_precondition);
}

TEST_CASE("sync_dir syncs an existing directory and names a missing one", "[env]") {
  TempDir dir;
  CHECK(Env::posix().sync_dir(dir.path()).ok());
  check_names(Env::posix().sync_dir(dir.file("nope")), StatusCode::not_found, dir.file("nope"));
}

TEST_CASE("list_dir returns sorted names without dot entries", "[env]") {
  TempDir dir;
  Env& env = Env::posix();
  for (const char* name : {"b", "a", "c"}) REQUIRE(env.open(dir.file(name), create_options()).ok());
  REQUIRE(env.create_dirs(dir.file("sub")).ok());
  auto names = env.list_dir(dir.path());
  REQUIRE(names.ok());
  CHECK(*names == std::vector<std::string>{"a", "b", "c", "sub"});
  check_names(env.list_dir(dir.file("nope")).status(), StatusCode::not_found, dir.file("nope"));
}

TEST_CASE("rename replaces the target and names both paths on error", "[env]") {
  TempDir dir;
  Env& env = Env::posix();
  REQUIRE(open_ok(env, dir.file("a"), create_options())->append(as_bytes("new")).ok());
  REQUIRE(open_ok(env, dir.file("b"), create_options())->append(as_bytes("old!")).ok());
  REQUIRE(env.rename(dir.file("a"), dir.file("b")).ok());
  CHECK_FALSE(*env.exists(dir.file("a")));
  CHECK(file_contents(env, dir.file("b")) == "new");
  const Status missing = env.rename(dir.file("a"), dir.file("c"));
  check_names(missing, StatusCode::not_found, dir.file("a"));
  CHECK_THAT(missing.message(), Catch::Contains(dir.file("c")));
}

TEST_CASE("remove deletes a file and names a missing one", "[env]") {
  TempDir dir;
  Env& env = Env::posix();
  REQUIRE(env.open(dir.file("f"), create_options()).ok());
  CHECK(*env.exists(dir.file("f")));
  REQUIRE(env.remove(dir.file("f")).ok());
  CHECK_FALSE(*env.exists(dir.file("f")));
  check_names(env.remove(dir.file("f")), StatusCode::not_found, dir.file("f"));
}

TEST_CASE("create_dirs makes missing parents and accepts existing ones", "[env]") {
  TempDir dir;
  Env& env = Env::posix();
  REQUIRE(env.create_dirs(dir.file("x/y/z")).ok());
  REQUIRE(env.create_dirs(dir.file("x/y/z")).ok());
  REQUIRE(env.create_dirs(dir.file("x/y/")).ok());
  CHECK(*env.exists(dir.file("x/y/z")));
  REQUIRE(env.open(dir.file("file"), create_options()).ok());
  const Status blocked = env.create_dirs(dir.file("file/sub"));
  CHECK_FALSE(blocked.ok());
  CHECK_THAT(blocked.message(), Catch::Contains(dir.file("file")));
}

TEST_CASE("remove_dir removes an empty directory and refuses a full one", "[env]") {
  TempDir dir;
  Env& env = Env::posix();
  REQUIRE(env.create_dirs(dir.file("x/y")).ok());
  check_names(env.remove_dir(dir.file("x")), StatusCode::io_error, dir.file("x"));
  REQUIRE(env.remove_dir(dir.file("x/y")).ok());
  REQUIRE(env.remove_dir(dir.file("x")).ok());
  CHECK_FALSE(*env.exists(dir.file("x")));
}

TEST_CASE("exists and file_size report files and name missing ones", "[env]") {
  TempDir dir;
  Env& env = Env::posix();
  CHECK_FALSE(*env.exists(dir.file("f")));
  CHECK_FALSE(*env.exists(dir.file("f/g")));
  REQUIRE(open_ok(env, dir.file("f"), create_options())->append(as_bytes("12345")).ok());
  CHECK(*env.exists(dir.file("f")));
  CHECK(*env.file_size(dir.file("f")) == 5);
  check_names(env.file_size(dir.file("g")).status(), StatusCode::not_found, dir.file("g"));
}

TEST_CASE("a second lock in the same process is busy until the first is released", "[env]") {
  TempDir dir;
  Env& env = Env::posix();
  auto first = env.lock(dir.file("LOCK"));
  REQUIRE(first.ok());
  CHECK((*first)->path() == dir.file("LOCK"));
  auto second = env.lock(dir.file("LOCK"));
  REQUIRE_FALSE(second.ok());
  check_names(second.status(), StatusCode::busy, dir.file("LOCK"));
  CHECK_THAT(second.status().message(), Catch::Contains("another process or Log holds it"));
  // The kernel lock is really taken: flock from another open file description is refused,
  // which is what makes a second lock() busy even without the in-process table.
  const int fd = ::open(dir.file("LOCK").c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  const int rc = ::flock(fd, LOCK_EX | LOCK_NB);
  const int err = errno;
  CHECK(rc == -1);
  CHECK(err == EWOULDBLOCK);
  ::close(fd);
  first->reset();
  CHECK(env.lock(dir.file("LOCK")).ok());
}

TEST_CASE("a lock held by a child process makes lock busy in the parent", "[env]") {
  TempDir dir;
  const std::string path = dir.file("LOCK");
  int ready[2];
  int release[2];
  REQUIRE(::pipe(ready) == 0);
  REQUIRE(::pipe(release) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // No Catch2 in the child: report through the pipe and leave with _exit.
    auto lock = Env::posix().lock(path);
    const char took = lock.ok() ? 'y' : 'n';
    char unused;
    if (::write(ready[1], &took, 1) != 1 || ::read(release[0], &unused, 1) != 1) ::_exit(2);
    ::_exit(0);
  }
  char took = 0;
  REQUIRE(::read(ready[0], &took, 1) == 1);
  REQUIRE(took == 'y');
  auto busy = Env::posix().lock(path);
  CHECK(busy.status().code() == StatusCode::busy);
  CHECK_THAT(busy.status().message(), Catch::Contains(path));
  REQUIRE(::write(release[1], "x", 1) == 1);
  int wstatus = 0;
  REQUIRE(::waitpid(child, &wstatus, 0) == child);
  CHECK(WIFEXITED(wstatus));
  CHECK(WEXITSTATUS(wstatus) == 0);
  for (int fd : {ready[0], ready[1], release[0], release[1]}) ::close(fd);
  CHECK(Env::posix().lock(path).ok());  // the child's exit released it
}

TEST_CASE("write_file_atomically replaces the file and leaves no .tmp", "[env]") {
  TempDir dir;
  Env& env = Env::posix();
  REQUIRE(write_file_atomically(env, dir.file("checkpoint"), as_bytes("one")).ok());
  REQUIRE(write_file_atomically(env, dir.file("checkpoint"), as_bytes("two!")).ok());
  CHECK(file_contents(env, dir.file("checkpoint")) == "two!");
  CHECK(*env.list_dir(dir.path()) == std::vector<std::string>{"checkpoint"});
  const Status missing_dir = write_file_atomically(env, dir.file("nope/cp"), as_bytes("x"));
  check_names(missing_dir, StatusCode::not_found, dir.file("nope/cp.tmp"));
}

TEST_CASE("read_file reads a whole file and names a missing one", "[env]") {
  TempDir dir;
  Env& env = Env::posix();
  const std::string big(100000, 'q');
  REQUIRE(write_file_atomically(env, dir.file("f"), as_bytes(big)).ok());
  CHECK(file_contents(env, dir.file("f")) == big);
  check_names(read_file(env, dir.file("g")).status(), StatusCode::not_found, dir.file("g"));
}

}  // namespace samsa
