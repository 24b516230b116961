// Writes a finished job as one GGUF file llama.cpp loads (architecture "llama"): llama.*
// hyper-parameters with the exact types llama.cpp's loader demands, tokenizer.ggml.* from the
// model directory, tensors under llama.cpp's names with Q and K rows permuted from Hugging
// Face's rotate-half order to llama.cpp's interleaved pairs.
//
// No second rounding: a tensor the job quantized goes in as the solver's own codes and fp16
// scales, in the block type that holds its grid exactly (int4/5/8 symmetric, groups of 32 →
// Q4_0 / Q5_0 / Q8_0); every other tensor goes in losslessly in its source dtype (1-D in F32).
// So the file decodes to exactly the weights the job's report measured.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "core/export/quench_artifact.h"
#include "core/gguf/gguf_mixture.h"
#include "core/io/checkpoint.h"
#include "core/model/model_spec.h"

namespace quench {

inline constexpr char kGgufFileName[] = "model.gguf";

// Whether GGUF can hold this model and a linear quantized with `grid`; says what to change.
absl::Status CheckGgufModel(const ModelSpec& spec);
absl::Status CheckGgufLinear(const GridSpec& grid, int64_t out, int64_t in);

// Writes `out_file`. `mixture` (the recipe's gguf type) only names the file type in the
// metadata; the tensors' types follow from what the job produced.
absl::Status WriteGgufModel(const QuenchArtifactReader& artifact, const ModelSpec& spec,
                            const Checkpoint& source, const std::filesystem::path& source_dir,
                            const std::filesystem::path& out_file,
                            const std::optional<GgufMixture>& mixture);

// The unquantized model as GGUF, every tensor in its source dtype (1-D in F32): the reference
// for comparing quantized GGUFs in llama.cpp.
absl::Status ConvertToGguf(const ModelSpec& spec, const Checkpoint& source,
                           const std::filesystem::path& source_dir,
                           const std::filesystem::path& out_file);

// The permutation llama.cpp's converter applies to q_proj / k_proj rows: GGUF row r holds
// Hugging Face row HfRowOfGgufRow(r). `heads` is the head count of that projection.
int64_t HfRowOfGgufRow(int64_t row, int64_t rows, int64_t heads);
// The heads a role's rows are permuted by (q: query heads, k: key/value heads), 0 for others.
int64_t GgufPermutedHeads(const ModelSpec& spec, LinearRole role);

// llama.cpp's name of a linear within block N ("attn_q", "ffn_down", ...).
const char* GgufLinearTensorName(LinearRole role);

}  // namespace quench
