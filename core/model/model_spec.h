// A typed description of a decoder-only transformer, read from a Hugging Face config.json:
// the shapes, the variant of each component, and the checkpoint's tensor names.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace quench {

enum class Architecture { kLlama, kMistral, kQwen2, kOpt };
enum class NormKind { kRmsNorm, kLayerNorm };
enum class Activation { kSilu, kRelu, kGelu, kGeluTanh };
enum class PositionKind { kRope, kLearned };
enum class RopeScalingKind { kNone, kLinear, kLlama3 };

// The linear layers of one transformer block. OPT has no gate; its fc1/fc2 are up/down.
enum class LinearRole { kQ, kK, kV, kO, kGate, kUp, kDown };
inline constexpr LinearRole kAllLinearRoles[] = {
    LinearRole::kQ,    LinearRole::kK,  LinearRole::kV,   LinearRole::kO,
    LinearRole::kGate, LinearRole::kUp, LinearRole::kDown};
absl::string_view LinearRoleName(LinearRole role);  // "q", "k", ..., "down"

struct RopeScaling {
  RopeScalingKind kind = RopeScalingKind::kNone;
  double factor = 1.0;
  double low_freq_factor = 1.0;                     // llama3
  double high_freq_factor = 4.0;                    // llama3
  int64_t original_max_position_embeddings = 8192;  // llama3
};

struct ModelSpec {
  Architecture architecture = Architecture::kLlama;
  std::string architecture_name;  // as in config.json, e.g. "LlamaForCausalLM"

  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t max_position_embeddings = 0;

  NormKind norm = NormKind::kRmsNorm;
  double norm_eps = 1e-5;
  bool norm_before_sublayer = true;  // pre-norm; OPT's do_layer_norm_before can turn it off

  Activation activation = Activation::kSilu;
  bool gated_mlp = true;  // SwiGLU-style gate ⊙ act(up) vs a plain act(fc1)

  bool qkv_bias = false;
  bool o_bias = false;
  bool mlp_bias = false;
  bool norm_bias = false;  // LayerNorm has a bias, RMSNorm does not

  PositionKind positions = PositionKind::kRope;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  int64_t learned_position_offset = 0;  // OPT: 2

  std::optional<int64_t> sliding_window;  // Mistral: attend to at most this many past tokens
  bool tie_word_embeddings = false;
  std::optional<int64_t> bos_token_id;
  std::optional<int64_t> eos_token_id;

  int64_t q_out() const { return num_heads * head_dim; }
  int64_t kv_out() const { return num_kv_heads * head_dim; }
  bool HasLinear(LinearRole role) const { return gated_mlp || role != LinearRole::kGate; }
  // [out_features, in_features] of a linear.
  std::pair<int64_t, int64_t> LinearShape(LinearRole role) const;
  bool LinearHasBias(LinearRole role) const;

  // Tensor names in the checkpoint.
  std::string EmbeddingName() const;
  std::string PositionEmbeddingName() const;  // learned positions only
  std::string FinalNormName(absl::string_view suffix = "weight") const;
  std::string LmHeadName() const;
  std::string LinearName(int64_t layer, LinearRole role, absl::string_view suffix = "weight") const;
  std::string AttentionNormName(int64_t layer, absl::string_view suffix = "weight") const;
  std::string MlpNormName(int64_t layer, absl::string_view suffix = "weight") const;
};

// The architectures Quench runs, for messages: "LlamaForCausalLM, MistralForCausalLM, ...".
std::string SupportedArchitecturesList();

// Parses config.json text. `source` names the file in messages.
absl::StatusOr<ModelSpec> ParseModelSpec(absl::string_view config_json, absl::string_view source);

// Reads `<model_dir>/config.json`.
absl::StatusOr<ModelSpec> LoadModelSpec(const std::filesystem::path& model_dir);

}  // namespace quench
