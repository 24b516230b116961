// `quench eval`: perplexity of a model on token or text data.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>

#include "absl/strings/str_format.h"
#include "client/commands.h"
#include "core/data/token_dataset.h"
#include "core/eval/compare.h"
#include "core/eval/perplexity.h"
#include "core/util/status_macros.h"
#include "core/util/thread_pool.h"
#include "kernels/cpu/cpu_backend.h"
#include "nlohmann/json.hpp"
#include "worker/comparison_json.h"
#include "worker/model_loader.h"

namespace quench::cli {

using worker::ComparisonJson;
using worker::LoadedModel;
using worker::LoadModel;
namespace {

struct EvalFlags {
  std::string model;
  std::string tokens;
  std::string text;
  std::string reference;
  int64_t context = 0;
  int64_t max_sequences = 0;
  int64_t batch_tokens = 8192;
  bool json = false;
};

absl::StatusOr<TokenSequences> LoadData(const EvalFlags& flags, const LoadedModel& model) {
  DatasetOptions options;
  options.max_sequences = flags.max_sequences;
  options.context = flags.context;
  if (!flags.tokens.empty()) {
    // Token lines are evaluated whole unless --ctx asks for windows; never beyond the model.
    if (options.context == 0) options.context = model.spec.max_position_embeddings;
    std::unique_ptr<Tokenizer> tokenizer;
    if (auto loaded = LoadTokenizer(flags.model); loaded.ok()) tokenizer = std::move(*loaded);
    return LoadJsonlSequences(flags.tokens, tokenizer.get(), options);
  }
  if (options.context == 0)
    options.context = std::min<int64_t>(model.spec.max_position_embeddings, 2048);
  QUENCH_ASSIGN_OR_RETURN(auto tokenizer, LoadTokenizer(flags.model));
  return LoadTextSequences(flags.text, *tokenizer, options);
}

// --reference: both models on the same sequences; KL(reference ‖ model) and top-1 agreement.
absl::Status RunComparison(const EvalFlags& flags, const Transformer& transformer,
                           const TokenSequences& sequences, const PerplexityOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  QUENCH_ASSIGN_OR_RETURN(LoadedModel reference, LoadModel(flags.reference, /*allow_gguf=*/true));
  auto backend = kernels::MakeCpuBackend();
  Transformer reference_transformer(reference.spec, reference.weights, *backend);
  QUENCH_ASSIGN_OR_RETURN(ComparisonResult result,
                          CompareModels(reference_transformer, transformer, sequences, options));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (flags.json) {
    nlohmann::ordered_json out;
    out["model"] = flags.model;
    out["reference"] = flags.reference;
    out["sequences"] = result.candidate.sequences;
    out.update(ComparisonJson(result));
    out["eval_seconds"] = seconds;
    std::cout << out.dump(2) << "\n";
  } else {
    std::cout << absl::StrFormat(
        "perplexity %.6f  (reference %.6f)\nKL divergence %.6f nats (mean over %d predicted "
        "tokens), top-1 agreement %.2f%%\ntime %.2f s\n",
        result.candidate.perplexity(), result.reference.perplexity(), result.mean_kl(),
        result.positions, 100.0 * result.top1_agreement(), seconds);
  }
  return absl::OkStatus();
}

absl::Status Run(const EvalFlags& flags) {
  const auto start = std::chrono::steady_clock::now();
  QUENCH_ASSIGN_OR_RETURN(LoadedModel model, LoadModel(flags.model, /*allow_gguf=*/true));
  QUENCH_ASSIGN_OR_RETURN(TokenSequences sequences, LoadData(flags, model));
  auto backend = kernels::MakeCpuBackend();
  Transformer transformer(model.spec, model.weights, *backend);

  PerplexityOptions options;
  options.batch_tokens = flags.batch_tokens;
  const bool show_progress = ::isatty(STDERR_FILENO) && !flags.json;
  if (show_progress) {
    options.progress = [](int64_t done, int64_t total) {
      std::fprintf(stderr, "\reval: %lld/%lld sequences", static_cast<long long>(done),
                   static_cast<long long>(total));
      if (done == total) std::fprintf(stderr, "\n");
    };
  }
  const auto eval_start = std::chrono::steady_clock::now();
  if (!flags.reference.empty()) return RunComparison(flags, transformer, sequences, options);
  QUENCH_ASSIGN_OR_RETURN(PerplexityResult result,
                          EvaluatePerplexity(transformer, sequences, options));
  const auto end = std::chrono::steady_clock::now();
  const double eval_seconds = std::chrono::duration<double>(end - eval_start).count();
  const double total_seconds = std::chrono::duration<double>(end - start).count();
  int64_t forwarded_tokens = 0;
  for (const auto& sequence : sequences) forwarded_tokens += static_cast<int64_t>(sequence.size());
  const double tokens_per_second = forwarded_tokens / std::max(eval_seconds, 1e-9);

  if (flags.json) {
    nlohmann::ordered_json out;
    out["model"] = flags.model;
    out["tokens"] = result.predicted_tokens;
    out["perplexity"] = result.perplexity();
    out["mean_nll"] = result.mean_nll();
    out["predicted_tokens"] = result.predicted_tokens;
    out["sequences"] = result.sequences;
    out["eval_seconds"] = eval_seconds;
    out["total_seconds"] = total_seconds;
    out["tokens_per_second"] = tokens_per_second;
    out["threads"] = DefaultThreadPool().num_threads();
    std::cout << out.dump(2) << "\n";
  } else {
    std::cout << absl::StrFormat(
        "perplexity %.6f  (mean NLL %.6f nats over %d predicted tokens in %d sequences)\n"
        "time %.2f s eval, %.2f s total; %.0f tokens/s on %d threads\n",
        result.perplexity(), result.mean_nll(), result.predicted_tokens, result.sequences,
        eval_seconds, total_seconds, tokens_per_second, DefaultThreadPool().num_threads());
  }
  return absl::OkStatus();
}

}  // namespace

void RegisterEvalCommand(CLI::App& app, int& exit_code) {
  auto flags = std::make_shared<EvalFlags>();
  CLI::App* cmd = app.add_subcommand("eval", "Perplexity of a model on held-out data");
  cmd->footer(
      "Every position predicts the next token of its own sequence.\n\nData: --tokens takes JSONL, "
      "one {\"input_ids\": [...]} (one sequence per line) or {\"text\": \"...\"} per line; --text "
      "takes a plain text file whose documents are separated by blank lines (each tokenized with "
      "BOS first, then concatenated and cut into --ctx windows).\n\nExample:\n  quench eval "
      "--model ../shared/models/stories260K --tokens ../shared/data/stories260K-eval.jsonl");
  cmd->add_option("--model", flags->model,
                  "Model directory (config.json, *.safetensors) or a .gguf file")
      ->required();
  auto* tokens =
      cmd->add_option("--tokens", flags->tokens, "JSONL data: input_ids or text records");
  auto* text = cmd->add_option("--text", flags->text,
                               "Plain text data, tokenized with the model's tokenizer");
  tokens->excludes(text);
  cmd->add_option("--ctx", flags->context,
                  "Window length in tokens (default: token lines whole; text: the model's context, "
                  "at most 2048)");
  cmd->add_option("--max-seqs", flags->max_sequences,
                  "Evaluate at most this many sequences (0: all)");
  cmd->add_option("--batch-tokens", flags->batch_tokens, "Tokens forwarded together")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--reference", flags->reference,
                  "A reference model directory: adds KL divergence and top-1 agreement against it");
  cmd->add_flag("--json", flags->json, "Print the result as JSON");
  cmd->callback([flags, &exit_code] {
    if (flags->tokens.empty() == flags->text.empty()) {
      throw CLI::ValidationError("eval", "give exactly one of --tokens FILE.jsonl or --text FILE");
    }
    if (const auto status = Run(*flags); !status.ok()) exit_code = ReportError("eval", status);
  });
}

}  // namespace quench::cli
