// Tokenizer tests. Most run real tokenizer files against reference outputs in ../shared (see its
// README): llama.cpp's test vectors, round trips over WikiText-2, and the token windows the
// shared calibration files were cut from. The rest feed small hand-written tokenizer.json files.
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "core/tokenizer/bpe_tokenizer.h"
#include "core/tokenizer/sentencepiece_engine.h"
#include "core/tokenizer/sentencepiece_tokenizer.h"
#include "core/tokenizer/tokenizer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace quench {
namespace {

using Json = nlohmann::json;
using ::testing::HasSubstr;

const std::filesystem::path kShared = QUENCH_SHARED_DIR;

#define QUENCH_SKIP_IF_MISSING(path)                                          \
  do {                                                                        \
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

std::string MustDecode(const Tokenizer& tokenizer, const std::vector<TokenId>& ids) {
  absl::StatusOr<std::string> text = tokenizer.Decode(ids);
  EXPECT_TRUE(text.ok()) << text.status();
  return text.ok() ? *text : std::string();
}

// ---------------------------------------------------------------------------------------------
// llama.cpp's test vectors

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

// Encodes every input of `vectors` ("llama2-spm", "llama3-bpe"); each must match exactly.
void ExpectVectorsMatch(const Tokenizer& tokenizer, const std::string& vectors) {
  const std::filesystem::path inputs_path = kShared / "tokenizers/vectors" / (vectors + ".inp");
  const std::filesystem::path outputs_path = kShared / "tokenizers/vectors" / (vectors + ".out");
  ASSERT_TRUE(std::filesystem::exists(inputs_path)) << inputs_path;
  const std::vector<std::string> inputs = ReadVectorInputs(inputs_path);
  const std::vector<std::vector<TokenId>> expected = ReadVectorOutputs(outputs_path);
  ASSERT_EQ(inputs.size(), expected.size());
  ASSERT_EQ(inputs.size(), 46u);
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

TEST(TokenizerVectorsTest, Llama3TokenizerJson) {
  const auto path = kShared / "tokenizers/llama3/tokenizer.json";
  QUENCH_SKIP_IF_MISSING(path);
  const auto tokenizer = MustLoad(path);
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(tokenizer->kind(), "bpe");
  ExpectVectorsMatch(*tokenizer, "llama3-bpe");
}

// The shared tokenizers/llama2/tokenizer.json does not hold Llama 2's vocabulary: its ids are
// Mistral-7B's ("▁" is 28705, "Hello world" is 22557 1526), so Llama 2's vectors cannot apply
// to it. The test runs if the file is ever replaced by Llama 2's own; until then the next test
// covers the same pipeline with Llama 2's vocabulary.
TEST(TokenizerVectorsTest, Llama2TokenizerJson) {
  const auto json_path = kShared / "tokenizers/llama2/tokenizer.json";
  const auto model_path = kShared / "tokenizers/llama2/tokenizer.model";
  QUENCH_SKIP_IF_MISSING(json_path);
  QUENCH_SKIP_IF_MISSING(model_path);
  const auto tokenizer = MustLoad(json_path);
  const auto reference = MustLoad(model_path);
  ASSERT_NE(tokenizer, nullptr);
  ASSERT_NE(reference, nullptr);
  const std::vector<TokenId> hello = reference->Encode("Hello world");
  if (tokenizer->Encode("Hello world") != hello) {
    GTEST_SKIP() << json_path << " is not Llama 2's vocabulary (\"Hello world\" is not " << hello[0]
                 << " " << hello[1] << "); see Llama2TokenizerJsonFromModel";
  }
  ExpectVectorsMatch(*tokenizer, "llama2-spm");
}

// Llama 2's tokenizer.json rebuilt from its tokenizer.model the way Hugging Face's converter
// builds it: the vocabulary is the pieces, the merges are every split of a piece into two
// pieces, strongest piece score first; the rest (Prepend/Replace normalizer, byte fallback,
// decoder) is the shared llama2/tokenizer.json's, which is that converter's output.
std::string Llama2TokenizerJsonFromModel(const std::filesystem::path& model_path,
                                         const std::filesystem::path& template_path) {
  std::string error;
  const auto engine = SentencePieceEngine::Load(ReadText(model_path), &error);
  EXPECT_NE(engine, nullptr) << error;
  if (engine == nullptr) return "";
  Json vocab = Json::object();
  std::map<std::string, int> ids;
  for (int id = 0; id < engine->piece_count(); ++id) {
    vocab[engine->piece(id)] = id;
    ids[engine->piece(id)] = id;
  }
  // (-score, left id, right id, left, right): sorting puts the strongest merge first.
  std::vector<std::tuple<float, int, int, std::string, std::string>> merges;
  for (int id = 0; id < engine->piece_count(); ++id) {
    const std::string piece = engine->piece(id);
    const bool special = id < 3 || piece.starts_with("<0x");  // <unk> <s> </s>, byte pieces
    if (special) continue;
    for (size_t split = 1; split < piece.size(); ++split) {
      if ((static_cast<unsigned char>(piece[split]) & 0xC0) == 0x80) continue;  // mid-character
      const std::string left = piece.substr(0, split);
      const std::string right = piece.substr(split);
      if (ids.contains(left) && ids.contains(right)) {
        merges.emplace_back(-engine->score(id), ids[left], ids[right], left, right);
      }
    }
  }
  std::sort(merges.begin(), merges.end());
  Json merge_list = Json::array();
  for (const auto& merge : merges) merge_list.push_back({std::get<3>(merge), std::get<4>(merge)});

  Json tokenizer = Json::parse(ReadText(template_path));
  tokenizer["model"]["vocab"] = std::move(vocab);
  tokenizer["model"]["merges"] = std::move(merge_list);
  return tokenizer.dump();
}

TEST(TokenizerVectorsTest, Llama2TokenizerJsonFromModel) {
  const auto json_path = kShared / "tokenizers/llama2/tokenizer.json";
  const auto model_path = kShared / "tokenizers/llama2/tokenizer.model";
  QUENCH_SKIP_IF_MISSING(json_path);
  QUENCH_SKIP_IF_MISSING(model_path);
  absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = ParseBpeTokenizer(
      Llama2TokenizerJsonFromModel(model_path, json_path), std::nullopt, "rebuilt llama2");
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  EXPECT_EQ((*tokenizer)->bos_id(), 1);  // from the TemplateProcessing post-processor
  ExpectVectorsMatch(**tokenizer, "llama2-spm");
}

// The same rebuilt file against SentencePiece itself, over all of WikiText-2.
TEST(TokenizerVectorsTest, Llama2TokenizerJsonFromModelAgreesWithSentencePiece) {
  const auto json_path = kShared / "tokenizers/llama2/tokenizer.json";
  const auto model_path = kShared / "tokenizers/llama2/tokenizer.model";
  const auto text_path = kShared / "data/wikitext2-test.txt";
  QUENCH_SKIP_IF_MISSING(json_path);
  QUENCH_SKIP_IF_MISSING(model_path);
  QUENCH_SKIP_IF_MISSING(text_path);
  absl::StatusOr<std::unique_ptr<Tokenizer>> rebuilt = ParseBpeTokenizer(
      Llama2TokenizerJsonFromModel(model_path, json_path), std::nullopt, "rebuilt llama2");
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.status();
  const auto sentencepiece = MustLoad(model_path);
  ASSERT_NE(sentencepiece, nullptr);
  const std::string text = ReadText(text_path);
  const std::vector<TokenId> expected = sentencepiece->Encode(text);
  const std::vector<TokenId> actual = (*rebuilt)->Encode(text);
  const size_t agree =
      std::mismatch(expected.begin(), expected.end(), actual.begin(), actual.end()).first -
      expected.begin();
  EXPECT_EQ(actual.size(), expected.size());
  EXPECT_EQ(agree, expected.size()) << "the first " << agree << " tokens agree";
}

// ---------------------------------------------------------------------------------------------
// Round trips over WikiText-2 (1.3 MB), timed

void ExpectWikiTextRoundTrip(const std::filesystem::path& tokenizer_path) {
  const auto text_path = kShared / "data/wikitext2-test.txt";
  ASSERT_TRUE(std::filesystem::exists(text_path)) << text_path;
  const std::string text = ReadText(text_path);
  const auto tokenizer = MustLoad(tokenizer_path);
  ASSERT_NE(tokenizer, nullptr);
  const auto start = std::chrono::steady_clock::now();
  const std::vector<TokenId> ids = tokenizer->Encode(text);
  const std::chrono::duration<double> seconds = std::chrono::steady_clock::now() - start;
  std::cout << tokenizer_path << ": WikiText-2 (" << text.size() << " bytes) → " << ids.size()
            << " tokens in " << seconds.count() << " s\n";
  const std::string decoded = MustDecode(*tokenizer, ids);
  ASSERT_EQ(decoded.size(), text.size());
  EXPECT_TRUE(decoded == text) << "first difference at byte "
                               << std::mismatch(text.begin(), text.end(), decoded.begin()).first -
                                      text.begin();
}

TEST(TokenizerRoundTripTest, Llama3) {
  const auto path = kShared / "tokenizers/llama3/tokenizer.json";
  QUENCH_SKIP_IF_MISSING(path);
  ExpectWikiTextRoundTrip(path);
}

TEST(TokenizerRoundTripTest, Qwen3) {
  const auto path = kShared / "tokenizers/qwen3/tokenizer.json";
  QUENCH_SKIP_IF_MISSING(path);
  ExpectWikiTextRoundTrip(path);
}

// Metaspace-style normalizer with byte fallback (the shared file's vocabulary is Mistral-7B's).
TEST(TokenizerRoundTripTest, Llama2TokenizerJson) {
  const auto path = kShared / "tokenizers/llama2/tokenizer.json";
  QUENCH_SKIP_IF_MISSING(path);
  ExpectWikiTextRoundTrip(path);
}

// SentencePiece only promises Decode(Encode(x)) == its normalization of x. Llama 2's model
// normalizes nothing (identity rules, extra whitespace kept, the dummy prefix removed again on
// decoding, byte fallback for everything else), so for it the round trip is exact. Models that
// remove extra whitespace, as stories260K's does, give back x with runs of spaces collapsed.
TEST(TokenizerRoundTripTest, Llama2SentencePiece) {
  const auto path = kShared / "tokenizers/llama2/tokenizer.model";
  QUENCH_SKIP_IF_MISSING(path);
  ExpectWikiTextRoundTrip(path);
}

TEST(TokenizerRoundTripTest, Stories260KCollapsesWhitespace) {
  const auto path = kShared / "models/stories260K/tokenizer.model";
  QUENCH_SKIP_IF_MISSING(path);
  const auto tokenizer = MustLoad(path);
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(MustDecode(*tokenizer, tokenizer->Encode("  Once upon   a time.  ")),
            "Once upon a time.");
}

// ---------------------------------------------------------------------------------------------
// The shared calibration/evaluation windows, rebuilt from their text

// Stories are separated by blank lines; each is stripped of surrounding whitespace (some end in
// a space, which would otherwise become a token) and encoded with BOS first.
std::vector<TokenId> EncodeStories(const Tokenizer& tokenizer, size_t max_tokens) {
  const std::string text = ReadText(kShared / "data/tinystories-valid.txt");
  std::vector<TokenId> stream;
  size_t start = 0;
  while (start < text.size() && stream.size() < max_tokens) {
    size_t end = text.find("\n\n", start);
    if (end == std::string::npos) end = text.size();
    std::string_view story(text.data() + start, end - start);
    while (!story.empty() && std::isspace(static_cast<unsigned char>(story.front()))) {
      story.remove_prefix(1);
    }
    while (!story.empty() && std::isspace(static_cast<unsigned char>(story.back()))) {
      story.remove_suffix(1);
    }
    stream.push_back(*tokenizer.bos_id());
    const std::vector<TokenId> ids = tokenizer.Encode(story);
    stream.insert(stream.end(), ids.begin(), ids.end());
    start = end + 2;
  }
  return stream;
}

std::vector<std::vector<TokenId>> ReadWindows(const std::filesystem::path& path) {
  std::istringstream lines(ReadText(path));
  std::vector<std::vector<TokenId>> windows;
  for (std::string line; std::getline(lines, line);) {
    windows.push_back(Json::parse(line).at("input_ids").get<std::vector<TokenId>>());
  }
  return windows;
}

// The calibration windows are the start of the stream; the evaluation windows follow them.
void ExpectWindowsReproduced(const std::filesystem::path& tokenizer_path,
                             const std::string& data_prefix) {
  const auto calib_path = kShared / "data" / (data_prefix + "-calib.jsonl");
  const auto eval_path = kShared / "data" / (data_prefix + "-eval.jsonl");
  ASSERT_TRUE(std::filesystem::exists(calib_path)) << calib_path;
  ASSERT_TRUE(std::filesystem::exists(eval_path)) << eval_path;
  std::vector<std::vector<TokenId>> windows = ReadWindows(calib_path);
  ASSERT_EQ(windows.size(), 128u);
  for (auto& window : ReadWindows(eval_path)) windows.push_back(std::move(window));

  const auto tokenizer = MustLoad(tokenizer_path);
  ASSERT_NE(tokenizer, nullptr);
  ASSERT_TRUE(tokenizer->bos_id().has_value());
  const std::vector<TokenId> stream = EncodeStories(*tokenizer, windows.size() * 256);
  size_t offset = 0;
  size_t matched = 0;
  for (size_t w = 0; w < windows.size(); ++w) {
    ASSERT_EQ(windows[w].size(), 256u);
    ASSERT_LE(offset + 256, stream.size());
    const std::vector<TokenId> ours(stream.begin() + offset, stream.begin() + offset + 256);
    EXPECT_EQ(ours, windows[w]) << "window " << w;
    matched += ours == windows[w];
    offset += 256;
  }
  std::cout << data_prefix << ": " << matched << "/" << windows.size() << " windows reproduced\n";
}

TEST(TokenizerCalibrationTest, Stories260KWindowsFromText) {
  const auto path = kShared / "models/stories260K/tokenizer.model";
  QUENCH_SKIP_IF_MISSING(path);
  QUENCH_SKIP_IF_MISSING(kShared / "data/tinystories-valid.txt");
  ExpectWindowsReproduced(path, "stories260K");
}

TEST(TokenizerCalibrationTest, TinyStories656KWindowsFromText) {
  const auto path = kShared / "models/tinystories656K/tokenizer.json";
  QUENCH_SKIP_IF_MISSING(path);
  QUENCH_SKIP_IF_MISSING(kShared / "data/tinystories-valid.txt");
  ExpectWindowsReproduced(path, "tinystories656K");
}

// ---------------------------------------------------------------------------------------------
// Loading: formats, directories, special tokens

struct ExpectedSpecials {
  std::filesystem::path path;
  std::string_view kind;
  int32_t vocab_size;
  std::optional<TokenId> bos;
  std::optional<TokenId> eos;
};

TEST(TokenizerLoadTest, SpecialTokensAndVocabularySizes) {
  const std::vector<ExpectedSpecials> cases = {
      {kShared / "tokenizers/llama2/tokenizer.model", "sentencepiece", 32000, 1, 2},
      {kShared / "tokenizers/llama2/tokenizer.json", "bpe", 32000, 1, 2},
      {kShared / "tokenizers/llama3", "bpe", 128256, 128000, 128001},
      // Qwen3's tokenizer_config.json says bos_token: null.
      {kShared / "tokenizers/qwen3", "bpe", 151669, std::nullopt, 151645},
      {kShared / "models/stories260K", "sentencepiece", 512, 1, 2},
      {kShared / "models/tinystories656K", "bpe", 2048, 1, 2},
  };
  for (const ExpectedSpecials& expected : cases) {
    if (!std::filesystem::exists(expected.path)) {
      std::cout << "skipped, missing " << expected.path << "\n";
      continue;
    }
    SCOPED_TRACE(expected.path.string());
    const auto tokenizer = MustLoad(expected.path);
    ASSERT_NE(tokenizer, nullptr);
    EXPECT_EQ(tokenizer->kind(), expected.kind);
    EXPECT_EQ(tokenizer->vocab_size(), expected.vocab_size);
    EXPECT_EQ(tokenizer->bos_id(), expected.bos);
    EXPECT_EQ(tokenizer->eos_id(), expected.eos);
  }
}

TEST(TokenizerLoadTest, DirectoryPrefersTokenizerJson) {
  const auto path = kShared / "tokenizers/llama2";
  QUENCH_SKIP_IF_MISSING(path / "tokenizer.json");
  const auto tokenizer = MustLoad(path);
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(tokenizer->kind(), "bpe");
}

TEST(TokenizerLoadTest, SpecialTokensInTextAreRecognised) {
  const auto path = kShared / "tokenizers/llama3";
  QUENCH_SKIP_IF_MISSING(path);
  const auto tokenizer = MustLoad(path);
  ASSERT_NE(tokenizer, nullptr);
  const std::vector<TokenId> ids = tokenizer->Encode("<|begin_of_text|>Hi<|eot_id|>");
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids.front(), 128000);
  EXPECT_EQ(ids.back(), 128009);
  EXPECT_EQ(MustDecode(*tokenizer, ids), "<|begin_of_text|>Hi<|eot_id|>");
}

TEST(TokenizerLoadTest, DecodeRejectsIdsOutsideTheVocabulary) {
  for (const auto& path : {kShared / "tokenizers/llama2/tokenizer.model",
                           kShared / "models/tinystories656K/tokenizer.json"}) {
    if (!std::filesystem::exists(path)) continue;
    const auto tokenizer = MustLoad(path);
    ASSERT_NE(tokenizer, nullptr);
    for (const TokenId id : {-1, tokenizer->vocab_size(), 1 << 30}) {
      const absl::StatusOr<std::string> text = tokenizer->Decode(std::vector<TokenId>{1, id});
      EXPECT_EQ(text.status().code(), absl::StatusCode::kOutOfRange) << path << " id " << id;
    }
  }
}

TEST(TokenizerLoadTest, InvalidUtf8InputIsEncodedAsReplacementCharacters) {
  const auto path = kShared / "tokenizers/llama3";
  QUENCH_SKIP_IF_MISSING(path);
  const auto tokenizer = MustLoad(path);
  ASSERT_NE(tokenizer, nullptr);
  const std::vector<TokenId> ids = tokenizer->Encode("a\xFF\xC3z");
  EXPECT_EQ(MustDecode(*tokenizer, ids), "a\xEF\xBF\xBD\xEF\xBF\xBDz");
}

class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() /
            ("quench_tokenizer_test_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path Write(const std::string& name, const std::string& contents) const {
    std::ofstream(path_ / name, std::ios::binary) << contents;
    return path_ / name;
  }

 private:
  std::filesystem::path path_;
};

TEST(TokenizerLoadTest, ErrorsNameThePathAndTheProblem) {
  TempDir dir;
  const auto missing = LoadTokenizer(dir.path() / "nope");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("nope"));

  const auto empty_dir = LoadTokenizer(dir.path());
  EXPECT_EQ(empty_dir.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(empty_dir.status().message()), HasSubstr("tokenizer.json"));
  EXPECT_THAT(std::string(empty_dir.status().message()), HasSubstr("tokenizer.model"));

  const auto empty_file = LoadTokenizer(dir.Write("tokenizer.json", ""));
  EXPECT_FALSE(empty_file.ok());
  EXPECT_THAT(std::string(empty_file.status().message()), HasSubstr("empty"));

  const auto bad_model = LoadTokenizer(dir.Write("tokenizer.model", "\x0a\x05garbage-bytes"));
  EXPECT_FALSE(bad_model.ok());
  EXPECT_THAT(std::string(bad_model.status().message()), HasSubstr("tokenizer.model"));

  const auto not_json = LoadTokenizer(dir.Write("tokenizer.json", "{\"model\": [1, 2"));
  EXPECT_FALSE(not_json.ok());
  EXPECT_THAT(std::string(not_json.status().message()), HasSubstr("not valid JSON"));
  EXPECT_THAT(std::string(not_json.status().message()), HasSubstr("tokenizer.json"));
}

TEST(TokenizerLoadTest, TruncatedRealFileIsAnError) {
  const auto path = kShared / "tokenizers/llama3/tokenizer.json";
  QUENCH_SKIP_IF_MISSING(path);
  TempDir dir;
  const std::string text = ReadText(path);
  const auto truncated =
      LoadTokenizer(dir.Write("tokenizer.json", text.substr(0, text.size() / 2)));
  EXPECT_EQ(truncated.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(TokenizerLoadTest, BadTokenizerConfigIsAnError) {
  TempDir dir;
  const std::string tokenizer = R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})";
  dir.Write("tokenizer.json", tokenizer);
  dir.Write("tokenizer_config.json", "{bos_token");
  EXPECT_THAT(std::string(LoadTokenizer(dir.path()).status().message()),
              HasSubstr("tokenizer_config.json"));
  dir.Write("tokenizer_config.json", R"({"bos_token": "<s>"})");
  EXPECT_THAT(std::string(LoadTokenizer(dir.path()).status().message()), HasSubstr("<s>"));
  dir.Write("tokenizer_config.json", R"({"bos_token": {"content": "a"}, "eos_token": null})");
  const auto loaded = LoadTokenizer(dir.path());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->bos_id(), 0);
  EXPECT_EQ((*loaded)->eos_id(), std::nullopt);
}

// ---------------------------------------------------------------------------------------------
// Small hand-written tokenizer.json files

// A BPE over the characters of "ab-c d" with merges a+b, ab+-, -+c.
Json TinyTokenizer() {
  return Json::parse(R"({
    "added_tokens": [],
    "normalizer": null,
    "pre_tokenizer": null,
    "decoder": null,
    "model": {
      "type": "BPE", "unk_token": "?", "byte_fallback": false, "fuse_unk": true,
      "vocab": {"?": 0, "a": 1, "b": 2, "-": 3, "c": 4, " ": 5, "d": 6,
                "ab": 7, "ab-": 8, "-c": 9},
      "merges": ["a b", ["ab", "-"], "- c"]
    }
  })");
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Parse(const Json& json) {
  return ParseBpeTokenizer(json.dump(), std::nullopt, "test.json");
}

std::vector<TokenId> EncodeWith(const Json& json, std::string_view text) {
  absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = Parse(json);
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status();
  return tokenizer.ok() ? (*tokenizer)->Encode(text) : std::vector<TokenId>{};
}

TEST(TokenizerJsonTest, MergesByRankAndFusesUnknowns) {
  const Json json = TinyTokenizer();
  EXPECT_EQ(EncodeWith(json, "ab-c"), (std::vector<TokenId>{8, 4}));  // "ab-" outranks "-c"
  EXPECT_EQ(EncodeWith(json, "xyab"), (std::vector<TokenId>{0, 7}));  // x and y fused into one ?
  EXPECT_EQ(EncodeWith(json, ""), std::vector<TokenId>{});
}

TEST(TokenizerJsonTest, IgnoreMergesTakesWholeWordsFromTheVocabulary) {
  Json json = TinyTokenizer();
  json["model"]["merges"] = Json::array();
  EXPECT_EQ(EncodeWith(json, "ab-"), (std::vector<TokenId>{1, 2, 3}));
  json["model"]["ignore_merges"] = true;
  EXPECT_EQ(EncodeWith(json, "ab-"), (std::vector<TokenId>{8}));
}

TEST(TokenizerJsonTest, SplitBehaviors) {
  const std::vector<std::pair<std::string, std::vector<TokenId>>> cases = {
      {"Isolated", {7, 3, 4}},         // ab | - | c
      {"Removed", {7, 4}},             // ab | c
      {"MergedWithPrevious", {8, 4}},  // ab- | c
      {"MergedWithNext", {7, 9}},      // ab | -c
      {"Contiguous", {7, 3, 4}},       // ab | - | c
  };
  for (const auto& [behavior, expected] : cases) {
    Json json = TinyTokenizer();
    json["pre_tokenizer"] = {
        {"type", "Split"}, {"pattern", {{"String", "-"}}}, {"behavior", behavior}};
    EXPECT_EQ(EncodeWith(json, "ab-c"), expected) << behavior;
  }
  Json inverted = TinyTokenizer();
  inverted["pre_tokenizer"] = {{"type", "Split"},
                               {"pattern", {{"Regex", "[a-z]+"}}},
                               {"behavior", "Removed"},
                               {"invert", true}};
  EXPECT_EQ(EncodeWith(inverted, "ab-c"), (std::vector<TokenId>{7, 4}));  // keeps the letters
}

TEST(TokenizerJsonTest, AddedTokensAreMatchedLongestFirstWithStripping) {
  Json json = TinyTokenizer();
  json["added_tokens"] = Json::parse(R"([
    {"id": 10, "content": "<x>", "special": true, "normalized": false},
    {"id": 11, "content": "<x>>", "special": true, "normalized": false},
    {"id": 12, "content": "[m]", "special": false, "normalized": false,
     "lstrip": true, "rstrip": true},
    {"id": 13, "content": "cd", "special": false, "normalized": false, "single_word": true}
  ])");
  EXPECT_EQ(EncodeWith(json, "a<x>>b<x>"), (std::vector<TokenId>{1, 11, 2, 10}));
  EXPECT_EQ(EncodeWith(json, "a  [m]  b"), (std::vector<TokenId>{1, 12, 2}));
  EXPECT_EQ(EncodeWith(json, "a cd"), (std::vector<TokenId>{1, 5, 13}));
  EXPECT_EQ(EncodeWith(json, "acd"), (std::vector<TokenId>{1, 4, 6}));  // inside a word
  const auto tokenizer = Parse(json);
  ASSERT_TRUE(tokenizer.ok());
  EXPECT_EQ((*tokenizer)->vocab_size(), 14);
  EXPECT_EQ(MustDecode(**tokenizer, {1, 11, 12}), "a <x>> [m]");  // no decoder: joined by spaces
}

TEST(TokenizerJsonTest, NormalizedAddedTokensMatchTheirNormalizedForm) {
  Json json = TinyTokenizer();
  json["normalizer"] = {{"type", "Replace"}, {"pattern", {{"String", "-"}}}, {"content", "c"}};
  json["added_tokens"] = Json::parse(R"([{"id": 10, "content": "a-", "normalized": true}])");
  EXPECT_EQ(EncodeWith(json, "ba-"), (std::vector<TokenId>{2, 10}));  // "bac" holds "ac"
}

TEST(TokenizerJsonTest, MetaspaceWithPrependSchemeFirst) {
  Json json = Json::parse(R"({
    "added_tokens": [{"id": 5, "content": "<s>", "special": true, "normalized": false}],
    "pre_tokenizer": {"type": "Metaspace", "replacement": "_", "prepend_scheme": "first",
                      "split": true},
    "decoder": {"type": "Metaspace", "replacement": "_", "prepend_scheme": "first"},
    "model": {"type": "BPE", "vocab": {"_": 0, "a": 1, "b": 2, "_a": 3, "_b": 4, "<s>": 5},
              "merges": ["_ a", "_ b"]}
  })");
  EXPECT_EQ(EncodeWith(json, "a b"), (std::vector<TokenId>{3, 4}));
  EXPECT_EQ(EncodeWith(json, "<s>a b"), (std::vector<TokenId>{5, 1, 4}));  // not at the start
  const auto tokenizer = Parse(json);
  ASSERT_TRUE(tokenizer.ok());
  EXPECT_EQ(MustDecode(**tokenizer, {3, 4}), "a b");
}

TEST(TokenizerJsonTest, ByteLevelWithPrefixSpaceAndGpt2Regex) {
  // GPT-2's byte characters: "Ġ" is the space.
  Json json = Json::parse(R"({
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": true, "use_regex": true},
    "decoder": {"type": "ByteLevel"},
    "model": {"type": "BPE", "vocab": {"Ġ": 0, "h": 1, "i": 2, "Ġh": 3, "Ġhi": 4, "!": 5},
              "merges": ["Ġ h", "Ġh i"]}
  })");
  EXPECT_EQ(EncodeWith(json, "hi hi!"), (std::vector<TokenId>{4, 4, 5}));
  const auto tokenizer = Parse(json);
  ASSERT_TRUE(tokenizer.ok());
  EXPECT_EQ(MustDecode(**tokenizer, {4, 4, 5}), " hi hi!");
}

TEST(TokenizerJsonTest, ByteFallbackAndItsDecoder) {
  Json json = Json::parse(R"({
    "decoder": {"type": "Sequence", "decoders": [
      {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": "a", "start": 1,
       "stop": 1}]},
    "model": {"type": "BPE", "byte_fallback": true, "unk_token": "<unk>",
              "vocab": {"<unk>": 0, "a": 1, "<0xC3>": 2, "<0xA9>": 3}, "merges": []}
  })");
  EXPECT_EQ(EncodeWith(json, "aé€a"), (std::vector<TokenId>{1, 2, 3, 0, 1}));  // € lacks bytes
  const auto tokenizer = Parse(json);
  ASSERT_TRUE(tokenizer.ok());
  EXPECT_EQ(MustDecode(**tokenizer, {1, 1, 2, 3, 1, 1}), "aéa");
  EXPECT_EQ(MustDecode(**tokenizer, {1, 2, 1}), "\xEF\xBF\xBD");  // a lone byte is invalid
}

TEST(TokenizerJsonTest, TemplateProcessingGivesBosAndEos) {
  Json json = TinyTokenizer();
  json["post_processor"] = Json::parse(R"({
    "type": "TemplateProcessing",
    "single": [{"SpecialToken": {"id": "a", "type_id": 0}}, {"Sequence": {"id": "A"}},
               {"SpecialToken": {"id": "d", "type_id": 0}}],
    "special_tokens": {"a": {"id": "a", "ids": [1], "tokens": ["a"]}}
  })");
  const auto tokenizer = Parse(json);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  EXPECT_EQ((*tokenizer)->bos_id(), 1);
  EXPECT_EQ((*tokenizer)->eos_id(), 6);
}

// Each malformed file must give an error naming the source and the field, never a crash.
TEST(TokenizerJsonTest, MalformedFilesAreErrors) {
  struct Case {
    std::string name;
    std::function<void(Json&)> damage;
    std::string expected_message;
  };
  const std::vector<Case> cases = {
      {"no model", [](Json& j) { j.erase("model"); }, "model: missing"},
      {"model not an object", [](Json& j) { j["model"] = 3; }, "expected an object"},
      {"unknown model type", [](Json& j) { j["model"]["type"] = "Unigram"; }, "unsupported model"},
      {"vocab not an object", [](Json& j) { j["model"]["vocab"] = Json::array(); }, "model.vocab"},
      {"negative id", [](Json& j) { j["model"]["vocab"]["a"] = -4; }, "model.vocab[\"a\"]"},
      {"merge without space", [](Json& j) { j["model"]["merges"][0] = "ab"; }, "model.merges[0]"},
      {"merge of unknown token",
       [](Json& j) {
         j["model"]["merges"][1] = {"ab", "zz"};
       },
       "\"zz\" is not in the vocabulary"},
      {"merge not a pair", [](Json& j) { j["model"]["merges"][2] = 7; }, "model.merges[2]"},
      {"merges not an array", [](Json& j) { j["model"]["merges"] = "a b"; }, "model.merges"},
      {"unknown unk token", [](Json& j) { j["model"]["unk_token"] = "<unk>"; }, "model.unk_token"},
      {"unknown pre-tokenizer",
       [](Json& j) {
         j["pre_tokenizer"] = {{"type", "Whitespace"}};
       },
       "unsupported pre-tokenizer \"Whitespace\""},
      {"unknown pre-tokenizer in a sequence",
       [](Json& j) {
         j["pre_tokenizer"] = Json::parse(
             R"({"type": "Sequence", "pretokenizers": [{"type": "ByteLevel"}, {"type": "Foo"}]})");
       },
       "pre_tokenizer.pretokenizers[1].type"},
      {"bad regex",
       [](Json& j) {
         j["pre_tokenizer"] = {
             {"type", "Split"}, {"pattern", {{"Regex", "(a"}}}, {"behavior", "Isolated"}};
       },
       "pre_tokenizer.pattern.Regex"},
      {"unknown split behavior",
       [](Json& j) {
         j["pre_tokenizer"] = {
             {"type", "Split"}, {"pattern", {{"String", " "}}}, {"behavior", "Sideways"}};
       },
       "Sideways"},
      {"unknown normalizer",
       [](Json& j) {
         j["normalizer"] = {{"type", "BertNormalizer"}};
       },
       "unsupported normalizer"},
      {"normalizer without type", [](Json& j) { j["normalizer"] = Json::object(); },
       "normalizer.type: missing"},
      {"unknown decoder",
       [](Json& j) {
         j["decoder"] = {{"type", "WordPiece"}};
       },
       "unsupported decoder"},
      {"added token without id",
       [](Json& j) { j["added_tokens"] = Json::parse(R"([{"content": "x"}])"); },
       "added_tokens[0].id"},
      {"added tokens not a list", [](Json& j) { j["added_tokens"] = "x"; }, "added_tokens"},
  };
  for (const Case& c : cases) {
    Json json = TinyTokenizer();
    c.damage(json);
    const auto tokenizer = Parse(json);
    EXPECT_FALSE(tokenizer.ok()) << c.name;
    EXPECT_THAT(std::string(tokenizer.status().message()), HasSubstr("test.json: ")) << c.name;
    EXPECT_THAT(std::string(tokenizer.status().message()), HasSubstr(c.expected_message)) << c.name;
  }
  for (const std::string text : {"", "nul", "[1, 2]", "{\"model\": {}}", "\"text\""}) {
    EXPECT_FALSE(ParseBpeTokenizer(text, std::nullopt, "test.json").ok()) << text;
  }
}

}  // namespace
}  // namespace quench
