// The `samsa` command-line tool: what the commands share (flag parsing, exit codes, the
// LogConfig flags, output helpers) and the command entry points.
//
// Exit codes: 0 success, 1 an operating error (I/O, corruption, a missing directory, a
// locked log), 2 a usage error (unknown command or flag, a bad flag value, no DIR).
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "samsa/log.h"
#include "samsa/status.h"

namespace samsa::cli {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

struct FlagSpec {
  std::string_view name;  // with the leading "--"
  bool takes_value = false;
};

// A command line split into flags and positional arguments. "--flag VALUE", "--flag=VALUE"
// and "--switch" are accepted; "--" ends the flags.
struct ParsedArgs {
  std::vector<std::string> positionals;
  std::map<std::string, std::string, std::less<>> values;
  std::set<std::string, std::less<>> switches;
  bool help = false;  // -h or --help anywhere

  bool has(std::string_view flag) const { return values.contains(flag) || switches.contains(flag); }
  const std::string* value(std::string_view flag) const {
    auto it = values.find(flag);
    return it == values.end() ? nullptr : &it->second;
  }
};

// Splits `args` by `specs`. An unknown flag or a missing value is invalid_argument.
Result<ParsedArgs> parse_args(std::span<char* const> args, std::span<const FlagSpec> specs);

// Reads an integer flag into `out` when present (it keeps its default otherwise). The value
// must lie in [min, max]; the error names the flag and the allowed range.
Status int_flag(const ParsedArgs& args, std::string_view flag, std::int64_t min, std::int64_t max,
                std::int64_t& out);

// Typed wrappers around int_flag.
template <typename T>
Status typed_int_flag(const ParsedArgs& args, std::string_view flag, std::int64_t min,
                      std::int64_t max, T& out) {
  std::int64_t v = static_cast<std::int64_t>(out);
  SAMSA_TRY(int_flag(args, flag, min, max, v));
  out = static_cast<T>(v);
  return Status();
}

// Reads a floating-point flag into `out` when present; the value must lie in [min, max].
Status double_flag(const ParsedArgs& args, std::string_view flag, double min, double max,
                   double& out);

// The LogConfig flags every command that opens a Log takes, and their --help text.
extern const std::vector<FlagSpec> kLogConfigFlags;
extern const std::string_view kLogConfigHelp;
Status apply_log_config_flags(const ParsedArgs& args, LogConfig& config);

// The one DIR argument of a command; usage error when missing or repeated.
Result<std::string> single_dir(const ParsedArgs& args);

// Prints "samsa CMD: MESSAGE" to stderr and returns kExitUsage / kExitFailure.
int usage_error(std::string_view command, std::string_view message);
int failure(std::string_view command, std::string_view message);

// Checks that DIR exists and is a directory; the message says which is wrong.
Status require_dir(const std::string& dir);

// Opens the Log in `dir`, turning a busy lock into a message that says what it means.
Result<std::unique_ptr<Log>> open_log(const std::string& dir, const LogConfig& config,
                                      LogOpenOptions options = {});

// Writes to stdout and flushes; false once stdout is gone (EPIPE) or failed.
bool write_stdout(std::string_view text);

// Installs SIGINT/SIGTERM handlers that set stop_requested() (no SA_RESTART, so a blocked
// read(2) returns EINTR), and ignores SIGPIPE so a closed pipe is a write error.
void install_stop_handlers();
bool stop_requested();

// Bytes as printed by `read` and `dump --records`: raw, or "null" for a null key/value.
std::string_view printable(const std::optional<ByteSpan>& bytes);

int run_append(std::span<char* const> args);
int run_read(std::span<char* const> args);
int run_dump(std::span<char* const> args);
int run_verify(std::span<char* const> args);
int run_recover(std::span<char* const> args);
int run_compact(std::span<char* const> args);

}  // namespace samsa::cli
