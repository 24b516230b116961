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

// Reads a quench.safetensors one tensor at a time (the exporters hold one tensor at a time).
// Open() checks every quantized tensor's parts for presence, dtypes and consistent shapes.
class QuenchArtifactReader {
 public:
  struct QuantizedInfo {
    GridSpec grid;
    int64_t rows = 0;
    int64_t cols = 0;
  };

  static absl::StatusOr<QuenchArtifactReader> Open(const std::filesystem::path& path);

  // Quantized tensors by module name ("model.layers.0.mlp.up_proj", "model.embed_tokens"),
  // sorted; null when `name` is not one of them.
  std::vector<std::string> QuantizedNames() const;
  const QuantizedInfo* FindQuantized(absl::string_view name) const;
  absl::StatusOr<QuantizedTensor> ReadQuantized(absl::string_view name) const;
  std::vector<float> ReadAwqScales(absl::string_view name) const;  // empty when none
  // True when column c of `name` is in group c / group_size for every c (no act-order
  // permutation): what formats without g_idx (AWQ, GGUF) require.
  bool HasSequentialGroups(absl::string_view name) const;

  // Every other tensor of the final model (norms, biases, unquantized weights), fp32, in file
  // order; ReadPlain gives an empty tensor for an unknown name.
  const std::vector<std::string>& PlainNames() const { return plain_; }
  Tensor ReadPlain(absl::string_view name) const;
  const SafetensorsFile& file() const { return file_; }

 private:
  QuenchArtifactReader() = default;
  void ReadGgmlFactors(absl::string_view name, QuantizedTensor& q) const;
  SafetensorsFile file_;
  std::map<std::string, QuantizedInfo, std::less<>> quantized_;
  std::vector<std::string> plain_;
};

// Every quantized tensor of a quench.safetensors, in memory (tests, small models).
absl::StatusOr<std::map<std::string, QuantizedTensor>> ReadQuenchArtifact(
    const std::filesystem::path& path);

}  // namespace quench
