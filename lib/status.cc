#include "samsa/status.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "invariant.h"

namespace samsa {

std::string_view to_string(StatusCode code) {
  switch (code) {
    case StatusCode::ok:
      return "ok";
    case StatusCode::not_found:
      return "not_found";
    case StatusCode::corruption:
      return "corruption";
    case StatusCode::io_error:
      return "io_error";
    case StatusCode::no_space:
      return "no_space";
    case StatusCode::invalid_argument:
      return "invalid_argument";
    case StatusCode::not_supported:
      return "not_supported";
    case StatusCode::out_of_range:
      return "out_of_range";
    case StatusCode::already_exists:
      return "already_exists";
    case StatusCode::busy:
      return "busy";
    case StatusCode::failed_precondition:
      return "failed_precondition";
    case StatusCode::timed_out:
      return "timed_out";
    case StatusCode::out_of_order_sequence:
      return "out_of_order_sequence";
    case StatusCode::invalid_producer_epoch:
      return "invalid_producer_epoch";
    case StatusCode::unknown_producer_id:
      return "unknown_producer_id";
    case StatusCode::record_too_large:
      return "record_too_large";
    case StatusCode::decompression_limit:
      return "decompression_limit";
  }
  return "unknown";
}

Status::Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

Status Status::from_errno(int err, std::string_view what) {
  StatusCode code = StatusCode::io_error;
  switch (err) {
    case ENOSPC:
    case EDQUOT:
      code = StatusCode::no_space;
      break;
    case ENOENT:
      code = StatusCode::not_found;
      break;
    case EEXIST:
      code = StatusCode::already_exists;
      break;
    case EWOULDBLOCK:
      code = StatusCode::busy;
      break;
    default:
      break;
  }
  return Status(code, fmt::format("{}: {}", what, std::strerror(err)));
}

std::string Status::to_string() const {
  if (ok()) return "ok";
  return fmt::format("{}: {}", samsa::to_string(code_), message_);
}

Status Status::with_context(std::string_view context) const {
  if (ok()) return *this;
  return Status(code_, fmt::format("{}: {}", context, message_));
}

namespace internal {
void die_on_bad_result_access(const Status& status) {
  SAMSA_FAIL("Result accessed without a value (or built from ok): {}", status.to_string());
}
}  // namespace internal

}  // namespace samsa
