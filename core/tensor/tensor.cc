#include "core/tensor/tensor.h"

#include <cstring>

#include "absl/strings/str_join.h"

namespace quench {

std::string ShapeToString(std::span<const int64_t> shape) {
  return "[" + absl::StrJoin(shape, ", ") + "]";
}

std::optional<int64_t> CheckedNumElements(std::span<const int64_t> shape) {
  int64_t count = 1;
  for (int64_t dim : shape) {
    if (dim < 0) return std::nullopt;
    if (dim != 0 && count > INT64_MAX / dim) return std::nullopt;
    count *= dim;
  }
  return count;
}

Tensor Tensor::Zeros(DType dtype, Shape shape) {
  Tensor tensor;
  const auto count = CheckedNumElements(shape);
  QUENCH_CHECK(count.has_value());
  tensor.dtype_ = dtype;
  tensor.shape_ = std::move(shape);
  tensor.num_elements_ = *count;
  const size_t bytes = std::max<size_t>(1, tensor.num_bytes());
  // 64-byte alignment suits every SIMD width the CPU kernels use.
  auto* storage = static_cast<std::byte*>(::operator new[](bytes, std::align_val_t{64}));
  std::memset(storage, 0, bytes);
  tensor.owner_ = std::shared_ptr<const void>(storage, [](const void* p) {
    ::operator delete[](const_cast<void*>(p), std::align_val_t{64});
  });
  tensor.data_ = storage;
  tensor.writable_ = true;
  return tensor;
}

Tensor Tensor::View(DType dtype, Shape shape, const void* data, std::shared_ptr<const void> owner) {
  Tensor tensor;
  const auto count = CheckedNumElements(shape);
  QUENCH_CHECK(count.has_value());
  tensor.dtype_ = dtype;
  tensor.shape_ = std::move(shape);
  tensor.num_elements_ = *count;
  tensor.owner_ = std::move(owner);
  tensor.data_ = static_cast<const std::byte*>(data);
  tensor.writable_ = false;
  return tensor;
}

Tensor Tensor::ToFloat32() const {
  Tensor out = Zeros(DType::kF32, shape_);
  ConvertToFloat(dtype_, data_, out.mutable_data<float>(), static_cast<size_t>(num_elements_));
  return out;
}

Tensor Tensor::Reshaped(Shape shape) const {
  const auto count = CheckedNumElements(shape);
  QUENCH_CHECK(count.has_value() && *count == num_elements_);
  Tensor out = *this;
  out.shape_ = std::move(shape);
  return out;
}

}  // namespace quench
