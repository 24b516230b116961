// The quench binary end to end: real processes, real fixtures, output parsed back.
#include <gtest/gtest.h>
#include <string>

#include "nlohmann/json.hpp"
#include "tests/cli/run_command.h"
#include "tests/core/test_paths.h"

namespace quench {
namespace {

// Why two tests skip in sanitizer builds (see core/tokenizer/sentencepiece_engine.h).
[[maybe_unused]] constexpr char kNoSentencePieceBesideProtobuf[] =
    "the quench binary loads libprotobuf (gRPC), and SentencePiece cannot load beside it without "
    "RTLD_DEEPBIND, which the sanitizer runtime refuses";

using testing::SharedPath;

testing::CommandResult RunQuench(const std::string& arguments) {
  return testing::RunCommand(testing::QuenchBinary() + " " + arguments);
}

TEST(CliTest, EvalPrintsPublishedPerplexityAsJson) {
  const auto model = SharedPath("models/stories260K");
  const auto data = SharedPath("data/stories260K-eval.jsonl");
  QUENCH_REQUIRE_SHARED(model);
  QUENCH_REQUIRE_SHARED(data);
  const auto result =
      RunQuench("eval --json --model " + model.string() + " --tokens " + data.string());
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const auto json = nlohmann::json::parse(result.output, nullptr, false);
  ASSERT_FALSE(json.is_discarded()) << result.output;
  EXPECT_NEAR(json["perplexity"].get<double>(), 4.229785, 4.229785e-3);
  EXPECT_EQ(json["predicted_tokens"].get<int>(), 12240);
  EXPECT_GT(json["tokens_per_second"].get<double>(), 0.0);
}

TEST(CliTest, EvalOnTextWindowsMatchesTheTokenFile) {
  QUENCH_SKIP_IN_SANITIZER_BUILD(kNoSentencePieceBesideProtobuf);
  // The eval file is windows 128..175 of the tokenized text; the first 8 windows of the text
  // are the calibration file's first 8, so their perplexities agree.
  const auto model = SharedPath("models/stories260K");
  const auto text = SharedPath("data/tinystories-valid.txt");
  const auto calib = SharedPath("data/stories260K-calib.jsonl");
  QUENCH_REQUIRE_SHARED(model);
  QUENCH_REQUIRE_SHARED(text);
  QUENCH_REQUIRE_SHARED(calib);
  const auto from_text = RunQuench("eval --json --ctx 256 --max-seqs 8 --model " + model.string() +
                                   " --text " + text.string());
  const auto from_tokens = RunQuench("eval --json --max-seqs 8 --model " + model.string() +
                                     " --tokens " + calib.string());
  ASSERT_EQ(from_text.exit_code, 0) << from_text.output;
  ASSERT_EQ(from_tokens.exit_code, 0) << from_tokens.output;
  const auto a = nlohmann::json::parse(from_text.output, nullptr, false);
  const auto b = nlohmann::json::parse(from_tokens.output, nullptr, false);
  ASSERT_FALSE(a.is_discarded() || b.is_discarded());
  EXPECT_EQ(a["predicted_tokens"], b["predicted_tokens"]);
  EXPECT_DOUBLE_EQ(a["perplexity"].get<double>(), b["perplexity"].get<double>());
}

TEST(CliTest, InspectListsTensorsAndAliases) {
  const auto model = SharedPath("models/tinystories656K");
  QUENCH_REQUIRE_SHARED(model);
  const auto result = RunQuench("inspect --json " + model.string());
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const auto json = nlohmann::json::parse(result.output, nullptr, false);
  ASSERT_FALSE(json.is_discarded()) << result.output;
  EXPECT_EQ(json["model"]["architecture"], "LlamaForCausalLM");
  EXPECT_EQ(json["aliases"]["model.embed_tokens.weight"], "lm_head.weight");
  bool found_head = false;
  for (const auto& tensor : json["files"][0]["tensors"]) {
    if (tensor["name"] == "lm_head.weight") {
      found_head = true;
      EXPECT_EQ(tensor["shape"], nlohmann::json::array({2048, 128}));
      EXPECT_EQ(tensor["bytes"], 2048 * 128 * 4);
    }
  }
  EXPECT_TRUE(found_head);
}

TEST(CliTest, TokenizePrintsIds) {
  QUENCH_SKIP_IN_SANITIZER_BUILD(kNoSentencePieceBesideProtobuf);
  const auto model = SharedPath("models/stories260K");
  QUENCH_REQUIRE_SHARED(model);
  const auto result = RunQuench("tokenize --json --add-bos --tokenizer " + model.string() +
                                " --text 'Once upon a time'");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const auto json = nlohmann::json::parse(result.output, nullptr, false);
  ASSERT_FALSE(json.is_discarded()) << result.output;
  EXPECT_EQ(json["ids"][0], 1) << "BOS first";
  EXPECT_EQ(json["count"].get<size_t>(), json["ids"].size());
  EXPECT_GT(json["count"].get<int>(), 2);
}

TEST(CliTest, ClearErrorsForBadInput) {
  auto missing = RunQuench("eval --model /nonexistent/model --tokens /nonexistent/x.jsonl");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.output.find("/nonexistent/model"), std::string::npos) << missing.output;

  auto both = RunQuench("eval --model x --tokens a --text b");
  EXPECT_NE(both.exit_code, 0);
  EXPECT_NE(both.output.find("excludes"), std::string::npos) << both.output;

  auto no_command = RunQuench("");
  EXPECT_NE(no_command.exit_code, 0);

  auto help = RunQuench("eval --help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.output.find("--tokens"), std::string::npos);
  EXPECT_NE(help.output.find("Example"), std::string::npos);
}

}  // namespace
}  // namespace quench
