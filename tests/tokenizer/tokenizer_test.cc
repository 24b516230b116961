// Tokenizer tests against real tokenizer files and reference outputs in ../shared (see its
// README): llama.cpp's test vectors, round trips over WikiText-2, and the token windows the
// shared calibration files were cut from.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "core/tokenizer/bpe_tokenizer.h"
#include "core/tokenizer/sentencepiece_tokenizer.h"
#include "core/tokenizer/tokenizer.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace quench {
namespace {

const std::filesystem::path kShared = QUENCH_SHARED_DIR;

#define QUENCH_SKIP_IF_MISSING(path)                                         \
  do {                                                                       \
    if (!std::filesystem::exists(path)) GTEST_SKIP() << "missing " << (path); \
  } while (0)

std::string ReadText(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

std::unique_ptr<Tokenizer> MustLoad(const std::filesystem::path& path) {
  absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = LoadTokenizer(path);
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status();
  return tokenizer.ok() ? *std::move(tokenizer) : nullptr;
}

// llama.cpp's test-tokenizer-0 format: inputs separated by "\n__ggml_vocab_test__\n"; the file
// ends with a separator, so the text after the last one is not an input.
std::vector<std::string> ReadVectorInputs(const std::filesystem::path& path) {
  const std::string text = ReadText(path);
  const std::string separator = "\n__ggml_vocab_test__\n";
  std::vector<std::string> inputs;
  size_t start = 0;
  for (size_t found = text.find(separator); found != std::string::npos;
       found = text.find(separator, start)) {
    inputs.push_back(text.substr(start, found - start));
    start = found + separator.size();
  }
  return inputs;
}

// One line of space-separated ids per input.
std::vector<std::vector<TokenId>> ReadVectorOutputs(const std::filesystem::path& path) {
  std::istringstream lines(ReadText(path));
  std::vector<std::vector<TokenId>> outputs;
  for (std::string line; std::getline(lines, line);) {
    std::istringstream numbers(line);
    std::vector<TokenId> ids;
    for (TokenId id; numbers >> id;) ids.push_back(id);
    outputs.push_back(std::move(ids));
  }
  return outputs;
}

// Encodes every vector input and counts exact matches; mismatches are reported one by one.
void ExpectVectorsMatch(const Tokenizer& tokenizer, const std::string& vectors) {
  const std::vector<std::string> inputs =
      ReadVectorInputs(kShared / "tokenizers/vectors" / (vectors + ".inp"));
  const std::vector<std::vector<TokenId>> expected =
      ReadVectorOutputs(kShared / "tokenizers/vectors" / (vectors + ".out"));
  ASSERT_EQ(inputs.size(), expected.size());
  ASSERT_GT(inputs.size(), 40u);
  size_t matched = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const std::vector<TokenId> actual = tokenizer.Encode(inputs[i]);
    EXPECT_EQ(actual, expected[i]) << "input " << i << ": \"" << inputs[i] << "\"";
    matched += actual == expected[i];
  }
  std::cout << vectors << " with " << tokenizer.kind() << ": " << matched << "/" << inputs.size()
            << " vectors match\n";
}

TEST(TokenizerVectorsTest, Llama2SentencePieceModel) {
  const auto path = kShared / "tokenizers/llama2/tokenizer.model";
  QUENCH_SKIP_IF_MISSING(path);
  const auto tokenizer = MustLoad(path);
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(tokenizer->kind(), "sentencepiece");
  ExpectVectorsMatch(*tokenizer, "llama2-spm");
}

TEST(TokenizerVectorsTest, Llama2TokenizerJson) {
  const auto path = kShared / "tokenizers/llama2/tokenizer.json";
  QUENCH_SKIP_IF_MISSING(path);
  const auto tokenizer = MustLoad(path);
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(tokenizer->kind(), "bpe");
  ExpectVectorsMatch(*tokenizer, "llama2-spm");
}

TEST(TokenizerVectorsTest, Llama3TokenizerJson) {
  const auto path = kShared / "tokenizers/llama3/tokenizer.json";
  QUENCH_SKIP_IF_MISSING(path);
  const auto tokenizer = MustLoad(path);
  ASSERT_NE(tokenizer, nullptr);
  ExpectVectorsMatch(*tokenizer, "llama3-bpe");
}

}  // namespace
}  // namespace quench
