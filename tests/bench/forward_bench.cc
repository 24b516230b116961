// CPU forward throughput (tokens/s): the real stories260K model, and one synthetic 1024-wide
// Llama block. Prints figures; never fails on time.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <random>

#include "core/io/checkpoint.h"
#include "core/model/forward.h"
#include "core/util/thread_pool.h"
#include "kernels/cpu/cpu_backend.h"

namespace quench {
namespace {

TokenBatch RandomBatch(int64_t vocab, int64_t sequences, int64_t length) {
  std::mt19937 random(1);
  std::uniform_int_distribution<TokenId> token(0, static_cast<TokenId>(vocab - 1));
  TokenBatch batch;
  for (int64_t s = 0; s < sequences; ++s) {
    std::vector<TokenId> sequence(length);
    for (auto& id : sequence) id = token(random);
    batch.Add(sequence);
  }
  return batch;
}

void RunForward(benchmark::State& state, const ModelSpec& spec, const ModelWeights& weights,
                int64_t sequences, int64_t length) {
  ThreadPool pool(static_cast<int>(state.range(0)));
  auto backend = kernels::MakeCpuBackend(&pool);
  Transformer transformer(spec, weights, *backend);
  const TokenBatch batch = RandomBatch(spec.vocab_size, sequences, length);
  for (auto _ : state) {
    Tensor hidden = transformer.Embed(batch);
    for (int64_t layer = 0; layer < spec.num_layers; ++layer)
      transformer.RunBlock(layer, batch, hidden);
    benchmark::DoNotOptimize(transformer.Logits(hidden, 0, hidden.dim(0)));
  }
  state.counters["tokens/s"] = benchmark::Counter(static_cast<double>(batch.num_tokens()),
                                                  benchmark::Counter::kIsIterationInvariantRate);
}

void BM_Stories260KForward(benchmark::State& state) {
  const std::filesystem::path dir = std::filesystem::path(QUENCH_SHARED_DIR) / "models/stories260K";
  auto spec = LoadModelSpec(dir);
  auto checkpoint = spec.ok() ? Checkpoint::Open(dir) : spec.status();
  if (!spec.ok() || !checkpoint.ok()) {
    state.SkipWithError(("missing fixture " + dir.string()).c_str());
    return;
  }
  auto weights = LoadModelWeights(*spec, *checkpoint);
  RunForward(state, *spec, *weights, 16, 256);
}
BENCHMARK(BM_Stories260KForward)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// One Llama block 1024 wide (GQA 16/4 heads, MLP 2816) with a small vocabulary, so the block
// dominates.
void BM_Synthetic1024Block(benchmark::State& state) {
  ModelSpec spec;
  spec.architecture_name = "LlamaForCausalLM";
  spec.vocab_size = 256;
  spec.hidden_size = 1024;
  spec.intermediate_size = 2816;
  spec.num_layers = 1;
  spec.num_heads = 16;
  spec.num_kv_heads = 4;
  spec.head_dim = 64;
  spec.max_position_embeddings = 4096;
  std::mt19937 random(3);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  auto random_tensor = [&](Shape shape) {
    Tensor t = Tensor::Zeros(DType::kF32, std::move(shape));
    for (int64_t i = 0; i < t.num_elements(); ++i) t.mutable_data<float>()[i] = normal(random);
    return t;
  };
  ModelWeights weights;
  weights.embedding = random_tensor({spec.vocab_size, spec.hidden_size});
  weights.lm_head = weights.embedding;
  weights.final_norm_weight = random_tensor({spec.hidden_size});
  LayerWeights& layer = weights.layers.emplace_back();
  layer.attention_norm_weight = random_tensor({spec.hidden_size});
  layer.mlp_norm_weight = random_tensor({spec.hidden_size});
  for (LinearRole role : kAllLinearRoles) {
    const auto [out, in] = spec.LinearShape(role);
    layer.linear(role).weight = random_tensor({out, in});
  }
  RunForward(state, spec, weights, 4, 512);
}
BENCHMARK(BM_Synthetic1024Block)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace quench

BENCHMARK_MAIN();
