#include "core/gguf/gguf_mixture.h"

#include "core/quant/ggml_grid.h"

#include "absl/strings/ascii.h"
#include "core/quant/ggml_grid.h"

namespace quench {
namespace {

// LLAMA_FTYPE_* values (llama.h).
const GgufMixture kMixtures[] = {
    {"f32", 0, GgmlType::kF32},      {"f16", 1, GgmlType::kF16},
    {"q4_0", 2, GgmlType::kQ4_0},    {"q4_1", 3, GgmlType::kQ4_1},
    {"q8_0", 7, GgmlType::kQ8_0},    {"q5_0", 8, GgmlType::kQ5_0},
    {"q5_1", 9, GgmlType::kQ5_1},    {"q2_k", 10, GgmlType::kQ2_K},
    {"q3_k_m", 12, GgmlType::kQ3_K}, {"q4_k_s", 14, GgmlType::kQ4_K},
    {"q4_k_m", 15, GgmlType::kQ4_K}, {"q5_k_s", 16, GgmlType::kQ5_K},
    {"q5_k_m", 17, GgmlType::kQ5_K}, {"q6_k", 18, GgmlType::kQ6_K},
    {"bf16", 32, GgmlType::kBF16},
};

bool IsFloatType(GgmlType type) {
  return type == GgmlType::kF32 || type == GgmlType::kF16 || type == GgmlType::kBF16;
}

// llama.cpp's "more bits" layers of the _M mixes: the first and last eighth, and every third
// layer in between.
bool UseMoreBits(int64_t layer, int64_t layers) {
  return layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2;
}

// A type whose block does not divide the width falls back to a 32-block type, then to F16.
GgmlType Fallback(GgmlType type, int64_t ne0) {
  if (ne0 % GgmlTypeInfoOf(type).block_size == 0) return type;
  GgmlType smaller = type;
  switch (type) {
    case GgmlType::kQ2_K:
    case GgmlType::kQ3_K:
      smaller = GgmlType::kQ4_0;
      break;
    case GgmlType::kQ4_K:
      smaller = GgmlType::kQ5_0;
      break;
    case GgmlType::kQ5_K:
      smaller = GgmlType::kQ5_1;
      break;
    case GgmlType::kQ6_K:
      smaller = GgmlType::kQ8_0;
      break;
    default:
      break;
  }
  return ne0 % GgmlTypeInfoOf(smaller).block_size == 0 ? smaller : GgmlType::kF16;
}

GgmlType MixtureRule(const GgufMixture& mixture, const ModelSpec& spec, GgufWeightRole role,
                     int64_t layer, int64_t ne0) {
  const GgmlType base = mixture.base;
  const std::string& name = mixture.name;
  const int64_t layers = spec.num_layers;
  const int64_t gqa = spec.num_kv_heads > 0 ? spec.num_heads / spec.num_kv_heads : 1;
  const bool output = role == GgufWeightRole::kOutput ||
                      (role == GgufWeightRole::kTokenEmbedding && spec.tie_word_embeddings);
  if (output) {
    if (ne0 % GgmlTypeInfoOf(base).block_size != 0) return GgmlType::kQ8_0;
    return base == GgmlType::kQ8_0 ? base : GgmlType::kQ6_K;
  }
  switch (role) {
    case GgufWeightRole::kV:
      if (name == "q2_k") return gqa >= 4 ? GgmlType::kQ4_K : GgmlType::kQ3_K;
      if (name == "q3_k_m") return layer < 2 ? GgmlType::kQ5_K : GgmlType::kQ4_K;
      if ((name == "q4_k_m" || name == "q5_k_m") && UseMoreBits(layer, layers))
        return GgmlType::kQ6_K;
      if (name == "q4_k_s" && layer < 4) return GgmlType::kQ5_K;
      return base;
    case GgufWeightRole::kDown:
      if (name == "q2_k") return GgmlType::kQ3_K;
      if (name == "q3_k_m") return layer < layers / 16 ? GgmlType::kQ5_K : GgmlType::kQ4_K;
      if ((name == "q4_k_m" || name == "q5_k_m") && UseMoreBits(layer, layers))
        return GgmlType::kQ6_K;
      if (name == "q4_k_s" && layer < layers / 8) return GgmlType::kQ5_K;
      return base;
    case GgufWeightRole::kO:
      if (name == "q2_k") return GgmlType::kQ3_K;
      if (name == "q3_k_m") return GgmlType::kQ4_K;
      return base;
    default:
      return base;
  }
}

}  // namespace

std::optional<GgufMixture> FindGgufMixture(absl::string_view name) {
  const std::string lower = absl::AsciiStrToLower(name);
  for (const auto& mixture : kMixtures) {
    if (mixture.name == lower) return mixture;
  }
  return std::nullopt;
}

std::vector<std::string> GgufMixtureNames() {
  std::vector<std::string> names;
  for (const auto& mixture : kMixtures) names.push_back(mixture.name);
  return names;
}

GgufWeightRole GgufRoleOfLinear(LinearRole role) {
  switch (role) {
    case LinearRole::kQ:
      return GgufWeightRole::kQ;
    case LinearRole::kK:
      return GgufWeightRole::kK;
    case LinearRole::kV:
      return GgufWeightRole::kV;
    case LinearRole::kO:
      return GgufWeightRole::kO;
    case LinearRole::kGate:
      return GgufWeightRole::kGate;
    case LinearRole::kUp:
      return GgufWeightRole::kUp;
    case LinearRole::kDown:
      return GgufWeightRole::kDown;
  }
  return GgufWeightRole::kQ;
}

GgmlType GgufTypeForWeight(const GgufMixture& mixture, const ModelSpec& spec, GgufWeightRole role,
                           int64_t layer, int64_t ne0) {
  // Float targets convert every matrix to that type; there is nothing to mix.
  if (IsFloatType(mixture.base)) return mixture.base;
  return Fallback(MixtureRule(mixture, spec, role, layer, ne0), ne0);
}

std::optional<GridSpec> GridForGgmlType(GgmlType type) {
  if (HasGgmlBlockFields(type)) return GgmlGrid(type);
  GridSpec grid;
  grid.kind = GridKind::kInt;
  grid.symmetric = true;
  grid.granularity = Granularity::kGroup;
  grid.group_size = 32;
  grid.scale_dtype = DType::kF16;
  switch (type) {
    case GgmlType::kQ4_0:
      grid.bits = 4;
      return grid;
    case GgmlType::kQ5_0:
      grid.bits = 5;
      return grid;
    case GgmlType::kQ8_0:
      grid.bits = 8;
      return grid;
    default:
      return std::nullopt;
  }
}

std::optional<GgmlType> GgmlTypeForGrid(const GridSpec& grid, int64_t cols) {
  if (grid.kind == GridKind::kGgml) {
    if (cols % grid.ParamSpan(cols) != 0) return std::nullopt;
    return grid.ggml_type;
  }
  if (grid.kind != GridKind::kInt || !grid.symmetric || grid.scale_dtype != DType::kF16 ||
      cols % 32 != 0)
    return std::nullopt;
  if (grid.granularity == Granularity::kGroup && grid.group_size % 32 != 0) return std::nullopt;
  switch (grid.bits) {
    case 4:
      return GgmlType::kQ4_0;
    case 5:
      return GgmlType::kQ5_0;
    case 8:
      return GgmlType::kQ8_0;
    default:
      return std::nullopt;
  }
}

}  // namespace quench
