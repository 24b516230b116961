// Recipes: Quench's YAML/JSON schema and torchchat-style JSON in, validation, YAML out.
#include "core/recipe/recipe.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <optional>
#include <regex>
#include <set>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/util/absl_view.h"
#include "core/util/atomic_file.h"
#include "core/util/status_macros.h"

namespace quench {
namespace {

// ------------------------------------------------------------------------------------------------
// Names: one table per enum serves the parser, the emitter and the messages.

template <typename E>
struct Named {
  std::string_view name;
  E value;
};

constexpr Named<QuantMethod> kMethods[] = {
    {"rtn", QuantMethod::kRtn}, {"gptq", QuantMethod::kGptq}, {"awq", QuantMethod::kAwq}};
constexpr Named<GridKind> kGridKinds[] = {{"int", GridKind::kInt},      {"fp8", GridKind::kFp8},
                                          {"nf4", GridKind::kNf4},      {"fp4", GridKind::kFp4},
                                          {"mxfp4", GridKind::kMxFp4},  {"mxfp8", GridKind::kMxFp8},
                                          {"mxint8", GridKind::kMxInt8}};
constexpr Named<Granularity> kGranularities[] = {{"tensor", Granularity::kTensor},
                                                 {"channel", Granularity::kChannel},
                                                 {"group", Granularity::kGroup}};
constexpr Named<DType> kScaleDTypes[] = {
    {"fp32", DType::kF32}, {"fp16", DType::kF16}, {"bf16", DType::kBF16}};
constexpr Named<Observer> kObservers[] = {
    {"minmax", Observer::kMinMax}, {"percentile", Observer::kPercentile}, {"mse", Observer::kMse}};

// Output formats: the first two are written today, the rest are accepted for forward
// compatibility of recipe files.
constexpr std::string_view kOutputNames[] = {"fake_quant",         "quench", "gptq", "awq",
                                             "compressed_tensors", "gguf"};

constexpr std::string_view kTopLevelKeys[] = {"method",      "weights",    "gptq",      "awq",
                                              "targets",     "ignore",     "overrides", "embedding",
                                              "calibration", "evaluation", "outputs",   "name"};
constexpr std::string_view kGridKeys[] = {"type",       "bits",          "symmetric", "granularity",
                                          "group_size", "scale_dtype",   "observer",  "percentile",
                                          "mse_grid",   "mse_max_shrink"};
constexpr std::string_view kGptqKeys[] = {"damp_percent", "block_size", "act_order",
                                          "static_groups", "true_sequential"};
constexpr std::string_view kAwqKeys[] = {"scale_grid", "duo_scaling",     "clip",
                                         "clip_grid",  "clip_max_shrink", "clip_tokens"};
constexpr std::string_view kOverrideKeys[] = {"match", "weights", "skip"};
constexpr std::string_view kCalibrationKeys[] = {"path", "samples", "seq_len", "seed", "shards"};
constexpr std::string_view kEvaluationKeys[] = {"path", "max_sequences", "seq_len"};
constexpr std::string_view kTorchchatKeys[] = {"linear:int4", "linear:int8", "embedding"};
constexpr std::string_view kTorchchatInt4Keys[] = {"groupsize"};
constexpr std::string_view kTorchchatGridKeys[] = {"bitwidth", "groupsize"};

template <typename Range>
std::string JoinNames(const Range& names) {
  std::string joined;
  for (const auto& name : names) {
    if (!joined.empty()) joined += ", ";
    joined += name;
  }
  return joined;
}

template <typename E, size_t N>
std::string JoinNames(const Named<E> (&table)[N]) {
  std::vector<std::string_view> names;
  for (const auto& entry : table) names.push_back(entry.name);
  return JoinNames(names);
}

template <typename E, size_t N>
std::string_view NameOf(const Named<E> (&table)[N], E value) {
  for (const auto& entry : table) {
    if (entry.value == value) return entry.name;
  }
  return "unknown";
}

template <typename E, size_t N>
std::optional<E> ValueOf(const Named<E> (&table)[N], std::string_view name) {
  for (const auto& entry : table) {
    if (entry.name == name) return entry.value;
  }
  return std::nullopt;
}

template <size_t N>
bool Contains(const std::string_view (&names)[N], std::string_view name) {
  for (std::string_view known : names) {
    if (known == name) return true;
  }
  return false;
}

// ------------------------------------------------------------------------------------------------
// Scalars. Numbers and booleans must be plain (unquoted) scalars, so that `bits: "4"` is refused
// like any other wrong type; strings may be written either way.

bool IsPlainScalar(const YAML::Node& node) { return node.IsScalar() && node.Tag() != "!"; }

template <typename T>
std::optional<T> ParseInteger(std::string_view text) {
  const bool plus = !text.empty() && text.front() == '+';  // from_chars takes only '-'
  if (plus) text.remove_prefix(1);
  if (text.empty() || (plus && text.front() == '-')) return std::nullopt;
  T value{};
  const char* end = text.data() + text.size();
  const auto [stop, error] = std::from_chars(text.data(), end, value);
  if (error != std::errc() || stop != end) return std::nullopt;
  return value;
}

std::optional<double> ParseDouble(std::string_view text) {
  if (text == ".inf" || text == ".Inf" || text == ".INF" || text == "+.inf" || text == "+.Inf" ||
      text == "+.INF") {
    return HUGE_VAL;
  }
  if (text == "-.inf" || text == "-.Inf" || text == "-.INF") return -HUGE_VAL;
  if (text == ".nan" || text == ".NaN" || text == ".NAN") return std::nan("");
  const bool plus = !text.empty() && text.front() == '+';
  if (plus) text.remove_prefix(1);
  if (text.empty() || (plus && text.front() == '-')) return std::nullopt;
  double value = 0;
  const char* end = text.data() + text.size();
  const auto [stop, error] = std::from_chars(text.data(), end, value);
  if (error != std::errc() || stop != end) return std::nullopt;
  return value;
}

std::optional<bool> ParseBool(std::string_view text) {
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  return std::nullopt;
}

// What a node is, for "found ..." in messages.
std::string Describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
      return "null";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Scalar: {
      constexpr size_t kMaxShown = 60;
      std::string text = node.Scalar();
      if (text.size() > kMaxShown) text = text.substr(0, kMaxShown) + "...";
      return absl::StrCat(node.Tag() == "!" ? "the string '" : "'", text, "'");
    }
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

// ------------------------------------------------------------------------------------------------
// Reading mappings with messages that name the source, the line and column, and the key path.

class Source {
 public:
  explicit Source(std::string name) : name_(std::move(name)) {}

  const std::string& name() const { return name_; }

  absl::Status Error(const YAML::Mark& mark, std::string_view message) const {
    if (mark.is_null()) {
      return absl::InvalidArgumentError(absl::StrCat(name_, ": ", AbslView(message)));
    }
    return absl::InvalidArgumentError(
        absl::StrCat(name_, ":", mark.line + 1, ":", mark.column + 1, ": ", AbslView(message)));
  }

 private:
  std::string name_;
};

std::string JoinPath(std::string_view parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  return absl::StrCat(AbslView(parent), ".", AbslView(key));
}

// One YAML mapping. Open() checks every key against the allowed ones; the typed reads leave
// the destination (a default) untouched when the key is absent.
class MapReader {
 public:
  static absl::StatusOr<MapReader> Open(const Source& source, const YAML::Node& node,
                                        std::string path,
                                        std::span<const std::string_view> allowed) {
    const std::string what = path.empty() ? "a recipe" : absl::StrCat("'", path, "'");
    if (!node.IsMap()) {
      return source.Error(node.Mark(),
                          absl::StrCat(what, " must be a mapping with keys ", JoinNames(allowed),
                                       ", found ", Describe(node)));
    }
    MapReader reader(source, std::move(path), node.Mark());
    for (const auto& entry : node) {
      QUENCH_RETURN_IF_ERROR(reader.AddEntry(entry.first, entry.second, allowed));
    }
    return reader;
  }

  const Source& source() const { return *source_; }
  std::string PathOf(std::string_view key) const { return JoinPath(path_, key); }

  // True when the key is given, even with a null value.
  bool Has(std::string_view key) const { return Find(key) != nullptr; }

  // The key's value, or nullptr when absent or null (null sections mean "not given").
  const YAML::Node* Value(std::string_view key) const {
    const Entry* entry = Find(key);
    if (entry == nullptr || entry->value.IsNull()) return nullptr;
    return &entry->value;
  }

  // An error about the mapping as a whole.
  absl::Status Error(std::string_view message) const { return source_->Error(mark_, message); }

  // An error about `key`, pointing at it.
  absl::Status Error(std::string_view key, std::string_view message) const {
    const Entry* entry = Find(key);
    return source_->Error(entry != nullptr ? entry->key.Mark() : YAML::Mark::null_mark(), message);
  }

  // The nested mapping under `key`, or nullopt when absent or null.
  absl::StatusOr<std::optional<MapReader>> Child(std::string_view key,
                                                 std::span<const std::string_view> allowed) const {
    const YAML::Node* value = Value(key);
    if (value == nullptr) return std::nullopt;
    QUENCH_ASSIGN_OR_RETURN(MapReader child, Open(*source_, *value, PathOf(key), allowed));
    return child;
  }

  absl::Status Read(std::string_view key, bool* out) const {
    return ReadScalar(key, "true or false", ParseBool, out);
  }
  absl::Status Read(std::string_view key, int* out) const {
    return ReadScalar(key, "an integer", ParseInteger<int>, out);
  }
  absl::Status Read(std::string_view key, int64_t* out) const {
    return ReadScalar(key, "an integer", ParseInteger<int64_t>, out);
  }
  absl::Status Read(std::string_view key, uint64_t* out) const {
    return ReadScalar(key, "a non-negative integer", ParseInteger<uint64_t>, out);
  }
  absl::Status Read(std::string_view key, double* out) const {
    return ReadScalar(key, "a number", ParseDouble, out);
  }

  // Any scalar, quoted or not; null means empty.
  absl::Status Read(std::string_view key, std::string* out) const {
    const Entry* entry = Find(key);
    if (entry == nullptr) return absl::OkStatus();
    if (entry->value.IsNull()) {  // `path:` with nothing after it: not set
      out->clear();
      return absl::OkStatus();
    }
    if (!entry->value.IsScalar()) return TypeError(*entry, "a string");
    *out = entry->value.Scalar();
    return absl::OkStatus();
  }

  // A list of strings; null means an empty list.
  absl::Status Read(std::string_view key, std::vector<std::string>* out) const {
    const Entry* entry = Find(key);
    if (entry == nullptr) return absl::OkStatus();
    std::vector<std::string> items;
    if (!entry->value.IsNull()) {
      if (!entry->value.IsSequence()) return TypeError(*entry, "a list of strings");
      for (size_t i = 0; i < entry->value.size(); ++i) {
        const YAML::Node item = entry->value[i];
        if (!item.IsScalar()) {
          return source_->Error(
              item.Mark(), absl::StrCat("'", PathOf(key), "[", i, "]' must be a string, found ",
                                        Describe(item)));
        }
        items.push_back(item.Scalar());
      }
    }
    *out = std::move(items);
    return absl::OkStatus();
  }

  // One of the names in `table`.
  template <typename E, size_t N>
  absl::Status Read(std::string_view key, const Named<E> (&table)[N], E* out) const {
    const Entry* entry = Find(key);
    if (entry == nullptr) return absl::OkStatus();
    const std::string expected = absl::StrCat("one of ", JoinNames(table));
    if (!entry->value.IsScalar()) return TypeError(*entry, expected);
    const std::optional<E> value = ValueOf(table, entry->value.Scalar());
    if (!value) {
      return source_->Error(entry->key.Mark(),
                            absl::StrCat("unknown value '", entry->value.Scalar(), "' for '",
                                         PathOf(key), "' (allowed: ", JoinNames(table), ")"));
    }
    *out = *value;
    return absl::OkStatus();
  }

 private:
  struct Entry {
    std::string name;
    YAML::Node key;
    YAML::Node value;
  };

  MapReader(const Source& source, std::string path, YAML::Mark mark)
      : source_(&source), path_(std::move(path)), mark_(mark) {}

  absl::Status AddEntry(const YAML::Node& key, const YAML::Node& value,
                        std::span<const std::string_view> allowed) {
    if (!key.IsScalar()) {
      return source_->Error(key.Mark(), absl::StrCat("keys must be strings, found ", Describe(key),
                                                     " in ", path_.empty() ? "the recipe" : path_));
    }
    const std::string& name = key.Scalar();
    bool known = false;
    for (std::string_view allowed_name : allowed) known = known || allowed_name == name;
    if (!known) {
      return source_->Error(key.Mark(), absl::StrCat("unknown key '", PathOf(name),
                                                     "' (allowed: ", JoinNames(allowed), ")"));
    }
    if (Find(name) != nullptr) {
      return source_->Error(key.Mark(), absl::StrCat("duplicate key '", PathOf(name),
                                                     "' (each key may appear once)"));
    }
    entries_.push_back({name, key, value});
    return absl::OkStatus();
  }

  const Entry* Find(std::string_view key) const {
    for (const Entry& entry : entries_) {
      if (entry.name == key) return &entry;
    }
    return nullptr;
  }

  absl::Status TypeError(const Entry& entry, std::string_view expected) const {
    return source_->Error(entry.key.Mark(),
                          absl::StrCat("'", PathOf(entry.name), "' must be ", AbslView(expected),
                                       ", found ", Describe(entry.value)));
  }

  template <typename T, typename ParseFn>
  absl::Status ReadScalar(std::string_view key, std::string_view expected, ParseFn parse,
                          T* out) const {
    const Entry* entry = Find(key);
    if (entry == nullptr) return absl::OkStatus();
    std::optional<T> value;
    if (IsPlainScalar(entry->value)) value = parse(entry->value.Scalar());
    if (!value) return TypeError(*entry, expected);
    *out = *value;
    return absl::OkStatus();
  }

  const Source* source_;
  std::string path_;
  YAML::Mark mark_;  // where the mapping starts
  std::vector<Entry> entries_;
};

// ------------------------------------------------------------------------------------------------
// Grids.

// A grid of `kind` that keeps `inherited`'s observer and scale settings but takes the kind's own
// bits, symmetry and grouping, so that `type: mxfp4` alone is a valid grid.
GridSpec WithKindDefaults(const GridSpec& inherited, GridKind kind) {
  const GridSpec fresh;
  GridSpec grid = inherited;
  grid.kind = kind;
  grid.bits = fresh.bits;
  grid.symmetric = true;
  grid.granularity = fresh.granularity;
  grid.group_size = fresh.group_size;
  constexpr int64_t kMxBlock = 32;
  switch (kind) {
    case GridKind::kInt:
      break;
    case GridKind::kFp8:
      grid.bits = 8;
      grid.granularity = Granularity::kChannel;
      break;
    case GridKind::kNf4:
    case GridKind::kFp4:
      grid.bits = 4;
      break;
    case GridKind::kMxFp4:
      grid.bits = 4;
      grid.group_size = kMxBlock;
      break;
    case GridKind::kMxFp8:
    case GridKind::kMxInt8:
      grid.bits = 8;
      grid.group_size = kMxBlock;
      break;
  }
  return grid;
}

// Reads the group size and granularity. A group size given without a granularity implies it:
// 0 means one group per channel (the stored group size then stays as it was, unused), more
// means per group.
absl::Status ReadGrouping(const MapReader& map, GridSpec* grid) {
  const bool granularity_given = map.Has("granularity");
  QUENCH_RETURN_IF_ERROR(map.Read("granularity", kGranularities, &grid->granularity));
  if (!map.Has("group_size")) return absl::OkStatus();
  int64_t group_size = 0;
  QUENCH_RETURN_IF_ERROR(map.Read("group_size", &group_size));
  const std::string path = map.PathOf("group_size");
  if (group_size < 0) {
    return map.Error("group_size", absl::StrCat("'", path, "' is ", group_size,
                                                " (allowed: 0 for per channel, or at least 1)"));
  }
  if (group_size > 0) {
    grid->group_size = group_size;
    if (!granularity_given) grid->granularity = Granularity::kGroup;
    return absl::OkStatus();
  }
  if (granularity_given && grid->granularity == Granularity::kGroup) {
    return map.Error("group_size", absl::StrCat("'", path,
                                                "' is 0 (per channel) but granularity is group "
                                                "(allowed: a group size of at least 1, or "
                                                "granularity: channel)"));
  }
  if (!granularity_given) grid->granularity = Granularity::kChannel;
  return absl::OkStatus();
}

// A grid mapping over `base`: keys not given keep base's values.
absl::StatusOr<GridSpec> ReadGrid(const MapReader& map, const GridSpec& base) {
  GridKind kind = base.kind;
  QUENCH_RETURN_IF_ERROR(map.Read("type", kGridKinds, &kind));
  GridSpec grid = kind == base.kind ? base : WithKindDefaults(base, kind);
  QUENCH_RETURN_IF_ERROR(map.Read("bits", &grid.bits));
  QUENCH_RETURN_IF_ERROR(map.Read("symmetric", &grid.symmetric));
  QUENCH_RETURN_IF_ERROR(ReadGrouping(map, &grid));
  QUENCH_RETURN_IF_ERROR(map.Read("scale_dtype", kScaleDTypes, &grid.scale_dtype));
  QUENCH_RETURN_IF_ERROR(map.Read("observer", kObservers, &grid.observer));
  QUENCH_RETURN_IF_ERROR(map.Read("percentile", &grid.percentile));
  QUENCH_RETURN_IF_ERROR(map.Read("mse_grid", &grid.mse_grid));
  QUENCH_RETURN_IF_ERROR(map.Read("mse_max_shrink", &grid.mse_max_shrink));
  return grid;
}

// Embeddings default to int8 per channel (row), the common choice that keeps quality.
GridSpec DefaultEmbeddingGrid() {
  GridSpec grid;
  grid.bits = 8;
  grid.granularity = Granularity::kChannel;
  return grid;
}

// ------------------------------------------------------------------------------------------------
// Quench's schema.

absl::Status ReadGptqOptions(const MapReader& map, GptqOptions* gptq) {
  QUENCH_RETURN_IF_ERROR(map.Read("damp_percent", &gptq->damp_percent));
  QUENCH_RETURN_IF_ERROR(map.Read("block_size", &gptq->block_size));
  QUENCH_RETURN_IF_ERROR(map.Read("act_order", &gptq->act_order));
  QUENCH_RETURN_IF_ERROR(map.Read("static_groups", &gptq->static_groups));
  return map.Read("true_sequential", &gptq->true_sequential);
}

absl::Status ReadAwqOptions(const MapReader& map, AwqOptions* awq) {
  QUENCH_RETURN_IF_ERROR(map.Read("scale_grid", &awq->scale_grid));
  QUENCH_RETURN_IF_ERROR(map.Read("duo_scaling", &awq->duo_scaling));
  QUENCH_RETURN_IF_ERROR(map.Read("clip", &awq->clip));
  QUENCH_RETURN_IF_ERROR(map.Read("clip_grid", &awq->clip_grid));
  QUENCH_RETURN_IF_ERROR(map.Read("clip_max_shrink", &awq->clip_max_shrink));
  return map.Read("clip_tokens", &awq->clip_tokens);
}

absl::Status ReadCalibrationOptions(const MapReader& map, CalibrationOptions* calibration) {
  QUENCH_RETURN_IF_ERROR(map.Read("path", &calibration->path));
  QUENCH_RETURN_IF_ERROR(map.Read("samples", &calibration->samples));
  QUENCH_RETURN_IF_ERROR(map.Read("seq_len", &calibration->seq_len));
  QUENCH_RETURN_IF_ERROR(map.Read("seed", &calibration->seed));
  return map.Read("shards", &calibration->shards);
}

absl::Status ReadEvaluationOptions(const MapReader& map, EvaluationOptions* evaluation) {
  QUENCH_RETURN_IF_ERROR(map.Read("path", &evaluation->path));
  QUENCH_RETURN_IF_ERROR(map.Read("max_sequences", &evaluation->max_sequences));
  return map.Read("seq_len", &evaluation->seq_len);
}

absl::StatusOr<LayerOverride> ReadOverride(const MapReader& map, const GridSpec& weights) {
  if (!map.Has("match")) {
    return map.Error(
        absl::StrCat("'", map.PathOf("match"),
                     "' is missing (each override needs match: a regex over linear names, "
                     "plus weights: {...} or skip: true)"));
  }
  LayerOverride layer_override;
  QUENCH_RETURN_IF_ERROR(map.Read("match", &layer_override.match));
  QUENCH_RETURN_IF_ERROR(map.Read("skip", &layer_override.skip));
  QUENCH_ASSIGN_OR_RETURN(const std::optional<MapReader> grid_map, map.Child("weights", kGridKeys));
  if (grid_map) {
    QUENCH_ASSIGN_OR_RETURN(layer_override.grid, ReadGrid(*grid_map, weights));
  }
  return layer_override;
}

absl::StatusOr<std::vector<LayerOverride>> ReadOverrides(const MapReader& top,
                                                         const GridSpec& weights) {
  std::vector<LayerOverride> overrides;
  const YAML::Node* list = top.Value("overrides");
  if (list == nullptr) return overrides;
  if (!list->IsSequence()) {
    return top.Error("overrides",
                     absl::StrCat("'overrides' must be a list of mappings with keys ",
                                  JoinNames(kOverrideKeys), ", found ", Describe(*list)));
  }
  for (size_t i = 0; i < list->size(); ++i) {
    QUENCH_ASSIGN_OR_RETURN(const MapReader item,
                            MapReader::Open(top.source(), (*list)[i],
                                            absl::StrCat("overrides[", i, "]"), kOverrideKeys));
    QUENCH_ASSIGN_OR_RETURN(LayerOverride layer_override, ReadOverride(item, weights));
    overrides.push_back(std::move(layer_override));
  }
  return overrides;
}

// Reads the section `key` with `read` when it is given (and not null).
template <size_t N, typename Options, typename ReadFn>
absl::Status ReadSection(const MapReader& top, std::string_view key,
                         const std::string_view (&allowed)[N], ReadFn read, Options* options) {
  QUENCH_ASSIGN_OR_RETURN(const std::optional<MapReader> section, top.Child(key, allowed));
  if (!section) return absl::OkStatus();
  return read(*section, options);
}

absl::StatusOr<Recipe> ReadQuenchRecipe(const Source& source, const YAML::Node& root) {
  QUENCH_ASSIGN_OR_RETURN(const MapReader top, MapReader::Open(source, root, "", kTopLevelKeys));
  Recipe recipe;
  QUENCH_RETURN_IF_ERROR(top.Read("name", &recipe.name));
  QUENCH_RETURN_IF_ERROR(top.Read("method", kMethods, &recipe.method));
  QUENCH_ASSIGN_OR_RETURN(const std::optional<MapReader> weights, top.Child("weights", kGridKeys));
  if (weights) {
    QUENCH_ASSIGN_OR_RETURN(recipe.weights, ReadGrid(*weights, GridSpec{}));
  }
  QUENCH_RETURN_IF_ERROR(ReadSection(top, "gptq", kGptqKeys, ReadGptqOptions, &recipe.gptq));
  QUENCH_RETURN_IF_ERROR(ReadSection(top, "awq", kAwqKeys, ReadAwqOptions, &recipe.awq));
  QUENCH_RETURN_IF_ERROR(top.Read("targets", &recipe.targets));
  QUENCH_RETURN_IF_ERROR(top.Read("ignore", &recipe.ignore));
  QUENCH_ASSIGN_OR_RETURN(recipe.overrides, ReadOverrides(top, recipe.weights));
  QUENCH_ASSIGN_OR_RETURN(const std::optional<MapReader> embedding,
                          top.Child("embedding", kGridKeys));
  if (embedding) {
    recipe.embedding.enabled = true;
    QUENCH_ASSIGN_OR_RETURN(recipe.embedding.grid, ReadGrid(*embedding, DefaultEmbeddingGrid()));
  }
  QUENCH_RETURN_IF_ERROR(ReadSection(top, "calibration", kCalibrationKeys, ReadCalibrationOptions,
                                     &recipe.calibration));
  QUENCH_RETURN_IF_ERROR(
      ReadSection(top, "evaluation", kEvaluationKeys, ReadEvaluationOptions, &recipe.evaluation));
  QUENCH_RETURN_IF_ERROR(top.Read("outputs", &recipe.outputs));
  return recipe;
}

// ------------------------------------------------------------------------------------------------
// torchchat-style JSON: {"linear:int4": {"groupsize": 128}, "embedding": {"bitwidth": 8}}.

// torchchat keys are "kind:variant" ("linear:int4"), and its embedding section speaks of
// bitwidth/groupsize where Quench's says bits/group_size.
bool IsTorchchatConfig(const YAML::Node& root) {
  if (!root.IsMap()) return false;
  for (const auto& entry : root) {
    if (!entry.first.IsScalar()) return false;
    const std::string& key = entry.first.Scalar();
    if (key.find(':') != std::string::npos) return true;
    if (key != "embedding" || !entry.second.IsMap()) continue;
    for (const auto& field : entry.second) {
      if (field.first.IsScalar() &&
          (field.first.Scalar() == "bitwidth" || field.first.Scalar() == "groupsize")) {
        return true;
      }
    }
  }
  return false;
}

absl::Status CheckTorchchatKeys(const Source& source, const YAML::Node& root) {
  for (const auto& entry : root) {
    const std::string& key = entry.first.Scalar();
    if (!Contains(kTorchchatKeys, key)) {
      return source.Error(entry.first.Mark(),
                          absl::StrCat("unknown torchchat-style key '", key,
                                       "' (supported: ", JoinNames(kTorchchatKeys), ")"));
    }
  }
  return absl::OkStatus();
}

// A symmetric int grid from torchchat's bitwidth/groupsize (groupsize 0 or absent: per channel).
absl::StatusOr<GridSpec> ReadTorchchatGrid(const MapReader& map, int default_bits) {
  GridSpec grid;
  grid.bits = default_bits;
  QUENCH_RETURN_IF_ERROR(map.Read("bitwidth", &grid.bits));
  int64_t group_size = 0;
  QUENCH_RETURN_IF_ERROR(map.Read("groupsize", &group_size));
  if (group_size < 0) {
    return map.Error("groupsize", absl::StrCat("'", map.PathOf("groupsize"), "' is ", group_size,
                                               " (allowed: 0 for per channel, or at least 1)"));
  }
  grid.granularity = group_size > 0 ? Granularity::kGroup : Granularity::kChannel;
  if (group_size > 0) grid.group_size = group_size;
  return grid;
}

// The grid under `key`, with `allowed` fields; a null value means all defaults.
template <size_t N>
absl::StatusOr<GridSpec> ReadTorchchatSection(const MapReader& top, std::string_view key,
                                              const std::string_view (&allowed)[N],
                                              int default_bits) {
  QUENCH_ASSIGN_OR_RETURN(const std::optional<MapReader> section, top.Child(key, allowed));
  if (!section) {
    GridSpec grid;
    grid.bits = default_bits;
    grid.granularity = Granularity::kChannel;
    return grid;
  }
  return ReadTorchchatGrid(*section, default_bits);
}

absl::StatusOr<Recipe> ReadTorchchatRecipe(const Source& source, const YAML::Node& root) {
  QUENCH_RETURN_IF_ERROR(CheckTorchchatKeys(source, root));
  QUENCH_ASSIGN_OR_RETURN(const MapReader top, MapReader::Open(source, root, "", kTorchchatKeys));
  if (top.Has("linear:int4") && top.Has("linear:int8")) {
    return top.Error("linear:int8", "'linear:int4' and 'linear:int8' are both given; keep one");
  }
  Recipe recipe;
  recipe.method = QuantMethod::kRtn;
  if (top.Has("linear:int4")) {
    QUENCH_ASSIGN_OR_RETURN(recipe.weights,
                            ReadTorchchatSection(top, "linear:int4", kTorchchatInt4Keys, 4));
  } else if (top.Has("linear:int8")) {
    QUENCH_ASSIGN_OR_RETURN(recipe.weights,
                            ReadTorchchatSection(top, "linear:int8", kTorchchatGridKeys, 8));
  } else {
    // Embeddings only: every linear keeps its weights.
    recipe.overrides.push_back({.match = ".*", .grid = std::nullopt, .skip = true});
  }
  if (top.Has("embedding")) {
    recipe.embedding.enabled = true;
    QUENCH_ASSIGN_OR_RETURN(recipe.embedding.grid,
                            ReadTorchchatSection(top, "embedding", kTorchchatGridKeys, 8));
  }
  return recipe;
}

// ------------------------------------------------------------------------------------------------
// Text → recipe.

// Watches documents go by without building them: where each starts and what its root is.
class DocumentProbe : public YAML::EventHandler {
 public:
  struct Document {
    YAML::Mark start;
    YAML::Mark root;
    bool has_root = false;
    bool null_root = false;
  };

  const std::vector<Document>& documents() const { return documents_; }

  void OnDocumentStart(const YAML::Mark& mark) override {
    documents_.emplace_back();
    documents_.back().start = mark;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { Node(mark, /*null=*/true); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { Node(mark, false); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                const std::string&) override {
    Node(mark, false);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    Node(mark, false);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    Node(mark, false);
  }
  void OnMapEnd() override {}

 private:
  void Node(const YAML::Mark& mark, bool null) {
    if (documents_.empty() || documents_.back().has_root) return;
    documents_.back().root = mark;
    documents_.back().has_root = true;
    documents_.back().null_root = null;
  }

  std::vector<Document> documents_;
};

// Checks that the text holds one document. yaml-cpp 0.7 never gets past a stray ',' outside
// brackets: it reports the same empty document forever (jbeder/yaml-cpp#1040), and LoadAll
// fills memory. So the probe stops after three documents and refuses one that starts where
// the previous one did.
absl::Status CheckSingleDocument(const Source& source, const std::string& text) {
  std::istringstream stream(text);
  YAML::Parser parser(stream);
  DocumentProbe probe;
  constexpr int kDocumentsLooked = 3;
  for (int i = 0; i < kDocumentsLooked && parser.HandleNextDocument(probe); ++i) {
  }
  const std::vector<DocumentProbe::Document>& documents = probe.documents();
  for (size_t i = 1; i < documents.size(); ++i) {
    const YAML::Mark& start = documents[i].start;
    if (start.pos != documents[i - 1].start.pos) continue;
    const bool in_text = start.pos >= 0 && static_cast<size_t>(start.pos) < text.size();
    return source.Error(start, absl::StrCat("invalid YAML: unexpected '",
                                            in_text ? text.substr(start.pos, 1) : "", "'"));
  }
  if (documents.size() > 1 && documents[1].has_root && !documents[1].null_root) {
    return source.Error(documents[1].root,
                        "a second YAML document starts here; a recipe is a single mapping");
  }
  return absl::OkStatus();
}

absl::StatusOr<Recipe> ReadRecipeText(const Source& source, const std::string& text) {
  QUENCH_RETURN_IF_ERROR(CheckSingleDocument(source, text));
  const YAML::Node root = YAML::Load(text);
  if (!root.IsDefined() || root.IsNull()) {
    return source.Error(YAML::Mark::null_mark(),
                        absl::StrCat("the recipe is empty (expected a mapping with keys ",
                                     JoinNames(kTopLevelKeys), ")"));
  }
  if (IsTorchchatConfig(root)) return ReadTorchchatRecipe(source, root);
  return ReadQuenchRecipe(source, root);
}

// ------------------------------------------------------------------------------------------------
// Validation.

absl::Status Invalid(std::string_view path, std::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(AbslView(path), ": ", AbslView(problem)));
}

std::string FormatNumber(double value) {
  char buffer[64];
  const auto [end, error] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return error == std::errc() ? std::string(buffer, end) : std::string("?");
}

absl::Status ValidateGrid(const GridSpec& grid, std::string_view path) {
  const absl::Status status = grid.Validate();
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(AbslView(path), ": ", status.message()));
}

// The method's demands on a grid (the recipe's weights or an override's).
absl::Status ValidateGridForMethod(const Recipe& recipe, const GridSpec& grid,
                                   std::string_view path) {
  const std::string_view granularity = NameOf(kGranularities, grid.granularity);
  switch (recipe.method) {
    case QuantMethod::kRtn:
      break;
    case QuantMethod::kAwq:
      if (grid.kind != GridKind::kInt) {
        return Invalid(JoinPath(path, "type"),
                       absl::StrCat(AbslView(NameOf(kGridKinds, grid.kind)),
                                    " does not work with method awq, whose scale and clip "
                                    "searches are for int grids (use type: int, symmetric or "
                                    "not, or method rtn/gptq)"));
      }
      break;
    case QuantMethod::kGptq:
      if (recipe.gptq.static_groups && grid.granularity != Granularity::kGroup) {
        return Invalid("gptq.static_groups",
                       absl::StrCat("needs granularity group, but ", AbslView(path),
                                    ".granularity is ", AbslView(granularity),
                                    " (set static_groups: false, or granularity: group)"));
      }
      if (recipe.gptq.act_order && grid.granularity == Granularity::kTensor) {
        return Invalid("gptq.act_order",
                       absl::StrCat("needs granularity channel or group, but ", AbslView(path),
                                    ".granularity is tensor (set act_order: false)"));
      }
      break;
  }
  return absl::OkStatus();
}

absl::Status ValidateGptqOptions(const GptqOptions& gptq) {
  if (!(gptq.damp_percent > 0 && gptq.damp_percent <= 1)) {
    return Invalid("gptq.damp_percent", absl::StrCat(FormatNumber(gptq.damp_percent),
                                                     " is outside (0, 1] (usual: 0.01)"));
  }
  if (gptq.block_size < 1) {
    return Invalid("gptq.block_size",
                   absl::StrCat(gptq.block_size, " is not allowed (at least 1; usual: 128)"));
  }
  return absl::OkStatus();
}

absl::Status ValidateAwqOptions(const AwqOptions& awq) {
  if (awq.scale_grid < 1) {
    return Invalid("awq.scale_grid",
                   absl::StrCat(awq.scale_grid, " is not allowed (at least 1; usual: 20)"));
  }
  if (awq.clip_grid < 1) {
    return Invalid("awq.clip_grid",
                   absl::StrCat(awq.clip_grid, " is not allowed (at least 1; usual: 20)"));
  }
  if (!(awq.clip_max_shrink >= 0 && awq.clip_max_shrink < 1)) {
    return Invalid("awq.clip_max_shrink", absl::StrCat(FormatNumber(awq.clip_max_shrink),
                                                       " is outside [0, 1) (usual: 0.5)"));
  }
  if (awq.clip_tokens < 1) {
    return Invalid("awq.clip_tokens",
                   absl::StrCat(awq.clip_tokens, " is not allowed (at least 1; usual: 512)"));
  }
  return absl::OkStatus();
}

absl::Status ValidateRegex(const std::string& pattern, std::string_view path) {
  if (pattern.empty()) {
    return Invalid(path, "is empty (give a regex such as 'mlp\\.down_proj'; '.*' matches all)");
  }
  try {
    const std::regex compiled(pattern, std::regex::ECMAScript);
  } catch (const std::exception& error) {  // std::regex_error, or running out of memory
    return Invalid(
        path,
        absl::StrCat("'", pattern, "' is not a valid regex (ECMAScript syntax): ", error.what()));
  }
  return absl::OkStatus();
}

absl::Status ValidatePatterns(const std::vector<std::string>& patterns, std::string_view key) {
  for (size_t i = 0; i < patterns.size(); ++i) {
    QUENCH_RETURN_IF_ERROR(ValidateRegex(patterns[i], absl::StrCat(AbslView(key), "[", i, "]")));
  }
  return absl::OkStatus();
}

absl::Status ValidateOverrides(const Recipe& recipe) {
  for (size_t i = 0; i < recipe.overrides.size(); ++i) {
    const LayerOverride& layer_override = recipe.overrides[i];
    const std::string path = absl::StrCat("overrides[", i, "]");
    QUENCH_RETURN_IF_ERROR(ValidateRegex(layer_override.match, path + ".match"));
    if (!layer_override.grid && !layer_override.skip) {
      return Invalid(path, "has neither weights nor skip (give weights: {...} or skip: true)");
    }
    if (layer_override.grid && layer_override.skip) {
      return Invalid(path,
                     "has both weights and skip: true; a skipped layer is not quantized, "
                     "so keep one");
    }
    if (layer_override.grid) {
      QUENCH_RETURN_IF_ERROR(ValidateGrid(*layer_override.grid, path + ".weights"));
      QUENCH_RETURN_IF_ERROR(
          ValidateGridForMethod(recipe, *layer_override.grid, path + ".weights"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateEmbedding(const EmbeddingQuantization& embedding) {
  if (!embedding.enabled) return absl::OkStatus();
  if (embedding.grid.kind != GridKind::kInt) {
    return Invalid("embedding.type",
                   absl::StrCat(AbslView(NameOf(kGridKinds, embedding.grid.kind)),
                                " is not supported for embeddings (allowed: int)"));
  }
  if (embedding.grid.granularity == Granularity::kTensor) {
    return Invalid("embedding.granularity",
                   "tensor is not supported for embeddings (allowed: channel, i.e. group_size: "
                   "0, or group)");
  }
  return ValidateGrid(embedding.grid, "embedding");
}

absl::Status ValidateCalibration(const CalibrationOptions& calibration) {
  if (calibration.samples < 1) {
    return Invalid("calibration.samples",
                   absl::StrCat(calibration.samples, " is not allowed (at least 1; usual: 128)"));
  }
  if (calibration.seq_len < 2) {
    return Invalid("calibration.seq_len",
                   absl::StrCat(calibration.seq_len, " is not allowed (at least 2 tokens)"));
  }
  if (calibration.shards < 1) {
    return Invalid("calibration.shards",
                   absl::StrCat(calibration.shards, " is not allowed (at least 1; usual: 8)"));
  }
  if (calibration.shards > calibration.samples) {
    return Invalid(
        "calibration.shards",
        absl::StrCat(calibration.shards, " is more than calibration.samples (", calibration.samples,
                     "); every shard needs a sample (allowed: 1 to samples)"));
  }
  return absl::OkStatus();
}

absl::Status ValidateEvaluation(const EvaluationOptions& evaluation) {
  if (evaluation.max_sequences < 0) {
    return Invalid("evaluation.max_sequences",
                   absl::StrCat(evaluation.max_sequences, " is not allowed (0 for all, or more)"));
  }
  if (evaluation.seq_len < 0 || evaluation.seq_len == 1) {
    return Invalid("evaluation.seq_len",
                   absl::StrCat(evaluation.seq_len,
                                " is not allowed (0 for the default, or at least 2 tokens)"));
  }
  return absl::OkStatus();
}

absl::Status ValidateOutputs(const std::vector<std::string>& outputs) {
  if (outputs.empty()) {
    return Invalid("outputs", absl::StrCat("is empty (allowed: ", JoinNames(kOutputNames), ")"));
  }
  std::set<std::string> seen;
  for (size_t i = 0; i < outputs.size(); ++i) {
    const std::string path = absl::StrCat("outputs[", i, "]");
    if (!Contains(kOutputNames, outputs[i])) {
      return Invalid(path, absl::StrCat("unknown output '", outputs[i],
                                        "' (allowed: ", JoinNames(kOutputNames), ")"));
    }
    if (!seen.insert(outputs[i]).second) {
      return Invalid(path, absl::StrCat("'", outputs[i], "' is listed twice"));
    }
  }
  return absl::OkStatus();
}

// ------------------------------------------------------------------------------------------------
// Recipe → YAML.

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

// ------------------------------------------------------------------------------------------------
// Public interface.

absl::string_view QuantMethodName(QuantMethod method) { return AbslView(NameOf(kMethods, method)); }

absl::Status Recipe::Validate() const {
  QUENCH_RETURN_IF_ERROR(ValidateGrid(weights, "weights"));
  QUENCH_RETURN_IF_ERROR(ValidateGridForMethod(*this, weights, "weights"));
  QUENCH_RETURN_IF_ERROR(ValidateGptqOptions(gptq));
  QUENCH_RETURN_IF_ERROR(ValidateAwqOptions(awq));
  if (targets.empty()) {
    return Invalid("targets", "is empty; give at least one regex ('.*' for every linear layer)");
  }
  QUENCH_RETURN_IF_ERROR(ValidatePatterns(targets, "targets"));
  QUENCH_RETURN_IF_ERROR(ValidatePatterns(ignore, "ignore"));
  QUENCH_RETURN_IF_ERROR(ValidateOverrides(*this));
  QUENCH_RETURN_IF_ERROR(ValidateEmbedding(embedding));
  QUENCH_RETURN_IF_ERROR(ValidateCalibration(calibration));
  QUENCH_RETURN_IF_ERROR(ValidateEvaluation(evaluation));
  return ValidateOutputs(outputs);
}

absl::StatusOr<Recipe> ParseRecipe(absl::string_view text, absl::string_view source) {
  const Source where(source.empty() ? std::string("recipe") : std::string(source));
  absl::StatusOr<Recipe> recipe;
  // yaml-cpp reports malformed text by throwing; nothing may escape to the caller.
  try {
    recipe = ReadRecipeText(where, std::string(text));
  } catch (const YAML::Exception& error) {
    return where.Error(error.mark, absl::StrCat("invalid YAML: ", error.msg));
  } catch (const std::exception& error) {
    return where.Error(YAML::Mark::null_mark(), error.what());
  }
  if (!recipe.ok()) return recipe.status();
  const absl::Status valid = recipe->Validate();
  if (!valid.ok()) {
    return absl::Status(valid.code(), absl::StrCat(where.name(), ": ", valid.message()));
  }
  return recipe;
}

absl::StatusOr<Recipe> LoadRecipe(const std::filesystem::path& path) {
  std::error_code error;
  if (std::filesystem::is_directory(path, error)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path.string(), ": is a directory, not a recipe file"));
  }
  QUENCH_ASSIGN_OR_RETURN(const std::string text, ReadFileToString(path));
  QUENCH_ASSIGN_OR_RETURN(Recipe recipe, ParseRecipe(text, path.string()));
  if (recipe.name.empty()) recipe.name = path.stem().string();
  return recipe;
}

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
