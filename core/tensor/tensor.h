// A dense, row-major, host-memory tensor. Storage is shared: copies of a Tensor alias the same
// bytes (like a shared_ptr), and a tensor may view memory owned by something else (an mmap'd
// checkpoint) while keeping that owner alive.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/tensor/dtype.h"
#include "core/util/check.h"

namespace quench {

using Shape = std::vector<int64_t>;

// "[2, 3]" — for messages and `quench inspect`.
std::string ShapeToString(std::span<const int64_t> shape);

// The product of `shape`, or nullopt on a negative dimension or int64 overflow.
std::optional<int64_t> CheckedNumElements(std::span<const int64_t> shape);

class Tensor {
 public:
  Tensor() = default;

  // A zero-filled tensor that owns its storage.
  static Tensor Zeros(DType dtype, Shape shape);

  // A tensor over `data` (not copied); `owner` keeps the bytes alive. The view is read-only:
  // mutable_data() on it is an invariant violation.
  static Tensor View(DType dtype, Shape shape, const void* data, std::shared_ptr<const void> owner);

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t dim(size_t axis) const { return shape_.at(axis); }
  size_t rank() const { return shape_.size(); }
  int64_t num_elements() const { return num_elements_; }
  size_t num_bytes() const { return static_cast<size_t>(num_elements_) * DTypeSize(dtype_); }
  bool empty() const { return data_ == nullptr && num_elements_ == 0; }

  const std::byte* raw_data() const { return data_; }
  std::span<const std::byte> bytes() const { return {data_, num_bytes()}; }

  template <typename T>
  const T* data() const {
    return reinterpret_cast<const T*>(data_);
  }
  template <typename T>
  T* mutable_data() {
    QUENCH_CHECK(writable_);
    return reinterpret_cast<T*>(const_cast<std::byte*>(data_));
  }

  // A new fp32 tensor holding this tensor's values (exact for every floating dtype).
  Tensor ToFloat32() const;

  // The same storage with another shape of the same element count.
  Tensor Reshaped(Shape shape) const;

 private:
  DType dtype_ = DType::kF32;
  Shape shape_;
  int64_t num_elements_ = 0;
  std::shared_ptr<const void> owner_;
  const std::byte* data_ = nullptr;
  bool writable_ = false;
};

}  // namespace quench
