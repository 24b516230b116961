// Writes fake_quant/: a Hugging Face model directory whose weights are the job's dequantized
// weights in the source checkpoint's dtypes, every other tensor copied, config and tokenizer
// files copied, so any runtime can evaluate the quantized model.
//
// The file is one model.safetensors streamed block by block as the job finishes them: the
// tensors are declared up front in the order they become ready (embeddings, block 0, ...,
// block N-1, then the rest), so nothing but the current block is held.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/io/checkpoint.h"
#include "core/io/safetensors_writer.h"
#include "core/job/quantization_sink.h"

namespace quench {

class FakeQuantWriter : public QuantizationSink {
 public:
  // `source` must outlive the writer.
  static absl::StatusOr<std::unique_ptr<FakeQuantWriter>> Create(
      const std::filesystem::path& source_dir, const ModelSpec& spec, const Checkpoint& source,
      const std::filesystem::path& out_dir, const std::map<std::string, std::string>& metadata);

  absl::Status Begin(const ModelWeights& globals, const QuantizedTensor* embedding) override;
  absl::Status AddBlock(int64_t layer, const LayerWeights& weights,
                        const std::vector<QuantizedLinear>& linears) override;
  absl::Status Finish() override;

 private:
  struct Entry {
    int64_t stage;  // -1 embeddings, 0..N-1 the block, N everything else
    const SafetensorsFile* file;
    const SafetensorsEntry* entry;
  };
  FakeQuantWriter(std::filesystem::path source_dir, std::filesystem::path out_dir,
                  const ModelSpec& spec, std::vector<Entry> entries, SafetensorsWriter writer)
      : source_dir_(std::move(source_dir)),
        out_dir_(std::move(out_dir)),
        spec_(spec),
        entries_(std::move(entries)),
        writer_(std::move(writer)) {}

  // Writes the next stage's tensors: `replacements` by name (fp32, converted to the source
  // dtype), the others copied from the source.
  absl::Status WriteStage(int64_t stage, const std::map<std::string, Tensor>& replacements);

  std::filesystem::path source_dir_;
  std::filesystem::path out_dir_;
  const ModelSpec& spec_;
  std::vector<Entry> entries_;
  size_t next_ = 0;
  SafetensorsWriter writer_;
  std::map<std::string, Tensor> globals_;
};

}  // namespace quench
