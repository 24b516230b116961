#include "core/model/model_spec.h"
#include "absl/strings/string_view.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/util/atomic_file.h"
#include "core/util/status_macros.h"
#include "nlohmann/json.hpp"

namespace quench {
namespace {

using nlohmann::json;

struct ArchitectureName {
  absl::string_view class_name;
  absl::string_view model_type;
  Architecture architecture;
};
constexpr ArchitectureName kArchitectures[] = {
    {"LlamaForCausalLM", "llama", Architecture::kLlama},
    {"MistralForCausalLM", "mistral", Architecture::kMistral},
    {"Qwen2ForCausalLM", "qwen2", Architecture::kQwen2},
    {"OPTForCausalLM", "opt", Architecture::kOpt},
};

// Typed, checked access to config.json fields with messages that name the file and field.
class ConfigReader {
 public:
  ConfigReader(const json& config, absl::string_view source) : config_(config), source_(source) {}

  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(source_, ": ", what));
  }

  bool Has(const char* key) const {
    const auto it = config_.find(key);
    return it != config_.end() && !it->is_null();
  }

  absl::StatusOr<int64_t> PositiveInt(const char* key) const {
    if (!Has(key)) return Error(absl::StrCat("missing \"", key, "\""));
    const auto& value = config_.at(key);
    if (!value.is_number_integer() || value.get<int64_t>() <= 0) {
      return Error(absl::StrCat("\"", key, "\" must be a positive integer, found ", value.dump()));
    }
    return value.get<int64_t>();
  }
  absl::StatusOr<int64_t> PositiveInt(const char* key, int64_t fallback) const {
    if (!Has(key)) return fallback;
    return PositiveInt(key);
  }

  absl::StatusOr<double> Number(const char* key, double fallback) const {
    if (!Has(key)) return fallback;
    const auto& value = config_.at(key);
    if (!value.is_number()) {
      return Error(absl::StrCat("\"", key, "\" must be a number, found ", value.dump()));
    }
    return value.get<double>();
  }

  absl::StatusOr<bool> Bool(const char* key, bool fallback) const {
    if (!Has(key)) return fallback;
    const auto& value = config_.at(key);
    if (!value.is_boolean()) {
      return Error(absl::StrCat("\"", key, "\" must be true or false, found ", value.dump()));
    }
    return value.get<bool>();
  }

  absl::StatusOr<std::string> String(const char* key, std::string fallback) const {
    if (!Has(key)) return fallback;
    const auto& value = config_.at(key);
    if (!value.is_string()) {
      return Error(absl::StrCat("\"", key, "\" must be a string, found ", value.dump()));
    }
    return value.get<std::string>();
  }

  // A token id given as an integer or a list of integers (the first is used).
  std::optional<int64_t> TokenId(const char* key) const {
    if (!Has(key)) return std::nullopt;
    const auto& value = config_.at(key);
    if (value.is_number_integer()) return value.get<int64_t>();
    if (value.is_array() && !value.empty() && value[0].is_number_integer()) {
      return value[0].get<int64_t>();
    }
    return std::nullopt;
  }

  const json& config() const { return config_; }

 private:
  const json& config_;
  absl::string_view source_;
};

absl::StatusOr<Architecture> ResolveArchitecture(const ConfigReader& reader, std::string* name) {
  const json& config = reader.config();
  std::string requested;
  if (const auto it = config.find("architectures"); it != config.end() && it->is_array()) {
    for (const auto& item : *it) {
      if (!item.is_string()) continue;
      requested = item.get<std::string>();
      for (const auto& known : kArchitectures) {
        if (known.class_name == requested) {
          *name = requested;
          return known.architecture;
        }
      }
    }
  }
  if (requested.empty()) {
    QUENCH_ASSIGN_OR_RETURN(requested, reader.String("model_type", ""));
    for (const auto& known : kArchitectures) {
      if (known.model_type == requested) {
        *name = std::string(known.class_name);
        return known.architecture;
      }
    }
  }
  return reader.Error(absl::StrCat("architecture '", requested.empty() ? "(none given)" : requested,
                                   "' is not supported; Quench runs ",
                                   SupportedArchitecturesList()));
}

absl::StatusOr<Activation> ParseActivation(const ConfigReader& reader, absl::string_view name) {
  if (name == "silu" || name == "swish") return Activation::kSilu;
  if (name == "relu") return Activation::kRelu;
  if (name == "gelu") return Activation::kGelu;
  if (name == "gelu_new" || name == "gelu_pytorch_tanh") return Activation::kGeluTanh;
  return reader.Error(absl::StrCat("activation '", name,
                                   "' is not supported (silu, relu, gelu, gelu_pytorch_tanh)"));
}

absl::StatusOr<RopeScaling> ParseRopeScaling(const ConfigReader& reader) {
  RopeScaling scaling;
  const json& config = reader.config();
  const auto it = config.find("rope_scaling");
  if (it == config.end() || it->is_null()) return scaling;
  if (!it->is_object()) return reader.Error("\"rope_scaling\" must be an object or null");
  ConfigReader sub(*it, "rope_scaling");
  std::string type;
  QUENCH_ASSIGN_OR_RETURN(type, sub.String("rope_type", ""));
  if (type.empty()) {
    QUENCH_ASSIGN_OR_RETURN(type, sub.String("type", "default"));
  }
  QUENCH_ASSIGN_OR_RETURN(scaling.factor, sub.Number("factor", 1.0));
  if (scaling.factor <= 0) return reader.Error("rope_scaling.factor must be positive");
  if (type == "default") return scaling;
  if (type == "linear") {
    scaling.kind = RopeScalingKind::kLinear;
    return scaling;
  }
  if (type == "llama3") {
    scaling.kind = RopeScalingKind::kLlama3;
    QUENCH_ASSIGN_OR_RETURN(scaling.low_freq_factor, sub.Number("low_freq_factor", 1.0));
    QUENCH_ASSIGN_OR_RETURN(scaling.high_freq_factor, sub.Number("high_freq_factor", 4.0));
    QUENCH_ASSIGN_OR_RETURN(scaling.original_max_position_embeddings,
                            sub.PositiveInt("original_max_position_embeddings", 8192));
    if (scaling.high_freq_factor <= scaling.low_freq_factor) {
      return reader.Error("rope_scaling: high_freq_factor must exceed low_freq_factor");
    }
    return scaling;
  }
  return reader.Error(
      absl::StrCat("rope_scaling type '", type, "' is not supported (default, linear, llama3)"));
}

absl::Status ReadLlamaFamily(const ConfigReader& reader, ModelSpec& spec) {
  QUENCH_ASSIGN_OR_RETURN(spec.hidden_size, reader.PositiveInt("hidden_size"));
  QUENCH_ASSIGN_OR_RETURN(spec.intermediate_size, reader.PositiveInt("intermediate_size"));
  QUENCH_ASSIGN_OR_RETURN(spec.num_layers, reader.PositiveInt("num_hidden_layers"));
  QUENCH_ASSIGN_OR_RETURN(spec.num_heads, reader.PositiveInt("num_attention_heads"));
  QUENCH_ASSIGN_OR_RETURN(spec.num_kv_heads,
                          reader.PositiveInt("num_key_value_heads", spec.num_heads));
  QUENCH_ASSIGN_OR_RETURN(spec.max_position_embeddings,
                          reader.PositiveInt("max_position_embeddings", 2048));
  if (spec.hidden_size % spec.num_heads != 0 && !reader.Has("head_dim")) {
    return reader.Error(absl::StrCat("hidden_size ", spec.hidden_size,
                                     " is not a multiple of num_attention_heads ", spec.num_heads,
                                     " and no head_dim is given"));
  }
  QUENCH_ASSIGN_OR_RETURN(spec.head_dim,
                          reader.PositiveInt("head_dim", spec.hidden_size / spec.num_heads));
  QUENCH_ASSIGN_OR_RETURN(spec.norm_eps, reader.Number("rms_norm_eps", 1e-6));
  QUENCH_ASSIGN_OR_RETURN(spec.rope_theta, reader.Number("rope_theta", 10000.0));
  QUENCH_ASSIGN_OR_RETURN(spec.rope_scaling, ParseRopeScaling(reader));
  QUENCH_ASSIGN_OR_RETURN(std::string act, reader.String("hidden_act", "silu"));
  QUENCH_ASSIGN_OR_RETURN(spec.activation, ParseActivation(reader, act));
  QUENCH_ASSIGN_OR_RETURN(spec.tie_word_embeddings, reader.Bool("tie_word_embeddings", false));
  QUENCH_ASSIGN_OR_RETURN(const bool attention_bias, reader.Bool("attention_bias", false));
  QUENCH_ASSIGN_OR_RETURN(spec.mlp_bias, reader.Bool("mlp_bias", false));
  spec.qkv_bias = attention_bias || spec.architecture == Architecture::kQwen2;
  spec.o_bias = attention_bias;
  spec.norm = NormKind::kRmsNorm;
  spec.gated_mlp = true;
  spec.positions = PositionKind::kRope;
  if (spec.head_dim % 2 != 0) return reader.Error("head_dim must be even for rotary embeddings");

  bool sliding = spec.architecture == Architecture::kMistral;
  if (spec.architecture == Architecture::kQwen2) {
    QUENCH_ASSIGN_OR_RETURN(sliding, reader.Bool("use_sliding_window", false));
  }
  if (sliding && reader.Has("sliding_window")) {
    QUENCH_ASSIGN_OR_RETURN(int64_t window, reader.PositiveInt("sliding_window"));
    spec.sliding_window = window;
  }
  return absl::OkStatus();
}

absl::Status ReadOpt(const ConfigReader& reader, ModelSpec& spec) {
  QUENCH_ASSIGN_OR_RETURN(spec.hidden_size, reader.PositiveInt("hidden_size"));
  QUENCH_ASSIGN_OR_RETURN(spec.intermediate_size, reader.PositiveInt("ffn_dim"));
  QUENCH_ASSIGN_OR_RETURN(spec.num_layers, reader.PositiveInt("num_hidden_layers"));
  QUENCH_ASSIGN_OR_RETURN(spec.num_heads, reader.PositiveInt("num_attention_heads"));
  QUENCH_ASSIGN_OR_RETURN(spec.max_position_embeddings,
                          reader.PositiveInt("max_position_embeddings", 2048));
  if (spec.hidden_size % spec.num_heads != 0) {
    return reader.Error(absl::StrCat("hidden_size ", spec.hidden_size,
                                     " is not a multiple of num_attention_heads ", spec.num_heads));
  }
  QUENCH_ASSIGN_OR_RETURN(const int64_t projection_dim,
                          reader.PositiveInt("word_embed_proj_dim", spec.hidden_size));
  if (projection_dim != spec.hidden_size) {
    return reader.Error(absl::StrCat("word_embed_proj_dim ", projection_dim, " != hidden_size ",
                                     spec.hidden_size,
                                     ": OPT models with project_in/project_out (opt-350m) are not "
                                     "supported yet"));
  }
  QUENCH_ASSIGN_OR_RETURN(const bool elementwise_affine,
                          reader.Bool("layer_norm_elementwise_affine", true));
  if (!elementwise_affine)
    return reader.Error("layer_norm_elementwise_affine=false is not supported");
  spec.num_kv_heads = spec.num_heads;
  spec.head_dim = spec.hidden_size / spec.num_heads;
  spec.norm = NormKind::kLayerNorm;
  spec.norm_eps = 1e-5;  // OPT's LayerNorm uses PyTorch's default
  spec.norm_bias = true;
  QUENCH_ASSIGN_OR_RETURN(spec.norm_before_sublayer, reader.Bool("do_layer_norm_before", true));
  QUENCH_ASSIGN_OR_RETURN(std::string act, reader.String("activation_function", "relu"));
  QUENCH_ASSIGN_OR_RETURN(spec.activation, ParseActivation(reader, act));
  spec.gated_mlp = false;
  QUENCH_ASSIGN_OR_RETURN(const bool bias, reader.Bool("enable_bias", true));
  spec.qkv_bias = spec.o_bias = spec.mlp_bias = bias;
  spec.positions = PositionKind::kLearned;
  spec.learned_position_offset = 2;
  QUENCH_ASSIGN_OR_RETURN(spec.tie_word_embeddings, reader.Bool("tie_word_embeddings", true));
  return absl::OkStatus();
}

}  // namespace

absl::string_view LinearRoleName(LinearRole role) {
  switch (role) {
    case LinearRole::kQ:
      return "q";
    case LinearRole::kK:
      return "k";
    case LinearRole::kV:
      return "v";
    case LinearRole::kO:
      return "o";
    case LinearRole::kGate:
      return "gate";
    case LinearRole::kUp:
      return "up";
    case LinearRole::kDown:
      return "down";
  }
  return "?";
}

std::string SupportedArchitecturesList() {
  std::string list;
  for (const auto& known : kArchitectures) {
    absl::StrAppend(&list, list.empty() ? "" : ", ", known.class_name);
  }
  return list;
}

std::pair<int64_t, int64_t> ModelSpec::LinearShape(LinearRole role) const {
  switch (role) {
    case LinearRole::kQ:
      return {q_out(), hidden_size};
    case LinearRole::kK:
    case LinearRole::kV:
      return {kv_out(), hidden_size};
    case LinearRole::kO:
      return {hidden_size, q_out()};
    case LinearRole::kGate:
    case LinearRole::kUp:
      return {intermediate_size, hidden_size};
    case LinearRole::kDown:
      return {hidden_size, intermediate_size};
  }
  return {0, 0};
}

bool ModelSpec::LinearHasBias(LinearRole role) const {
  switch (role) {
    case LinearRole::kQ:
    case LinearRole::kK:
    case LinearRole::kV:
      return qkv_bias;
    case LinearRole::kO:
      return o_bias;
    default:
      return mlp_bias;
  }
}

std::string ModelSpec::EmbeddingName() const {
  return architecture == Architecture::kOpt ? "model.decoder.embed_tokens.weight"
                                            : "model.embed_tokens.weight";
}
std::string ModelSpec::PositionEmbeddingName() const {
  return "model.decoder.embed_positions.weight";
}
std::string ModelSpec::FinalNormName(absl::string_view suffix) const {
  return architecture == Architecture::kOpt
             ? absl::StrCat("model.decoder.final_layer_norm.", suffix)
             : absl::StrCat("model.norm.", suffix);
}
std::string ModelSpec::LmHeadName() const { return "lm_head.weight"; }

std::string ModelSpec::LinearName(int64_t layer, LinearRole role, absl::string_view suffix) const {
  if (architecture == Architecture::kOpt) {
    static constexpr absl::string_view kOptNames[] = {"self_attn.q_proj",
                                                      "self_attn.k_proj",
                                                      "self_attn.v_proj",
                                                      "self_attn.out_proj",
                                                      "(no gate)",
                                                      "fc1",
                                                      "fc2"};
    return absl::StrCat("model.decoder.layers.", layer, ".", kOptNames[static_cast<int>(role)], ".",
                        suffix);
  }
  static constexpr absl::string_view kLlamaNames[] = {
      "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
      "mlp.gate_proj",    "mlp.up_proj",      "mlp.down_proj"};
  return absl::StrCat("model.layers.", layer, ".", kLlamaNames[static_cast<int>(role)], ".",
                      suffix);
}

std::string ModelSpec::AttentionNormName(int64_t layer, absl::string_view suffix) const {
  return architecture == Architecture::kOpt
             ? absl::StrCat("model.decoder.layers.", layer, ".self_attn_layer_norm.", suffix)
             : absl::StrCat("model.layers.", layer, ".input_layernorm.", suffix);
}

std::string ModelSpec::MlpNormName(int64_t layer, absl::string_view suffix) const {
  return architecture == Architecture::kOpt
             ? absl::StrCat("model.decoder.layers.", layer, ".final_layer_norm.", suffix)
             : absl::StrCat("model.layers.", layer, ".post_attention_layernorm.", suffix);
}

absl::StatusOr<ModelSpec> ParseModelSpec(absl::string_view config_json, absl::string_view source) {
  const json config = json::parse(config_json, nullptr, /*allow_exceptions=*/false);
  if (config.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": not valid JSON"));
  }
  if (!config.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": not a JSON object"));
  }
  const ConfigReader reader(config, source);
  ModelSpec spec;
  QUENCH_ASSIGN_OR_RETURN(spec.architecture, ResolveArchitecture(reader, &spec.architecture_name));
  QUENCH_ASSIGN_OR_RETURN(spec.vocab_size, reader.PositiveInt("vocab_size"));
  if (spec.architecture == Architecture::kOpt) {
    QUENCH_RETURN_IF_ERROR(ReadOpt(reader, spec));
  } else {
    QUENCH_RETURN_IF_ERROR(ReadLlamaFamily(reader, spec));
  }
  if (spec.num_heads % spec.num_kv_heads != 0) {
    return reader.Error(absl::StrCat("num_attention_heads ", spec.num_heads,
                                     " is not a multiple of num_key_value_heads ",
                                     spec.num_kv_heads));
  }
  if (spec.norm_eps <= 0) return reader.Error("the norm epsilon must be positive");
  if (spec.rope_theta <= 0) return reader.Error("rope_theta must be positive");
  spec.bos_token_id = reader.TokenId("bos_token_id");
  spec.eos_token_id = reader.TokenId("eos_token_id");
  return spec;
}

absl::StatusOr<ModelSpec> LoadModelSpec(const std::filesystem::path& model_dir) {
  const auto path = model_dir / "config.json";
  QUENCH_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  return ParseModelSpec(text, path.string());
}

}  // namespace quench
