// Floor 7 formats: Kafka's `quorum-state` file, where a KRaft replica keeps its election
// state (Kafka's FileQuorumStateStore and QuorumStateData schema).
//
// One line of compact JSON, no trailing newline, as Kafka's generated
// QuorumStateDataJsonConverter writes it with "data_version" appended:
//   {"leaderId":1,"leaderEpoch":5,"votedId":-1,"votedDirectoryId":"AAAAAAAAAAAAAAAAAAAAAA","data_version":1}
// samsa writes data_version 1 (Kafka writes 1 under kraft.version 1, 0 under kraft.version
// 0) and reads 0 and 1. Grammar and example: docs/FORMAT.md,
// "quorum-state".
//
// Thread-safety: free functions; concurrent writers of one path need external ordering.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "samsa/env.h"
#include "samsa/raft_records.h"
#include "samsa/status.h"

namespace samsa {

struct QuorumStateData {
  std::int32_t leader_id = -1;
  std::int32_t leader_epoch = 0;
  std::int32_t voted_id = -1;
  DirectoryId voted_directory_id;  // zero in version 0 files
  friend bool operator==(const QuorumStateData&, const QuorumStateData&) = default;
};

// The file's text, data_version 1.
std::string encode_quorum_state_json(const QuorumStateData& state);

// Parses the file's text. Strict JSON (RFC 8259) of one object; the fields the version
// makes mandatory must be present with the right JSON type and range; unknown fields are
// ignored (Kafka's converter ignores them too); after the object only whitespace. A torn
// or malformed file is corruption naming `path_for_errors` and the byte position.
Result<QuorumStateData> parse_quorum_state_json(std::string_view text,
                                                std::string_view path_for_errors);

// nullopt when `path` does not exist. A leftover `path`.tmp (a write cut short) is ignored.
Result<std::optional<QuorumStateData>> read_quorum_state(Env& env, const std::string& path);

// Replaces the file durably: writes `path`.tmp, fsyncs it, renames it over `path` and
// fsyncs the directory. After a crash the file holds the old or the new state.
Status write_quorum_state(Env& env, const std::string& path, const QuorumStateData& state);

}  // namespace samsa
