// The quantization plan: targets, ignore, overrides, and grids that cannot fit a layer's shape.
#include "core/job/quant_plan.h"

#include <gtest/gtest.h>

#include "core/export/export_outputs.h"

namespace quench {
namespace {

ModelSpec Stories260KShape() {
  // stories260K's shape: hidden 64, MLP 172 (not a multiple of 32), 5 blocks, GQA 8/4.
  return *ParseModelSpec(R"({"architectures":["LlamaForCausalLM"],"vocab_size":512,"hidden_size":64,
      "intermediate_size":172,"num_hidden_layers":5,"num_attention_heads":8,"num_key_value_heads":4})",
                         "config.json");
}

TEST(QuantPlanTest, GroupsInExecutionOrderWithEveryLinear) {
  Recipe recipe;
  auto plan = MakeQuantPlan(Stories260KShape(), recipe);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->num_linears, 35);
  ASSERT_EQ(plan->blocks.size(), 5u);
  const auto& groups = plan->blocks[2].groups;
  ASSERT_EQ(groups.size(), 4u);
  EXPECT_EQ(groups[0].linears.size(), 3u);
  EXPECT_EQ(groups[0].linears[0].name, "model.layers.2.self_attn.q_proj");
  EXPECT_EQ(groups[2].linears[1].name, "model.layers.2.mlp.up_proj");
  EXPECT_EQ(groups[3].linears[0].name, "model.layers.2.mlp.down_proj");
}

TEST(QuantPlanTest, OverridesAndIgnoreApplyInOrder) {
  Recipe recipe;
  recipe.ignore = {"lm_head", "layers\\.0\\."};
  GridSpec eight_bit = recipe.weights;
  eight_bit.bits = 8;
  recipe.overrides = {{"down_proj", eight_bit, false},
                      {"layers\\.4\\.mlp\\.down", std::nullopt, true}};
  auto plan = MakeQuantPlan(Stories260KShape(), recipe);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->num_linears, 35 - 7 - 1);
  EXPECT_TRUE(plan->blocks[0].groups[0].linears.empty());
  EXPECT_EQ(plan->blocks[3].groups[3].linears[0].grid.bits, 8);
  EXPECT_EQ(plan->blocks[3].groups[0].linears[0].grid.bits, 4);
  EXPECT_TRUE(plan->blocks[4].groups[3].linears.empty());
}

TEST(QuantPlanTest, ImpossibleLayerShapeNamesTheLayer) {
  Recipe recipe;
  recipe.weights.kind = GridKind::kMxFp4;
  recipe.weights.bits = 4;
  recipe.weights.group_size = 32;
  const auto plan = MakeQuantPlan(Stories260KShape(), recipe);
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("model.layers.0.mlp.down_proj [64, 172]"),
            std::string::npos)
      << plan.status();
  EXPECT_NE(plan.status().message().find("32"), std::string::npos) << plan.status();
}

TEST(QuantPlanTest, NothingSelectedIsAnError) {
  Recipe recipe;
  recipe.targets = {"no_such_layer"};
  const auto plan = MakeQuantPlan(Stories260KShape(), recipe);
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("selects no layer"), std::string::npos);
}

TEST(QuantPlanTest, BadRegexIsAnError) {
  Recipe recipe;
  recipe.targets = {"(unclosed"};
  const auto plan = MakeQuantPlan(Stories260KShape(), recipe);
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("(unclosed"), std::string::npos);
}

// One solve where the outputs' grids agree, two (one calibration pass) where they differ.
TEST(OutputSolvesTest, SecondSolveOnlyWhenTheGgufGridsDoNotFitTheOtherOutputs) {
  const ModelSpec wide = *ParseModelSpec(R"({"architectures":["LlamaForCausalLM"],"vocab_size":512,
      "hidden_size":256,"intermediate_size":512,"num_hidden_layers":2,"num_attention_heads":4,
      "num_key_value_heads":2})",
                                         "config.json");
  Recipe recipe;
  recipe.method = QuantMethod::kGptq;
  recipe.gptq.static_groups = true;
  recipe.outputs = {"fake_quant", "quench", "gguf", "gptq"};
  // Q4_0's grid (int4 symmetric, groups of 32, fp16 scales) is also a GPTQ grid: one solve.
  recipe.gguf.type = "q4_0";
  auto solves = PlanOutputSolves(wide, recipe, DType::kF32);
  ASSERT_TRUE(solves.ok()) << solves.status();
  ASSERT_EQ(solves->size(), 1u);
  EXPECT_EQ(solves->front().exports, (std::vector<std::string>{"gguf", "gptq"}));

  // Q4_K_M's grids are not GPTQ's: GPTQ gets the recipe's weights, the GGUF its own solve.
  recipe.gguf.type = "q4_k_m";
  solves = PlanOutputSolves(wide, recipe, DType::kF32);
  ASSERT_TRUE(solves.ok()) << solves.status();
  ASSERT_EQ(solves->size(), 2u);
  EXPECT_EQ((*solves)[0].exports, std::vector<std::string>{"gptq"});
  EXPECT_EQ((*solves)[1].exports, std::vector<std::string>{"gguf"});
  EXPECT_EQ((*solves)[0].plan.blocks[0].groups[0].linears[0].grid.kind, GridKind::kInt);
  EXPECT_EQ((*solves)[1].plan.blocks[0].groups[0].linears[0].grid.ggml_type, GgmlType::kQ4_K);

  // Without a second format there is nothing to split: the GGUF alone is one solve.
  recipe.outputs = {"gguf"};
  solves = PlanOutputSolves(wide, recipe, DType::kF32);
  ASSERT_TRUE(solves.ok()) << solves.status();
  EXPECT_EQ(solves->size(), 1u);

  // A safetensors output that cannot hold the recipe's own grid is still an error up front.
  recipe.outputs = {"gguf", "awq"};
  recipe.weights.bits = 8;
  EXPECT_FALSE(PlanOutputSolves(wide, recipe, DType::kF32).ok());
}

}  // namespace
}  // namespace quench
