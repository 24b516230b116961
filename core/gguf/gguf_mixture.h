// GGUF type mixtures ("file types"): which ggml type each tensor of a llama model gets for a
// target such as Q4_0 or Q4_K_M, following llama.cpp's llama-quantize rules for dense models
// without an importance matrix (llama_tensor_get_type: output and tied embeddings bumped to
// Q6_K, attn_v / ffn_down bumped by use_more_bits for the _M mixes, and the fallbacks for
// widths a block type cannot hold: Q4_K→Q5_0, Q5_K→Q5_1, Q6_K→Q8_0, Q2_K/Q3_K→Q4_0, then F16).
// Quench uses the same rules to plan a job whose solver works on the GGUF grids themselves.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "core/gguf/ggml_types.h"
#include "core/model/model_spec.h"
#include "core/quant/grid.h"

namespace quench {

struct GgufMixture {
  std::string name;    // "q4_k_m"
  uint32_t file_type;  // general.file_type (LLAMA_FTYPE_*)
  GgmlType base;       // what most weight matrices get
};

std::optional<GgufMixture> FindGgufMixture(absl::string_view name);  // case-insensitive
std::vector<std::string> GgufMixtureNames();

// What a 2-D weight of a llama model is, for the mixture rules.
enum class GgufWeightRole { kTokenEmbedding, kOutput, kQ, kK, kV, kO, kGate, kUp, kDown };
GgufWeightRole GgufRoleOfLinear(LinearRole role);

// The type llama-quantize gives this weight. `ne0` is its input width (GGUF's contiguous
// dimension); `tied` says the token embedding also serves as the output.
GgmlType GgufTypeForWeight(const GgufMixture& mixture, const ModelSpec& spec, GgufWeightRole role,
                           int64_t layer, int64_t ne0);

// The Quench grid whose codes and scales are exactly this type's blocks (Q4_0: int4 symmetric,
// groups of 32, fp16 scales), or nullopt when the solver cannot yet work on the type's grid.
std::optional<GridSpec> GridForGgmlType(GgmlType type);

// The block type that stores a tensor of this grid without rounding again, or nullopt.
// Needs fp16 scales, widths in whole 32-blocks and groups that are whole 32-blocks in order.
std::optional<GgmlType> GgmlTypeForGrid(const GridSpec& grid, int64_t cols);

}  // namespace quench
