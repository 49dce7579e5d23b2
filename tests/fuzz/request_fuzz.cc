// libFuzzer target for samsa-server's request path (examples/server): arbitrary bytes as a
// connection delivers them, through what the I/O thread and the handlers do before touching
// a partition: the frame's size prefix, the request header, the API key and version check,
// the body through that API's request decoder, and for Produce each partition's record set
// checked as the handler does (exactly one RecordBatch v2), then validated as a producer's
// batch with the default decompression bound and its records read (every codec).
//
// The input is read one of three ways, chosen by its first byte:
//   0     the whole input is the record set of a Produce request (v3-v7 by the input's
//         length), so make_corpus's batches (compressed ones too) seed it;
//   1     byte 1 picks an API the server implements or has a codec for (the group APIs,
//         group_messages.h), byte 2 its version, the rest is the body behind a well-formed
//         header (the decoders, without the fuzzer first having to find a header);
//   2     byte 1 is an API key and byte 2 a version, taken as they are, the rest the body
//         behind a well-formed header (make_corpus's request seeds; stable when the list
//         mode 1 indexes changes);
//   other the input is a stream of size-prefixed frames, read until one would close the
//         connection.
// Errors are fine; a crash, a sanitizer report, or a decoder that fails without saying why
// is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "codec/admin_messages.h"
#include "codec/group_messages.h"
#include "codec/messages.h"
#include "codec/protocol.h"
#include "codec/wire.h"
#include "samsa/record_batch.h"

namespace {

using samsa_server::ApiKey;
using samsa_server::Reader;
using samsa_server::Writer;

constexpr std::size_t kMaxFrameBytes = 100u << 20;  // samsa-server's default

volatile std::uint64_t g_sink = 0;

[[noreturn]] void broken(const char* what) {
  std::fprintf(stderr, "request_fuzz: %s\n", what);
  std::abort();
}

std::uint64_t sum(samsa::ByteSpan bytes) {
  std::uint64_t s = 0;
  for (std::byte b : bytes) s += static_cast<std::uint8_t>(b);
  return s;
}

// A Produce partition's record set, as handle_produce's precheck and then the log take it.
void check_record_set(samsa::MutableByteSpan records) {
  if (records.empty()) return;
  auto view = samsa::RecordBatchView::parse(records);
  if (!view.ok() || view->size_bytes() != records.size()) return;
  samsa::ValidateOptions options;
  options.producer_batch = true;
  const bool valid = samsa::RecordBatchView::validate(records, options).ok();
  // Past the CRC (mutated inputs rarely match it) the records are still read: that is where
  // decompression lives.
  const bool records_ok = view->check_records(options).ok();
  if (valid && !records_ok) broken("validate() accepted what check_records() refused");
  samsa::RecordReader reader;
  if (!reader.reset(*view, options).ok()) {
    if (records_ok) broken("reset() refused a checked batch");
    return;
  }
  samsa::Record record;
  std::uint64_t s = 0;
  // Bounded: every record takes at least one byte of a bounded buffer.
  for (;;) {
    auto more = reader.next(record);
    if (!more.ok()) {
      if (records_ok) broken("next() failed on a checked batch");
      return;
    }
    if (!*more) break;
    s += static_cast<std::uint64_t>(record.offset_delta) + record.size_bytes;
    if (record.key) s += sum(*record.key);
    if (record.value) s += sum(*record.value);
    for (const samsa::RecordHeader& header : record.headers) {
      if (header.value) s += sum(*header.value);
    }
  }
  g_sink = g_sink + s;
}

template <typename T>
bool decoded(const samsa::Result<T>& result, const Reader& r) {
  if (!result.ok() && result.status().message().empty()) broken("a decoder failed silently");
  if (result.ok() && r.failed()) broken("a decoder succeeded past a failed read");
  return result.ok();
}

// Whether a group codec (kGroupCodecVersions) implements (key, version).
bool group_codec_supports(std::int16_t key, std::int16_t version) {
  for (const samsa_server::ApiVersionRange& r : samsa_server::kGroupCodecVersions) {
    if (r.api_key == key) return version >= r.min_version && version <= r.max_version;
  }
  return false;
}

// What mode 1 picks from: the advertised APIs, then the group codecs not (yet) among them.
const std::vector<samsa_server::ApiVersionRange>& fuzzed_apis() {
  static const std::vector<samsa_server::ApiVersionRange> apis = [] {
    const auto supported = samsa_server::supported_apis();
    std::vector<samsa_server::ApiVersionRange> out(supported.begin(), supported.end());
    for (const samsa_server::ApiVersionRange& r : samsa_server::kGroupCodecVersions) {
      if (!samsa_server::supported_range(r.api_key)) out.push_back(r);
    }
    return out;
  }();
  return apis;
}

// One frame (without its size prefix), as NetServer::handle_frame and the handlers take it.
// False when the server would close the connection.
bool handle_frame(std::vector<std::byte>& frame) {
  auto header = samsa_server::decode_request_header(frame);
  if (!header.ok()) return false;
  const std::int16_t key = header->api_key;
  const std::int16_t version = header->api_version;
  if (!samsa_server::is_supported(key, version) && !group_codec_supports(key, version)) {
    return key == static_cast<std::int16_t>(ApiKey::api_versions);  // answered, not closed
  }
  if (header->body_offset > frame.size()) broken("body offset past the frame");
  Reader r(samsa::MutableByteSpan(frame).subspan(header->body_offset));
  if (!samsa_server::supported_range(key)) {
    // A group API not advertised yet: the header decoder stopped before the client id.
    (void)r.nullable_string();
    if (r.failed()) return false;
  }
  switch (static_cast<ApiKey>(key)) {
    case ApiKey::produce: {
      auto request = samsa_server::decode_produce(r, version);
      if (!decoded(request, r)) return false;
      for (auto& topic : request->topics) {
        for (auto& partition : topic.partitions) {
          if (partition.records) check_record_set(*partition.records);
        }
      }
      return true;
    }
    case ApiKey::fetch: {
      auto request = samsa_server::decode_fetch(r, version);
      return decoded(request, r);
    }
    case ApiKey::list_offsets: {
      auto request = samsa_server::decode_list_offsets(r, version);
      return decoded(request, r);
    }
    case ApiKey::metadata: {
      auto request = samsa_server::decode_metadata(r, version);
      return decoded(request, r);
    }
    case ApiKey::find_coordinator: {
      auto request = samsa_server::decode_find_coordinator(r, version);
      return decoded(request, r);
    }
    case ApiKey::api_versions: {
      auto request = samsa_server::decode_api_versions(r, version);
      return decoded(request, r);
    }
    case ApiKey::init_producer_id: {
      auto request = samsa_server::decode_init_producer_id(r, version);
      return decoded(request, r);
    }
    case ApiKey::offset_commit:
      return decoded(samsa_server::decode_offset_commit(r, version), r);
    case ApiKey::offset_fetch:
      return decoded(samsa_server::decode_offset_fetch(r, version), r);
    case ApiKey::join_group:
      return decoded(samsa_server::decode_join_group(r, version), r);
    case ApiKey::heartbeat:
      return decoded(samsa_server::decode_heartbeat(r, version), r);
    case ApiKey::leave_group:
      return decoded(samsa_server::decode_leave_group(r, version), r);
    case ApiKey::sync_group:
      return decoded(samsa_server::decode_sync_group(r, version), r);
    case ApiKey::describe_groups:
      return decoded(samsa_server::decode_describe_groups(r, version), r);
    case ApiKey::list_groups:
      return decoded(samsa_server::decode_list_groups(r, version), r);
    case ApiKey::delete_groups:
      return decoded(samsa_server::decode_delete_groups(r, version), r);
    case ApiKey::offset_delete:
      return decoded(samsa_server::decode_offset_delete(r, version), r);
    case ApiKey::create_topics:
      return decoded(samsa_server::decode_create_topics(r, version), r);
    case ApiKey::describe_configs:
      return decoded(samsa_server::decode_describe_configs(r, version), r);
  }
  return true;
}

// A well-formed header (v1, or v2 for flexible versions), then `body`.
std::vector<std::byte> frame_with_header(std::int16_t key, std::int16_t version, bool flexible,
                                         samsa::ByteSpan body) {
  Writer w;
  w.i16(key);
  w.i16(version);
  w.i32(42);
  w.nullable_string(std::string("request-fuzz"));
  if (flexible) w.empty_tagged_fields();
  w.raw(body);
  return w.take();
}

// Produce v3-v7 with one topic, one partition and `records` as its record set.
std::vector<std::byte> produce_frame(std::int16_t version, samsa::ByteSpan records) {
  Writer body;
  body.nullable_string(std::nullopt);  // transactional id
  body.i16(-1);                        // acks
  body.i32(30000);
  body.array_length(1);
  body.string("t");
  body.array_length(1);
  body.i32(0);
  body.i32(static_cast<std::int32_t>(records.size()));
  body.raw(records);
  std::vector<std::byte> b = body.take();
  return frame_with_header(0, version, false, b);
}

// The input as a connection's byte stream: frames until a bad one or the end.
void read_stream(samsa::ByteSpan input) {
  std::size_t at = 0;
  // Bounded: every frame consumes at least its 4-byte prefix.
  while (input.size() - at >= 4) {
    const auto size = samsa::get_be<std::int32_t>(input.data() + at);
    if (size < 0 || static_cast<std::size_t>(size) > kMaxFrameBytes) return;  // closed
    if (static_cast<std::size_t>(size) > input.size() - at - 4) return;       // half-sent
    std::vector<std::byte> frame(input.begin() + static_cast<std::ptrdiff_t>(at + 4),
                                 input.begin() + static_cast<std::ptrdiff_t>(at + 4) + size);
    at += 4 + static_cast<std::size_t>(size);
    if (!handle_frame(frame)) return;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const samsa::ByteSpan input(reinterpret_cast<const std::byte*>(data), size);
  if (size == 0) return 0;
  if (data[0] == 0) {
    auto frame = produce_frame(static_cast<std::int16_t>(3 + size % 5), input);
    (void)handle_frame(frame);
  } else if (data[0] == 1 && size >= 3) {
    const auto& apis = fuzzed_apis();
    const samsa_server::ApiVersionRange& api = apis[data[1] % apis.size()];
    const int span = api.max_version - api.min_version + 2;  // one past the range too
    const auto version = static_cast<std::int16_t>(api.min_version + data[2] % span);
    // Flexible versions (compact encodings, header v2): ApiVersions v3+ is the only one the
    // server implements.
    const bool flexible =
        api.api_key == static_cast<std::int16_t>(ApiKey::api_versions) && version >= 3;
    auto frame = frame_with_header(api.api_key, version, flexible, input.subspan(3));
    (void)handle_frame(frame);
  } else if (data[0] == 2 && size >= 3) {
    const auto key = static_cast<std::int16_t>(data[1]);
    const auto version = static_cast<std::int16_t>(data[2]);
    auto frame =
        frame_with_header(key, version, samsa_server::is_flexible(key, version), input.subspan(3));
    (void)handle_frame(frame);
  } else {
    read_stream(input);
  }
  return 0;
}
