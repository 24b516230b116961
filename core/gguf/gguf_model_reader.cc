#include "core/gguf/gguf_model_reader.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/gguf/gguf_model_writer.h"
#include "core/util/status_macros.h"

namespace quench {
namespace {

std::string BlockTensor(int64_t layer, absl::string_view name) {
  return absl::StrCat("blk.", layer, ".", name);
}

// GGUF `ne` for a tensor of PyTorch shape `shape`.
std::vector<int64_t> Reversed(const Shape& shape) { return {shape.rbegin(), shape.rend()}; }

// Decodes a tensor into fp32 [PyTorch shape], putting permuted q/k rows back.
Tensor Decode(const GgufFile& file, const GgufTensorInfo& info, int64_t permuted_heads) {
  const std::vector<float> values = *file.DequantizeTensor(info);
  const Shape shape(info.ne.rbegin(), info.ne.rend());
  Tensor out = Tensor::Zeros(DType::kF32, shape);
  const int64_t rows = shape[0];
  const int64_t cols = info.num_elements() / rows;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t hf_row = permuted_heads > 0 ? HfRowOfGgufRow(r, rows, permuted_heads) : r;
    std::copy_n(values.data() + r * cols, cols, out.mutable_data<float>() + hf_row * cols);
  }
  return out;
}

struct ExpectedTensor {
  std::string name;
  Shape shape;
  bool optional = false;
};

std::vector<ExpectedTensor> ExpectedTensors(const ModelSpec& spec) {
  std::vector<ExpectedTensor> expected = {
      {"token_embd.weight", {spec.vocab_size, spec.hidden_size}},
      {"output_norm.weight", {spec.hidden_size}}};
  if (!spec.tie_word_embeddings)
    expected.push_back({"output.weight", {spec.vocab_size, spec.hidden_size}});
  for (int64_t layer = 0; layer < spec.num_layers; ++layer) {
    expected.push_back({BlockTensor(layer, "attn_norm.weight"), {spec.hidden_size}});
    expected.push_back({BlockTensor(layer, "ffn_norm.weight"), {spec.hidden_size}});
    for (LinearRole role : kAllLinearRoles) {
      const auto [out, in] = spec.LinearShape(role);
      expected.push_back(
          {BlockTensor(layer, absl::StrCat(GgufLinearTensorName(role), ".weight")), {out, in}});
      if (spec.LinearHasBias(role))
        expected.push_back(
            {BlockTensor(layer, absl::StrCat(GgufLinearTensorName(role), ".bias")), {out}});
    }
  }
  return expected;
}

}  // namespace

std::vector<std::string> RequiredLlamaGgufKeys() {
  return {"general.architecture",
          "llama.context_length",
          "llama.embedding_length",
          "llama.block_count",
          "llama.feed_forward_length",
          "llama.attention.head_count",
          "llama.attention.head_count_kv",
          "llama.attention.layer_norm_rms_epsilon",
          "llama.rope.dimension_count",
          "llama.rope.freq_base",
          "llama.vocab_size",
          "tokenizer.ggml.model"};
}

std::vector<std::string> RequiredLlamaGgufTensors(int64_t num_layers) {
  std::vector<std::string> names = {"token_embd.weight", "output_norm.weight"};
  for (int64_t layer = 0; layer < num_layers; ++layer) {
    for (const char* name : {"attn_norm.weight", "attn_q.weight", "attn_k.weight", "attn_v.weight",
                             "attn_output.weight", "ffn_norm.weight", "ffn_gate.weight",
                             "ffn_up.weight", "ffn_down.weight"})
      names.push_back(BlockTensor(layer, name));
  }
  return names;
}

absl::StatusOr<ModelSpec> ReadGgufModelSpec(const GgufFile& file) {
  QUENCH_ASSIGN_OR_RETURN(const std::string architecture, file.GetString("general.architecture"));
  if (architecture != "llama") {
    return absl::InvalidArgumentError(
        absl::StrCat(file.path().string(), ": general.architecture is '", architecture,
                     "'; Quench reads llama-architecture GGUF files"));
  }
  // Keys llama.cpp requires with exact types (counts u32, epsilon and base f32).
  for (const std::string& key : RequiredLlamaGgufKeys()) {
    if (file.Find(key) == nullptr)
      return absl::InvalidArgumentError(absl::StrCat(file.path().string(), ": no ", key));
  }
  ModelSpec spec;
  spec.architecture = Architecture::kLlama;
  spec.architecture_name = "LlamaForCausalLM";
  const auto count = [&](const std::string& key) -> absl::StatusOr<int64_t> {
    QUENCH_ASSIGN_OR_RETURN(const uint64_t value, file.GetUnsigned(key));
    if (value == 0 || value > (uint64_t{1} << 32))
      return absl::InvalidArgumentError(
          absl::StrCat(file.path().string(), ": ", key, " = ", value));
    return static_cast<int64_t>(value);
  };
  QUENCH_ASSIGN_OR_RETURN(spec.vocab_size, count("llama.vocab_size"));
  QUENCH_ASSIGN_OR_RETURN(spec.hidden_size, count("llama.embedding_length"));
  QUENCH_ASSIGN_OR_RETURN(spec.intermediate_size, count("llama.feed_forward_length"));
  QUENCH_ASSIGN_OR_RETURN(spec.num_layers, count("llama.block_count"));
  QUENCH_ASSIGN_OR_RETURN(spec.num_heads, count("llama.attention.head_count"));
  QUENCH_ASSIGN_OR_RETURN(spec.num_kv_heads, count("llama.attention.head_count_kv"));
  QUENCH_ASSIGN_OR_RETURN(spec.max_position_embeddings, count("llama.context_length"));
  spec.head_dim = spec.hidden_size / spec.num_heads;
  if (file.Find("llama.attention.key_length")) {
    QUENCH_ASSIGN_OR_RETURN(spec.head_dim, count("llama.attention.key_length"));
  }
  QUENCH_ASSIGN_OR_RETURN(spec.norm_eps, file.GetFloat("llama.attention.layer_norm_rms_epsilon"));
  QUENCH_ASSIGN_OR_RETURN(spec.rope_theta, file.GetFloat("llama.rope.freq_base"));
  QUENCH_ASSIGN_OR_RETURN(const int64_t rope_dims, count("llama.rope.dimension_count"));
  if (rope_dims != spec.head_dim || spec.num_heads % spec.num_kv_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        file.path().string(), ": partial RoPE or uneven key/value heads are not read"));
  }
  if (file.Find("llama.rope.scaling.type")) {
    QUENCH_ASSIGN_OR_RETURN(const std::string scaling, file.GetString("llama.rope.scaling.type"));
    if (scaling == "linear") {
      spec.rope_scaling.kind = RopeScalingKind::kLinear;
      QUENCH_ASSIGN_OR_RETURN(spec.rope_scaling.factor, file.GetFloat("llama.rope.scaling.factor"));
    } else if (scaling != "none") {
      return absl::InvalidArgumentError(
          absl::StrCat(file.path().string(), ": RoPE scaling '", scaling, "' is not read"));
    }
  }
  if (file.FindTensor("rope_freqs.weight")) {
    return absl::InvalidArgumentError(absl::StrCat(
        file.path().string(), ": Llama 3 RoPE frequency factors are not read back yet"));
  }
  spec.tie_word_embeddings = file.FindTensor("output.weight") == nullptr;
  spec.qkv_bias = file.FindTensor("blk.0.attn_q.bias") != nullptr;
  spec.o_bias = file.FindTensor("blk.0.attn_output.bias") != nullptr;
  spec.mlp_bias = file.FindTensor("blk.0.ffn_up.bias") != nullptr;
  if (file.Find("tokenizer.ggml.bos_token_id")) {
    QUENCH_ASSIGN_OR_RETURN(const uint64_t bos, file.GetUnsigned("tokenizer.ggml.bos_token_id"));
    spec.bos_token_id = static_cast<int64_t>(bos);
  }
  if (file.Find("tokenizer.ggml.eos_token_id")) {
    QUENCH_ASSIGN_OR_RETURN(const uint64_t eos, file.GetUnsigned("tokenizer.ggml.eos_token_id"));
    spec.eos_token_id = static_cast<int64_t>(eos);
  }
  return spec;
}

absl::StatusOr<ModelWeights> LoadGgufWeights(const ModelSpec& spec,
                                             std::shared_ptr<const GgufFile> file) {
  for (const ExpectedTensor& expected : ExpectedTensors(spec)) {
    const GgufTensorInfo* info = file->FindTensor(expected.name);
    if (info == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(file->path().string(), ": tensor ", expected.name, " is missing"));
    }
    if (info->ne != Reversed(expected.shape)) {
      return absl::InvalidArgumentError(
          absl::StrCat(file->path().string(), ": tensor ", expected.name, " has ne [",
                       absl::StrJoin(info->ne, ", "), "], the metadata implies [",
                       absl::StrJoin(Reversed(expected.shape), ", "), "]"));
    }
  }
  ModelWeights weights;
  const auto decode = [&file](const std::string& name, int64_t heads = 0) {
    return Decode(*file, *file->FindTensor(name), heads);
  };
  weights.embedding = decode("token_embd.weight");
  weights.final_norm_weight = decode("output_norm.weight");
  weights.lm_head = spec.tie_word_embeddings ? weights.embedding : decode("output.weight");
  weights.load_layer = [spec, file](int64_t layer) {
    LayerWeights block;
    const auto decode = [&](absl::string_view name, int64_t heads = 0) {
      return Decode(*file, *file->FindTensor(BlockTensor(layer, name)), heads);
    };
    block.attention_norm_weight = decode("attn_norm.weight");
    block.mlp_norm_weight = decode("ffn_norm.weight");
    for (LinearRole role : kAllLinearRoles) {
      const int64_t heads = GgufPermutedHeads(spec, role);
      block.linear(role).weight =
          decode(absl::StrCat(GgufLinearTensorName(role), ".weight"), heads);
      if (spec.LinearHasBias(role))
        block.linear(role).bias = decode(absl::StrCat(GgufLinearTensorName(role), ".bias"), heads);
    }
    return block;
  };
  return weights;
}

}  // namespace quench
