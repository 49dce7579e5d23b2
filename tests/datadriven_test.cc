// The data-driven runner itself: parsing, both output forms, rewrite mode.
#include "datadriven.h"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace {

std::string temp_script(const std::string& name, const std::string& text) {
  const auto path = std::filesystem::temp_directory_path() / name;
  std::ofstream(path, std::ios::trunc) << text;
  return path.string();
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Echoes its arguments and input, so the expected outputs below are known.
std::string echo(const samsa::test::DataCommand& cmd) {
  std::string out = cmd.name;
  for (const auto& a : cmd.args) {
    out += " " + a.key;
    for (const auto& v : a.values) out += "[" + v + "]";
  }
  out += "\n" + cmd.input;
  if (cmd.name == "blank") out += "\nafter blank\n";
  return out;
}

}  // namespace

TEST_CASE("A command line splits into a name, bare keys, values and lists", "[datadriven]") {
  samsa::test::DataCommand cmd;
  samsa::test::parse_command_line("propose  node=1 sync records=(a, b,c)", cmd);
  CHECK(cmd.name == "propose");
  REQUIRE(cmd.args.size() == 3);
  CHECK(cmd.num("node") == 1);
  CHECK(cmd.has("sync"));
  CHECK(cmd.args[1].values.empty());
  CHECK(cmd.list("records") == std::vector<std::string>{"a", "b", "c"});
  CHECK(cmd.num("missing", 7) == 7);
  CHECK_THROWS_AS(cmd.num("missing"), samsa::test::DataError);
  CHECK_THROWS_AS(samsa::test::parse_command_line("x a=(1,2", cmd), samsa::test::DataError);
}

TEST_CASE("A script whose outputs match runs every command", "[datadriven]") {
  const std::string path = temp_script("samsa_dd_match.txt",
                                       "# comment\n"
                                       "one a=1\n"
                                       "input line\n"
                                       "----\n"
                                       "one a[1]\n"
                                       "input line\n"
                                       "\n"
                                       "blank\n"
                                       "----\n"
                                       "----\n"
                                       "blank\n"
                                       "\n"
                                       "after blank\n"
                                       "----\n"
                                       "----\n");
  CHECK(samsa::test::run_data_file(path, echo) == 2);
  std::filesystem::remove(path);
}

TEST_CASE("Rewrite mode writes each command's output into the script", "[datadriven]") {
  const std::string path = temp_script("samsa_dd_rewrite.txt",
                                       "# keep me\n"
                                       "one b=(x,y)\n"
                                       "----\n"
                                       "stale output\n"
                                       "\n"
                                       "blank\n"
                                       "----\n");
  ::setenv("SAMSA_REWRITE", "1", 1);
  const int n = samsa::test::run_data_file(path, echo);
  ::unsetenv("SAMSA_REWRITE");
  CHECK(n == 2);
  CHECK(slurp(path) ==
        "# keep me\n"
        "one b=(x,y)\n"
        "----\n"
        "one b[x][y]\n"
        "\n"
        "blank\n"
        "----\n"
        "----\n"
        "blank\n"
        "\n"
        "after blank\n"
        "----\n"
        "----\n");
  // And the rewritten script passes as it is.
  CHECK(samsa::test::run_data_file(path, echo) == 2);
  std::filesystem::remove(path);
}

TEST_CASE("A command without its separator is reported with its line", "[datadriven]") {
  const std::string path = temp_script("samsa_dd_bad.txt", "\n\nlonely cmd\n");
  try {
    samsa::test::run_data_file(path, echo);
    FAIL("no error");
  } catch (const samsa::test::DataError& e) {
    CHECK(e.message.find("samsa_dd_bad.txt:3") != std::string::npos);
  }
  std::filesystem::remove(path);
}
