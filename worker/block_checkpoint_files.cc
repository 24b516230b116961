#include "worker/block_checkpoint_files.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/io/safetensors_reader.h"
#include "core/io/safetensors_writer.h"
#include "core/util/status_macros.h"
#include "nlohmann/json.hpp"
#include "worker/solve_wire.h"
#include "worker/tensor_wire.h"

namespace quench::worker {
namespace {

namespace fs = std::filesystem;

constexpr char kKeyField[] = "quench.checkpoint.key";
constexpr char kBlockField[] = "quench.checkpoint.block";

std::string TensorName(size_t variant, absl::string_view what) {
  return absl::StrCat("v", variant, ".", what);
}

const PlannedLinear* FindPlanned(const PlannedBlock& block, const std::string& name) {
  for (const PlannedGroup& group : block.groups) {
    for (const PlannedLinear& linear : group.linears) {
      if (linear.name == name) return &linear;
    }
  }
  return nullptr;
}

nlohmann::json ReportJson(const LinearReport& report) {
  return {{"name", report.name},
          {"grid", report.grid},
          {"relative_output_error", report.relative_output_error},
          {"relative_weight_error", report.relative_weight_error},
          {"gptq_loss", report.gptq_loss},
          {"seconds", report.seconds}};
}

LinearReport ReportFromJson(const nlohmann::json& json) {
  LinearReport report;
  report.name = json.at("name").get<std::string>();
  report.grid = json.at("grid").get<std::string>();
  report.relative_output_error = json.at("relative_output_error").get<double>();
  report.relative_weight_error = json.at("relative_weight_error").get<double>();
  report.gptq_loss = json.at("gptq_loss").get<double>();
  report.seconds = json.at("seconds").get<double>();
  return report;
}

}  // namespace

absl::StatusOr<std::unique_ptr<BlockCheckpointDirectory>> BlockCheckpointDirectory::Open(
    const fs::path& dir, std::string key) {
  std::error_code error;
  fs::create_directories(dir, error);
  if (error) {
    return absl::PermissionDeniedError(
        absl::StrCat("checkpoint directory ", dir.string(), ": ", error.message()));
  }
  return std::unique_ptr<BlockCheckpointDirectory>(
      new BlockCheckpointDirectory(dir, std::move(key)));
}

fs::path BlockCheckpointDirectory::BlockPath(int64_t layer) const {
  return dir_ / absl::StrFormat("block-%05d.safetensors", layer);
}

absl::StatusOr<int64_t> BlockCheckpointDirectory::SavedBlocks() {
  int64_t saved = 0;
  for (;; ++saved) {
    const fs::path path = BlockPath(saved);
    if (!fs::exists(path)) break;
    auto file = SafetensorsFile::Open(path);
    if (!file.ok()) break;  // unreadable: solved again
    auto key = file->metadata().find(kKeyField);
    if (key == file->metadata().end() || key->second != key_) break;
  }
  return saved;
}

absl::Status BlockCheckpointDirectory::Save(int64_t layer, const LayerWeights& original,
                                            const std::vector<BlockResult>& variants) {
  std::vector<std::pair<std::string, Tensor>> tensors;
  nlohmann::json block = {{"layer", layer}, {"variants", nlohmann::json::array()}};
  for (size_t v = 0; v < variants.size(); ++v) {
    const BlockResult& result = variants[v];
    nlohmann::json variant = {{"linears", nlohmann::json::array()},
                              {"reports", nlohmann::json::array()},
                              {"changed", nlohmann::json::array()}};
    std::map<std::string, const QuantizedTensor*> derivable;  // wire name → its codes
    for (size_t i = 0; i < result.linears.size(); ++i) {
      const QuantizedLinear& linear = result.linears[i];
      const QuantizedTensors parts = QuantizedToTensors(linear.quantized);
      const std::string prefix = absl::StrCat("linear", i, ".");
      tensors.emplace_back(TensorName(v, prefix + "codes"), parts.codes);
      tensors.emplace_back(TensorName(v, prefix + "params"), parts.params);
      tensors.emplace_back(TensorName(v, prefix + "g_idx"), parts.g_idx);
      if (!linear.awq_scales.empty()) {
        Tensor scales =
            Tensor::Zeros(DType::kF32, {static_cast<int64_t>(linear.awq_scales.size())});
        std::copy(linear.awq_scales.begin(), linear.awq_scales.end(), scales.mutable_data<float>());
        tensors.emplace_back(TensorName(v, prefix + "awq_scales"), std::move(scales));
      }
      variant["linears"].push_back({{"name", linear.plan.name},
                                    {"role", std::string(LinearRoleName(linear.plan.role))},
                                    {"grid", GridToWire(linear.quantized.grid)},
                                    {"rows", linear.quantized.rows},
                                    {"cols", linear.quantized.cols},
                                    {"awq_scales", !linear.awq_scales.empty()}});
      derivable[absl::StrCat(LinearRoleName(linear.plan.role), ".weight")] = &linear.quantized;
    }
    for (auto& [name, tensor] : ChangedTensors(result.weights, original)) {
      auto codes = derivable.find(name);
      if (codes != derivable.end() && SameTensor(codes->second->Dequantize(), tensor)) {
        variant["changed"].push_back({{"name", name}, {"derived", true}});
        continue;
      }
      variant["changed"].push_back({{"name", name}, {"derived", false}});
      tensors.emplace_back(TensorName(v, "weight." + name), tensor);
    }
    for (const LinearReport& report : result.reports) {
      variant["reports"].push_back(ReportJson(report));
    }
    block["variants"].push_back(std::move(variant));
  }
  return WriteSafetensors(BlockPath(layer), tensors,
                          {{kKeyField, key_}, {kBlockField, block.dump()}});
}

absl::StatusOr<std::vector<BlockResult>> BlockCheckpointDirectory::Load(
    int64_t layer, const LayerWeights& original, const std::vector<const PlannedBlock*>& blocks) {
  const fs::path path = BlockPath(layer);
  QUENCH_ASSIGN_OR_RETURN(const SafetensorsFile file, SafetensorsFile::Open(path));
  const auto damaged = [&](absl::string_view what) {
    return absl::DataLossError(absl::StrCat(path.string(), ": ", what));
  };
  auto key = file.metadata().find(kKeyField);
  auto described = file.metadata().find(kBlockField);
  if (key == file.metadata().end() || key->second != key_ || described == file.metadata().end()) {
    return damaged("not a checkpoint of this job");
  }
  const nlohmann::json block = nlohmann::json::parse(described->second, nullptr, false);
  if (!block.is_object() || block.value("layer", int64_t{-1}) != layer ||
      !block["variants"].is_array() || block["variants"].size() != blocks.size()) {
    return damaged("its description does not match the job's plan");
  }
  const auto tensor = [&](const std::string& name) -> absl::StatusOr<Tensor> {
    const SafetensorsEntry* entry = file.Find(name);
    if (entry == nullptr) return damaged(absl::StrCat("no tensor ", name));
    return file.View(*entry);
  };
  std::vector<BlockResult> results(blocks.size());
  try {
    for (size_t v = 0; v < blocks.size(); ++v) {
      const nlohmann::json& variant = block["variants"][v];
      BlockResult& result = results[v];
      result.weights = original;
      std::map<std::string, const QuantizedTensor*> derivable;
      const nlohmann::json& linears = variant.at("linears");
      result.linears.reserve(linears.size());  // `derivable` points into it
      for (size_t i = 0; i < linears.size(); ++i) {
        const nlohmann::json& described_linear = linears[i];
        const PlannedLinear* planned =
            FindPlanned(*blocks[v], described_linear.at("name").get<std::string>());
        if (planned == nullptr) return damaged("a linear the plan does not have");
        QUENCH_ASSIGN_OR_RETURN(const GridSpec grid,
                                GridFromWire(described_linear.at("grid").get<std::string>()));
        const std::string prefix = TensorName(v, absl::StrCat("linear", i, "."));
        QuantizedTensors parts;
        QUENCH_ASSIGN_OR_RETURN(parts.codes, tensor(prefix + "codes"));
        QUENCH_ASSIGN_OR_RETURN(parts.params, tensor(prefix + "params"));
        QUENCH_ASSIGN_OR_RETURN(parts.g_idx, tensor(prefix + "g_idx"));
        QuantizedLinear linear{*planned, {}, {}};
        QUENCH_ASSIGN_OR_RETURN(
            linear.quantized,
            QuantizedFromTensors(grid, described_linear.at("rows").get<int64_t>(),
                                 described_linear.at("cols").get<int64_t>(), parts));
        if (described_linear.at("awq_scales").get<bool>()) {
          QUENCH_ASSIGN_OR_RETURN(const Tensor scales, tensor(prefix + "awq_scales"));
          if (scales.dtype() != DType::kF32) return damaged("AWQ scales that are not F32");
          linear.awq_scales.assign(scales.data<float>(),
                                   scales.data<float>() + scales.num_elements());
        }
        result.linears.push_back(std::move(linear));
        derivable[absl::StrCat(described_linear.at("role").get<std::string>(), ".weight")] =
            &result.linears.back().quantized;
      }
      for (const nlohmann::json& changed : variant.at("changed")) {
        const std::string name = changed.at("name").get<std::string>();
        Tensor value;
        if (changed.at("derived").get<bool>()) {
          auto codes = derivable.find(name);
          if (codes == derivable.end()) return damaged("a derived tensor without its codes");
          value = codes->second->Dequantize();
        } else {
          QUENCH_ASSIGN_OR_RETURN(value, tensor(TensorName(v, "weight." + name)));
        }
        QUENCH_RETURN_IF_ERROR(SetTensor(result.weights, name, std::move(value)));
      }
      for (const nlohmann::json& report : variant.at("reports")) {
        result.reports.push_back(ReportFromJson(report));
      }
    }
  } catch (const nlohmann::json::exception& error) {
    return damaged(error.what());
  }
  return results;
}

}  // namespace quench::worker
