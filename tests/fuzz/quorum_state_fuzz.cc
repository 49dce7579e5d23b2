// libFuzzer target for floor 7: arbitrary bytes as a quorum-state file.
//
// parse_quorum_state_json must return a value or a corruption error, never crash, and
// what it accepts must survive encode -> parse unchanged (the state a replica recovers is
// the state it would write back).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "samsa/quorum_state_file.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = samsa::parse_quorum_state_json(text, "fuzz");
  if (!parsed.ok()) {
    if (parsed.status().code() != samsa::StatusCode::corruption) {
      std::fprintf(stderr, "quorum_state_fuzz: not corruption: %s\n",
                   parsed.status().message().c_str());
      std::abort();
    }
    return 0;
  }
  const std::string again = samsa::encode_quorum_state_json(*parsed);
  auto reparsed = samsa::parse_quorum_state_json(again, "fuzz");
  if (!reparsed.ok() || !(*reparsed == *parsed)) {
    std::fprintf(stderr, "quorum_state_fuzz: round trip broke: %s\n", again.c_str());
    std::abort();
  }
  return 0;
}
