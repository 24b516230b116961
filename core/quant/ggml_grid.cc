#include "core/quant/ggml_grid.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/tensor/dtype.h"
#include "core/util/check.h"

namespace quench {
namespace {

int BitsOf(GgmlType type) {
  switch (type) {
    case GgmlType::kQ2_K:
      return 2;
    case GgmlType::kQ3_K:
      return 3;
    case GgmlType::kQ5_1:
    case GgmlType::kQ5_K:
      return 5;
    case GgmlType::kQ6_K:
      return 6;
    default:
      return 4;
  }
}

// The code that means zero for the symmetric k-quants.
int ZeroCodeOf(GgmlType type) {
  if (type == GgmlType::kQ3_K) return 4;
  if (type == GgmlType::kQ6_K) return 32;
  return 0;
}

bool HasMinimum(GgmlType type) { return ZeroCodeOf(type) == 0; }

bool IsLegacyAffine(GgmlType type) { return type == GgmlType::kQ4_1 || type == GgmlType::kQ5_1; }

// The fields of one block from its groups' parameters and its codes (block_size of them).
GgmlBlockFields FieldsOf(GgmlType type, std::span<const GroupParams> groups,
                         std::span<const uint8_t> codes) {
  const int64_t block_size = GgmlTypeInfoOf(type).block_size;
  QUENCH_CHECK(static_cast<int64_t>(codes.size()) == block_size);
  QUENCH_CHECK(static_cast<int64_t>(groups.size()) == block_size / GgmlSubBlockSize(type));
  GgmlBlockFields fields;
  fields.d = groups[0].ggml_d;
  fields.dmin = groups[0].ggml_dmin;
  for (size_t j = 0; j < groups.size(); ++j) {
    // Every group of a block carries the block's fp16 factors; a mismatch means the groups
    // were chosen apart, and the block could not hold them.
    QUENCH_CHECK(groups[j].ggml_d == fields.d && groups[j].ggml_dmin == fields.dmin);
    fields.sub_scales[j] = groups[j].ggml_sub_scale;
    fields.sub_mins[j] = groups[j].ggml_sub_min;
  }
  std::copy(codes.begin(), codes.end(), fields.codes.begin());
  return fields;
}

}  // namespace

GridSpec GgmlGrid(GgmlType type) {
  QUENCH_CHECK(HasGgmlBlockFields(type));
  GridSpec grid;
  grid.kind = GridKind::kGgml;
  grid.ggml_type = type;
  grid.bits = BitsOf(type);
  grid.symmetric = !HasMinimum(type);
  grid.granularity = Granularity::kGroup;
  grid.group_size = GgmlSubBlockSize(type);
  grid.scale_dtype = DType::kF16;
  grid.observer = Observer::kMinMax;
  return grid;
}

absl::Status ValidateGgmlGrid(const GridSpec& grid) {
  if (!HasGgmlBlockFields(grid.ggml_type)) {
    const GgmlTypeInfo* info = FindGgmlType(static_cast<uint32_t>(grid.ggml_type));
    return absl::InvalidArgumentError(
        absl::StrCat("ggml grids are Q4_1, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K or Q6_K, got ",
                     info != nullptr ? info->name : "an unknown type",
                     " (Q4_0, Q5_0 and Q8_0 are int grids: symmetric, groups of 32, fp16 scales)"));
  }
  const GridSpec expected = GgmlGrid(grid.ggml_type);
  if (grid.bits != expected.bits || grid.symmetric != expected.symmetric ||
      grid.granularity != expected.granularity || grid.group_size != expected.group_size ||
      grid.scale_dtype != expected.scale_dtype) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a ggml ", GgmlTypeInfoOf(grid.ggml_type).name, " grid has ", expected.bits, " bits, ",
        expected.symmetric ? "symmetric" : "asymmetric", " groups of ", expected.group_size,
        " and fp16 scales; set them that way or leave them to gguf.type"));
  }
  return absl::OkStatus();
}

GroupParams GgmlGroupParams(GgmlType type, const GgmlBlockFields& fields, int sub_block) {
  GroupParams params;
  params.ggml_d = fields.d;
  params.ggml_dmin = fields.dmin;
  params.ggml_sub_scale = static_cast<int16_t>(fields.sub_scales[sub_block]);
  params.ggml_sub_min = static_cast<int16_t>(fields.sub_mins[sub_block]);
  params.zero = ZeroCodeOf(type);
  const float d = HalfBitsToFloat(fields.d);
  const float dmin = HalfBitsToFloat(fields.dmin);
  if (IsLegacyAffine(type)) {
    params.scale = d;
    params.offset = dmin;  // Q4_1/Q5_1 store the block minimum m itself
    return params;
  }
  params.scale = d * static_cast<float>(fields.sub_scales[sub_block]);
  // llama.cpp subtracts dmin·m; adding its negation is the same IEEE operation.
  if (HasMinimum(type)) params.offset = -(dmin * static_cast<float>(fields.sub_mins[sub_block]));
  return params;
}

void ChooseGgmlBlockParams(std::span<const float> values, const GridSpec& grid,
                           std::span<GroupParams> out) {
  const GgmlType type = grid.ggml_type;
  const GgmlTypeInfo& info = GgmlTypeInfoOf(type);
  const int sub_block = GgmlSubBlockSize(type);
  QUENCH_CHECK(static_cast<int64_t>(values.size()) == info.block_size);
  QUENCH_CHECK(static_cast<int64_t>(out.size()) == info.block_size / sub_block);
  std::vector<uint8_t> block(info.block_bytes);
  QuantizeGgmlRow(type, values, block);
  GgmlBlockFields fields;
  UnpackGgmlBlock(type, block.data(), fields);
  for (size_t j = 0; j < out.size(); ++j) out[j] = GgmlGroupParams(type, fields, j);
}

uint8_t EncodeGgmlValue(float value, const GroupParams& params, const GridSpec& grid) {
  const int max_code = (1 << grid.bits) - 1;
  // A zero scale decodes every code to the offset; llama.cpp leaves such codes as they were.
  if (params.scale == 0.0f) return static_cast<uint8_t>(params.zero);
  const float ratio = (value - params.offset) / params.scale;
  const float rounded = std::nearbyint(ratio);  // llama.cpp's nearest_int: half to even
  if (std::isnan(rounded)) return static_cast<uint8_t>(params.zero);
  const float code =
      std::clamp(rounded + static_cast<float>(params.zero), 0.0f, static_cast<float>(max_code));
  return static_cast<uint8_t>(code);
}

float DecodeGgmlValue(uint8_t code, const GroupParams& params, const GridSpec& grid) {
  const float value = params.scale * static_cast<float>(static_cast<int>(code) - params.zero);
  return grid.symmetric ? value : value + params.offset;
}

void PackGgmlRow(const QuantizedTensor& q, int64_t row, uint8_t* out) {
  const GgmlType type = q.grid.ggml_type;
  const GgmlTypeInfo& info = GgmlTypeInfoOf(type);
  const int64_t groups_per_block = info.block_size / q.group_size;
  for (int64_t block = 0; block < q.cols / info.block_size; ++block) {
    const int64_t first_col = block * info.block_size;
    const GgmlBlockFields fields = FieldsOf(
        type,
        std::span(q.params).subspan(row * q.num_groups + q.g_idx[first_col], groups_per_block),
        std::span(q.codes).subspan(row * q.cols + first_col, info.block_size));
    PackGgmlBlock(type, fields, out + block * info.block_bytes);
  }
}

}  // namespace quench
