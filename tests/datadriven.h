// Data-driven scenario tests, in the manner of etcd raft's testdata/*.txt: a script of
// commands, each followed by the output it must produce. A file reads like a story:
//
//   # A comment line (also blank lines between commands are ignored).
//   propose 1 records=3
//   ----
//   ok: offsets [5, 8)
//
//   command arg key=value key=(a,b)
//   an input line the command reads
//   ----
//   ----
//   output that has a blank line
//
//   in it: the double separator form ends at a line "----" followed by "----"
//   ----
//   ----
//
// The expected output follows the "----" line and ends at the first blank line (or, with
// the double separator, at the closing "----" "----" pair). A command's output that does
// not match fails the test at the command's line; SAMSA_REWRITE=1 in the environment
// writes each file back with the outputs the commands produced instead (review the diff).
//
// Thread-safety: none; one file is run by one thread.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace samsa::test {

// One argument of a command: `key`, `key=value` or `key=(v1,v2,...)`.
struct DataArg {
  std::string key;
  std::vector<std::string> values;  // empty for a bare key
};

struct DataCommand {
  std::string file;  // the script's path
  int line = 0;      // the command's line, 1-based
  std::string name;  // the first word
  std::vector<DataArg> args;
  std::string input;  // the lines between the command and "----", each ending in '\n'

  // "file:line" for messages.
  std::string where() const;
  bool has(std::string_view key) const;
  // The argument's only value; a test failure (thrown) when absent and no default is given.
  std::string str(std::string_view key, std::optional<std::string> fallback = std::nullopt) const;
  std::int64_t num(std::string_view key, std::optional<std::int64_t> fallback = std::nullopt) const;
  // Every value of the argument (key=(1,2,3)); empty when absent.
  std::vector<std::string> list(std::string_view key) const;
};

// What a command produced. A handler that cannot run its command throws DataError (the
// runner reports it at the command's line).
struct DataError {
  std::string message;
};

// Parses the script at `path` and runs its commands in order through `run`, comparing
// each output with the expected one (trailing whitespace on each line ignored). Every
// mismatch is a Catch test failure naming the file and line; in rewrite mode the file is
// rewritten instead. Returns the number of commands run.
int run_data_file(const std::string& path,
                  const std::function<std::string(const DataCommand&)>& run);

// The *.txt files under `dir`, sorted by name.
std::vector<std::string> data_files(const std::string& dir);

// Runs every script of SAMSA_TESTDATA_DIR/`subdir` as its own Catch section, each through a
// fresh handler from `make_run()` (a std::function<std::string(const DataCommand&)>): the
// scenario test cases of the raft, replica and group suites.
void run_data_dir(const std::string& subdir,
                  const std::function<std::function<std::string(const DataCommand&)>()>& make_run);

// Parses one command line ("name a b=1 c=(x,y)") into `cmd`; exposed for the runner's tests.
void parse_command_line(std::string_view text, DataCommand& cmd);

}  // namespace samsa::test
