// The checkpoint formats a job can write besides fake_quant/ and quench.safetensors, checked
// against the plan before any work starts (a layer a format cannot hold is an error up front,
// not after an hour of solving) and written from quench.safetensors after the job.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/io/checkpoint.h"
#include "core/job/quant_plan.h"
#include "core/model/model_spec.h"
#include "core/recipe/recipe.h"

namespace quench {

// True for the outputs this module writes: gptq, gptq_v2, awq, compressed_tensors, gguf.
bool IsCheckpointExport(const std::string& output);

// Every planned linear (and the embedding) must fit every listed export; the message names the
// layer, the format and what to change in the recipe.
// `weight_dtype` is the source model's weight dtype (SourceWeightDType), which compressed-tensors
// stores scales in.
absl::Status CheckPlanForExports(const ModelSpec& spec, const QuantPlan& plan, const Recipe& recipe,
                                 DType weight_dtype);

// The solves a job's outputs need, primary first. One when every output fits the recipe's plan.
// With gguf.type set, that plan holds the GGUF mixture's grids; a safetensors output (gptq, awq,
// compressed_tensors) that cannot hold them gets a second solve on the recipe's `weights` in the
// same calibration pass, and becomes the primary one (fake_quant/, quench.safetensors).
struct OutputSolve {
  QuantPlan plan;
  std::vector<std::string> exports;  // the checkpoint outputs written from this solve
};
absl::StatusOr<std::vector<OutputSolve>> PlanOutputSolves(const ModelSpec& spec,
                                                          const Recipe& recipe, DType weight_dtype);

// Where a job keeps the artifact of its GGUF solve when it made a separate one.
inline constexpr char kGgufSolveArtifactName[] = "quench-gguf.safetensors";

// The dtype of the source's first linear weight (F32 when it has none).
DType SourceWeightDType(const ModelSpec& spec, const Checkpoint& source);

// Where `output` is written in out_dir: out_dir/<output>/, or out_dir/model.gguf for gguf.
std::filesystem::path ExportPath(const std::string& output, const std::filesystem::path& out_dir);

// Writes `output` into ExportPath(output, out_dir) from the artifact.
// `gguf_type` is the recipe's gguf.type, named in the GGUF's general.file_type.
absl::Status WriteExport(const std::string& output, const std::filesystem::path& artifact_path,
                         const ModelSpec& spec, const Checkpoint& source,
                         const std::filesystem::path& source_dir,
                         const std::filesystem::path& out_dir, const std::string& gguf_type = "");

}  // namespace quench
