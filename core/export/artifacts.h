// What `quench local quantize` writes into its output directory:
//  - fake_quant/: a Hugging Face model directory whose weights are the dequantized quantized
//    weights in the source checkpoint's dtypes (config and tokenizer files copied), so any
//    runtime can evaluate the quantized model;
//  - quench.safetensors: the compact internal form the exporters read: per quantized linear its
//    codes (U8 [rows, ceil(cols/2)] with two 4-bit codes per byte, low nibble first, for
//    16-level grids; U8 [rows, cols] otherwise), scales (F32 [rows, groups]), zero points
//    (I32 [rows, groups], asymmetric int only), g_idx (I32 [cols]) and AWQ input scales
//    (F32 [cols]), plus every other tensor of the final model in fp32; `__metadata__` holds
//    "quench.format" = "1" and "quench.grids" = JSON {linear name: grid}.
// Every file is written under a temporary name and renamed into place.
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "core/io/checkpoint.h"
#include "core/job/quantization_driver.h"

namespace quench {

absl::Status WriteFakeQuantModel(const std::filesystem::path& source_dir, const ModelSpec& spec,
                                 const Checkpoint& source, const ModelWeights& quantized,
                                 const std::filesystem::path& out_dir,
                                 const std::map<std::string, std::string>& metadata);

absl::Status WriteQuenchArtifact(const std::filesystem::path& path, const ModelSpec& spec,
                                 const QuantizationOutcome& outcome,
                                 const std::map<std::string, std::string>& metadata);

// Reads the quantized linears of a quench.safetensors back (for the exporters and tests).
absl::StatusOr<std::map<std::string, QuantizedTensor>> ReadQuenchArtifact(
    const std::filesystem::path& path);

}  // namespace quench
