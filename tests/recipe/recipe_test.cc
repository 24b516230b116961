// Recipes: Quench's YAML/JSON schema, torchchat-style JSON, presets, YAML round trips, and bad
// recipes refused with messages that name the key and say what is allowed.
#include "core/recipe/recipe.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace quench {
namespace {

void ExpectGridEq(const GridSpec& actual, const GridSpec& expected) {
  EXPECT_EQ(actual.kind, expected.kind);
  EXPECT_EQ(actual.bits, expected.bits);
  EXPECT_EQ(actual.symmetric, expected.symmetric);
  EXPECT_EQ(actual.granularity, expected.granularity);
  EXPECT_EQ(actual.group_size, expected.group_size);
  EXPECT_EQ(actual.scale_dtype, expected.scale_dtype);
  EXPECT_EQ(actual.observer, expected.observer);
  EXPECT_EQ(actual.percentile, expected.percentile);
  EXPECT_EQ(actual.mse_grid, expected.mse_grid);
  EXPECT_EQ(actual.mse_max_shrink, expected.mse_max_shrink);
}

// Field by field (the structs have no operator==); doubles must match exactly.
void ExpectRecipeEq(const Recipe& actual, const Recipe& expected) {
  EXPECT_EQ(actual.name, expected.name);
  EXPECT_EQ(actual.method, expected.method);
  {
    SCOPED_TRACE("weights");
    ExpectGridEq(actual.weights, expected.weights);
  }
  EXPECT_EQ(actual.gptq.damp_percent, expected.gptq.damp_percent);
  EXPECT_EQ(actual.gptq.block_size, expected.gptq.block_size);
  EXPECT_EQ(actual.gptq.act_order, expected.gptq.act_order);
  EXPECT_EQ(actual.gptq.static_groups, expected.gptq.static_groups);
  EXPECT_EQ(actual.gptq.true_sequential, expected.gptq.true_sequential);
  EXPECT_EQ(actual.awq.scale_grid, expected.awq.scale_grid);
  EXPECT_EQ(actual.awq.duo_scaling, expected.awq.duo_scaling);
  EXPECT_EQ(actual.awq.clip, expected.awq.clip);
  EXPECT_EQ(actual.awq.clip_grid, expected.awq.clip_grid);
  EXPECT_EQ(actual.awq.clip_max_shrink, expected.awq.clip_max_shrink);
  EXPECT_EQ(actual.awq.clip_tokens, expected.awq.clip_tokens);
  EXPECT_EQ(actual.targets, expected.targets);
  EXPECT_EQ(actual.ignore, expected.ignore);
  ASSERT_EQ(actual.overrides.size(), expected.overrides.size());
  for (size_t i = 0; i < actual.overrides.size(); ++i) {
    SCOPED_TRACE("overrides[" + std::to_string(i) + "]");
    EXPECT_EQ(actual.overrides[i].match, expected.overrides[i].match);
    EXPECT_EQ(actual.overrides[i].skip, expected.overrides[i].skip);
    ASSERT_EQ(actual.overrides[i].grid.has_value(), expected.overrides[i].grid.has_value());
    if (actual.overrides[i].grid)
      ExpectGridEq(*actual.overrides[i].grid, *expected.overrides[i].grid);
  }
  EXPECT_EQ(actual.embedding.enabled, expected.embedding.enabled);
  if (actual.embedding.enabled && expected.embedding.enabled) {
    SCOPED_TRACE("embedding");
    ExpectGridEq(actual.embedding.grid, expected.embedding.grid);
  }
  EXPECT_EQ(actual.calibration.path, expected.calibration.path);
  EXPECT_EQ(actual.calibration.samples, expected.calibration.samples);
  EXPECT_EQ(actual.calibration.seq_len, expected.calibration.seq_len);
  EXPECT_EQ(actual.calibration.seed, expected.calibration.seed);
  EXPECT_EQ(actual.calibration.shards, expected.calibration.shards);
  EXPECT_EQ(actual.evaluation.path, expected.evaluation.path);
  EXPECT_EQ(actual.evaluation.max_sequences, expected.evaluation.max_sequences);
  EXPECT_EQ(actual.evaluation.seq_len, expected.evaluation.seq_len);
  EXPECT_EQ(actual.outputs, expected.outputs);
}

// Emits, parses back, and expects the same recipe and the same text again.
void ExpectRoundTrip(const Recipe& recipe) {
  const std::string yaml = RecipeToYaml(recipe);
  SCOPED_TRACE(yaml);
  auto parsed = ParseRecipe(yaml, "round-trip.yaml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ExpectRecipeEq(*parsed, recipe);
  EXPECT_EQ(RecipeToYaml(*parsed), yaml);
}

constexpr const char* kFullYaml = R"(# A recipe using every section.
name: my-recipe
method: gptq            # rtn | gptq | awq
weights:
  type: int
  bits: 4
  symmetric: true
  granularity: group
  group_size: 32
  scale_dtype: bf16
  observer: percentile
  percentile: 99.5
  mse_grid: 50
  mse_max_shrink: 0.3
gptq: {damp_percent: 0.05, block_size: 64, act_order: true, static_groups: true, true_sequential: false}
awq: {scale_grid: 10, duo_scaling: false, clip: false, clip_grid: 5, clip_max_shrink: 0.25, clip_tokens: 256}
targets: ['\.mlp\.', 'self_attn']
ignore: ['lm_head', 'gate']
overrides:
  - match: 'mlp\.down_proj'
    weights: {bits: 8}
  - match: 'layers\.0\.'
    skip: true
embedding: {type: int, bits: 8, group_size: 0}
calibration: {path: data.jsonl, samples: 64, seq_len: 512, seed: 7, shards: 4}
evaluation: {path: eval.jsonl, max_sequences: 10, seq_len: 128}
outputs: [fake_quant, quench]
)";

constexpr const char* kFullJson = R"({
  "name": "my-recipe", "method": "gptq",
  "weights": {"type": "int", "bits": 4, "symmetric": true, "granularity": "group",
              "group_size": 32, "scale_dtype": "bf16", "observer": "percentile",
              "percentile": 99.5, "mse_grid": 50, "mse_max_shrink": 0.3},
  "gptq": {"damp_percent": 0.05, "block_size": 64, "act_order": true, "static_groups": true,
           "true_sequential": false},
  "awq": {"scale_grid": 10, "duo_scaling": false, "clip": false, "clip_grid": 5,
          "clip_max_shrink": 0.25, "clip_tokens": 256},
  "targets": ["\\.mlp\\.", "self_attn"], "ignore": ["lm_head", "gate"],
  "overrides": [{"match": "mlp\\.down_proj", "weights": {"bits": 8}},
                {"match": "layers\\.0\\.", "skip": true}],
  "embedding": {"type": "int", "bits": 8, "group_size": 0},
  "calibration": {"path": "data.jsonl", "samples": 64, "seq_len": 512, "seed": 7, "shards": 4},
  "evaluation": {"path": "eval.jsonl", "max_sequences": 10, "seq_len": 128},
  "outputs": ["fake_quant", "quench"]
})";

void ExpectFullRecipe(const Recipe& recipe) {
  EXPECT_EQ(recipe.name, "my-recipe");
  EXPECT_EQ(recipe.method, QuantMethod::kGptq);
  EXPECT_EQ(recipe.weights.kind, GridKind::kInt);
  EXPECT_EQ(recipe.weights.bits, 4);
  EXPECT_TRUE(recipe.weights.symmetric);
  EXPECT_EQ(recipe.weights.granularity, Granularity::kGroup);
  EXPECT_EQ(recipe.weights.group_size, 32);
  EXPECT_EQ(recipe.weights.scale_dtype, DType::kBF16);
  EXPECT_EQ(recipe.weights.observer, Observer::kPercentile);
  EXPECT_EQ(recipe.weights.percentile, 99.5);
  EXPECT_EQ(recipe.weights.mse_grid, 50);
  EXPECT_EQ(recipe.weights.mse_max_shrink, 0.3);
  EXPECT_EQ(recipe.gptq.damp_percent, 0.05);
  EXPECT_EQ(recipe.gptq.block_size, 64);
  EXPECT_TRUE(recipe.gptq.act_order);
  EXPECT_TRUE(recipe.gptq.static_groups);
  EXPECT_FALSE(recipe.gptq.true_sequential);
  EXPECT_EQ(recipe.awq.scale_grid, 10);
  EXPECT_FALSE(recipe.awq.duo_scaling);
  EXPECT_FALSE(recipe.awq.clip);
  EXPECT_EQ(recipe.awq.clip_grid, 5);
  EXPECT_EQ(recipe.awq.clip_max_shrink, 0.25);
  EXPECT_EQ(recipe.awq.clip_tokens, 256);
  EXPECT_EQ(recipe.targets, (std::vector<std::string>{"\\.mlp\\.", "self_attn"}));
  EXPECT_EQ(recipe.ignore, (std::vector<std::string>{"lm_head", "gate"}));
  ASSERT_EQ(recipe.overrides.size(), 2u);
  EXPECT_EQ(recipe.overrides[0].match, "mlp\\.down_proj");
  EXPECT_FALSE(recipe.overrides[0].skip);
  ASSERT_TRUE(recipe.overrides[0].grid.has_value());
  EXPECT_EQ(recipe.overrides[0].grid->bits, 8);
  EXPECT_EQ(recipe.overrides[0].grid->group_size, 32);  // inherited from weights
  EXPECT_EQ(recipe.overrides[0].grid->scale_dtype, DType::kBF16);
  EXPECT_EQ(recipe.overrides[1].match, "layers\\.0\\.");
  EXPECT_TRUE(recipe.overrides[1].skip);
  EXPECT_FALSE(recipe.overrides[1].grid.has_value());
  EXPECT_TRUE(recipe.embedding.enabled);
  EXPECT_EQ(recipe.embedding.grid.kind, GridKind::kInt);
  EXPECT_EQ(recipe.embedding.grid.bits, 8);
  EXPECT_EQ(recipe.embedding.grid.granularity, Granularity::kChannel);
  EXPECT_EQ(recipe.calibration.path, "data.jsonl");
  EXPECT_EQ(recipe.calibration.samples, 64);
  EXPECT_EQ(recipe.calibration.seq_len, 512);
  EXPECT_EQ(recipe.calibration.seed, 7u);
  EXPECT_EQ(recipe.calibration.shards, 4);
  EXPECT_EQ(recipe.evaluation.path, "eval.jsonl");
  EXPECT_EQ(recipe.evaluation.max_sequences, 10);
  EXPECT_EQ(recipe.evaluation.seq_len, 128);
  EXPECT_EQ(recipe.outputs, (std::vector<std::string>{"fake_quant", "quench"}));
}

TEST(RecipeTest, ParsesFullYaml) {
  auto recipe = ParseRecipe(kFullYaml, "recipe.yaml");
  ASSERT_TRUE(recipe.ok()) << recipe.status();
  ExpectFullRecipe(*recipe);
}

TEST(RecipeTest, ParsesJsonLikeYaml) {
  auto from_json = ParseRecipe(kFullJson, "recipe.json");
  ASSERT_TRUE(from_json.ok()) << from_json.status();
  ExpectFullRecipe(*from_json);
  auto from_yaml = ParseRecipe(kFullYaml, "recipe.yaml");
  ASSERT_TRUE(from_yaml.ok()) << from_yaml.status();
  ExpectRecipeEq(*from_json, *from_yaml);
}

TEST(RecipeTest, EmptyMappingGivesTheStructDefaults) {
  auto recipe = ParseRecipe("{}", "recipe.yaml");
  ASSERT_TRUE(recipe.ok()) << recipe.status();
  ExpectRecipeEq(*recipe, Recipe{});
  EXPECT_EQ(recipe->method, QuantMethod::kGptq);
  EXPECT_EQ(recipe->targets, (std::vector<std::string>{".*"}));
  EXPECT_EQ(recipe->ignore, (std::vector<std::string>{"lm_head"}));
  EXPECT_FALSE(recipe->embedding.enabled);
  EXPECT_EQ(recipe->calibration.samples, 128);
  EXPECT_EQ(recipe->outputs, (std::vector<std::string>{"fake_quant", "quench"}));
}

TEST(RecipeTest, NullSectionsAreAbsentAndNullListsAreEmpty) {
  auto recipe = ParseRecipe("gptq:\nembedding:\nignore:\nweights: ~\n", "recipe.yaml");
  ASSERT_TRUE(recipe.ok()) << recipe.status();
  EXPECT_FALSE(recipe->embedding.enabled);
  EXPECT_TRUE(recipe->ignore.empty());
  EXPECT_EQ(recipe->weights.bits, GridSpec{}.bits);
}

TEST(RecipeTest, TypeGivesItsOwnDefaults) {
  auto fp8 = ParseRecipe("method: rtn\nweights: {type: fp8}", "recipe.yaml");
  ASSERT_TRUE(fp8.ok()) << fp8.status();
  EXPECT_EQ(fp8->weights.kind, GridKind::kFp8);
  EXPECT_EQ(fp8->weights.bits, 8);
  EXPECT_EQ(fp8->weights.granularity, Granularity::kChannel);

  auto nf4 = ParseRecipe("method: rtn\nweights: {type: nf4}", "recipe.yaml");
  ASSERT_TRUE(nf4.ok()) << nf4.status();
  EXPECT_EQ(nf4->weights.bits, 4);

  struct MxCase {
    const char* type;
    GridKind kind;
    int bits;
  };
  for (const MxCase& mx :
       {MxCase{"mxfp4", GridKind::kMxFp4, 4}, MxCase{"mxfp8", GridKind::kMxFp8, 8},
        MxCase{"mxint8", GridKind::kMxInt8, 8}}) {
    SCOPED_TRACE(mx.type);
    auto recipe =
        ParseRecipe(std::string("method: rtn\nweights: {type: ") + mx.type + "}", "recipe.yaml");
    ASSERT_TRUE(recipe.ok()) << recipe.status();
    EXPECT_EQ(recipe->weights.kind, mx.kind);
    EXPECT_EQ(recipe->weights.bits, mx.bits);
    EXPECT_EQ(recipe->weights.granularity, Granularity::kGroup);
    EXPECT_EQ(recipe->weights.group_size, 32);
  }
}

TEST(RecipeTest, OverridesInheritFromWeights) {
  auto recipe = ParseRecipe(R"(method: rtn
weights: {bits: 4, symmetric: false, group_size: 32, observer: mse, scale_dtype: fp32}
overrides:
  - {match: down_proj, weights: {bits: 8}}
  - {match: gate_proj, weights: {type: fp8}}
)",
                            "recipe.yaml");
  ASSERT_TRUE(recipe.ok()) << recipe.status();
  ASSERT_EQ(recipe->overrides.size(), 2u);
  const GridSpec& int8 = *recipe->overrides[0].grid;
  EXPECT_EQ(int8.kind, GridKind::kInt);
  EXPECT_EQ(int8.bits, 8);
  EXPECT_FALSE(int8.symmetric);
  EXPECT_EQ(int8.group_size, 32);
  EXPECT_EQ(int8.observer, Observer::kMse);
  // A new type takes that type's bits, symmetry and grouping but keeps observer and scales.
  const GridSpec& fp8 = *recipe->overrides[1].grid;
  EXPECT_EQ(fp8.kind, GridKind::kFp8);
  EXPECT_EQ(fp8.bits, 8);
  EXPECT_TRUE(fp8.symmetric);
  EXPECT_EQ(fp8.granularity, Granularity::kChannel);
  EXPECT_EQ(fp8.observer, Observer::kMse);
  EXPECT_EQ(fp8.scale_dtype, DType::kF32);
}

TEST(RecipeTest, GroupSizeImpliesGranularity) {
  auto recipe = ParseRecipe("method: rtn\nweights: {group_size: 0}\nembedding: {group_size: 64}",
                            "recipe.yaml");
  ASSERT_TRUE(recipe.ok()) << recipe.status();
  EXPECT_EQ(recipe->weights.granularity, Granularity::kChannel);
  EXPECT_EQ(recipe->embedding.grid.granularity, Granularity::kGroup);
  EXPECT_EQ(recipe->embedding.grid.group_size, 64);

  auto explicit_granularity =
      ParseRecipe("method: rtn\nweights: {granularity: tensor, group_size: 64}", "recipe.yaml");
  ASSERT_TRUE(explicit_granularity.ok()) << explicit_granularity.status();
  EXPECT_EQ(explicit_granularity->weights.granularity, Granularity::kTensor);
}

TEST(RecipeTest, EmbeddingDefaultsToInt8PerChannel) {
  auto recipe = ParseRecipe("embedding: {}", "recipe.yaml");
  ASSERT_TRUE(recipe.ok()) << recipe.status();
  EXPECT_TRUE(recipe->embedding.enabled);
  EXPECT_EQ(recipe->embedding.grid.kind, GridKind::kInt);
  EXPECT_EQ(recipe->embedding.grid.bits, 8);
  EXPECT_TRUE(recipe->embedding.grid.symmetric);
  EXPECT_EQ(recipe->embedding.grid.granularity, Granularity::kChannel);
}

TEST(RecipeTest, QuantMethodNames) {
  EXPECT_EQ(QuantMethodName(QuantMethod::kRtn), "rtn");
  EXPECT_EQ(QuantMethodName(QuantMethod::kGptq), "gptq");
  EXPECT_EQ(QuantMethodName(QuantMethod::kAwq), "awq");
}

TEST(RecipeTest, EveryPresetParsesValidatesAndRoundTrips) {
  const std::vector<std::string> names = PresetNames();
  for (const char* required : {"rtn-w4g32", "gptq-w4g32", "awq-w4g32", "rtn-w4g128", "gptq-w4g128",
                               "awq-w4g128", "rtn-w8", "gptq-w4g128-asym"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), required), names.end()) << required;
  }
  for (const std::string& name : names) {
    SCOPED_TRACE(name);
    auto yaml = PresetYaml(name);
    ASSERT_TRUE(yaml.ok()) << yaml.status();
    EXPECT_EQ(yaml->rfind("# ", 0), 0u) << "a preset starts with a comment saying what it is for";
    auto recipe = LoadPreset(name);
    ASSERT_TRUE(recipe.ok()) << recipe.status();
    EXPECT_EQ(recipe->name, name);
    EXPECT_TRUE(recipe->Validate().ok()) << recipe->Validate();
    ExpectRoundTrip(*recipe);
  }
}

TEST(RecipeTest, PresetContents) {
  auto gptq = LoadPreset("gptq-w4g128");
  ASSERT_TRUE(gptq.ok()) << gptq.status();
  EXPECT_EQ(gptq->method, QuantMethod::kGptq);
  EXPECT_EQ(gptq->weights.bits, 4);
  EXPECT_TRUE(gptq->weights.symmetric);
  EXPECT_EQ(gptq->weights.group_size, 128);
  EXPECT_TRUE(gptq->gptq.act_order);
  // Groups follow the act order: measured better than static groups on stories260K.
  EXPECT_FALSE(gptq->gptq.static_groups);
  EXPECT_EQ(gptq->weights.observer, Observer::kMse);
  EXPECT_EQ(gptq->gptq.damp_percent, 0.01);

  auto gptq_asym = LoadPreset("gptq-w4g128-asym");
  ASSERT_TRUE(gptq_asym.ok()) << gptq_asym.status();
  EXPECT_FALSE(gptq_asym->weights.symmetric);

  auto awq = LoadPreset("awq-w4g32");
  ASSERT_TRUE(awq.ok()) << awq.status();
  EXPECT_EQ(awq->method, QuantMethod::kAwq);
  EXPECT_EQ(awq->weights.kind, GridKind::kInt);
  EXPECT_FALSE(awq->weights.symmetric);
  EXPECT_EQ(awq->weights.group_size, 32);
  EXPECT_TRUE(awq->awq.duo_scaling);
  EXPECT_TRUE(awq->awq.clip);

  auto rtn4 = LoadPreset("rtn-w4g32");
  ASSERT_TRUE(rtn4.ok()) << rtn4.status();
  EXPECT_EQ(rtn4->method, QuantMethod::kRtn);
  EXPECT_TRUE(rtn4->weights.symmetric);
  EXPECT_EQ(rtn4->weights.group_size, 32);

  auto rtn8 = LoadPreset("rtn-w8");
  ASSERT_TRUE(rtn8.ok()) << rtn8.status();
  EXPECT_EQ(rtn8->method, QuantMethod::kRtn);
  EXPECT_EQ(rtn8->weights.bits, 8);
  EXPECT_TRUE(rtn8->weights.symmetric);
  EXPECT_EQ(rtn8->weights.granularity, Granularity::kChannel);
}

TEST(RecipeTest, UnknownPresetListsTheKnownOnes) {
  auto yaml = PresetYaml("gptq-w3");
  ASSERT_FALSE(yaml.ok());
  EXPECT_EQ(yaml.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(yaml.status().message().find("'gptq-w3'"), absl::string_view::npos);
  EXPECT_NE(yaml.status().message().find("rtn-w4g32"), absl::string_view::npos);
  EXPECT_NE(yaml.status().message().find("gptq-w4g128-asym"), absl::string_view::npos);
  EXPECT_EQ(LoadPreset("gptq-w3").status().code(), absl::StatusCode::kNotFound);
}

TEST(RecipeTest, RoundTripsOverridesEmbeddingAndAwkwardValues) {
  Recipe recipe;
  recipe.name = "it's \"odd\": #1\n\ttab";
  recipe.method = QuantMethod::kRtn;
  recipe.weights.symmetric = false;
  recipe.weights.group_size = 64;
  recipe.weights.observer = Observer::kMse;
  recipe.weights.percentile = 0.1 + 0.2;  // not exactly 0.3: needs all digits to come back
  recipe.weights.mse_max_shrink = 1e-5;
  recipe.gptq.damp_percent = 1.0;
  recipe.targets = {"model\\.layers\\.\\d+\\.mlp", "true", "null", "it's"};
  recipe.ignore = {};
  GridSpec fp8;
  fp8.kind = GridKind::kFp8;
  fp8.bits = 8;
  fp8.granularity = Granularity::kChannel;
  recipe.overrides = {{.match = "down_proj", .grid = fp8, .skip = false},
                      {.match = "layers\\.0\\.", .grid = std::nullopt, .skip = true}};
  recipe.embedding.enabled = true;
  recipe.embedding.grid.bits = 6;
  recipe.embedding.grid.group_size = 256;
  recipe.calibration.path = "/data/c4 sample.jsonl";
  recipe.calibration.seed = std::numeric_limits<uint64_t>::max();
  recipe.evaluation.path = "~";
  recipe.outputs = {"quench", "gguf"};
  ExpectRoundTrip(recipe);
}

TEST(RecipeTest, YamlShowsEveryDefault) {
  const std::string yaml = RecipeToYaml(Recipe{});
  for (const char* line :
       {"method: gptq", "  damp_percent: 0.01", "  block_size: 128", "  clip_tokens: 512",
        "  mse_max_shrink: 0.2", "  percentile: 99.9", "  scale_dtype: fp16", "  samples: 128",
        "  shards: 8", "  max_sequences: 0", "embedding: null"}) {
    EXPECT_NE(yaml.find(line), std::string::npos) << line << "\n" << yaml;
  }
  ExpectRoundTrip(Recipe{});
}

TEST(RecipeTest, TorchchatInt4WithEmbedding) {
  auto recipe = ParseRecipe(
      R"({"linear:int4": {"groupsize": 128}, "embedding": {"bitwidth": 8, "groupsize": 0}})",
      "quant.json");
  ASSERT_TRUE(recipe.ok()) << recipe.status();
  EXPECT_EQ(recipe->method, QuantMethod::kRtn);
  EXPECT_EQ(recipe->weights.kind, GridKind::kInt);
  EXPECT_EQ(recipe->weights.bits, 4);
  EXPECT_TRUE(recipe->weights.symmetric);
  EXPECT_EQ(recipe->weights.granularity, Granularity::kGroup);
  EXPECT_EQ(recipe->weights.group_size, 128);
  EXPECT_TRUE(recipe->overrides.empty());
  EXPECT_TRUE(recipe->embedding.enabled);
  EXPECT_EQ(recipe->embedding.grid.bits, 8);
  EXPECT_EQ(recipe->embedding.grid.granularity, Granularity::kChannel);
  ExpectRoundTrip(*recipe);
}

TEST(RecipeTest, TorchchatInt8AndDefaults) {
  auto per_channel = ParseRecipe(R"({"linear:int8": {}})", "quant.json");
  ASSERT_TRUE(per_channel.ok()) << per_channel.status();
  EXPECT_EQ(per_channel->weights.bits, 8);
  EXPECT_EQ(per_channel->weights.granularity, Granularity::kChannel);
  EXPECT_FALSE(per_channel->embedding.enabled);

  auto grouped = ParseRecipe(R"({"linear:int8": {"bitwidth": 8, "groupsize": 64}})", "q.json");
  ASSERT_TRUE(grouped.ok()) << grouped.status();
  EXPECT_EQ(grouped->weights.granularity, Granularity::kGroup);
  EXPECT_EQ(grouped->weights.group_size, 64);

  auto int4_no_group = ParseRecipe(R"({"linear:int4": null})", "quant.json");
  ASSERT_TRUE(int4_no_group.ok()) << int4_no_group.status();
  EXPECT_EQ(int4_no_group->weights.bits, 4);
  EXPECT_EQ(int4_no_group->weights.granularity, Granularity::kChannel);
}

TEST(RecipeTest, TorchchatEmbeddingOnlySkipsEveryLinear) {
  auto recipe = ParseRecipe(R"({"embedding": {"bitwidth": 4, "groupsize": 32}})", "quant.json");
  ASSERT_TRUE(recipe.ok()) << recipe.status();
  EXPECT_TRUE(recipe->embedding.enabled);
  EXPECT_EQ(recipe->embedding.grid.bits, 4);
  EXPECT_EQ(recipe->embedding.grid.granularity, Granularity::kGroup);
  EXPECT_EQ(recipe->embedding.grid.group_size, 32);
  ASSERT_EQ(recipe->overrides.size(), 1u);
  EXPECT_EQ(recipe->overrides[0].match, ".*");
  EXPECT_TRUE(recipe->overrides[0].skip);
}

TEST(RecipeTest, LoadRecipeNamesTheRecipeAfterTheFile) {
  const std::filesystem::path dir =
      std::filesystem::path(testing::TempDir()) / "quench_recipe_test";
  std::filesystem::create_directories(dir);
  const std::filesystem::path unnamed = dir / "w4-mlp.yaml";
  std::ofstream(unnamed) << "method: rtn\n";
  auto recipe = LoadRecipe(unnamed);
  ASSERT_TRUE(recipe.ok()) << recipe.status();
  EXPECT_EQ(recipe->name, "w4-mlp");
  EXPECT_EQ(recipe->method, QuantMethod::kRtn);

  const std::filesystem::path named = dir / "other.yaml";
  std::ofstream(named) << "name: kept\n";
  auto kept = LoadRecipe(named);
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_EQ(kept->name, "kept");

  const std::filesystem::path bad = dir / "bad.yaml";
  std::ofstream(bad) << "method: rtn\nweights: {bitz: 4}\n";
  auto error = LoadRecipe(bad);
  ASSERT_FALSE(error.ok());
  EXPECT_NE(error.status().message().find(bad.string() + ":2:"), absl::string_view::npos)
      << error.status();

  EXPECT_EQ(LoadRecipe(dir / "missing.yaml").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(LoadRecipe(dir).status().code(), absl::StatusCode::kInvalidArgument);
  std::filesystem::remove_all(dir);
}

TEST(RecipeTest, ValidateChecksRecipesBuiltInCode) {
  EXPECT_TRUE(Recipe{}.Validate().ok());

  Recipe no_outputs;
  no_outputs.outputs.clear();
  EXPECT_NE(no_outputs.Validate().message().find("outputs: is empty"), absl::string_view::npos);

  Recipe empty_match;
  empty_match.overrides.push_back({.match = "", .grid = std::nullopt, .skip = true});
  EXPECT_NE(empty_match.Validate().message().find("overrides[0].match: is empty"),
            absl::string_view::npos);

  Recipe bad_embedding;
  bad_embedding.embedding.enabled = true;
  bad_embedding.embedding.grid.granularity = Granularity::kTensor;
  EXPECT_NE(bad_embedding.Validate().message().find("embedding.granularity"),
            absl::string_view::npos);

  Recipe duplicate_output;
  duplicate_output.outputs = {"quench", "quench"};
  EXPECT_NE(duplicate_output.Validate().message().find("outputs[1]"), absl::string_view::npos);
}

struct BadRecipe {
  const char* label;
  const char* text;
  std::vector<std::string> expected;  // substrings of the message
};

const BadRecipe kBadRecipes[] = {
    {"unknown top-level key",
     "methd: gptq\n",
     {"recipe.yaml:1:1: unknown key 'methd'", "allowed: method, weights, gptq"}},
    {"unknown nested key",
     "method: rtn\nweights:\n  bitz: 4\n",
     {"recipe.yaml:3:3: unknown key 'weights.bitz'", "allowed: type, bits, symmetric"}},
    {"wrong type for an integer",
     "weights: {bits: four}",
     {"'weights.bits' must be an integer", "found 'four'"}},
    {"quoted number",
     R"({"weights": {"bits": "4"}})",
     {"'weights.bits' must be an integer", "found the string '4'"}},
    {"integer too big", "weights: {bits: 99999999999}", {"'weights.bits' must be an integer"}},
    {"null for an integer", "weights:\n  bits:\n", {"'weights.bits' must be an integer", "null"}},
    {"wrong type for a bool",
     "gptq: {act_order: maybe}",
     {"'gptq.act_order' must be true or false", "'maybe'"}},
    {"section not a mapping",
     "weights: int4",
     {"'weights' must be a mapping with keys type, bits"}},
    {"list not a list", "targets: '.*'", {"'targets' must be a list of strings"}},
    {"list item not a string", "targets: [{a: 1}]", {"'targets[0]' must be a string"}},
    {"negative seed",
     "calibration: {seed: -1}",
     {"'calibration.seed' must be a non-negative integer"}},
    {"bits 9 for int", "weights: {bits: 9}", {"recipe.yaml: weights: ", "bits"}},
    {"bits 3 for fp8",
     "method: rtn\nweights: {type: fp8, bits: 3}",
     {"recipe.yaml: weights: ", "bits"}},
    {"unknown method",
     "method: gptqq",
     {"unknown value 'gptqq' for 'method'", "allowed: rtn, gptq, awq"}},
    {"unknown type",
     "weights: {type: int3}",
     {"'weights.type'", "allowed: int, fp8, nf4, fp4, mxfp4, mxfp8, mxint8"}},
    {"unknown scale dtype",
     "weights: {scale_dtype: fp64}",
     {"'weights.scale_dtype'", "allowed: fp32, fp16, bf16"}},
    {"bad target regex", "targets: ['mlp(']", {"targets[0]: 'mlp(' is not a valid regex"}},
    {"bad override regex",
     "overrides: [{match: '[a-', skip: true}]",
     {"overrides[0].match: '[a-' is not a valid regex"}},
    {"awq with nf4",
     "method: awq\nweights: {type: nf4}",
     {"weights.type: nf4 does not work with method awq", "use type: int"}},
    {"awq override with fp8",
     "method: awq\noverrides: [{match: x, weights: {type: fp8}}]",
     {"overrides[0].weights.type: fp8", "awq"}},
    {"static_groups with channel granularity",
     "gptq: {static_groups: true}\nweights: {granularity: channel}",
     {"gptq.static_groups: needs granularity group", "weights.granularity is channel"}},
    {"act_order with tensor granularity",
     "gptq: {act_order: true}\nweights: {granularity: tensor}",
     {"gptq.act_order: needs granularity channel or group"}},
    {"damp_percent 0", "gptq: {damp_percent: 0}", {"gptq.damp_percent", "(0, 1]"}},
    {"damp_percent above 1", "gptq: {damp_percent: 1.5}", {"gptq.damp_percent: 1.5", "(0, 1]"}},
    {"block_size 0", "gptq: {block_size: 0}", {"gptq.block_size: 0", "at least 1"}},
    {"scale_grid 0", "awq: {scale_grid: 0}", {"awq.scale_grid: 0", "at least 1"}},
    {"clip_max_shrink 1", "awq: {clip_max_shrink: 1}", {"awq.clip_max_shrink", "[0, 1)"}},
    {"shards 0", "calibration: {shards: 0}", {"calibration.shards: 0", "at least 1"}},
    {"samples 0", "calibration: {samples: 0}", {"calibration.samples: 0", "at least 1"}},
    {"shards more than samples",
     "calibration: {samples: 4, shards: 8}",
     {"calibration.shards: 8 is more than calibration.samples (4)", "allowed: 1 to samples"}},
    {"seq_len 1", "calibration: {seq_len: 1}", {"calibration.seq_len: 1", "at least 2"}},
    {"evaluation seq_len 1", "evaluation: {seq_len: 1}", {"evaluation.seq_len: 1", "at least 2"}},
    {"empty targets", "targets: []", {"targets: is empty", "'.*'"}},
    {"bad output name",
     "outputs: [fake_quant, onnx]",
     {"outputs[1]: unknown output 'onnx'",
      "allowed: fake_quant, quench, gptq, gptq_v2, awq, compressed_tensors, gguf"}},
    {"override without match",
     "overrides: [{skip: true}]",
     {"recipe.yaml:1:13: 'overrides[0].match' is missing", "regex"}},
    {"override with neither weights nor skip",
     "overrides: [{match: 'x'}]",
     {"overrides[0]: has neither weights nor skip", "skip: true"}},
    {"override with both weights and skip",
     "overrides: [{match: x, skip: true, weights: {}}]",
     {"overrides[0]: has both weights and skip"}},
    {"override with a bad grid",
     "overrides: [{match: x, weights: {bits: 1}}]",
     {"recipe.yaml: overrides[0].weights: ", "bits"}},
    {"unknown override key",
     "overrides: [{match: x, skip: true, bits: 8}]",
     {"unknown key 'overrides[0].bits'", "allowed: match, weights, skip"}},
    {"overrides not a list",
     "overrides: {match: x}",
     {"'overrides' must be a list of mappings", "match, weights, skip"}},
    {"negative group_size",
     "weights: {group_size: -1}",
     {"'weights.group_size' is -1", "0 for per channel"}},
    {"group_size 0 with granularity group",
     "weights: {granularity: group, group_size: 0}",
     {"'weights.group_size' is 0", "granularity: channel"}},
    {"embedding with fp8", "embedding: {type: fp8}", {"embedding.type: fp8", "allowed: int"}},
    {"malformed YAML",
     "method: gptq\nweights: {bits: 4\ncalibration: {samples: 8}\n",
     {"recipe.yaml:3:", "invalid YAML"}},
    {"duplicate key", "method: rtn\nmethod: gptq\n", {"recipe.yaml:2:1: duplicate key 'method'"}},
    {"two documents",
     "method: rtn\n---\nmethod: gptq\n",
     {"recipe.yaml:3:1: a second YAML document starts here"}},
    // yaml-cpp 0.7 alone loops forever on these (jbeder/yaml-cpp#1040).
    {"stray comma", ", method: rtn\n", {"recipe.yaml:1:1: invalid YAML: unexpected ','"}},
    {"stray comma after a document",
     "\"method\" ,\n",
     {"recipe.yaml:1:10: invalid YAML: unexpected ','"}},
    {"empty file", "", {"recipe.yaml: the recipe is empty", "keys method, weights"}},
    {"comments only", "# nothing here\n", {"the recipe is empty"}},
    {"top-level list",
     "- method: gptq\n",
     {"a recipe must be a mapping with keys method, weights", "found a list"}},
    {"top-level scalar", "gptq", {"a recipe must be a mapping", "found 'gptq'"}},
    {"non-string key", "? [a, b]\n: 1\n", {"keys must be strings, found a list in the recipe"}},
    {"torchchat unknown key",
     R"({"linear:fp8": {}})",
     {"unknown torchchat-style key 'linear:fp8'",
      "supported: linear:int4, linear:int8, embedding"}},
    {"torchchat precision key",
     R"({"linear:int4": {"groupsize": 32}, "precision": {}})",
     {"unknown torchchat-style key 'precision'", "linear:int4"}},
    {"torchchat unknown nested key",
     R"({"linear:int4": {"groupsize": 32, "bits": 4}})",
     {"unknown key 'linear:int4.bits'", "allowed: groupsize"}},
    {"torchchat negative groupsize",
     R"({"linear:int8": {"groupsize": -8}})",
     {"'linear:int8.groupsize' is -8", "0 for per channel"}},
    {"torchchat int4 and int8",
     R"({"linear:int4": {}, "linear:int8": {}})",
     {"'linear:int4' and 'linear:int8' are both given"}},
};

TEST(RecipeTest, BadRecipesAreRefusedWithClearMessages) {
  ASSERT_GE(std::size(kBadRecipes), 20u);
  for (const BadRecipe& bad : kBadRecipes) {
    SCOPED_TRACE(bad.label);
    const auto recipe = ParseRecipe(bad.text, "recipe.yaml");
    ASSERT_FALSE(recipe.ok());
    EXPECT_EQ(recipe.status().code(), absl::StatusCode::kInvalidArgument);
    const std::string message(recipe.status().message());
    EXPECT_EQ(message.rfind("recipe.yaml", 0), 0u) << message;
    for (const std::string& expected : bad.expected) {
      EXPECT_NE(message.find(expected), std::string::npos)
          << "expected \"" << expected << "\" in: " << message;
    }
  }
}

}  // namespace
}  // namespace quench
