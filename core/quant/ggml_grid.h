// ggml grids: a llama.cpp block type's own values as a Quench grid, so RTN, GPTQ and AWQ can
// solve directly on Q4_1, Q5_1 and the k-quants (Q2_K..Q6_K) and the GGUF file holds the
// solver's codes with no second rounding.
//
// A group is one sub-block (16 or 32 columns). Its scale and minimum are not free: llama.cpp
// quantizes them too (a k-quant stores 4-8-bit factors of two fp16 super-scales per 256-column
// super-block), so the parameters of a whole block are chosen together, by llama.cpp's own
// search on the block's current values; each group then holds the effective scale and offset
// the dequantizer computes, and the stored factors for writing the block back.
#pragma once

#include <cstdint>
#include <span>

#include "absl/status/status.h"
#include "core/gguf/ggml_types.h"
#include "core/quant/grid.h"
#include "core/quant/quantized_tensor.h"

namespace quench {

// The grid of a block type with HasGgmlBlockFields(type): bits, symmetry, group size.
GridSpec GgmlGrid(GgmlType type);

// A grid with kind kGgml whose fields are not its type's.
absl::Status ValidateGgmlGrid(const GridSpec& grid);

// One block's values (ParamSpan columns) → the parameters of its groups, as llama.cpp's
// quantizer chooses them (quantize_row_*_ref, no importance matrix).
void ChooseGgmlBlockParams(std::span<const float> values, const GridSpec& grid,
                           std::span<GroupParams> out);

// A group's parameters from a block's stored fields: the dequantizer's arithmetic, so decoding
// with them gives llama.cpp's values bit for bit.
GroupParams GgmlGroupParams(GgmlType type, const GgmlBlockFields& fields, int sub_block);

// The nearest code under the group's parameters, and its value.
uint8_t EncodeGgmlValue(float value, const GroupParams& params, const GridSpec& grid);
float DecodeGgmlValue(uint8_t code, const GroupParams& params, const GridSpec& grid);

// Row `row` of a quantized tensor on a ggml grid as the type's blocks: GgmlRowBytes bytes at
// `out`. The tensor's groups must be in natural order (no act-order permutation).
void PackGgmlRow(const QuantizedTensor& q, int64_t row, uint8_t* out);

}  // namespace quench
