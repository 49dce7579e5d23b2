#include <fmt/format.h>

#include "codec/messages.h"

namespace samsa_server {

ResponseWriter::ResponseWriter(std::int32_t correlation_id) {
  w_.i32(0);  // frame size, patched by finish()
  w_.i32(correlation_id);
}

void ResponseWriter::file(FileRange range) {
  if (range.size == 0) return;
  chunks_.emplace_back(w_.take());
  chunks_.emplace_back(std::move(range));
}

Response ResponseWriter::finish() {
  chunks_.emplace_back(w_.take());
  Response r{std::move(chunks_)};
  auto& first = std::get<std::vector<std::byte>>(r.chunks.front());
  samsa::put_be<std::int32_t>(first.data(), static_cast<std::int32_t>(r.size_bytes() - 4));
  return r;
}

samsa::Status decode_error(std::string_view api, const Reader& r) {
  return samsa::Status::invalid_argument(fmt::format("malformed {} request: {}", api, r.error()));
}

}  // namespace samsa_server
