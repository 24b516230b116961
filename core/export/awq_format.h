// AWQ "gemm" checkpoints (AutoAWQ's WQLinear_GEMM) as transformers and vLLM load them. Per
// quantized linear P (FORMATS.md §2b):
//   P.qweight  I32 [in, out/8]       4-bit codes packed along the output dimension, eight per
//                                    word in AWQ's order: nibble s of word c holds output
//                                    8c + {0, 2, 4, 6, 1, 3, 5, 7}[s]
//   P.qzeros   I32 [groups, out/8]   zero points, same packing, stored as they are
//   P.scales   F16 [groups, out]
// No g_idx: groups are consecutive columns. The AWQ input scales are already folded into the
// previous op (norm or linear), whose final values the checkpoint carries. Symmetric grids store
// their zero of 8 explicitly, so every file declares zero_point: true.
#pragma once

#include <filesystem>

#include "absl/status/statusor.h"
#include "core/export/quench_artifact.h"
#include "core/io/checkpoint.h"
#include "core/model/model_spec.h"

namespace quench {

absl::Status CheckAwqLinear(const GridSpec& grid, int64_t out, int64_t in);

absl::Status WriteAwqModel(const QuenchArtifactReader& artifact, const ModelSpec& spec,
                           const Checkpoint& source, const std::filesystem::path& source_dir,
                           const std::filesystem::path& out_dir);

// Reads module P back (asymmetric 4-bit, fp16 scales as stored).
absl::StatusOr<QuantizedTensor> ReadAwqLinear(const Checkpoint& checkpoint,
                                              const std::string& module, int64_t group_size);

}  // namespace quench
