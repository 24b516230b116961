// `quench export`: writes a checkpoint format from a finished job's quench.safetensors, without
// solving again (another format, or the same one after a failed write).
#include <chrono>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/commands.h"
#include "core/export/export_outputs.h"
#include "core/gguf/gguf_model_writer.h"
#include "core/io/checkpoint.h"
#include "core/model/model_spec.h"
#include "core/util/process_memory.h"
#include "core/util/status_macros.h"

namespace quench::cli {
namespace {

struct ExportFlags {
  std::string job;
  std::string model;
  std::vector<std::string> formats;
  std::string gguf_type;
  std::string out;
};

// Without --job: the unquantized model as GGUF (the reference llama.cpp compares against).
absl::Status Convert(const ExportFlags& flags) {
  if (flags.formats != std::vector<std::string>{"gguf"} || flags.out.empty()) {
    return absl::InvalidArgumentError(
        "without --job, export converts the unquantized model: give --format gguf and --out DIR");
  }
  QUENCH_ASSIGN_OR_RETURN(const ModelSpec spec, LoadModelSpec(flags.model));
  QUENCH_ASSIGN_OR_RETURN(const Checkpoint checkpoint, Checkpoint::Open(flags.model));
  const std::filesystem::path out = std::filesystem::path(flags.out) / kGgufFileName;
  QUENCH_RETURN_IF_ERROR(ConvertToGguf(spec, checkpoint, flags.model, out));
  std::cout << "wrote " << out.string() << " (unquantized)\n";
  return absl::OkStatus();
}

absl::Status Run(const ExportFlags& flags) {
  if (flags.job.empty()) return Convert(flags);
  const auto start = std::chrono::steady_clock::now();
  const std::filesystem::path artifact = std::filesystem::path(flags.job) / "quench.safetensors";
  if (!std::filesystem::exists(artifact)) {
    return absl::NotFoundError(
        absl::StrCat(artifact.string(),
                     " not found: --job takes the --out directory of `quench local quantize`"));
  }
  // Only the spec and the mapped checkpoint: the writers read tensors one at a time.
  QUENCH_ASSIGN_OR_RETURN(const ModelSpec spec, LoadModelSpec(flags.model));
  QUENCH_ASSIGN_OR_RETURN(const Checkpoint checkpoint, Checkpoint::Open(flags.model));
  const std::filesystem::path out = flags.out.empty() ? flags.job : flags.out;
  // A job whose gguf output needed its own solve keeps that solve's artifact beside the main one.
  const std::filesystem::path gguf_artifact =
      std::filesystem::path(flags.job) / kGgufSolveArtifactName;
  for (const std::string& format : flags.formats) {
    const bool own_gguf_solve = format == "gguf" && std::filesystem::exists(gguf_artifact);
    QUENCH_RETURN_IF_ERROR(WriteExport(format, own_gguf_solve ? gguf_artifact : artifact, spec,
                                       checkpoint, flags.model, out, flags.gguf_type));
    std::cout << "wrote "
              << (format == "gguf" ? (out / kGgufFileName).string() : (out / format).string() + "/")
              << "\n";
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << absl::StrFormat("export: %.2f s, peak RSS %.0f MiB\n", seconds,
                               PeakResidentBytes() / 1048576.0);
  return absl::OkStatus();
}

}  // namespace

void RegisterExportCommand(CLI::App& app, int& exit_code) {
  auto flags = std::make_shared<ExportFlags>();
  CLI::App* cmd = app.add_subcommand("export",
                                     "Write GPTQ / AWQ / compressed-tensors checkpoints from a "
                                     "finished job, without solving again");
  cmd->footer(
      "Reads <job>/quench.safetensors (the codes, scales and zero points the job produced; for "
      "gguf, <job>/quench-gguf.safetensors when the job solved its gguf output separately) and "
      "the original model for everything else, and writes one Hugging Face model directory "
      "per format, tensor by tensor.\n\n"
      "Formats: gptq (zero points stored minus one, as transformers, vLLM and ExLlama expect), "
      "gptq_v2 (zero points as they are), awq (AutoAWQ gemm layout; int4, no act-order), "
      "compressed_tensors (vLLM's native format: int2/4/8 pack-quantized, fp8 float-quantized), "
      "gguf (llama.cpp: <out>/model.gguf; the job's codes as the blocks of its grid (Q4_0 ... "
      "Q6_K), other tensors "
      "unchanged; jobs solved with a gguf-* preset fit it).\n\n"
      "Examples:\n  quench export --job /tmp/q --model ../shared/models/stories260K --format awq\n"
      "  quench export --model ../shared/models/stories260K --format gguf --out /tmp/ref   "
      "(unquantized, e.g. as the --ref of llama.cpp comparisons)");
  cmd->add_option("--job", flags->job,
                  "Output directory of `quench local quantize` (without it, --format gguf "
                  "converts the unquantized model)");
  cmd->add_option("--model", flags->model, "The model the job quantized")->required();
  cmd->add_option("--format", flags->formats,
                  "gptq, gptq_v2, awq, compressed_tensors or gguf (repeatable)")
      ->required()
      ->check(CLI::IsMember({"gptq", "gptq_v2", "awq", "compressed_tensors", "gguf"}));
  cmd->add_option("--gguf-type", flags->gguf_type,
                  "The recipe's gguf.type, recorded as the GGUF's general.file_type (default: "
                  "the type most weights have)");
  cmd->add_option("--out", flags->out, "Where the format directories go (default: --job)");
  cmd->callback([flags, &exit_code] {
    if (const auto status = Run(*flags); !status.ok()) exit_code = ReportError("export", status);
  });
}

}  // namespace quench::cli
