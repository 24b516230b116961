// GPTQ checkpoints as transformers (optimum / GPTQModel), vLLM and ExLlama load them. Per
// quantized linear P (FORMATS.md §2a):
//   P.qweight  I32 [in·bits/32, out]      codes packed along the input dimension
//   P.qzeros   I32 [groups, out·bits/32]  zero points packed along the output dimension;
//                                         v1 ("gptq") stores zero − 1, v2 ("gptq_v2") as is
//   P.scales   F16 [groups, out]
//   P.g_idx    I32 [in]                   group of each input column (act-order permutes it)
// Symmetric grids store zero = 2^(bits−1) (Quench's code offset), so codes carry over as they
// are. config.json gets `quantization_config`, and quantize_config.json holds the same; linears
// with another grid or left unquantized are listed under `dynamic` ("+:" / "-:" regexes).
#pragma once

#include <filesystem>
#include <string>

#include "absl/status/statusor.h"
#include "core/export/quench_artifact.h"
#include "core/io/checkpoint.h"
#include "core/model/model_spec.h"
#include "nlohmann/json.hpp"

namespace quench {

enum class GptqZeroConvention { kV1, kV2 };

// Whether a linear with this grid and shape can be stored; the message says what to change.
absl::Status CheckGptqLinear(const GridSpec& grid, int64_t out, int64_t in);

absl::Status WriteGptqModel(const QuenchArtifactReader& artifact, const ModelSpec& spec,
                            const Checkpoint& source, const std::filesystem::path& source_dir,
                            const std::filesystem::path& out_dir, GptqZeroConvention zeros);

// How one module is stored, from a `quantization_config` (its `dynamic` overrides applied).
struct GptqModuleConfig {
  bool quantized = true;  // false: excluded by a "-:" rule
  int bits = 4;
  int64_t group_size = 128;  // -1: one group per row
  bool symmetric = true;
  GptqZeroConvention zeros = GptqZeroConvention::kV1;
};
absl::StatusOr<GptqModuleConfig> GptqConfigForModule(const nlohmann::json& quantization_config,
                                                     const std::string& module);

// Reads module P back into Quench's form (fp16 scales as stored), checking shapes and zeros.
absl::StatusOr<QuantizedTensor> ReadGptqLinear(const Checkpoint& checkpoint,
                                               const std::string& module,
                                               const GptqModuleConfig& config);

}  // namespace quench
