// compressed-tensors checkpoints (vLLM's native quantized format, as llm-compressor writes
// them). Per quantized linear P (FORMATS.md §2c):
//   pack-quantized (int2/4/8 weight-only)
//     P.weight_packed      I32 [out, ceil(in·bits/32)]  code of each weight, little-endian
//                                                       within a word (code = q + 2^(bits−1))
//     P.weight_scale       model dtype [out, groups]    ([out, 1] per channel, [1] per tensor)
//     P.weight_zero_point  I32 [ceil(out·bits/32), groups]  asymmetric only: zero points packed
//                                                       along the output dimension, same offset
//     P.weight_shape       I64 [2]                      [out, in]
//     P.weight_g_idx       I32 [in]                     only when act-order permuted the groups
//   float-quantized (fp8 e4m3 weight-only, per channel or per tensor)
//     P.weight             F8_E4M3 [out, in]
//     P.weight_scale       F32 [out, 1] or [1]
// Quench's codes and zero points are exactly the offset values compressed-tensors packs, so
// they carry over unchanged. config.json gets `quantization_config` with one config group per
// distinct grid; linears left unquantized (and lm_head) are listed under `ignore`.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "core/export/quench_artifact.h"
#include "core/io/checkpoint.h"
#include "core/model/model_spec.h"
#include "nlohmann/json.hpp"

namespace quench {

// Whether a linear with this grid and shape can be stored in a model whose weights are
// `weight_dtype` (scales are stored in that dtype, so the grid's scales must fit it exactly).
absl::Status CheckCompressedTensorsLinear(const GridSpec& grid, int64_t out, int64_t in,
                                          DType weight_dtype);

absl::Status WriteCompressedTensorsModel(const QuenchArtifactReader& artifact,
                                         const ModelSpec& spec, const Checkpoint& source,
                                         const std::filesystem::path& source_dir,
                                         const std::filesystem::path& out_dir);

// The grid a module is stored with, from `quantization_config` (config_groups' targets and
// `ignore`); nullopt when the module is ignored or no group targets it.
absl::StatusOr<std::optional<GridSpec>> CompressedTensorsGridForModule(
    const nlohmann::json& quantization_config, const std::string& module);

// Reads module P back into Quench's form (scales as stored), checking shapes and dtypes.
absl::StatusOr<QuantizedTensor> ReadCompressedTensorsLinear(const Checkpoint& checkpoint,
                                                            const std::string& module,
                                                            const GridSpec& grid);

}  // namespace quench
