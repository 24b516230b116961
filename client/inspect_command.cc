// `quench inspect`: what a safetensors file or a model directory holds.
#include <fstream>
#include <iostream>
#include <map>

#include "absl/strings/str_format.h"
#include "client/commands.h"
#include "core/export/quantized_checkpoint_reader.h"
#include "core/gguf/gguf_file.h"
#include "core/gguf/gguf_model_reader.h"
#include "core/io/checkpoint.h"
#include "core/model/model_spec.h"
#include "core/util/status_macros.h"
#include "nlohmann/json.hpp"

namespace quench::cli {
namespace {

struct InspectFlags {
  std::string path;
  bool json = false;
};

nlohmann::ordered_json SpecToJson(const ModelSpec& spec) {
  nlohmann::ordered_json out;
  out["architecture"] = spec.architecture_name;
  out["layers"] = spec.num_layers;
  out["hidden_size"] = spec.hidden_size;
  out["intermediate_size"] = spec.intermediate_size;
  out["heads"] = spec.num_heads;
  out["kv_heads"] = spec.num_kv_heads;
  out["head_dim"] = spec.head_dim;
  out["vocab_size"] = spec.vocab_size;
  out["context"] = spec.max_position_embeddings;
  out["tied_embeddings"] = spec.tie_word_embeddings;
  return out;
}

// A metadata value as text: scalars as they are, arrays by element type and length.
nlohmann::ordered_json GgufValueJson(const GgufValue& value) {
  switch (value.type) {
    case GgufValueType::kString:
      return value.string_value;
    case GgufValueType::kArray:
      return absl::StrCat("[", GgufValueTypeName(value.element_type), " x ",
                          value.element_type == GgufValueType::kString ? value.strings.size()
                                                                       : value.numbers.size(),
                          "]");
    case GgufValueType::kF32:
    case GgufValueType::kF64:
      return value.float_value;
    case GgufValueType::kBool:
      return value.bool_value;
    case GgufValueType::kI8:
    case GgufValueType::kI16:
    case GgufValueType::kI32:
    case GgufValueType::kI64:
      return value.signed_value;
    default:
      return value.unsigned_value;
  }
}

absl::Status RunGguf(const InspectFlags& flags) {
  QUENCH_ASSIGN_OR_RETURN(const GgufFile file, GgufFile::Open(flags.path));
  nlohmann::ordered_json out;
  out["path"] = flags.path;
  out["gguf_version"] = file.version();
  if (auto spec = ReadGgufModelSpec(file); spec.ok()) out["model"] = SpecToJson(*spec);
  nlohmann::ordered_json metadata = nlohmann::ordered_json::object();
  for (const auto& [key, value] : file.metadata()) {
    metadata[key] = {{"type", std::string(GgufValueTypeName(value.type))},
                     {"value", GgufValueJson(value)}};
  }
  out["metadata"] = metadata;
  nlohmann::ordered_json tensors = nlohmann::ordered_json::array();
  std::map<std::string, int64_t> elements_by_type;
  int64_t total_bytes = 0, total_elements = 0;
  for (const GgufTensorInfo& tensor : file.tensors()) {
    const std::string type = GgmlTypeInfoOf(tensor.type).name;
    tensors.push_back(
        {{"name", tensor.name}, {"type", type}, {"ne", tensor.ne}, {"bytes", tensor.num_bytes()}});
    elements_by_type[type] += tensor.num_elements();
    total_bytes += tensor.num_bytes();
    total_elements += tensor.num_elements();
  }
  out["tensors"] = tensors;
  out["elements_by_type"] = elements_by_type;
  out["bits_per_weight"] = 8.0 * total_bytes / std::max<int64_t>(total_elements, 1);
  if (flags.json) {
    std::cout << out.dump(2) << "\n";
    return absl::OkStatus();
  }
  std::cout << flags.path << ": GGUF v" << file.version() << "\n";
  for (const auto& [key, entry] : metadata.items()) {
    std::cout << absl::StrFormat("  %-44s %-7s %s\n", key, entry["type"].get<std::string>(),
                                 entry["value"].dump());
  }
  for (const auto& tensor : tensors) {
    std::cout << absl::StrFormat(
        "  %-32s %-6s %-18s %10d bytes\n", tensor["name"].get<std::string>(),
        tensor["type"].get<std::string>(), tensor["ne"].dump(), tensor["bytes"].get<int64_t>());
  }
  std::cout << absl::StrFormat("\n%d tensors, %d elements, %d bytes (%.3f bits per weight)\n",
                               tensors.size(), total_elements, total_bytes,
                               out["bits_per_weight"].get<double>());
  return absl::OkStatus();
}

bool HasSequentialGroups(const QuantizedTensor& q) {
  for (int64_t c = 0; c < q.cols; ++c) {
    if (q.g_idx[c] != c / q.group_size) return false;
  }
  return true;
}

// A quantized checkpoint's modules, each decoded by its format's reader (which checks the
// layout); nullopt for a plain model.
absl::StatusOr<std::optional<nlohmann::ordered_json>> QuantizedModulesJson(
    const Checkpoint& checkpoint, const std::filesystem::path& dir) {
  std::ifstream stream(dir / "config.json");
  const auto config = nlohmann::json::parse(stream, nullptr, false);
  if (config.is_discarded() || !config.contains("quantization_config")) return std::nullopt;
  QUENCH_ASSIGN_OR_RETURN(const QuantizedCheckpoint read,
                          ReadQuantizedCheckpoint(checkpoint, config));
  nlohmann::ordered_json modules = nlohmann::ordered_json::array();
  for (const auto& module : read.modules) {
    const QuantizedTensor& q = module.tensor;
    modules.push_back({{"name", module.name},
                       {"grid", q.grid.ToString()},
                       {"shape", {q.rows, q.cols}},
                       {"groups_per_row", q.num_groups},
                       {"act_order", !HasSequentialGroups(q)}});
  }
  return nlohmann::ordered_json{{"format", read.format}, {"modules", modules}};
}

absl::Status Run(const InspectFlags& flags) {
  if (std::filesystem::path(flags.path).extension() == ".gguf") return RunGguf(flags);
  QUENCH_ASSIGN_OR_RETURN(Checkpoint checkpoint, Checkpoint::Open(flags.path));
  std::optional<ModelSpec> spec;
  if (std::filesystem::is_directory(flags.path)) {
    QUENCH_ASSIGN_OR_RETURN(spec, LoadModelSpec(flags.path));
  }
  uint64_t total_bytes = 0;
  int64_t total_parameters = 0;
  nlohmann::ordered_json out;
  out["path"] = flags.path;
  if (spec) out["model"] = SpecToJson(*spec);
  // Built apart and attached last: ordered_json stores keys in a vector, so a reference into
  // `out` would dangle once another key is added.
  nlohmann::ordered_json files = nlohmann::ordered_json::array();
  for (const auto& file : checkpoint.files()) {
    nlohmann::ordered_json entry;
    entry["file"] = file.path().filename().string();
    entry["metadata"] = file.metadata();
    auto& tensors = entry["tensors"] = nlohmann::ordered_json::array();
    for (const auto& tensor : file.entries()) {
      const uint64_t bytes = tensor.data_end - tensor.data_begin;
      total_bytes += bytes;
      total_parameters += *CheckedNumElements(tensor.shape);
      tensors.push_back({{"name", tensor.name},
                         {"dtype", std::string(DTypeName(tensor.dtype))},
                         {"shape", tensor.shape},
                         {"bytes", bytes}});
    }
    files.push_back(std::move(entry));
  }
  out["files"] = files;
  out["aliases"] = checkpoint.aliases();
  std::optional<nlohmann::ordered_json> quantized;
  if (spec) {
    QUENCH_ASSIGN_OR_RETURN(quantized, QuantizedModulesJson(checkpoint, flags.path));
    if (quantized) out["quantized"] = *quantized;
  }
  out["total_bytes"] = total_bytes;
  out["total_elements"] = total_parameters;
  if (flags.json) {
    std::cout << out.dump(2) << "\n";
    return absl::OkStatus();
  }
  if (spec) {
    std::cout << absl::StrFormat(
        "%s: %d layers, hidden %d, MLP %d, %d heads (%d KV, head_dim %d), vocab %d, context %d%s\n",
        spec->architecture_name, spec->num_layers, spec->hidden_size, spec->intermediate_size,
        spec->num_heads, spec->num_kv_heads, spec->head_dim, spec->vocab_size,
        spec->max_position_embeddings, spec->tie_word_embeddings ? ", tied embeddings" : "");
  }
  for (const auto& file : files) {
    std::cout << "\n" << file["file"].get<std::string>() << "\n";
    for (const auto& [key, value] : file["metadata"].items()) {
      std::cout << "  metadata " << key << " = " << value.get<std::string>() << "\n";
    }
    for (const auto& tensor : file["tensors"]) {
      std::cout << absl::StrFormat("  %-56s %-8s %-16s %12d bytes\n",
                                   tensor["name"].get<std::string>(),
                                   tensor["dtype"].get<std::string>(),
                                   ShapeToString(tensor["shape"].get<std::vector<int64_t>>()),
                                   tensor["bytes"].get<uint64_t>());
    }
  }
  for (const auto& [alias, target] : checkpoint.aliases()) {
    std::cout << "  alias " << alias << " -> " << target << "\n";
  }
  if (quantized) {
    std::cout << "\n"
              << (*quantized)["modules"].size() << " " << (*quantized)["format"].get<std::string>()
              << " modules, each decoded by its format's reader:\n";
    for (const auto& module : (*quantized)["modules"]) {
      std::cout << absl::StrFormat("  %-48s %-14s %s%s\n", module["name"].get<std::string>(),
                                   ShapeToString(module["shape"].get<std::vector<int64_t>>()),
                                   module["grid"].get<std::string>(),
                                   module["act_order"].get<bool>() ? ", act-order g_idx" : "");
    }
  }
  std::cout << absl::StrFormat("\n%d tensors, %d elements, %d bytes\n",
                               checkpoint.TensorNames().size() - checkpoint.aliases().size(),
                               total_parameters, total_bytes);
  return absl::OkStatus();
}

}  // namespace

void RegisterInspectCommand(CLI::App& app, int& exit_code) {
  auto flags = std::make_shared<InspectFlags>();
  CLI::App* cmd = app.add_subcommand("inspect", "List the tensors and metadata of a checkpoint");
  cmd->footer(
      "Prints each tensor's name, dtype, shape and bytes, and the metadata, of a safetensors file "
      "or a model directory (sharded checkpoints included), after validating every "
      "header. A quantized checkpoint (GPTQ, AWQ, compressed-tensors) also lists its quantized "
      "modules with their grids, each decoded by the format's reader. A .gguf file lists its "
      "metadata (with each value's GGUF type), its tensors' "
      "block types and bits per weight.\n\nExamples:\n  quench inspect "
      "../shared/models/stories260K\n"
      "  quench inspect /tmp/g/model.gguf");
  cmd->add_option("path", flags->path, "A *.safetensors file, a model directory or a .gguf file")
      ->required();
  cmd->add_flag("--json", flags->json, "Print as JSON");
  cmd->callback([flags, &exit_code] {
    if (const auto status = Run(*flags); !status.ok()) exit_code = ReportError("inspect", status);
  });
}

}  // namespace quench::cli
