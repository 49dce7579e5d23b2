#include "samsa/quorum_state_file.h"

#include <fmt/format.h>

#include <charconv>
#include <limits>
#include <map>
#include <memory>
#include <vector>

namespace samsa {

namespace {

constexpr std::int16_t kDataVersionWritten = 1;
// Nesting bound for the JSON reader (version 0's currentVoters needs 3).
constexpr int kMaxJsonDepth = 16;
constexpr std::size_t kUuidBase64Chars = 22;  // 16 bytes, base64url without padding

constexpr std::string_view kBase64Url =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// Kafka's Uuid.toString(): base64url of the 16 bytes, no padding.
std::string uuid_to_string(const DirectoryId& id) {
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (std::byte b : id.bytes) {
    acc = (acc << 8) | static_cast<std::uint8_t>(b);
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kBase64Url[(acc >> bits) & 0x3F];
    }
  }
  if (bits > 0) out += kBase64Url[(acc << (6 - bits)) & 0x3F];
  return out;
}

bool uuid_from_string(std::string_view s, DirectoryId& out) {
  if (s.size() != kUuidBase64Chars) return false;
  std::uint32_t acc = 0;
  int bits = 0;
  std::size_t n = 0;
  for (char c : s) {
    const auto v = kBase64Url.find(c);
    if (v == std::string_view::npos) return false;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.bytes[n++] = static_cast<std::byte>((acc >> bits) & 0xFF);
    }
  }
  // 22 chars carry 132 bits: the 4 left over must be zero, so each id has one spelling.
  return n == out.bytes.size() && (acc & ((1u << bits) - 1)) == 0;
}

struct JsonMember;

struct Json {
  enum class Kind : std::uint8_t { null, boolean, number, string, array, object };
  Kind kind = Kind::null;
  std::size_t position = 0;         // where the value starts
  std::string text;                 // number: as written; string: decoded
  std::vector<Json> items;          // array
  std::vector<JsonMember> members;  // object, in order
};

struct JsonMember {
  std::string first;  // the name
  Json second;
};

// A strict RFC 8259 reader over the file's text.
class JsonParser {
 public:
  JsonParser(std::string_view text, std::string_view path) : s_(text), path_(path) {}

  Result<Json> parse_document() {
    Json v;
    skip_ws();
    if (!value(v, 0)) return status_;
    skip_ws();
    if (i_ != s_.size()) {
      fail("unexpected bytes after the JSON object");
      return status_;
    }
    return v;
  }

 private:
  bool fail(std::string_view what) {
    if (status_.ok()) {
      status_ = Status::corruption(fmt::format("quorum-state {} at byte {}: {}{}", path_, i_, what,
                                               i_ >= s_.size() ? " (file ends)" : ""));
    }
    return false;
  }
  void skip_ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r'))
      ++i_;
  }
  bool literal(std::string_view word) {
    if (s_.substr(i_, word.size()) != word) return fail("invalid literal");
    i_ += word.size();
    return true;
  }
  bool value(Json& v, int depth) {
    if (depth > kMaxJsonDepth) return fail("nested too deeply");
    v.position = i_;
    if (i_ >= s_.size()) return fail("expected a value");
    switch (s_[i_]) {
      case '{':
        v.kind = Json::Kind::object;
        return object(v, depth);
      case '[':
        v.kind = Json::Kind::array;
        return array(v, depth);
      case '"':
        v.kind = Json::Kind::string;
        return string(v.text);
      case 't':
        v.kind = Json::Kind::boolean;
        return literal("true");
      case 'f':
        v.kind = Json::Kind::boolean;
        return literal("false");
      case 'n':
        v.kind = Json::Kind::null;
        return literal("null");
      default:
        v.kind = Json::Kind::number;
        return number(v.text);
    }
  }
  bool object(Json& v, int depth) {
    ++i_;
    skip_ws();
    if (i_ < s_.size() && s_[i_] == '}') return ++i_, true;
    for (;;) {
      skip_ws();
      if (i_ >= s_.size() || s_[i_] != '"') return fail("expected a member name");
      std::string name;
      if (!string(name)) return false;
      for (const auto& m : v.members) {
        if (m.first == name) return fail(fmt::format("duplicate member \"{}\"", name));
      }
      skip_ws();
      if (i_ >= s_.size() || s_[i_] != ':') return fail("expected ':'");
      ++i_;
      skip_ws();
      Json member;
      if (!value(member, depth + 1)) return false;
      v.members.push_back(JsonMember{std::move(name), std::move(member)});
      skip_ws();
      if (i_ < s_.size() && s_[i_] == ',') {
        ++i_;
        continue;
      }
      if (i_ < s_.size() && s_[i_] == '}') return ++i_, true;
      return fail("expected ',' or '}'");
    }
  }
  bool array(Json& v, int depth) {
    ++i_;
    skip_ws();
    if (i_ < s_.size() && s_[i_] == ']') return ++i_, true;
    for (;;) {
      skip_ws();
      Json item;
      if (!value(item, depth + 1)) return false;
      v.items.push_back(std::move(item));
      skip_ws();
      if (i_ < s_.size() && s_[i_] == ',') {
        ++i_;
        continue;
      }
      if (i_ < s_.size() && s_[i_] == ']') return ++i_, true;
      return fail("expected ',' or ']'");
    }
  }
  static int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }
  // Escapes are decoded; \u escapes outside ASCII are kept as '?' (no field samsa reads
  // holds them: names, ids and the cluster id are ASCII).
  bool string(std::string& out) {
    ++i_;
    for (;;) {
      if (i_ >= s_.size()) return fail("unterminated string");
      const char c = s_[i_];
      if (c == '"') return ++i_, true;
      if (static_cast<unsigned char>(c) < 0x20) return fail("control character in a string");
      if (c != '\\') {
        out += c;
        ++i_;
        continue;
      }
      if (i_ + 1 >= s_.size()) return fail("unterminated escape");
      const char e = s_[i_ + 1];
      const std::string_view simple = "\"\\/bfnrt";
      const std::string_view decoded = "\"\\/\b\f\n\r\t";
      if (const auto k = simple.find(e); k != std::string_view::npos) {
        out += decoded[k];
        i_ += 2;
        continue;
      }
      if (e != 'u') return fail("invalid escape");
      if (i_ + 6 > s_.size()) return fail("truncated \\u escape");
      int code = 0;
      for (std::size_t k = i_ + 2; k < i_ + 6; ++k) {
        const int h = hex(s_[k]);
        if (h < 0) return fail("invalid \\u escape");
        code = code * 16 + h;
      }
      out += code < 0x80 ? static_cast<char>(code) : '?';
      i_ += 6;
    }
  }
  bool digits() {
    const std::size_t start = i_;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
    return i_ > start || fail("expected a digit");
  }
  bool number(std::string& out) {
    const std::size_t start = i_;
    if (i_ < s_.size() && s_[i_] == '-') ++i_;
    if (i_ >= s_.size() || s_[i_] < '0' || s_[i_] > '9') return fail("expected a value");
    if (s_[i_] == '0') {
      ++i_;
    } else if (!digits()) {
      return false;
    }
    if (i_ < s_.size() && s_[i_] == '.') {
      ++i_;
      if (!digits()) return false;
    }
    if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      ++i_;
      if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-')) ++i_;
      if (!digits()) return false;
    }
    out.assign(s_.substr(start, i_ - start));
    return true;
  }

  std::string_view s_;
  std::string_view path_;
  std::size_t i_ = 0;
  Status status_;
};

class Fields {
 public:
  Fields(const Json& object, std::string_view path) : object_(object), path_(path) {}

  const Json* find(std::string_view name) const {
    for (const auto& m : object_.members) {
      if (m.first == name) return &m.second;
    }
    return nullptr;
  }
  Status missing(std::string_view name, int version) const {
    return Status::corruption(
        fmt::format("quorum-state {} at byte {}: no \"{}\", which data_version {} requires", path_,
                    object_.position, name, version));
  }
  Status wrong(const Json& v, std::string_view name, std::string_view what) const {
    return Status::corruption(
        fmt::format("quorum-state {} at byte {}: \"{}\" {}", path_, v.position, name, what));
  }
  template <typename T>
  Result<T> integer(std::string_view name, int version) const {
    const Json* v = find(name);
    if (v == nullptr) return missing(name, version);
    T out{};
    const std::string& t = v->text;
    const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), out);
    if (v->kind != Json::Kind::number || ec != std::errc() || end != t.data() + t.size()) {
      return wrong(*v, name,
                   fmt::format("is not an integer in [{}, {}]", std::numeric_limits<T>::min(),
                               std::numeric_limits<T>::max()));
    }
    return out;
  }
  Status require(std::string_view name, Json::Kind kind, bool nullable, int version) const {
    const Json* v = find(name);
    if (v == nullptr) return missing(name, version);
    if (v->kind != kind && !(nullable && v->kind == Json::Kind::null)) {
      return wrong(*v, name, "has the wrong JSON type");
    }
    return {};
  }

 private:
  const Json& object_;
  std::string_view path_;
};

// Version 0 fields samsa does not keep (Kafka stopped using them) are still checked, as
// Kafka's converter requires them.
Status check_version0_fields(const Fields& f) {
  SAMSA_TRY(f.require("clusterId", Json::Kind::string, false, 0));
  SAMSA_TRY(f.integer<std::int64_t>("appliedOffset", 0).status());
  SAMSA_TRY(f.require("currentVoters", Json::Kind::array, true, 0));
  for (const Json& voter : f.find("currentVoters")->items) {
    if (voter.kind != Json::Kind::object)
      return f.wrong(voter, "currentVoters", "holds a non-object");
    SAMSA_TRY(Fields(voter, "").integer<std::int32_t>("voterId", 0).status());
  }
  return {};
}

}  // namespace

std::string encode_quorum_state_json(const QuorumStateData& s) {
  return fmt::format(
      "{{\"leaderId\":{},\"leaderEpoch\":{},\"votedId\":{},\"votedDirectoryId\":\"{}\","
      "\"data_version\":{}}}",
      s.leader_id, s.leader_epoch, s.voted_id, uuid_to_string(s.voted_directory_id),
      kDataVersionWritten);
}

Result<QuorumStateData> parse_quorum_state_json(std::string_view text,
                                                std::string_view path_for_errors) {
  SAMSA_TRY_ASSIGN(const Json doc, JsonParser(text, path_for_errors).parse_document());
  if (doc.kind != Json::Kind::object) {
    return Status::corruption(fmt::format("quorum-state {} at byte {}: not a JSON object",
                                          path_for_errors, doc.position));
  }
  const Fields f(doc, path_for_errors);
  SAMSA_TRY_ASSIGN(const auto version, f.integer<std::int16_t>("data_version", 1));
  if (version != 0 && version != 1) {
    return f.wrong(*f.find("data_version"), "data_version",
                   fmt::format("is {}, not 0 or 1", version));
  }
  QuorumStateData out;
  SAMSA_TRY_ASSIGN(out.leader_id, f.integer<std::int32_t>("leaderId", version));
  SAMSA_TRY_ASSIGN(out.leader_epoch, f.integer<std::int32_t>("leaderEpoch", version));
  SAMSA_TRY_ASSIGN(out.voted_id, f.integer<std::int32_t>("votedId", version));
  if (version == 0) {
    SAMSA_TRY(check_version0_fields(f));
    return out;
  }
  SAMSA_TRY(f.require("votedDirectoryId", Json::Kind::string, false, version));
  const Json& dir = *f.find("votedDirectoryId");
  if (!uuid_from_string(dir.text, out.voted_directory_id)) {
    return f.wrong(dir, "votedDirectoryId", "is not a 22-character base64url Uuid");
  }
  return out;
}

Result<std::optional<QuorumStateData>> read_quorum_state(Env& env, const std::string& path) {
  SAMSA_TRY_ASSIGN(const bool present, env.exists(path));
  if (!present) return std::optional<QuorumStateData>();
  SAMSA_TRY_ASSIGN(const auto bytes, read_file(env, path));
  SAMSA_TRY_ASSIGN(auto state, parse_quorum_state_json(as_chars(bytes), path));
  return std::optional<QuorumStateData>(state);
}

Status write_quorum_state(Env& env, const std::string& path, const QuorumStateData& state) {
  return write_file_atomically(env, path, as_bytes(encode_quorum_state_json(state)));
}

}  // namespace samsa
