// Internal: a growable byte buffer that does not zero what it grows into (std::vector
// would), so a builder can append records without touching each byte twice.
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>

#include "samsa/coding.h"

namespace samsa::internal {

class ByteBuffer {
 public:
  std::byte* data() { return data_.get(); }
  const std::byte* data() const { return data_.get(); }
  std::size_t size() const { return size_; }
  void clear() { size_ = 0; }
  ByteSpan span() const { return {data_.get(), size_}; }

  // Makes room for n more bytes and returns where they start; size() grows by n.
  std::byte* grow(std::size_t n) {
    if (size_ + n > capacity_) reserve(std::max(size_ + n, capacity_ * 2));
    std::byte* p = data_.get() + size_;
    size_ += n;
    return p;
  }
  void shrink_to(std::size_t n) { size_ = n < size_ ? n : size_; }
  void append(ByteSpan bytes) {
    if (!bytes.empty()) std::memcpy(grow(bytes.size()), bytes.data(), bytes.size());
  }
  void reserve(std::size_t n) {
    if (n <= capacity_) return;
    auto bigger = std::make_unique_for_overwrite<std::byte[]>(n);
    if (size_ > 0) std::memcpy(bigger.get(), data_.get(), size_);
    data_ = std::move(bigger);
    capacity_ = n;
  }

 private:
  std::unique_ptr<std::byte[]> data_;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

}  // namespace samsa::internal
