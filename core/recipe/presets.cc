// Built-in recipes, kept as YAML in Quench's schema so that `quench recipe show <preset>` prints
// what a user would write, and every preset goes through the same parser as a file.
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/recipe/recipe.h"
#include "core/util/absl_view.h"
#include "core/util/status_macros.h"

namespace quench {
namespace {

struct Preset {
  std::string_view name;
  std::string_view yaml;
};

constexpr Preset kPresets[] = {
    {"rtn-w4g32",
     R"(# Round-to-nearest int4, groups of 32: fast, no calibration data, a quality baseline.
name: rtn-w4g32
method: rtn
weights:
  type: int
  bits: 4
  symmetric: true
  granularity: group
  group_size: 32
)"},
    {"gptq-w4g32",
     R"(# GPTQ int4, groups of 32, act-order (groups follow the act order, g_idx), MSE-searched group ranges: best int4 quality, larger scales.
name: gptq-w4g32
method: gptq
weights:
  type: int
  bits: 4
  symmetric: true
  granularity: group
  group_size: 32
  observer: mse
gptq:
  damp_percent: 0.01
  act_order: true
  static_groups: false
)"},
    {"awq-w4g32",
     R"(# AWQ int4 with zero points, groups of 32: activation-aware scaling and clipping.
name: awq-w4g32
method: awq
weights:
  type: int
  bits: 4
  symmetric: false
  granularity: group
  group_size: 32
awq:
  duo_scaling: true
  clip: true
)"},
    {"rtn-w4g128",
     R"(# Round-to-nearest int4, groups of 128: the quickest int4 checkpoint, no calibration.
name: rtn-w4g128
method: rtn
weights:
  type: int
  bits: 4
  symmetric: true
  granularity: group
  group_size: 128
)"},
    {"gptq-w4g128",
     R"(# GPTQ int4, groups of 128, act-order (groups follow the act order, g_idx), MSE-searched group ranges: the common GPTQ checkpoint layout.
name: gptq-w4g128
method: gptq
weights:
  type: int
  bits: 4
  symmetric: true
  granularity: group
  group_size: 128
  observer: mse
gptq:
  damp_percent: 0.01
  act_order: true
  static_groups: false
)"},
    {"awq-w4g128", R"(# AWQ int4 with zero points, groups of 128: the common AWQ checkpoint layout.
name: awq-w4g128
method: awq
weights:
  type: int
  bits: 4
  symmetric: false
  granularity: group
  group_size: 128
awq:
  duo_scaling: true
  clip: true
)"},
    {"rtn-w8",
     R"(# Round-to-nearest int8, symmetric, one scale per output channel: near-lossless, 2x smaller.
name: rtn-w8
method: rtn
weights:
  type: int
  bits: 8
  symmetric: true
  granularity: channel
)"},
    {"gptq-w4g128-asym",
     R"(# GPTQ int4 with zero points, groups of 128, act-order (groups follow the act order, g_idx), MSE-searched group ranges: for skewed weights.
name: gptq-w4g128-asym
method: gptq
weights:
  type: int
  bits: 4
  symmetric: false
  granularity: group
  group_size: 128
  observer: mse
gptq:
  damp_percent: 0.01
  act_order: true
  static_groups: false
)"},
    {"gptq-gguf-q4_0",
     R"(# GPTQ solved on llama.cpp's Q4_0 grid (int4 symmetric, groups of 32, fp16 scales): the .gguf holds the solver's codes, no second rounding.
name: gptq-gguf-q4_0
method: gptq
weights:
  observer: mse
gguf:
  type: q4_0
gptq:
  damp_percent: 0.01
  act_order: true
  static_groups: true
outputs:
  - fake_quant
  - quench
  - gguf
)"},
    {"gptq-gguf-q4_k_m",
     R"(# GPTQ solved on the grids of llama.cpp's Q4_K_M mixture: Q4_K, Q6_K for attn_v/ffn_down of the "more bits" layers, and llama.cpp's fallbacks (Q5_0, Q8_0) where a 256-block does not fit a width. Super-block scales come from llama.cpp's own search.
name: gptq-gguf-q4_k_m
method: gptq
weights:
  observer: mse
gguf:
  type: q4_k_m
gptq:
  damp_percent: 0.01
  act_order: true
  static_groups: true
outputs:
  - fake_quant
  - quench
  - gguf
)"},
    {"awq-gguf-q4_0",
     R"(# AWQ scaling and clipping solved on llama.cpp's Q4_0 grid: a .gguf with AWQ's codes.
name: awq-gguf-q4_0
method: awq
gguf:
  type: q4_0
awq:
  duo_scaling: true
  clip: true
outputs:
  - fake_quant
  - quench
  - gguf
)"},
    {"rtn-gguf-q8_0",
     R"(# Round-to-nearest on llama.cpp's Q8_0 grid (int8 symmetric, groups of 32): near-lossless .gguf, no calibration.
name: rtn-gguf-q8_0
method: rtn
gguf:
  type: q8_0
outputs:
  - fake_quant
  - quench
  - gguf
)"},
};

}  // namespace

std::vector<std::string> PresetNames() {
  std::vector<std::string> names;
  for (const Preset& preset : kPresets) names.emplace_back(preset.name);
  return names;
}

absl::StatusOr<std::string> PresetYaml(absl::string_view name) {
  for (const Preset& preset : kPresets) {
    if (AbslView(preset.name) == name) return std::string(preset.yaml);
  }
  std::string known;
  for (const Preset& preset : kPresets) {
    absl::StrAppend(&known, known.empty() ? "" : ", ", AbslView(preset.name));
  }
  return absl::NotFoundError(
      absl::StrCat("unknown preset '", name, "' (known presets: ", known, ")"));
}

absl::StatusOr<Recipe> LoadPreset(absl::string_view name) {
  QUENCH_ASSIGN_OR_RETURN(const std::string yaml, PresetYaml(name));
  return ParseRecipe(yaml, absl::StrCat("preset ", name));
}

}  // namespace quench
