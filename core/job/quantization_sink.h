// Where a quantization job's results go as they are produced, so that the job holds one block
// at a time rather than the whole model: the writers of the output files, or a CollectingSink
// that keeps everything in memory (tests, small models).
#pragma once

#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "core/job/quant_plan.h"
#include "core/model/model_weights.h"
#include "core/quant/quantized_tensor.h"

namespace quench {

struct QuantizedLinear {
  PlannedLinear plan;
  QuantizedTensor quantized;      // AWQ: of the scaled weight W·diag(s)
  std::vector<float> awq_scales;  // AWQ input scales s folded into the previous op (else empty)
};

class QuantizationSink {
 public:
  virtual ~QuantizationSink() = default;

  // Before block 0: the quantized model's tensors outside the blocks (no layers), with the
  // embedding's codes when the plan quantizes it (else null).
  virtual absl::Status Begin(const ModelWeights& globals, const QuantizedTensor* embedding) = 0;

  // Every block, in order: its weights as quantized (dequantized fp32, AWQ scales folded into
  // norms and previous linears) and the linears quantized in it.
  virtual absl::Status AddBlock(int64_t layer, const LayerWeights& weights,
                                const std::vector<QuantizedLinear>& linears) = 0;

  // After the last block.
  virtual absl::Status Finish() = 0;
};

class CollectingSink : public QuantizationSink {
 public:
  absl::Status Begin(const ModelWeights& globals, const QuantizedTensor* embedding) override {
    weights = globals;
    if (embedding != nullptr) this->embedding = *embedding;
    return absl::OkStatus();
  }
  absl::Status AddBlock(int64_t, const LayerWeights& block,
                        const std::vector<QuantizedLinear>& block_linears) override {
    weights.layers.push_back(block);
    linears.insert(linears.end(), block_linears.begin(), block_linears.end());
    return absl::OkStatus();
  }
  absl::Status Finish() override { return absl::OkStatus(); }

  ModelWeights weights;  // the quantized model, dequantized to fp32, every block resident
  std::vector<QuantizedLinear> linears;
  std::optional<QuantizedTensor> embedding;
};

}  // namespace quench
