// quench.safetensors: the compact internal form of a quantized model that the exporters read.
// Per quantized linear: codes (U8 [rows, ceil(cols/2)] with two 4-bit codes per byte, low
// nibble first, for 16-level grids; U8 [rows, cols] otherwise), scales (F32 [rows, groups]),
// zero points (I32 [rows, groups], asymmetric int only), g_idx (I32 [cols]) and AWQ input
// scales (F32 [cols]); plus every other tensor of the final model in fp32. `__metadata__` holds
// "quench.format" = "1" and "quench.grids" = JSON {linear name: grid}.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "core/io/spooled_safetensors_writer.h"
#include "core/job/quantization_sink.h"
#include "nlohmann/json.hpp"

namespace quench {

// Streams the artifact as blocks finish (through a spool file: the shapes are known only as
// the job produces them).
class QuenchArtifactWriter : public QuantizationSink {
 public:
  static absl::StatusOr<std::unique_ptr<QuenchArtifactWriter>> Create(
      const std::filesystem::path& path, const ModelSpec& spec,
      const std::map<std::string, std::string>& metadata);

  absl::Status Begin(const ModelWeights& globals, const QuantizedTensor* embedding) override;
  absl::Status AddBlock(int64_t layer, const LayerWeights& weights,
                        const std::vector<QuantizedLinear>& linears) override;
  absl::Status Finish() override;

 private:
  QuenchArtifactWriter(SpooledSafetensorsWriter writer, const ModelSpec& spec,
                       std::map<std::string, std::string> metadata)
      : writer_(std::move(writer)), spec_(spec), metadata_(std::move(metadata)) {}

  absl::Status AddQuantized(const std::string& name, const QuantizedTensor& q,
                            const std::vector<float>& awq_scales);
  // Every tensor of `named` whose weight was not written in quantized form.
  absl::Status AddPlain(const std::map<std::string, Tensor>& named);

  SpooledSafetensorsWriter writer_;
  const ModelSpec& spec_;
  std::map<std::string, std::string> metadata_;
  nlohmann::json grids_ = nlohmann::json::object();
  std::set<std::string> quantized_weights_;  // "<name>.weight" of each quantized tensor
};

// Reads the quantized linears (and embedding) of a quench.safetensors back.
absl::StatusOr<std::map<std::string, QuantizedTensor>> ReadQuenchArtifact(
    const std::filesystem::path& path);

}  // namespace quench
