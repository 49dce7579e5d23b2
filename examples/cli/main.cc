// samsa: the command-line tool for a samsa (Kafka-format) log directory, in the spirit of
// kafka-console-producer, kafka-console-consumer and kafka-dump-log.
//
//   samsa append DIR    records from stdin, one per line
//   samsa read DIR      records to stdout
//   samsa dump DIR      every segment's batches and index entries (read-only)
//   samsa verify DIR    checks every batch, offset and index entry (read-only)
//   samsa recover DIR   opens the log, runs crash recovery, prints what it did
//   samsa compact DIR   log compaction: keeps the latest record of each key
#include <fmt/format.h>

#include <cstdio>
#include <span>
#include <string_view>

#include "cli.h"

namespace {

constexpr std::string_view kUsage = R"(usage: samsa COMMAND DIR [FLAGS]

A samsa log directory holds one partition's segments in Kafka's on-disk format
(<base offset>.log, .index, .timeindex).

Commands:
  append DIR    append records read from stdin, one per line; prints "acked FIRST-LAST"
  read DIR      print records as offset<TAB>timestamp<TAB>key<TAB>value
  dump DIR      print every segment's batches and index entries (never modifies DIR)
  verify DIR    check every batch, offset and index entry (never modifies DIR); exit 1 on
                any problem
  recover DIR   open the log (crash recovery) and print the recovery report
  compact DIR   clean the log once (Kafka's log compaction: the latest record of each
                key stays) and print what the pass did

`samsa COMMAND --help` describes a command's flags.
Exit status: 0 success, 1 an error (I/O, corruption, missing or locked DIR), 2 bad usage.
)";

}  // namespace

int main(int argc, char** argv) {
  using namespace samsa::cli;
  const std::span<char* const> all(argv, static_cast<std::size_t>(argc));
  if (all.size() < 2) {
    fmt::print(stderr, "{}", kUsage);
    return kExitUsage;
  }
  const std::string_view command = all[1];
  const std::span<char* const> rest = all.subspan(2);
  if (command == "-h" || command == "--help" || command == "help") {
    fmt::print("{}", kUsage);
    return kExitOk;
  }
  if (command == "append") return run_append(rest);
  if (command == "read") return run_read(rest);
  if (command == "dump") return run_dump(rest);
  if (command == "verify") return run_verify(rest);
  if (command == "recover") return run_recover(rest);
  if (command == "compact") return run_compact(rest);
  fmt::print(stderr, "samsa: unknown command '{}' (see samsa --help)\n", command);
  return kExitUsage;
}
