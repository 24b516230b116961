#include "core/quant/quantized_tensor.h"

#include <algorithm>
#include <cmath>
#include <span>

#include "absl/strings/str_cat.h"
#include "core/util/check.h"
#include "core/util/status_macros.h"
#include "core/util/thread_pool.h"

namespace quench {
namespace {

// Rows per ParallelFor chunk: about this many values, so chunks depend only on the shape.
constexpr int64_t kValuesPerChunk = int64_t{1} << 14;

int64_t RowsPerChunk(int64_t cols) { return std::max<int64_t>(1, kValuesPerChunk / cols); }

absl::Status CheckShape(const GridSpec& grid, int64_t rows, int64_t cols) {
  if (rows < 1 || cols < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("quantized weight must have rows and cols >= 1, got ", rows, "x", cols));
  }
  const int64_t shape[] = {rows, cols};
  if (!CheckedNumElements(shape).has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("quantized weight ", rows, "x", cols, " has too many elements"));
  }
  const int64_t block = grid.EffectiveGroupSize(cols);
  const bool is_mx = grid.kind == GridKind::kMxFp4 || grid.kind == GridKind::kMxFp8 ||
                     grid.kind == GridKind::kMxInt8;
  if (is_mx && cols % block != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(GridKindName(grid.kind), " needs in_features divisible by its block size ",
                     block, " (OCP MX), got ", cols, "; use another grid for this layer"));
  }
  if (grid.kind == GridKind::kGgml && cols % grid.ParamSpan(cols) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        GgmlTypeInfoOf(grid.ggml_type).name, " needs in_features divisible by its block size ",
        grid.ParamSpan(cols), ", got ", cols, "; use another type for this layer"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Tensor> FiniteFloatMatrix(const Tensor& weight) {
  if (weight.rank() != 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("weight must be 2-D [out_features, in_features], got shape ",
                     ShapeToString(weight.shape())));
  }
  if (!IsFloatingPoint(weight.dtype())) {
    return absl::InvalidArgumentError(
        absl::StrCat("weight must be floating point, got ", DTypeName(weight.dtype())));
  }
  Tensor values = weight.dtype() == DType::kF32 ? weight : weight.ToFloat32();
  const float* data = values.data<float>();
  for (int64_t i = 0; i < values.num_elements(); ++i) {
    if (!std::isfinite(data[i])) {
      const int64_t cols = values.dim(1);
      return absl::InvalidArgumentError(absl::StrCat("weight has a non-finite value (", data[i],
                                                     ") at row ", i / cols, ", col ", i % cols));
    }
  }
  return values;
}

// Parameters and codes of one row, span by span (a span is one group, or the groups of a ggml
// block; the row is the group for channel granularity; tensor granularity has its parameters
// already set).
void QuantizeRow(const float* row_values, int64_t row, QuantizedTensor& out) {
  const std::span<const float> row_span(row_values, static_cast<size_t>(out.cols));
  const std::span<GroupParams> row_params(&out.params[row * out.num_groups],
                                          static_cast<size_t>(out.num_groups));
  uint8_t* row_codes = &out.codes[row * out.cols];
  const int64_t span = out.grid.ParamSpan(out.cols);
  if (out.grid.granularity != Granularity::kTensor) {
    for (int64_t begin = 0; begin < out.cols; begin += span) {
      const int64_t end = std::min(out.cols, begin + span);
      const int64_t first_group = begin / out.group_size;
      const int64_t groups = (end - begin + out.group_size - 1) / out.group_size;
      ChooseSpanParams(row_span.subspan(begin, end - begin), out.grid, out.group_size,
                       row_params.subspan(first_group, groups));
    }
  }
  for (int64_t col = 0; col < out.cols; ++col) {
    row_codes[col] = EncodeValue(row_values[col], row_params[col / out.group_size], out.grid);
  }
}

}  // namespace

Tensor QuantizedTensor::Dequantize() const {
  QUENCH_CHECK(codes.size() == static_cast<size_t>(rows * cols));
  QUENCH_CHECK(params.size() == static_cast<size_t>(rows * num_groups));
  QUENCH_CHECK(g_idx.size() == static_cast<size_t>(cols));
  for (const int32_t group : g_idx) QUENCH_CHECK(group >= 0 && group < num_groups);
  Tensor out = Tensor::Zeros(DType::kF32, {rows, cols});
  float* values = out.mutable_data<float>();
  DefaultThreadPool().ParallelFor(rows, RowsPerChunk(cols), [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      for (int64_t col = 0; col < cols; ++col) {
        const int64_t index = row * cols + col;
        values[index] = DecodeValue(codes[index], ParamsAt(row, col), grid);
      }
    }
  });
  return out;
}

absl::StatusOr<QuantizedTensor> MakeQuantizedTensor(const GridSpec& grid, int64_t rows,
                                                    int64_t cols) {
  QUENCH_RETURN_IF_ERROR(grid.Validate());
  QUENCH_RETURN_IF_ERROR(CheckShape(grid, rows, cols));
  QuantizedTensor out;
  out.grid = grid;
  out.rows = rows;
  out.cols = cols;
  out.group_size = grid.EffectiveGroupSize(cols);
  out.num_groups = (cols + out.group_size - 1) / out.group_size;
  out.codes.assign(static_cast<size_t>(rows * cols), 0);
  out.params.assign(static_cast<size_t>(rows * out.num_groups), GroupParams{});
  out.g_idx.resize(static_cast<size_t>(cols));
  for (int64_t col = 0; col < cols; ++col) {
    out.g_idx[col] = static_cast<int32_t>(col / out.group_size);
  }
  return out;
}

absl::StatusOr<QuantizedTensor> QuantizeRtn(const Tensor& weight, const GridSpec& grid,
                                            ThreadPool& pool) {
  QUENCH_ASSIGN_OR_RETURN(const Tensor values, FiniteFloatMatrix(weight));
  QUENCH_ASSIGN_OR_RETURN(QuantizedTensor out,
                          MakeQuantizedTensor(grid, values.dim(0), values.dim(1)));
  const float* data = values.data<float>();
  if (grid.granularity == Granularity::kTensor) {
    const GroupParams shared = ChooseGroupParams(
        std::span<const float>(data, static_cast<size_t>(values.num_elements())), grid);
    std::fill(out.params.begin(), out.params.end(), shared);
  }
  // Each row is computed from its own values only, so the result is the same for any number
  // of threads.
  pool.ParallelFor(out.rows, RowsPerChunk(out.cols), [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) QuantizeRow(data + row * out.cols, row, out);
  });
  return out;
}

absl::StatusOr<QuantizedTensor> QuantizeRtn(const Tensor& weight, const GridSpec& grid) {
  return QuantizeRtn(weight, grid, DefaultThreadPool());
}

}  // namespace quench
