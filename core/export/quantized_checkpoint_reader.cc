#include "core/export/quantized_checkpoint_reader.h"

#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "core/export/awq_format.h"
#include "core/export/compressed_tensors_format.h"
#include "core/export/gptq_format.h"
#include "core/util/status_macros.h"

namespace quench {
namespace {

// Modules that have a tensor named module + suffix.
std::set<std::string> ModulesWith(const Checkpoint& checkpoint, absl::string_view suffix) {
  std::set<std::string> modules;
  for (const std::string& name : checkpoint.TensorNames()) {
    if (absl::EndsWith(name, suffix)) modules.insert(std::string(absl::StripSuffix(name, suffix)));
  }
  return modules;
}

absl::StatusOr<QuantizedTensor> ReadModule(const Checkpoint& checkpoint, const std::string& format,
                                           const nlohmann::json& qconfig,
                                           const std::string& module) {
  if (format == "gptq") {
    QUENCH_ASSIGN_OR_RETURN(const GptqModuleConfig config, GptqConfigForModule(qconfig, module));
    return ReadGptqLinear(checkpoint, module, config);
  }
  if (format == "awq") {
    const auto group_size = qconfig.value("group_size", nlohmann::json());
    if (!group_size.is_number_integer()) {
      return absl::InvalidArgumentError("AWQ quantization_config has no integer group_size");
    }
    return ReadAwqLinear(checkpoint, module, group_size.get<int64_t>());
  }
  QUENCH_ASSIGN_OR_RETURN(const auto grid, CompressedTensorsGridForModule(qconfig, module));
  if (!grid) {
    return absl::InvalidArgumentError(absl::StrCat(
        module, " has compressed weights but no config group of quantization_config targets it"));
  }
  return ReadCompressedTensorsLinear(checkpoint, module, *grid);
}

}  // namespace

absl::StatusOr<QuantizedCheckpoint> ReadQuantizedCheckpoint(const Checkpoint& checkpoint,
                                                            const nlohmann::json& config) {
  const auto qconfig = config.value("quantization_config", nlohmann::json());
  if (!qconfig.is_object()) {
    return absl::NotFoundError("config.json has no quantization_config: not a quantized model");
  }
  QuantizedCheckpoint out;
  out.format = qconfig.value("quant_method", "");
  std::set<std::string> modules;
  if (out.format == "gptq" || out.format == "awq") {
    modules = ModulesWith(checkpoint, ".qweight");
  } else if (out.format == "compressed-tensors") {
    // pack-quantized modules have weight_packed; float-quantized ones a weight with a scale.
    modules = ModulesWith(checkpoint, ".weight_packed");
    for (const std::string& module : ModulesWith(checkpoint, ".weight_scale")) {
      if (checkpoint.FindEntry(module + ".weight") != nullptr) modules.insert(module);
    }
  } else {
    return absl::UnimplementedError(
        absl::StrCat("quantization_config.quant_method \"", out.format,
                     "\": Quench reads gptq, awq and compressed-tensors checkpoints"));
  }
  for (const std::string& module : modules) {
    auto tensor = ReadModule(checkpoint, out.format, qconfig, module);
    if (!tensor.ok()) {
      return absl::Status(tensor.status().code(), absl::StrCat(out.format, " module ", module, ": ",
                                                               tensor.status().message()));
    }
    out.modules.push_back({module, std::move(*tensor)});
  }
  return out;
}

}  // namespace quench
