// Quantization grids: how a weight matrix's values map to low-bit codes and back.
//
// A weight W is [rows = out_features, cols = in_features]. Its values are quantized in groups:
// one group is the whole tensor, one row (output channel), or `group_size` consecutive columns
// of one row (the last group of a row may be shorter: ragged). Each group has parameters
// (a scale, and an integer zero point for asymmetric int grids) chosen by an observer from
// the group's values; each value becomes one code. Codes are stored unpacked, one byte each:
// clang-format off
//   int symmetric    code = q + 2^(bits-1), q in [-2^(bits-1), 2^(bits-1)-1]   x = q * scale
//   int asymmetric   code in [0, 2^bits - 1]                                    x = (code - zero) * scale
//   fp8 (e4m3)       code = e4m3 bit pattern                                    x = e4m3(code) * scale
//   nf4, fp4 (e2m1)  code = index into the 16-entry value table                 x = table[code] * scale
//   mxfp4, mxfp8     code = e2m1 / e4m3 bits; scale = 2^e (e8m0), groups of 32  x = elem(code) * scale
//   mxint8           code = q + 128, q in [-127, 127]                           x = q / 64 * scale
//   ggml (Q4_K, ...) code in [0, 2^bits - 1]                          x = scale * (code - zero) + offset
// clang-format on
// ggml grids are a llama.cpp block type's own values (core/quant/ggml_grid.h): a group is one
// sub-block, and the parameters of all groups in a block (a k-quant's 256-column super-block)
// are chosen together, by llama.cpp's search — see ParamSpan and ChooseSpanParams.
// Scales are rounded to `scale_dtype` before codes are chosen, so stored scales reproduce the
// codes exactly.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "core/gguf/ggml_types.h"
#include "core/tensor/dtype.h"

namespace quench {

enum class GridKind { kInt, kFp8, kNf4, kFp4, kMxFp4, kMxFp8, kMxInt8, kGgml };
enum class Granularity { kTensor, kChannel, kGroup };
enum class Observer { kMinMax, kPercentile, kMse };

struct GridSpec {
  GridKind kind = GridKind::kInt;
  int bits = 4;           // int: 2..8; fixed by the kind otherwise (fp8 8, nf4/fp4 4, mx*: 4/8/8)
  bool symmetric = true;  // int only; every other kind is symmetric
  Granularity granularity = Granularity::kGroup;
  int64_t group_size = 128;         // columns per group when granularity is kGroup (mx*: always 32)
  DType scale_dtype = DType::kF16;  // F32, F16 or BF16 (mx*: e8m0, ignored here)
  Observer observer = Observer::kMinMax;
  double percentile = 99.9;     // kPercentile: clip to this percentile of |x| (or of x for asym)
  int mse_grid = 100;           // kMse: shrink factors tried, 1 - k·max_shrink/mse_grid
  double mse_max_shrink = 0.2;  // kMse: smallest factor is 1 - max_shrink
  // kGgml: the block type (Q4_1, Q5_1, Q2_K..Q6_K); bits, symmetric, group_size and scale_dtype
  // must be the type's (GgmlGrid() sets them) and the observer is llama.cpp's own search.
  GgmlType ggml_type = GgmlType::kF32;

  // Checks the combination (bits for the kind, group size, scale dtype, ...). Messages name the
  // offending field and what is allowed.
  absl::Status Validate() const;

  // Columns per group for a matrix with `cols` columns (cols for tensor/channel granularity).
  int64_t EffectiveGroupSize(int64_t cols) const;

  // Columns whose groups' parameters are chosen together: a ggml block (32 or 256 columns),
  // otherwise one group.
  int64_t ParamSpan(int64_t cols) const;

  // Number of distinct codes (2^bits, 16 for nf4/fp4, 256 for fp8/mxfp8/mxint8).
  int num_codes() const;

  // e.g. "int4 asym g32 fp16-scale minmax", for messages and reports.
  std::string ToString() const;
};

absl::string_view GridKindName(GridKind kind);  // "int", "fp8", "nf4", "fp4", "mxfp4", ...

// The parameters of one group.
struct GroupParams {
  float scale = 1.0f;   // already rounded to the scale dtype (a power of two for mx*)
  int32_t zero = 0;     // asymmetric int; ggml: Q3_K 4, Q6_K 32
  float offset = 0.0f;  // ggml grids with a float minimum (Q4_1, Q5_1, Q2_K, Q4_K, Q5_K)
  // ggml grids: the stored factors scale and offset were computed from (GgmlBlockFields), so
  // the blocks can be written back exactly.
  uint16_t ggml_d = 0;
  uint16_t ggml_dmin = 0;
  int16_t ggml_sub_scale = 0;
  int16_t ggml_sub_min = 0;
};

// Chooses a group's parameters from its values with the spec's observer. The MSE observer
// minimises the group's squared quantization error over shrink factors of the min/max range.
GroupParams ChooseGroupParams(std::span<const float> values, const GridSpec& spec);

// The parameters of consecutive groups of `group_size` columns (the last may be shorter) from
// their values, `values.size()` <= ParamSpan: one per group into `out`. The only way to choose
// a ggml grid's parameters, whose groups are not independent.
void ChooseSpanParams(std::span<const float> values, const GridSpec& spec, int64_t group_size,
                      std::span<GroupParams> out);

// Parameters from an explicit range [min_value, max_value] (min <= 0 <= max is not required).
// Observers and clip searches (AWQ) build on this.
GroupParams ParamsFromRange(float min_value, float max_value, const GridSpec& spec);

// One value ↔ one code under a group's parameters.
uint8_t EncodeValue(float value, const GroupParams& params, const GridSpec& spec);
float DecodeValue(uint8_t code, const GroupParams& params, const GridSpec& spec);

// Encode then decode: the value the quantized model will see.
inline float FakeQuantize(float value, const GroupParams& params, const GridSpec& spec) {
  return DecodeValue(EncodeValue(value, params, spec), params, spec);
}

}  // namespace quench
