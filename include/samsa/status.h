// Floor 1: error values. See docs/ARCHITECTURE.md.
//
// Operating errors (I/O, corruption, bad input) are returned as Status or Result<T>; the
// message names what was wrong and where (file, offset, byte position). Programmer errors
// (a broken invariant) are asserted and crash. No exception crosses the public API.
//
// Thread-safety: Status and Result are values; distinct objects may be used from distinct
// threads, one object is not synchronized.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace samsa {

enum class StatusCode : std::uint8_t {
  ok = 0,
  not_found,            // a file, offset or key that does not exist
  corruption,           // bytes that fail a check (CRC, framing, length); names the position
  io_error,             // the operating system failed an operation (EIO, EBADF, ...)
  no_space,             // ENOSPC / EDQUOT: the disk is full
  invalid_argument,     // the caller passed something malformed
  not_supported,        // a valid request samsa does not implement (e.g. an unknown codec)
  out_of_range,         // an offset or size outside what exists or is allowed
  already_exists,       // a file or entry that must not exist yet does
  busy,                 // a resource is held by someone else (e.g. a directory lock)
  failed_precondition,  // the object is in a state that refuses the call (e.g. fail-stop)
  timed_out,            // a wait passed its deadline
  // Idempotent producers (Kafka's errors of the same names, each its own code):
  out_of_order_sequence,   // a batch's sequence does not follow the producer's last one
  invalid_producer_epoch,  // a batch from an epoch older than the producer's current one
  unknown_producer_id,     // no state for the producer, and its batch does not start at 0
  record_too_large,        // a batch larger than LogConfig::max_batch_bytes (MESSAGE_TOO_LARGE)
  // A compressed batch whose records decompress past the bound its reader allows
  // (ValidateOptions::max_decompressed_bytes; LogConfig::max_decompressed_bytes() for a log).
  // Kafka's broker would answer CORRUPT_MESSAGE; kept apart from corruption because the
  // bytes may be intact: a larger bound would read them.
  decompression_limit,
};

// "ok", "corruption", ... (stable names, used in messages and tests).
std::string_view to_string(StatusCode code);

class [[nodiscard]] Status {
 public:
  // An ok status.
  Status() = default;
  Status(StatusCode code, std::string message);

  static Status ok_status() { return Status(); }
  static Status not_found(std::string msg) { return {StatusCode::not_found, std::move(msg)}; }
  static Status corruption(std::string msg) { return {StatusCode::corruption, std::move(msg)}; }
  static Status io_error(std::string msg) { return {StatusCode::io_error, std::move(msg)}; }
  static Status no_space(std::string msg) { return {StatusCode::no_space, std::move(msg)}; }
  static Status invalid_argument(std::string msg) {
    return {StatusCode::invalid_argument, std::move(msg)};
  }
  static Status not_supported(std::string msg) {
    return {StatusCode::not_supported, std::move(msg)};
  }
  static Status out_of_range(std::string msg) { return {StatusCode::out_of_range, std::move(msg)}; }
  static Status already_exists(std::string msg) {
    return {StatusCode::already_exists, std::move(msg)};
  }
  static Status busy(std::string msg) { return {StatusCode::busy, std::move(msg)}; }
  static Status failed_precondition(std::string msg) {
    return {StatusCode::failed_precondition, std::move(msg)};
  }
  static Status timed_out(std::string msg) { return {StatusCode::timed_out, std::move(msg)}; }
  static Status out_of_order_sequence(std::string msg) {
    return {StatusCode::out_of_order_sequence, std::move(msg)};
  }
  static Status invalid_producer_epoch(std::string msg) {
    return {StatusCode::invalid_producer_epoch, std::move(msg)};
  }
  static Status unknown_producer_id(std::string msg) {
    return {StatusCode::unknown_producer_id, std::move(msg)};
  }
  static Status record_too_large(std::string msg) {
    return {StatusCode::record_too_large, std::move(msg)};
  }
  static Status decompression_limit(std::string msg) {
    return {StatusCode::decompression_limit, std::move(msg)};
  }

  // Builds the status for a failed system call from errno: ENOSPC and EDQUOT map to
  // no_space, ENOENT to not_found, EEXIST to already_exists, EWOULDBLOCK to busy, anything
  // else to io_error.
  // `what` names the operation and its target, e.g. "pwrite /data/0.log at 4096".
  static Status from_errno(int err, std::string_view what);

  bool ok() const { return code_ == StatusCode::ok; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  bool is_not_found() const { return code_ == StatusCode::not_found; }
  bool is_corruption() const { return code_ == StatusCode::corruption; }
  bool is_io_error() const { return code_ == StatusCode::io_error; }
  bool is_no_space() const { return code_ == StatusCode::no_space; }

  // "ok" or "<code>: <message>".
  std::string to_string() const;

  // The same code with "<context>: " put before the message; ok stays ok.
  Status with_context(std::string_view context) const;

  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.message_ == b.message_;
  }

 private:
  StatusCode code_ = StatusCode::ok;
  std::string message_;
};

namespace internal {
[[noreturn]] void die_on_bad_result_access(const Status& status);
}  // namespace internal

// Either a value or a non-ok Status; never "ok and no value".
template <typename T>
class [[nodiscard]] Result {
  static_assert(!std::is_same_v<std::remove_cvref_t<T>, Status>, "Result<Status> is meaningless");

 public:
  Result(const T& value) : v_(std::in_place_index<0>, value) {}        // NOLINT: implicit by design
  Result(T&& value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT
  template <typename U,
            typename = std::enable_if_t<std::is_constructible_v<T, U&&> &&
                                        !std::is_same_v<std::remove_cvref_t<U>, Status> &&
                                        !std::is_same_v<std::remove_cvref_t<U>, Result>>>
  Result(U&& value) : v_(std::in_place_index<0>, std::forward<U>(value)) {}  // NOLINT
  Result(Status status) : v_(std::in_place_index<1>, std::move(status)) {    // NOLINT
    if (std::get<1>(v_).ok()) internal::die_on_bad_result_access(std::get<1>(v_));
  }

  bool ok() const { return v_.index() == 0; }
  // The error, or an ok Status when a value is held.
  Status status() const { return ok() ? Status() : std::get<1>(v_); }

  // Precondition: ok(). Crashes with the error otherwise.
  T& value() & {
    check();
    return std::get<0>(v_);
  }
  const T& value() const& {
    check();
    return std::get<0>(v_);
  }
  // By value from a temporary, so `for (auto& x : f().value())` does not dangle.
  T value() && {
    check();
    return std::get<0>(std::move(v_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  void check() const {
    if (!ok()) internal::die_on_bad_result_access(std::get<1>(v_));
  }
  std::variant<T, Status> v_;
};

namespace internal {
inline Status as_status(Status s) {
  return s;
}
template <typename T>
Status as_status(const Result<T>& r) {
  return r.status();
}
}  // namespace internal

}  // namespace samsa

#define SAMSA_CONCAT_INNER_(a, b) a##b
#define SAMSA_CONCAT_(a, b) SAMSA_CONCAT_INNER_(a, b)

// Returns the Status of `expr` (a Status or a Result) from the enclosing function when it
// is not ok.
#define SAMSA_TRY(expr)                                                     \
  do {                                                                      \
    ::samsa::Status samsa_try_status_ = ::samsa::internal::as_status(expr); \
    if (!samsa_try_status_.ok()) return samsa_try_status_;                  \
  } while (0)

// `SAMSA_TRY_ASSIGN(auto x, f());` declares x from the value of the Result f() returns, or
// returns its error from the enclosing function.
#define SAMSA_TRY_ASSIGN(lhs, expr) \
  SAMSA_TRY_ASSIGN_IMPL_(SAMSA_CONCAT_(samsa_try_result_, __LINE__), lhs, expr)
#define SAMSA_TRY_ASSIGN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                           \
  if (!tmp.ok()) return tmp.status();          \
  lhs = std::move(tmp).value()
