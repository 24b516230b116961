// Writes a Hugging Face model directory for a quantized format (GPTQ, AWQ, compressed-tensors):
// model.safetensors streamed one tensor at a time (each produced just before it is written),
// config.json from the source with the format's `quantization_config`, the tokenizer and
// generation files copied, and any extra files the format wants (quantize_config.json).
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/export/quench_artifact.h"
#include "core/io/checkpoint.h"
#include "core/io/safetensors_writer.h"
#include "nlohmann/json.hpp"

namespace quench {

struct OutputTensor {
  SafetensorsTensorSpec spec;
  std::function<absl::StatusOr<Tensor>()> produce;  // must give exactly `spec`'s dtype and shape
};

struct HfDirectory {
  std::vector<OutputTensor> tensors;
  nlohmann::ordered_json quantization_config;
  std::map<std::string, std::string> extra_files;  // name → contents
  std::map<std::string, std::string> metadata;     // safetensors __metadata__
};

// Copies the tokenizer and generation files a runtime loads beside the weights
// (generation_config.json, tokenizer.json / .model, tokenizer_config.json,
// special_tokens_map.json), those the source has.
absl::Status CopyRuntimeFiles(const std::filesystem::path& source_dir,
                              const std::filesystem::path& out_dir);

absl::Status WriteHfDirectory(const std::filesystem::path& source_dir,
                              const std::filesystem::path& out_dir, const HfDirectory& directory);

// The tensors every format writes the same way, in source order: for each stored tensor of
// `source`, `quantized(module, q)` when the artifact holds `module` quantized ("<module>.weight"),
// else the artifact's final fp32 value in the source dtype (AWQ-scaled norms), else the source
// bytes as they are (e.g. buffers the job never touched).
using QuantizedEmitter = std::function<absl::Status(const std::string& module,
                                                    const QuenchArtifactReader::QuantizedInfo&,
                                                    std::vector<OutputTensor>& out)>;
absl::StatusOr<std::vector<OutputTensor>> ModelOutputTensors(const QuenchArtifactReader& artifact,
                                                             const Checkpoint& source,
                                                             const QuantizedEmitter& quantized);

}  // namespace quench
