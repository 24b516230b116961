// RecipeToYaml: the recipe in Quench's schema with every field shown and commented, in a form
// that ParseRecipe reads back to an equal recipe.
#include "core/recipe/recipe.h"

#include <cctype>
#include <cmath>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/recipe/recipe_names.h"
#include "core/util/absl_view.h"

namespace quench {
namespace {

using recipe_internal::Contains;
using recipe_internal::FormatNumber;
using recipe_internal::JoinNames;
using recipe_internal::kGranularities;
using recipe_internal::kGridKinds;
using recipe_internal::kMethods;
using recipe_internal::kObservers;
using recipe_internal::kOutputNames;
using recipe_internal::kScaleDTypes;
using recipe_internal::Named;
using recipe_internal::NameOf;

bool IsYamlKeyword(std::string_view text) {
  constexpr std::string_view kKeywords[] = {"true", "false", "yes",  "no", "on",  "off",
                                            "y",    "n",     "null", "~",  "nan", "inf"};
  std::string lower(text);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return Contains(kKeywords, lower);
}

bool IsPlainSafe(std::string_view text) {
  if (text.empty() || IsYamlKeyword(text)) return false;
  if (!std::isalpha(static_cast<unsigned char>(text.front())) && text.front() != '_') return false;
  for (char c : text) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.' &&
        c != '/') {
      return false;
    }
  }
  return true;
}

std::string DoubleQuoted(std::string_view text) {
  std::string quoted = "\"";
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      quoted += '\\';
      quoted += c;
    } else if (c == '\n') {
      quoted += "\\n";
    } else if (c == '\t') {
      quoted += "\\t";
    } else if (byte < 0x20 || byte == 0x7f) {
      constexpr char kHex[] = "0123456789abcdef";
      quoted += "\\x";
      quoted += kHex[byte >> 4];
      quoted += kHex[byte & 0xf];
    } else {
      quoted += c;
    }
  }
  return quoted + "\"";
}

// A string scalar that reads back as exactly `text`: plain when unambiguous, single-quoted
// (only ' needs escaping there), or double-quoted when it holds control characters.
std::string YamlString(std::string_view text) {
  if (IsPlainSafe(text)) return std::string(text);
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) return DoubleQuoted(text);
  }
  std::string quoted = "'";
  for (char c : text) {
    quoted += c;
    if (c == '\'') quoted += '\'';
  }
  return quoted + "'";
}

// The shortest text that reads back as the same double.
std::string YamlDouble(double value) {
  if (std::isnan(value)) return ".nan";
  if (std::isinf(value)) return value > 0 ? ".inf" : "-.inf";
  std::string text = FormatNumber(value);
  if (text.find_first_of(".e") == std::string::npos) text += ".0";
  return text;
}

std::string_view YamlBool(bool value) { return value ? "true" : "false"; }

class YamlWriter {
 public:
  void Line(int indent, std::string_view key, std::string_view value,
            std::string_view comment = {}) {
    text_.append(static_cast<size_t>(indent), ' ');
    absl::StrAppend(&text_, AbslView(key), ":");
    if (!value.empty()) absl::StrAppend(&text_, " ", AbslView(value));
    if (!comment.empty()) absl::StrAppend(&text_, "  # ", AbslView(comment));
    text_ += '\n';
  }
  void Comment(std::string_view comment) { absl::StrAppend(&text_, "# ", AbslView(comment), "\n"); }

  void List(int indent, std::string_view key, const std::vector<std::string>& items,
            std::string_view comment = {}) {
    if (items.empty()) return Line(indent, key, "[]", comment);
    Line(indent, key, "", comment);
    for (const std::string& item : items) {
      text_.append(static_cast<size_t>(indent + 2), ' ');
      absl::StrAppend(&text_, "- ", YamlString(item), "\n");
    }
  }

  void Grid(int indent, const GridSpec& grid) {
    Line(indent, "type", NameOf(kGridKinds, grid.kind), JoinAlternatives(kGridKinds));
    Line(indent, "bits", absl::StrCat(grid.bits));
    Line(indent, "symmetric", YamlBool(grid.symmetric), "int only: false adds a zero point");
    Line(indent, "granularity", NameOf(kGranularities, grid.granularity),
         JoinAlternatives(kGranularities));
    Line(indent, "group_size", absl::StrCat(grid.group_size), "used by granularity group");
    Line(indent, "scale_dtype", NameOf(kScaleDTypes, grid.scale_dtype),
         JoinAlternatives(kScaleDTypes));
    Line(indent, "observer", NameOf(kObservers, grid.observer), JoinAlternatives(kObservers));
    Line(indent, "percentile", YamlDouble(grid.percentile), "used by observer percentile");
    Line(indent, "mse_grid", absl::StrCat(grid.mse_grid), "used by observer mse");
    Line(indent, "mse_max_shrink", YamlDouble(grid.mse_max_shrink), "used by observer mse");
  }

  std::string Take() { return std::move(text_); }

 private:
  template <typename E, size_t N>
  static std::string JoinAlternatives(const Named<E> (&table)[N]) {
    std::string joined;
    for (const auto& entry : table) {
      if (!joined.empty()) joined += " | ";
      joined += entry.name;
    }
    return joined;
  }

  std::string text_;
};

void WriteOverrides(YamlWriter& out, const std::vector<LayerOverride>& overrides) {
  if (overrides.empty()) {
    out.Line(0, "overrides", "[]", "e.g. [{match: 'mlp\\.down_proj', weights: {bits: 8}}]");
    return;
  }
  out.Line(0, "overrides", "", "weights not given inherit from `weights`");
  for (const LayerOverride& layer_override : overrides) {
    out.Line(2, "- match", YamlString(layer_override.match));
    out.Line(4, "skip", YamlBool(layer_override.skip));
    if (layer_override.grid) {
      out.Line(4, "weights", "");
      out.Grid(6, *layer_override.grid);
    }
  }
}

}  // namespace

std::string RecipeToYaml(const Recipe& recipe) {
  YamlWriter out;
  out.Comment("Quench recipe (every field shown; see `quench recipe --help`)");
  out.Line(0, "name", YamlString(recipe.name));
  out.Line(0, "method", NameOf(kMethods, recipe.method), "rtn | gptq | awq");
  out.Line(0, "weights", "");
  out.Grid(2, recipe.weights);
  out.Line(0, "gptq", "");
  out.Line(2, "damp_percent", YamlDouble(recipe.gptq.damp_percent), "of the mean Hessian diagonal");
  out.Line(2, "block_size", absl::StrCat(recipe.gptq.block_size));
  out.Line(2, "act_order", YamlBool(recipe.gptq.act_order));
  out.Line(2, "static_groups", YamlBool(recipe.gptq.static_groups));
  out.Line(2, "true_sequential", YamlBool(recipe.gptq.true_sequential));
  out.Line(0, "awq", "");
  out.Line(2, "scale_grid", absl::StrCat(recipe.awq.scale_grid));
  out.Line(2, "duo_scaling", YamlBool(recipe.awq.duo_scaling));
  out.Line(2, "clip", YamlBool(recipe.awq.clip));
  out.Line(2, "clip_grid", absl::StrCat(recipe.awq.clip_grid));
  out.Line(2, "clip_max_shrink", YamlDouble(recipe.awq.clip_max_shrink));
  out.Line(2, "clip_tokens", absl::StrCat(recipe.awq.clip_tokens));
  if (!recipe.gguf.type.empty()) {
    out.Line(0, "gguf", "",
             "the gguf output is solved on this GGUF mixture's grids; other outputs on `weights` "
             "(a second solve in the same calibration pass where they differ)");
    out.Line(2, "type", recipe.gguf.type);
  }
  out.List(0, "targets", recipe.targets, "regexes searched in linear names");
  out.List(0, "ignore", recipe.ignore);
  WriteOverrides(out, recipe.overrides);
  if (recipe.embedding.enabled) {
    out.Line(0, "embedding", "", "group_size 0: per channel (row)");
    out.Grid(2, recipe.embedding.grid);
  } else {
    out.Line(0, "embedding", "null",
             "embeddings untouched; e.g. {type: int, bits: 8, group_size: 0}");
  }
  out.Line(0, "calibration", "");
  out.Line(2, "path", YamlString(recipe.calibration.path), "empty: given on the command line");
  out.Line(2, "samples", absl::StrCat(recipe.calibration.samples));
  out.Line(2, "seq_len", absl::StrCat(recipe.calibration.seq_len));
  out.Line(2, "seed", absl::StrCat(recipe.calibration.seed));
  out.Line(2, "shards", absl::StrCat(recipe.calibration.shards));
  out.Line(0, "evaluation", "");
  out.Line(2, "path", YamlString(recipe.evaluation.path), "empty: no evaluation");
  out.Line(2, "max_sequences", absl::StrCat(recipe.evaluation.max_sequences), "0: all");
  out.Line(2, "seq_len", absl::StrCat(recipe.evaluation.seq_len), "0: lines whole");
  out.List(0, "outputs", recipe.outputs, JoinNames(kOutputNames));
  return out.Take();
}

}  // namespace quench
