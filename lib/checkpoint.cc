#include "checkpoint.h"

#include <fmt/format.h>

#include <charconv>

namespace samsa::internal {

namespace {

template <typename T>
bool parse_int(std::string_view s, T& out) {
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

}  // namespace

std::string format_offset_checkpoint(const std::vector<CheckpointEntry>& entries) {
  std::string out = fmt::format("0\n{}\n", entries.size());
  for (const auto& e : entries) out += fmt::format("{} {} {}\n", e.topic, e.partition, e.offset);
  return out;
}

Result<std::vector<CheckpointEntry>> parse_offset_checkpoint(std::string_view text,
                                                             std::string_view path) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    lines.push_back(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
  }
  auto bad = [&](std::size_t line, std::string_view what) {
    return Status::corruption(fmt::format("checkpoint {} line {}: {}", path, line + 1, what));
  };
  if (lines.size() < 2) return bad(lines.size(), "missing the version and count lines");
  int version = -1;
  if (!parse_int(lines[0], version) || version != 0) {
    return bad(0, fmt::format("version '{}' is not 0", lines[0]));
  }
  std::size_t count = 0;
  if (!parse_int(lines[1], count))
    return bad(1, fmt::format("count '{}' is not a number", lines[1]));
  if (lines.size() - 2 != count) {
    return bad(1, fmt::format("expected {} entries but found {}", count, lines.size() - 2));
  }
  std::vector<CheckpointEntry> entries;
  for (std::size_t i = 2; i < lines.size(); ++i) {
    const std::string_view line = lines[i];
    const auto s1 = line.find(' ');
    const auto s2 = s1 == std::string_view::npos ? s1 : line.find(' ', s1 + 1);
    CheckpointEntry e;
    if (s2 == std::string_view::npos || !parse_int(line.substr(s1 + 1, s2 - s1 - 1), e.partition) ||
        !parse_int(line.substr(s2 + 1), e.offset)) {
      return bad(i, fmt::format("'{}' is not '<topic> <partition> <offset>'", line));
    }
    e.topic = std::string(line.substr(0, s1));
    entries.push_back(std::move(e));
  }
  return entries;
}

Status write_offset_checkpoint(Env& env, const std::string& path,
                               const std::vector<CheckpointEntry>& entries) {
  return write_file_atomically(env, path, as_bytes(format_offset_checkpoint(entries)));
}

Result<std::vector<CheckpointEntry>> read_offset_checkpoint(Env& env, const std::string& path) {
  SAMSA_TRY_ASSIGN(const auto bytes, read_file(env, path));
  return parse_offset_checkpoint(as_chars(bytes), path);
}

}  // namespace samsa::internal
