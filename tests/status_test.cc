#include "samsa/status.h"

#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

namespace samsa {
namespace {

// Runs `body` in a forked child with its output silenced, and returns whether the child died
// of SIGABRT. A child that returns from `body` exits 0. The child restores the default
// SIGABRT action: Catch2's handler would otherwise report the abort as a failure from the
// child.
template <typename F>
bool dies_with_abort(F body) {
  std::fflush(nullptr);  // the child must not flush the parent's buffered output again
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    std::signal(SIGABRT, SIG_DFL);
    if (std::freopen("/dev/null", "w", stderr) == nullptr) _exit(3);
    if (std::freopen("/dev/null", "w", stdout) == nullptr) _exit(3);
    body();
    _exit(0);
  }
  int wstatus = 0;
  REQUIRE(waitpid(pid, &wstatus, 0) == pid);
  return WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGABRT;
}

Result<int> parse_positive(int v) {
  if (v <= 0) return Status::invalid_argument("not positive: " + std::to_string(v));
  return v;
}

Status check_positive(int v) {
  if (v <= 0) return Status::out_of_range("too small");
  return Status();
}

// SAMSA_TRY on a Status and on a Result; `reached` counts how far the function got.
Status try_both(int a, int b, int& reached) {
  SAMSA_TRY(check_positive(a));
  ++reached;
  SAMSA_TRY(parse_positive(b));
  ++reached;
  return Status();
}

Result<int> sum_positive(int a, int b, int& reached) {
  SAMSA_TRY_ASSIGN(const int x, parse_positive(a));
  ++reached;
  SAMSA_TRY_ASSIGN(int y, parse_positive(b));
  ++reached;
  return x + y;
}

Result<std::unique_ptr<int>> make_box(int v) {
  if (v < 0) return Status::invalid_argument("negative");
  return std::make_unique<int>(v);
}

Status take_box(int v, int& out) {
  SAMSA_TRY_ASSIGN(auto box, make_box(v));  // a move-only value
  out = *box;
  return Status();
}

}  // namespace

TEST_CASE("Every status code has its stable name", "[status]") {
  CHECK(to_string(StatusCode::ok) == "ok");
  CHECK(to_string(StatusCode::not_found) == "not_found");
  CHECK(to_string(StatusCode::corruption) == "corruption");
  CHECK(to_string(StatusCode::io_error) == "io_error");
  CHECK(to_string(StatusCode::no_space) == "no_space");
  CHECK(to_string(StatusCode::invalid_argument) == "invalid_argument");
  CHECK(to_string(StatusCode::not_supported) == "not_supported");
  CHECK(to_string(StatusCode::out_of_range) == "out_of_range");
  CHECK(to_string(StatusCode::already_exists) == "already_exists");
  CHECK(to_string(StatusCode::busy) == "busy");
  CHECK(to_string(StatusCode::failed_precondition) == "failed_precondition");
  CHECK(to_string(StatusCode::timed_out) == "timed_out");
  CHECK(to_string(StatusCode::out_of_order_sequence) == "out_of_order_sequence");
  CHECK(to_string(StatusCode::invalid_producer_epoch) == "invalid_producer_epoch");
  CHECK(to_string(StatusCode::unknown_producer_id) == "unknown_producer_id");
  CHECK(to_string(StatusCode::record_too_large) == "record_too_large");
  CHECK(to_string(StatusCode::decompression_limit) == "decompression_limit");
}

TEST_CASE("Each factory makes a status with its code and message", "[status]") {
  CHECK(Status::not_found("m").code() == StatusCode::not_found);
  CHECK(Status::corruption("m").code() == StatusCode::corruption);
  CHECK(Status::io_error("m").code() == StatusCode::io_error);
  CHECK(Status::no_space("m").code() == StatusCode::no_space);
  CHECK(Status::invalid_argument("m").code() == StatusCode::invalid_argument);
  CHECK(Status::not_supported("m").code() == StatusCode::not_supported);
  CHECK(Status::out_of_range("m").code() == StatusCode::out_of_range);
  CHECK(Status::already_exists("m").code() == StatusCode::already_exists);
  CHECK(Status::busy("m").code() == StatusCode::busy);
  CHECK(Status::failed_precondition("m").code() == StatusCode::failed_precondition);
  CHECK(Status::timed_out("m").code() == StatusCode::timed_out);
  CHECK(Status::out_of_order_sequence("m").code() == StatusCode::out_of_order_sequence);
  CHECK(Status::invalid_producer_epoch("m").code() == StatusCode::invalid_producer_epoch);
  CHECK(Status::unknown_producer_id("m").code() == StatusCode::unknown_producer_id);
  CHECK(Status::record_too_large("m").code() == StatusCode::record_too_large);
  CHECK(Status::decompression_limit("m").code() == StatusCode::decompression_limit);

  const Status s = Status::corruption("bad crc at position 4096");
  CHECK_FALSE(s.ok());
  CHECK(s.is_corruption());
  CHECK_FALSE(s.is_io_error());
  CHECK(s.message() == "bad crc at position 4096");
  CHECK(s.to_string() == "corruption: bad crc at position 4096");
  CHECK(Status::not_found("x").is_not_found());
  CHECK(Status::io_error("x").is_io_error());
  CHECK(Status::no_space("x").is_no_space());
}

TEST_CASE("A default status is ok and prints as ok", "[status]") {
  const Status s;
  CHECK(s.ok());
  CHECK(s.code() == StatusCode::ok);
  CHECK(s.message().empty());
  CHECK(s.to_string() == "ok");
  CHECK(Status::ok_status() == s);
  CHECK_FALSE(s.is_not_found());
}

TEST_CASE("Statuses are equal when code and message are", "[status]") {
  CHECK(Status::io_error("a") == Status::io_error("a"));
  CHECK_FALSE(Status::io_error("a") == Status::io_error("b"));
  CHECK_FALSE(Status::io_error("a") == Status::corruption("a"));
}

TEST_CASE("from_errno maps errno to a code and names the operation", "[status]") {
  const Status full = Status::from_errno(ENOSPC, "pwrite /data/0.log at 4096");
  CHECK(full.code() == StatusCode::no_space);
  CHECK(full.message().find("pwrite /data/0.log at 4096") != std::string::npos);
  CHECK(full.message().find(std::strerror(ENOSPC)) != std::string::npos);

  CHECK(Status::from_errno(EDQUOT, "write").code() == StatusCode::no_space);

  const Status missing = Status::from_errno(ENOENT, "open /data/x.index");
  CHECK(missing.code() == StatusCode::not_found);
  CHECK(missing.message().find("open /data/x.index") != std::string::npos);
  CHECK(missing.message().find(std::strerror(ENOENT)) != std::string::npos);

  CHECK(Status::from_errno(EEXIST, "mkdir").code() == StatusCode::already_exists);

  const Status eio = Status::from_errno(EIO, "fdatasync /data/0.log");
  CHECK(eio.code() == StatusCode::io_error);
  CHECK(eio.message().find("fdatasync /data/0.log") != std::string::npos);
  CHECK(eio.message().find(std::strerror(EIO)) != std::string::npos);
  CHECK(Status::from_errno(EBADF, "read").code() == StatusCode::io_error);
}

TEST_CASE("with_context puts the context before the message and keeps the code", "[status]") {
  const Status s = Status::corruption("crc mismatch").with_context("segment 00000000000000000042");
  CHECK(s.code() == StatusCode::corruption);
  CHECK(s.message() == "segment 00000000000000000042: crc mismatch");
  const Status twice = s.with_context("log /data");
  CHECK(twice.message() == "log /data: segment 00000000000000000042: crc mismatch");
  const Status ok = Status().with_context("ignored");
  CHECK(ok.ok());
  CHECK(ok.message().empty());
}

TEST_CASE("A Result holds a value", "[status]") {
  Result<int> r = 42;
  REQUIRE(r.ok());
  CHECK(r.status().ok());
  CHECK(r.value() == 42);
  CHECK(*r == 42);
  *r = 7;
  CHECK(r.value() == 7);

  Result<std::string> s("built from a const char*");
  REQUIRE(s.ok());
  CHECK(s->size() == 24);
  const std::string moved = std::move(s).value();
  CHECK(moved == "built from a const char*");

  Result<std::unique_ptr<int>> box = std::make_unique<int>(5);
  REQUIRE(box.ok());
  CHECK(**box == 5);
}

TEST_CASE("A Result holds an error", "[status]") {
  const Result<int> r = Status::not_found("offset 17");
  CHECK_FALSE(r.ok());
  CHECK(r.status() == Status::not_found("offset 17"));
  CHECK(r.status().is_not_found());
}

TEST_CASE("SAMSA_TRY returns the first error and continues on success", "[status]") {
  int reached = 0;
  CHECK(try_both(1, 1, reached).ok());
  CHECK(reached == 2);

  reached = 0;
  const Status first = try_both(0, 1, reached);
  CHECK(first.code() == StatusCode::out_of_range);
  CHECK(reached == 0);

  reached = 0;
  const Status second = try_both(1, -3, reached);
  CHECK(second == Status::invalid_argument("not positive: -3"));
  CHECK(reached == 1);
}

TEST_CASE("SAMSA_TRY_ASSIGN declares the value or returns the error", "[status]") {
  int reached = 0;
  const Result<int> sum = sum_positive(2, 3, reached);
  REQUIRE(sum.ok());
  CHECK(*sum == 5);
  CHECK(reached == 2);

  reached = 0;
  const Result<int> first = sum_positive(-1, 3, reached);
  CHECK(first.status() == Status::invalid_argument("not positive: -1"));
  CHECK(reached == 0);

  reached = 0;
  const Result<int> second = sum_positive(2, 0, reached);
  CHECK(second.status() == Status::invalid_argument("not positive: 0"));
  CHECK(reached == 1);

  int out = 0;
  CHECK(take_box(9, out).ok());
  CHECK(out == 9);
  out = 0;
  CHECK(take_box(-1, out).code() == StatusCode::invalid_argument);
  CHECK(out == 0);
}

TEST_CASE("Reading the value of an error Result aborts", "[status]") {
  CHECK(dies_with_abort([] {
    const Result<int> r = Status::io_error("disk gone");
    std::printf("%d\n", r.value());
  }));
  CHECK(dies_with_abort([] {
    Result<std::string> r = Status::corruption("x");
    std::printf("%zu\n", r->size());
  }));
  // The harness itself: a child that does not abort is reported as such.
  CHECK_FALSE(dies_with_abort([] {
    const Result<int> r = 1;
    std::printf("%d", r.value() - 1);
  }));
}

TEST_CASE("Building a Result from an ok status aborts", "[status]") {
  CHECK(dies_with_abort([] {
    const Result<int> r = Status();
    std::printf("%d\n", r.ok() ? 1 : 0);
  }));
}

}  // namespace samsa
