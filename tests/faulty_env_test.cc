// FaultyEnv: what survives a simulated power cut, and the faults it injects.
#include <catch2/catch.hpp>

#include <cerrno>
#include <set>
#include <string>
#include <vector>

#include "samsa/faulty_env.h"

namespace samsa {
namespace {

std::unique_ptr<File> open_file(Env& env, const std::string& path, bool create = true) {
  OpenOptions options;
  options.create = create;
  auto file = env.open(path, options);
  REQUIRE(file.ok());
  return std::move(file).value();
}

std::string contents(Env& env, const std::string& path) {
  auto bytes = read_file(env, path);
  REQUIRE(bytes.ok());
  return std::string(as_chars(*bytes));
}

// A FaultyEnv with directory "d" holding file "d/f" whose name is durable and whose
// durable image is empty.
struct Fixture {
  explicit Fixture(std::uint64_t seed = 1) : env(seed) {
    REQUIRE(env.create_dirs("d").ok());
    file = open_file(env, "d/f");
    REQUIRE(env.sync_dir("d").ok());
  }
  FaultyEnv env;
  std::unique_ptr<File> file;
};

}  // namespace

TEST_CASE("unsynced data is dropped at a power cut", "[faulty_env]") {
  Fixture fx;
  REQUIRE(fx.file->append(as_bytes("hello")).ok());
  CHECK(contents(fx.env, "d/f") == "hello");
  CHECK(*fx.env.synced_size("d/f") == 0);
  fx.env.power_cut(PowerCutMode::drop_unsynced);
  CHECK(*fx.env.exists("d/f"));
  CHECK(contents(fx.env, "d/f").empty());
}

TEST_CASE("synced data survives a power cut", "[faulty_env]") {
  Fixture fx;
  REQUIRE(fx.file->append(as_bytes("durable")).ok());
  REQUIRE(fx.file->sync().ok());
  REQUIRE(fx.file->append(as_bytes("+lost")).ok());
  CHECK(*fx.env.synced_size("d/f") == 7);
  fx.env.power_cut(PowerCutMode::drop_unsynced);
  CHECK(contents(fx.env, "d/f") == "durable");
}

TEST_CASE("a truncate after the last sync is undone by a power cut", "[faulty_env]") {
  Fixture fx;
  REQUIRE(fx.file->append(as_bytes("abcdef")).ok());
  REQUIRE(fx.file->sync().ok());
  REQUIRE(fx.file->truncate(2).ok());
  CHECK(contents(fx.env, "d/f") == "ab");
  fx.env.power_cut(PowerCutMode::drop_unsynced);
  CHECK(contents(fx.env, "d/f") == "abcdef");
}

TEST_CASE("a file created without sync_dir disappears at a power cut", "[faulty_env]") {
  Fixture fx;
  auto file = open_file(fx.env, "d/new");
  REQUIRE(file->append(as_bytes("data")).ok());
  REQUIRE(file->sync().ok());  // the bytes are durable, the name is not
  CHECK(fx.env.synced_size("d/new").status().is_not_found());
  fx.env.power_cut(PowerCutMode::drop_unsynced);
  CHECK_FALSE(*fx.env.exists("d/new"));
  CHECK(*fx.env.list_dir("d") == std::vector<std::string>{"f"});
}

TEST_CASE("a rename is not durable until sync_dir", "[faulty_env]") {
  Fixture fx;
  REQUIRE(fx.file->append(as_bytes("v1")).ok());
  REQUIRE(fx.file->sync().ok());
  REQUIRE(fx.env.rename("d/f", "d/g").ok());
  CHECK(*fx.env.list_dir("d") == std::vector<std::string>{"g"});
  fx.env.power_cut(PowerCutMode::drop_unsynced);
  CHECK(*fx.env.list_dir("d") == std::vector<std::string>{"f"});

  REQUIRE(fx.env.rename("d/f", "d/g").ok());
  REQUIRE(fx.env.sync_dir("d").ok());
  fx.env.power_cut(PowerCutMode::drop_unsynced);
  CHECK(*fx.env.list_dir("d") == std::vector<std::string>{"g"});
  CHECK(contents(fx.env, "d/g") == "v1");
}

TEST_CASE("a remove is not durable until sync_dir", "[faulty_env]") {
  Fixture fx;
  REQUIRE(fx.env.remove("d/f").ok());
  CHECK_FALSE(*fx.env.exists("d/f"));
  fx.env.power_cut(PowerCutMode::drop_unsynced);
  CHECK(*fx.env.exists("d/f"));

  REQUIRE(fx.env.remove("d/f").ok());
  REQUIRE(fx.env.sync_dir("d").ok());
  fx.env.power_cut(PowerCutMode::drop_unsynced);
  CHECK_FALSE(*fx.env.exists("d/f"));
}

TEST_CASE("tear_last_write keeps earlier unsynced writes and a strict prefix of the last",
          "[faulty_env]") {
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    Fixture fx(seed);
    REQUIRE(fx.file->append(as_bytes("aaaa")).ok());
    REQUIRE(fx.file->append(as_bytes("bbbb")).ok());
    REQUIRE(fx.file->append(as_bytes("cccccccc")).ok());
    fx.env.power_cut(PowerCutMode::tear_last_write);
    const std::string got = contents(fx.env, "d/f");
    INFO("seed " << seed << " kept \"" << got << "\"");
    REQUIRE(got.size() >= 8);
    CHECK(got.size() < 16);
    CHECK(got.substr(0, 8) == "aaaabbbb");
    CHECK(got.substr(8) == std::string(got.size() - 8, 'c'));
  }
}

TEST_CASE("random_prefix is deterministic for a seed and varies across seeds", "[faulty_env]") {
  const std::string all = "0123456789abcdefghij";
  auto run = [&](std::uint64_t seed) {
    Fixture fx(seed);
    for (std::size_t i = 0; i < all.size(); i += 2) {
      REQUIRE(fx.file->append(as_bytes(all.substr(i, 2))).ok());
    }
    fx.env.power_cut(PowerCutMode::random_prefix);
    return contents(fx.env, "d/f");
  };
  std::set<std::string> outcomes;
  for (std::uint64_t seed = 1; seed <= 30; ++seed) {
    const std::string first = run(seed);
    CHECK(run(seed) == first);
    CHECK(all.starts_with(first));  // in-order appends: whatever survives is a prefix
    outcomes.insert(first);
  }
  CHECK(outcomes.size() > 5);
}

TEST_CASE("fail_nth write with EIO leaves the file unchanged and names the path", "[faulty_env]") {
  Fixture fx;
  REQUIRE(fx.file->append(as_bytes("abc")).ok());
  fx.env.fail_nth(FaultOp::write, 2, EIO);
  REQUIRE(fx.file->write_at(0, as_bytes("x")).ok());  // the 1st write from the call
  const Status failed = fx.file->write_at(1, as_bytes("yz"));
  CHECK(failed.is_io_error());
  CHECK_THAT(failed.message(), Catch::Contains("d/f") && Catch::Contains("at 1"));
  CHECK(contents(fx.env, "d/f") == "xbc");
  CHECK(fx.file->write_at(1, as_bytes("yz")).ok());  // a one-shot fault
  CHECK(contents(fx.env, "d/f") == "xyz");
}

TEST_CASE("fail_nth write with ENOSPC gives no_space", "[faulty_env]") {
  Fixture fx;
  fx.env.fail_nth(FaultOp::write, 1, ENOSPC);
  const Status failed = fx.file->append(as_bytes("abc"));
  CHECK(failed.is_no_space());
  CHECK(*fx.file->size() == 0);
}

TEST_CASE("a failed sync leaves the data undurable", "[faulty_env]") {
  Fixture fx;
  REQUIRE(fx.file->append(as_bytes("abc")).ok());
  fx.env.fail_nth(FaultOp::sync, 1, EIO);
  const Status failed = fx.file->sync();
  CHECK(failed.is_io_error());
  CHECK_THAT(failed.message(), Catch::Contains("fdatasync d/f"));
  CHECK(*fx.env.synced_size("d/f") == 0);
  fx.env.power_cut(PowerCutMode::drop_unsynced);
  CHECK(contents(fx.env, "d/f").empty());
}

TEST_CASE("a failed sync_dir leaves the names undurable", "[faulty_env]") {
  Fixture fx;
  REQUIRE(open_file(fx.env, "d/g")->sync().ok());
  fx.env.fail_nth(FaultOp::sync_dir, 1, EIO);
  CHECK_THAT(fx.env.sync_dir("d").message(), Catch::Contains("d"));
  fx.env.power_cut(PowerCutMode::drop_unsynced);
  CHECK_FALSE(*fx.env.exists("d/g"));
}

TEST_CASE("fail_nth rename leaves both names as they were", "[faulty_env]") {
  Fixture fx;
  REQUIRE(fx.file->append(as_bytes("from")).ok());
  REQUIRE(open_file(fx.env, "d/g")->append(as_bytes("to")).ok());
  fx.env.fail_nth(FaultOp::rename, 1, EIO);
  const Status failed = fx.env.rename("d/f", "d/g");
  CHECK(failed.is_io_error());
  CHECK_THAT(failed.message(), Catch::Contains("d/f") && Catch::Contains("d/g"));
  CHECK(contents(fx.env, "d/f") == "from");
  CHECK(contents(fx.env, "d/g") == "to");
}

TEST_CASE("a short write writes exactly the prefix and fails", "[faulty_env]") {
  Fixture fx;
  fx.env.short_write_nth(1, 3);
  const Status failed = fx.file->append(as_bytes("abcdef"));
  CHECK(failed.is_no_space());
  CHECK_THAT(failed.message(), Catch::Contains("d/f at 3 (3 bytes)"));
  CHECK(contents(fx.env, "d/f") == "abc");
  CHECK(*fx.file->size() == 3);

  fx.env.short_write_nth(1, std::nullopt, EIO);  // a random strict prefix
  CHECK(fx.file->append(as_bytes("0123456789")).is_io_error());
  const std::string got = contents(fx.env, "d/f");
  CHECK(got.size() < 13);
  CHECK(std::string("abc0123456789").starts_with(got));
}

TEST_CASE("fail_always fails every operation until clear_faults", "[faulty_env]") {
  Fixture fx;
  fx.env.fail_always(FaultOp::sync, EIO);
  CHECK(fx.file->sync().is_io_error());
  CHECK(fx.file->sync().is_io_error());
  fx.env.clear_faults();
  CHECK(fx.file->sync().ok());
}

TEST_CASE("several pending faults fire each on its own operation", "[faulty_env]") {
  Fixture fx;
  fx.env.fail_nth(FaultOp::write, 1, EIO);
  fx.env.fail_nth(FaultOp::write, 3, ENOSPC);
  fx.env.fail_nth(FaultOp::sync, 1, EIO);
  CHECK(fx.file->append(as_bytes("a")).is_io_error());
  CHECK(fx.file->append(as_bytes("b")).ok());
  CHECK(fx.file->append(as_bytes("c")).is_no_space());
  CHECK(fx.file->sync().is_io_error());
  CHECK(fx.file->append(as_bytes("d")).ok());
  CHECK(contents(fx.env, "d/f") == "bd");
}

TEST_CASE("handles from before a power cut fail with io_error", "[faulty_env]") {
  Fixture fx;
  REQUIRE(fx.file->append(as_bytes("abc")).ok());
  REQUIRE(fx.file->sync().ok());
  fx.env.power_cut(PowerCutMode::drop_unsynced);
  std::vector<std::byte> buf(3);
  const Status read = fx.file->read_at(0, buf).status();
  CHECK(read.is_io_error());
  CHECK_THAT(read.message(), Catch::Contains("d/f") && Catch::Contains("power cut"));
  CHECK(fx.file->append(as_bytes("x")).is_io_error());
  CHECK(fx.file->sync().is_io_error());
  CHECK(fx.file->size().status().is_io_error());
  CHECK(fx.file->truncate(0).is_io_error());
  CHECK(fx.file->close().is_io_error());
  CHECK(contents(fx.env, "d/f") == "abc");  // a new handle works
}

TEST_CASE("locks are released by a power cut", "[faulty_env]") {
  FaultyEnv env(1);
  auto before = env.lock("LOCK");
  REQUIRE(before.ok());
  CHECK(env.lock("LOCK").status().code() == StatusCode::busy);
  env.power_cut(PowerCutMode::drop_unsynced);
  auto after = env.lock("LOCK");
  REQUIRE(after.ok());
  // Dropping the dead lock must not release the one taken since.
  before->reset();
  CHECK(env.lock("LOCK").status().code() == StatusCode::busy);
  after->reset();
  CHECK(env.lock("./LOCK").ok());
}

TEST_CASE("count counts attempts, failed ones included", "[faulty_env]") {
  Fixture fx;
  CHECK(fx.env.count(FaultOp::sync_dir) == 1);  // the fixture's
  fx.env.fail_nth(FaultOp::write, 2, EIO);
  CHECK(fx.file->append(as_bytes("a")).ok());
  CHECK_FALSE(fx.file->append(as_bytes("b")).ok());
  CHECK(fx.file->write_at(0, as_bytes("c")).ok());
  CHECK(fx.env.count(FaultOp::write) == 3);
  CHECK(fx.file->sync().ok());
  CHECK(fx.env.count(FaultOp::sync) == 1);
  CHECK_FALSE(fx.env.rename("d/missing", "d/x").ok());
  CHECK(fx.env.count(FaultOp::rename) == 1);
}

TEST_CASE("a closed handle fails with failed_precondition and a read_only one refuses writes",
          "[faulty_env]") {
  Fixture fx;
  REQUIRE(fx.file->close().ok());
  REQUIRE(fx.file->close().ok());
  CHECK(fx.file->append(as_bytes("x")).code() == StatusCode::failed_precondition);
  CHECK_THAT(fx.file->sync().message(), Catch::Contains("d/f: the file is closed"));
  OpenOptions options;
  options.read_only = true;
  auto reader = fx.env.open("d/f", options);
  REQUIRE(reader.ok());
  CHECK((*reader)->write_at(0, as_bytes("x")).code() == StatusCode::failed_precondition);
  CHECK((*reader)->truncate(0).code() == StatusCode::failed_precondition);
  CHECK(fx.env.count(FaultOp::write) == 0);  // refused before reaching the "disk"
}

TEST_CASE("open needs the parent directory and honours create, exclusive and truncate",
          "[faulty_env]") {
  Fixture fx;
  OpenOptions create;
  create.create = true;
  const auto no_parent = fx.env.open("nodir/f", create);
  CHECK(no_parent.status().is_not_found());
  CHECK_THAT(no_parent.status().message(), Catch::Contains("nodir/f"));
  CHECK(fx.env.open("d/missing", OpenOptions{}).status().is_not_found());
  OpenOptions exclusive = create;
  exclusive.exclusive = true;
  CHECK(fx.env.open("d/f", exclusive).status().code() == StatusCode::already_exists);
  REQUIRE(fx.file->append(as_bytes("abc")).ok());
  OpenOptions truncate;
  truncate.truncate = true;
  REQUIRE(fx.env.open("d//f/", truncate).ok());
  CHECK(*fx.file->size() == 0);
}

TEST_CASE("allocate grows the size only without keep_size", "[faulty_env]") {
  Fixture fx;
  REQUIRE(fx.file->append(as_bytes("ab")).ok());
  REQUIRE(fx.file->allocate(0, 100, true).ok());
  CHECK(*fx.file->size() == 2);
  REQUIRE(fx.file->allocate(2, 3, false).ok());
  CHECK(contents(fx.env, "d/f") == std::string("ab") + std::string(3, '\0'));
}

TEST_CASE("directories are listed, removed and durable without sync_dir", "[faulty_env]") {
  FaultyEnv env(1);
  REQUIRE(env.create_dirs("/data/p-0/").ok());
  REQUIRE(env.create_dirs("/data/p-1").ok());
  REQUIRE(env.create_dirs("/data/p-1").ok());
  open_file(env, "/data/z.txt");
  CHECK(*env.list_dir("/data") == std::vector<std::string>{"p-0", "p-1", "z.txt"});
  CHECK(env.remove_dir("/data").code() == StatusCode::io_error);
  REQUIRE(env.remove_dir("/data/p-1").ok());
  env.power_cut(PowerCutMode::drop_unsynced);
  CHECK(*env.list_dir("/data") == std::vector<std::string>{"p-0"});
  CHECK(env.list_dir("/nope").status().is_not_found());
}

TEST_CASE("renaming a directory moves the files under it", "[faulty_env]") {
  FaultyEnv env(1);
  REQUIRE(env.create_dirs("t-0/sub").ok());
  REQUIRE(open_file(env, "t-0/sub/f")->append(as_bytes("x")).ok());
  REQUIRE(env.rename("t-0", "t-0.deleted").ok());
  CHECK_FALSE(*env.exists("t-0"));
  CHECK(contents(env, "t-0.deleted/sub/f") == "x");
}

TEST_CASE("write_file_atomically survives a power cut and a failed write leaves the old file",
          "[faulty_env]") {
  Fixture fx;
  REQUIRE(write_file_atomically(fx.env, "d/cp", as_bytes("one")).ok());
  fx.env.power_cut(PowerCutMode::random_prefix);
  CHECK(contents(fx.env, "d/cp") == "one");
  fx.env.fail_nth(FaultOp::sync, 1, EIO);
  CHECK(write_file_atomically(fx.env, "d/cp", as_bytes("two")).is_io_error());
  CHECK(contents(fx.env, "d/cp") == "one");
  CHECK_FALSE(*fx.env.exists("d/cp.tmp"));
}

TEST_CASE("power_cut clears pending faults", "[faulty_env]") {
  Fixture fx;
  fx.env.fail_always(FaultOp::write, EIO);
  fx.env.power_cut(PowerCutMode::drop_unsynced);
  auto file = open_file(fx.env, "d/f", false);
  CHECK(file->append(as_bytes("ok")).ok());
}

}  // namespace samsa
