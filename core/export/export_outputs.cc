#include "core/export/export_outputs.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/export/awq_format.h"
#include "core/export/compressed_tensors_format.h"
#include "core/export/gptq_format.h"
#include "core/export/quench_artifact.h"
#include "core/gguf/gguf_model_writer.h"
#include "core/util/status_macros.h"

namespace quench {

bool IsCheckpointExport(const std::string& output) {
  return output == "gptq" || output == "gptq_v2" || output == "awq" ||
         output == "compressed_tensors" || output == "gguf";
}

DType SourceWeightDType(const ModelSpec& spec, const Checkpoint& source) {
  const SafetensorsEntry* entry =
      source.FindEntry(LinearModuleName(spec, 0, LinearRole::kQ) + ".weight");
  return entry ? entry->dtype : DType::kF32;
}

namespace {

absl::Status CheckPlanForGguf(const ModelSpec& spec, const QuantPlan& plan, const Recipe& recipe) {
  const auto fail = [](absl::string_view what, absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("output 'gguf': ", what, ": ", why));
  };
  QUENCH_RETURN_IF_ERROR(CheckGgufModel(spec));
  if (plan.embedding) {
    const absl::Status fits = CheckGgufLinear(*plan.embedding, spec.vocab_size, spec.hidden_size);
    if (!fits.ok()) return fail("the embedding", fits.message());
  }
  const bool permuted_groups =
      recipe.method == QuantMethod::kGptq && recipe.gptq.act_order && !recipe.gptq.static_groups;
  for (const PlannedBlock& block : plan.blocks) {
    for (const PlannedGroup& group : block.groups) {
      for (const PlannedLinear& linear : group.linears) {
        const auto [out, in] = spec.LinearShape(linear.role);
        const absl::Status fits = CheckGgufLinear(linear.grid, out, in);
        if (!fits.ok()) return fail(linear.name, fits.message());
        if (permuted_groups) {
          return fail(linear.name,
                      "GGUF blocks have no g_idx, so GPTQ act-order needs `static_groups: true`");
        }
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckPlanForExports(const ModelSpec& spec, const QuantPlan& plan, const Recipe& recipe,
                                 DType weight_dtype) {
  for (const std::string& output : recipe.outputs) {
    if (!IsCheckpointExport(output)) continue;
    const auto fail = [&](absl::string_view what, absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat("output '", output, "': ", what, ": ", why));
    };
    if (output == "gguf") {
      QUENCH_RETURN_IF_ERROR(CheckPlanForGguf(spec, plan, recipe));
      continue;
    }
    if (plan.embedding) {
      return fail("the embedding",
                  "this format cannot hold a quantized embedding; set `embedding: null` or drop "
                  "the output");
    }
    const bool permuted_groups =
        recipe.method == QuantMethod::kGptq && recipe.gptq.act_order && !recipe.gptq.static_groups;
    std::optional<int64_t> group_size;
    for (const PlannedBlock& block : plan.blocks) {
      for (const PlannedGroup& group : block.groups) {
        for (const PlannedLinear& linear : group.linears) {
          const auto [out, in] = spec.LinearShape(linear.role);
          absl::Status fits;
          if (output == "awq") {
            fits = CheckAwqLinear(linear.grid, out, in);
          } else if (output == "compressed_tensors") {
            fits = CheckCompressedTensorsLinear(linear.grid, out, in, weight_dtype);
          } else {
            fits = CheckGptqLinear(linear.grid, out, in);
          }
          if (!fits.ok()) return fail(linear.name, fits.message());
          if (output != "awq") continue;
          if (permuted_groups) {
            return fail(linear.name,
                        "AWQ has no g_idx, so GPTQ act-order needs `static_groups: true`");
          }
          if (group_size && *group_size != linear.grid.group_size) {
            return fail(linear.name, "AWQ holds one group size for every layer");
          }
          group_size = linear.grid.group_size;
        }
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<OutputSolve>> PlanOutputSolves(const ModelSpec& spec,
                                                          const Recipe& recipe,
                                                          DType weight_dtype) {
  QUENCH_ASSIGN_OR_RETURN(QuantPlan plan, MakeQuantPlan(spec, recipe));
  std::vector<std::string> exports;
  for (const std::string& output : recipe.outputs) {
    if (IsCheckpointExport(output)) exports.push_back(output);
  }
  const absl::Status fits_one = CheckPlanForExports(spec, plan, recipe, weight_dtype);
  const bool has_gguf = std::find(exports.begin(), exports.end(), "gguf") != exports.end();
  if (fits_one.ok() || recipe.gguf.type.empty() || !has_gguf || exports.size() < 2) {
    if (!fits_one.ok()) return fits_one;
    return std::vector<OutputSolve>{{std::move(plan), exports}};
  }
  // The safetensors outputs on the recipe's own grids; the gguf output on the mixture's.
  Recipe safetensors = recipe;
  safetensors.gguf.type.clear();
  std::erase(safetensors.outputs, "gguf");
  Recipe gguf = recipe;
  std::erase_if(gguf.outputs,
                [](const std::string& o) { return IsCheckpointExport(o) && o != "gguf"; });
  QUENCH_ASSIGN_OR_RETURN(QuantPlan safetensors_plan, MakeQuantPlan(spec, safetensors));
  QUENCH_RETURN_IF_ERROR(CheckPlanForExports(spec, safetensors_plan, safetensors, weight_dtype));
  QUENCH_RETURN_IF_ERROR(CheckPlanForExports(spec, plan, gguf, weight_dtype));
  std::erase(exports, "gguf");
  std::vector<OutputSolve> solves;
  solves.push_back({std::move(safetensors_plan), exports});
  solves.push_back({std::move(plan), {"gguf"}});
  return solves;
}

std::filesystem::path ExportPath(const std::string& output, const std::filesystem::path& out_dir) {
  return output == "gguf" ? out_dir / kGgufFileName : out_dir / output;
}

absl::Status WriteExport(const std::string& output, const std::filesystem::path& artifact_path,
                         const ModelSpec& spec, const Checkpoint& source,
                         const std::filesystem::path& source_dir,
                         const std::filesystem::path& out_dir, const std::string& gguf_type) {
  QUENCH_ASSIGN_OR_RETURN(const QuenchArtifactReader artifact,
                          QuenchArtifactReader::Open(artifact_path));
  if (output == "gguf") {
    return WriteGgufModel(artifact, spec, source, source_dir, ExportPath(output, out_dir),
                          gguf_type.empty() ? std::nullopt : FindGgufMixture(gguf_type));
  }
  const auto target = ExportPath(output, out_dir);
  if (output == "gptq")
    return WriteGptqModel(artifact, spec, source, source_dir, target, GptqZeroConvention::kV1);
  if (output == "gptq_v2")
    return WriteGptqModel(artifact, spec, source, source_dir, target, GptqZeroConvention::kV2);
  if (output == "awq") return WriteAwqModel(artifact, spec, source, source_dir, target);
  if (output == "compressed_tensors")
    return WriteCompressedTensorsModel(artifact, spec, source, source_dir, target);
  return absl::InvalidArgumentError(absl::StrCat("no checkpoint export named '", output, "'"));
}

}  // namespace quench
