#include "datadriven.h"

#include <fmt/format.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace samsa::test {
namespace {

constexpr std::string_view kSeparator = "----";

std::string rstrip(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return std::string(s);
}

bool blank(std::string_view s) {
  return rstrip(s).empty();
}

// Each line without trailing whitespace, each ending in '\n'.
std::string normalize(std::string_view text) {
  std::string out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    out += rstrip(text.substr(pos, end - pos));
    out += '\n';
    pos = end + 1;
  }
  return out;
}

// How an output is written into a script: the double separator when it holds a blank line.
std::string render_output(const std::string& output) {
  const bool has_blank =
      output.find("\n\n") != std::string::npos || (!output.empty() && output.front() == '\n');
  if (!has_blank) return output;
  const std::string sep(kSeparator);
  return sep + "\n" + output + sep + "\n" + sep + "\n";
}

struct ParsedCommand {
  DataCommand cmd;
  std::string expected;
  std::size_t output_begin = 0;  // lines [output_begin, output_end) hold the expected output
  std::size_t output_end = 0;
};

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw DataError{fmt::format("cannot open data file {}", path)};
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

// Reads the expected output starting at lines[i] (the line after the command's "----").
// Returns the index one past what belongs to the output.
std::size_t parse_expected(const std::vector<std::string>& lines, std::size_t i,
                           std::string& expected) {
  if (i < lines.size() && rstrip(lines[i]) == kSeparator) {
    // Double separator: up to a "----" line directly followed by another.
    for (std::size_t j = i + 1; j < lines.size(); ++j) {
      if (rstrip(lines[j]) == kSeparator && j + 1 < lines.size() &&
          rstrip(lines[j + 1]) == kSeparator) {
        return j + 2;
      }
      expected += rstrip(lines[j]) + "\n";
    }
    throw DataError{"an output opened with \"----\" \"----\" is not closed by the same pair"};
  }
  while (i < lines.size() && !blank(lines[i])) {
    expected += rstrip(lines[i]) + "\n";
    ++i;
  }
  return i;
}

std::vector<ParsedCommand> parse_file(const std::string& path,
                                      const std::vector<std::string>& lines) {
  std::vector<ParsedCommand> out;
  std::size_t i = 0;
  while (i < lines.size()) {
    const std::string_view line = lines[i];
    if (blank(line) || line.front() == '#') {
      ++i;
      continue;
    }
    ParsedCommand pc;
    pc.cmd.file = path;
    pc.cmd.line = static_cast<int>(i + 1);
    try {
      parse_command_line(line, pc.cmd);
    } catch (const DataError& e) {
      throw DataError{fmt::format("{}: {}", pc.cmd.where(), e.message)};
    }
    ++i;
    while (i < lines.size() && rstrip(lines[i]) != kSeparator) pc.cmd.input += lines[i++] + "\n";
    if (i == lines.size()) {
      throw DataError{fmt::format("{}: command `{}` has no \"----\" line before the end of file",
                                  pc.cmd.where(), pc.cmd.name)};
    }
    pc.output_begin = ++i;
    try {
      i = parse_expected(lines, i, pc.expected);
    } catch (const DataError& e) {
      throw DataError{fmt::format("{}: {}", pc.cmd.where(), e.message)};
    }
    pc.output_end = i;
    out.push_back(std::move(pc));
  }
  return out;
}

bool rewrite_mode() {
  const char* v = std::getenv("SAMSA_REWRITE");
  return v != nullptr && std::string_view(v) != "" && std::string_view(v) != "0";
}

void write_back(const std::string& path, const std::vector<std::string>& lines,
                const std::vector<ParsedCommand>& cmds, const std::vector<std::string>& outputs) {
  std::string text;
  std::size_t next = 0;
  for (std::size_t c = 0; c < cmds.size(); ++c) {
    for (; next < cmds[c].output_begin; ++next) text += lines[next] + "\n";
    text += render_output(outputs[c]);
    next = cmds[c].output_end;
  }
  for (; next < lines.size(); ++next) text += lines[next] + "\n";
  std::ofstream(path, std::ios::trunc) << text;
}

}  // namespace

std::string DataCommand::where() const {
  return fmt::format("{}:{}", file, line);
}

bool DataCommand::has(std::string_view key) const {
  return std::any_of(args.begin(), args.end(), [&](const DataArg& a) { return a.key == key; });
}

std::vector<std::string> DataCommand::list(std::string_view key) const {
  for (const DataArg& a : args) {
    if (a.key == key) return a.values;
  }
  return {};
}

std::string DataCommand::str(std::string_view key, std::optional<std::string> fallback) const {
  for (const DataArg& a : args) {
    if (a.key != key) continue;
    if (a.values.size() != 1) {
      throw DataError{fmt::format("{}: argument {} needs exactly one value", where(), key)};
    }
    return a.values[0];
  }
  if (fallback) return *fallback;
  throw DataError{fmt::format("{}: `{}` needs the argument {}=", where(), name, key)};
}

std::int64_t DataCommand::num(std::string_view key, std::optional<std::int64_t> fallback) const {
  if (!has(key)) {
    if (fallback) return *fallback;
    throw DataError{fmt::format("{}: `{}` needs the argument {}=", where(), name, key)};
  }
  const std::string v = str(key);
  std::size_t used = 0;
  std::int64_t n = 0;
  try {
    n = std::stoll(v, &used);
  } catch (...) {
    used = 0;
  }
  if (used != v.size() || v.empty()) {
    throw DataError{fmt::format("{}: argument {}={} is not an integer", where(), key, v)};
  }
  return n;
}

void parse_command_line(std::string_view text, DataCommand& cmd) {
  std::vector<std::string> words;
  std::string word;
  int depth = 0;
  for (char ch : text) {
    if (ch == '(') ++depth;
    if (ch == ')') --depth;
    if (depth < 0) throw DataError{fmt::format("unbalanced ')' in `{}`", text)};
    if ((ch == ' ' || ch == '\t') && depth == 0) {
      if (!word.empty()) words.push_back(std::move(word));
      word.clear();
    } else {
      word += ch;
    }
  }
  if (depth != 0) throw DataError{fmt::format("unbalanced '(' in `{}`", text)};
  if (!word.empty()) words.push_back(std::move(word));
  if (words.empty()) throw DataError{"empty command line"};
  cmd.name = words[0];
  cmd.args.clear();
  for (std::size_t w = 1; w < words.size(); ++w) {
    DataArg arg;
    const std::string& s = words[w];
    const std::size_t eq = s.find('=');
    arg.key = s.substr(0, eq);
    if (eq != std::string::npos) {
      std::string v = s.substr(eq + 1);
      if (v.size() >= 2 && v.front() == '(' && v.back() == ')') {
        std::stringstream list(v.substr(1, v.size() - 2));
        std::string item;
        while (std::getline(list, item, ',')) {
          item = rstrip(item);
          item.erase(0, item.find_first_not_of(" \t"));
          if (!item.empty()) arg.values.push_back(item);
        }
      } else {
        arg.values.push_back(v);
      }
    }
    cmd.args.push_back(std::move(arg));
  }
}

int run_data_file(const std::string& path,
                  const std::function<std::string(const DataCommand&)>& run) {
  const std::vector<std::string> lines = read_lines(path);
  const std::vector<ParsedCommand> cmds = parse_file(path, lines);
  const bool rewrite = rewrite_mode();
  std::vector<std::string> outputs;
  outputs.reserve(cmds.size());
  for (const ParsedCommand& pc : cmds) {
    std::string actual;
    try {
      actual = normalize(run(pc.cmd));
    } catch (const DataError& e) {
      actual = normalize("error: " + e.message);
    }
    if (actual == "\n") actual.clear();
    if (!rewrite && actual != pc.expected) {
      FAIL_CHECK(fmt::format("{}: `{}` printed\n{}-- but the script expects --\n{}", pc.cmd.where(),
                             lines[pc.cmd.line - 1], actual, pc.expected));
    }
    outputs.push_back(std::move(actual));
  }
  if (rewrite) write_back(path, lines, cmds, outputs);
  return static_cast<int>(cmds.size());
}

std::vector<std::string> data_files(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.is_regular_file() && e.path().extension() == ".txt") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

void run_data_dir(const std::string& subdir,
                  const std::function<std::function<std::string(const DataCommand&)>()>& make_run) {
  const auto files = data_files(std::string(SAMSA_TESTDATA_DIR) + "/" + subdir);
  REQUIRE(!files.empty());
  for (const auto& file : files) {
    SECTION(file) {
      const auto run = make_run();
      CHECK(run_data_file(file, run) > 0);
    }
  }
}

}  // namespace samsa::test
