// `quench testgen`: a synthetic model at a realistic shape, for benchmarks and demos.
#include <iostream>

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
};

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
    std::cout << "wrote " << flags->out << "\n";
  });
}

}  // namespace quench::cli
