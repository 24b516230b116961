// `quench testgen`: a synthetic model at a realistic shape, for benchmarks and demos.
#include <iostream>
#include <random>

#include "absl/strings/str_cat.h"
#include "core/util/atomic_file.h"

#include "client/commands.h"
#include "core/model/testgen.h"

namespace quench::cli {
namespace {

struct TestgenFlags {
  std::string arch = "llama";
  int64_t hidden = 1024;
  int64_t intermediate = 2816;
  int64_t layers = 4;
  int64_t heads = 16;
  int64_t kv_heads = 4;
  int64_t vocab = 32000;
  int64_t context = 2048;
  uint64_t seed = 0;
  std::string dtype = "F32";
  std::string out;
  std::string tokens_out;
  int64_t token_sequences = 128;
  int64_t token_length = 512;
};

// Random token ids as JSONL input_ids lines: data for benchmarks on models without a tokenizer.
absl::Status WriteRandomTokens(const TestgenFlags& flags) {
  std::mt19937_64 random(flags.seed + 1);
  std::string text;
  for (int64_t s = 0; s < flags.token_sequences; ++s) {
    text += "{\"input_ids\": [";
    for (int64_t t = 0; t < flags.token_length; ++t) {
      absl::StrAppend(&text, t ? ", " : "", random() % static_cast<uint64_t>(flags.vocab));
    }
    text += "]}\n";
  }
  return WriteFileAtomically(flags.tokens_out, text);
}

}  // namespace

void RegisterTestgenCommand(CLI::App& app, int& exit_code) {
  auto flags = std::make_shared<TestgenFlags>();
  CLI::App* cmd = app.add_subcommand(
      "testgen", "Write a synthetic model (random weights with outlier channels)");
  cmd->footer(
      "The weights are random but shaped like a real model's: a few hidden channels are much "
      "larger than the rest (as in trained LLMs), which is what makes quantization hard. No "
      "tokenizer is written: use token-id data (JSONL input_ids).\n\nExample:\n"
      "  quench testgen --hidden 1024 --intermediate 2816 --layers 4 --heads 16 --kv-heads 4 "
      "--vocab 32000 --out /tmp/llama-1024");
  cmd->add_option("--arch", flags->arch, "Architecture")->check(CLI::IsMember({"llama"}));
  cmd->add_option("--hidden", flags->hidden, "Hidden size")->check(CLI::PositiveNumber);
  cmd->add_option("--intermediate", flags->intermediate, "MLP width")->check(CLI::PositiveNumber);
  cmd->add_option("--layers", flags->layers, "Transformer blocks")->check(CLI::PositiveNumber);
  cmd->add_option("--heads", flags->heads, "Attention heads")->check(CLI::PositiveNumber);
  cmd->add_option("--kv-heads", flags->kv_heads, "Key/value heads (GQA)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--vocab", flags->vocab, "Vocabulary size")->check(CLI::PositiveNumber);
  cmd->add_option("--context", flags->context, "max_position_embeddings")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--seed", flags->seed, "Random seed");
  cmd->add_option("--dtype", flags->dtype, "Weight dtype")
      ->check(CLI::IsMember({"F32", "F16", "BF16"}));
  cmd->add_option("--out", flags->out, "Output model directory")->required();
  cmd->add_option("--tokens-out", flags->tokens_out,
                  "Also write random token data (JSONL input_ids) here, for calibration/eval");
  cmd->add_option("--token-sequences", flags->token_sequences, "Sequences in --tokens-out")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--token-length", flags->token_length, "Tokens per sequence in --tokens-out")
      ->check(CLI::PositiveNumber);
  cmd->callback([flags, &exit_code] {
    TestgenOptions options;
    options.seed = flags->seed;
    options.dtype = *ParseDType(flags->dtype);
    const auto status = WriteSyntheticModel(
        flags->out,
        LlamaConfigJson(flags->hidden, flags->intermediate, flags->layers, flags->heads,
                        flags->kv_heads, flags->vocab, flags->context),
        options);
    if (!status.ok()) {
      exit_code = ReportError("testgen", status);
      return;
    }
    if (!flags->tokens_out.empty()) {
      if (const auto written = WriteRandomTokens(*flags); !written.ok()) {
        exit_code = ReportError("testgen", written);
        return;
      }
    }
    std::cout << "wrote " << flags->out << "\n";
  });
}

}  // namespace quench::cli
