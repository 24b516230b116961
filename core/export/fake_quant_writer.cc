#include "core/export/fake_quant_writer.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/export/hf_directory_writer.h"
#include "core/export/model_tensors.h"
#include "core/util/status_macros.h"

namespace quench {
namespace {

namespace fs = std::filesystem;

// The block a tensor belongs to ("….layers.7.…" → 7), -1 for the embeddings (written before
// block 0), num_layers for everything else (after the last block).
int64_t StageOf(const ModelSpec& spec, const std::string& name) {
  if (name == spec.EmbeddingName() ||
      (spec.positions == PositionKind::kLearned && name == spec.PositionEmbeddingName())) {
    return -1;
  }
  constexpr std::string_view kLayers = "layers.";
  const size_t at = name.find(kLayers);
  if (at != std::string::npos) {
    const size_t begin = at + kLayers.size();
    const size_t end = name.find('.', begin);
    int64_t layer = 0;
    if (end != std::string::npos &&
        absl::SimpleAtoi(absl::string_view(name).substr(begin, end - begin), &layer) &&
        layer >= 0 && layer < spec.num_layers) {
      return layer;
    }
  }
  return spec.num_layers;
}

}  // namespace

absl::StatusOr<std::unique_ptr<FakeQuantWriter>> FakeQuantWriter::Create(
    const fs::path& source_dir, const ModelSpec& spec, const Checkpoint& source,
    const fs::path& out_dir, const std::map<std::string, std::string>& metadata) {
  std::error_code error;
  fs::create_directories(out_dir, error);
  if (error) {
    return absl::PermissionDeniedError(
        absl::StrCat(out_dir.string(), ": cannot create: ", error.message()));
  }
  std::vector<Entry> entries;
  for (const auto& file : source.files()) {
    for (const auto& entry : file.entries())
      entries.push_back({StageOf(spec, entry.name), &file, &entry});
  }
  std::stable_sort(entries.begin(), entries.end(),
                   [](const Entry& a, const Entry& b) { return a.stage < b.stage; });
  std::vector<SafetensorsTensorSpec> specs;
  for (const Entry& e : entries) specs.push_back({e.entry->name, e.entry->dtype, e.entry->shape});
  std::map<std::string, std::string> out_metadata = metadata;
  for (const auto& [alias, target] : source.aliases()) out_metadata[alias] = target;
  QUENCH_ASSIGN_OR_RETURN(
      auto writer, SafetensorsWriter::Create(out_dir / "model.safetensors", specs, out_metadata));
  return std::unique_ptr<FakeQuantWriter>(
      new FakeQuantWriter(source_dir, out_dir, spec, std::move(entries), std::move(writer)));
}

absl::Status FakeQuantWriter::WriteStage(int64_t stage,
                                         const std::map<std::string, Tensor>& replacements) {
  for (; next_ < entries_.size() && entries_[next_].stage <= stage; ++next_) {
    const SafetensorsEntry& entry = *entries_[next_].entry;
    const auto replacement = replacements.find(entry.name);
    if (replacement == replacements.end() || !IsFloatingPoint(entry.dtype)) {
      QUENCH_RETURN_IF_ERROR(writer_.Append(entries_[next_].file->View(entry).bytes()));
      continue;
    }
    Tensor converted = Tensor::Zeros(entry.dtype, entry.shape);
    ConvertFromFloat(replacement->second.data<float>(), entry.dtype,
                     converted.mutable_data<uint8_t>(),
                     static_cast<size_t>(converted.num_elements()));
    QUENCH_RETURN_IF_ERROR(writer_.Append(converted.bytes()));
  }
  return absl::OkStatus();
}

absl::Status FakeQuantWriter::Begin(const ModelWeights& globals, const QuantizedTensor*) {
  globals_ = NamedGlobalTensors(spec_, globals);
  return WriteStage(-1, globals_);
}

absl::Status FakeQuantWriter::AddBlock(int64_t layer, const LayerWeights& weights,
                                       const std::vector<QuantizedLinear>&) {
  return WriteStage(layer, NamedLayerTensors(spec_, layer, weights));
}

absl::Status FakeQuantWriter::Finish() {
  QUENCH_RETURN_IF_ERROR(WriteStage(spec_.num_layers, globals_));
  QUENCH_RETURN_IF_ERROR(writer_.Finish());
  // Everything else a runtime needs to load the directory: config and tokenizer files.
  QUENCH_ASSIGN_OR_RETURN(const std::string config, ReadFileToString(source_dir_ / "config.json"));
  QUENCH_RETURN_IF_ERROR(WriteFileAtomically(out_dir_ / "config.json", config));
  return CopyRuntimeFiles(source_dir_, out_dir_);
}

}  // namespace quench
