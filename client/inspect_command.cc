// `quench inspect`: what a safetensors file or a model directory holds.
#include <iostream>

#include "absl/strings/str_format.h"
#include "client/commands.h"
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

absl::Status Run(const InspectFlags& flags) {
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
      "header.\n\nExample:\n  quench inspect ../shared/models/stories260K");
  cmd->add_option("path", flags->path, "A *.safetensors file or a model directory")->required();
  cmd->add_flag("--json", flags->json, "Print as JSON");
  cmd->callback([flags, &exit_code] {
    if (const auto status = Run(*flags); !status.ok()) exit_code = ReportError("inspect", status);
  });
}

}  // namespace quench::cli
