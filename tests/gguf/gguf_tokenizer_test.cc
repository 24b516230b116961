// GgufTokenizerMetadata tests. The real tokenizers of ../shared are checked against facts that
// do not come from the code under test: SentencePiece's own pieces and scores, the files' JSON
// read here directly, and, for tokenizer.json models written as "llama", llama.cpp's
// SentencePiece-style merging (re-implemented below) against the reference BPE encodings.
#include "core/gguf/gguf_tokenizer.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <queue>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/model/model_spec.h"
#include "core/tokenizer/sentencepiece_engine.h"
#include "core/tokenizer/tokenizer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/core/test_paths.h"

namespace quench {
namespace {

using Json = nlohmann::json;
using Metadata = std::vector<std::pair<std::string, GgufValue>>;
using ::quench::testing::SharedPath;
using ::quench::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// llama.cpp's token types.
constexpr int kNormal = 1;
constexpr int kUnknown = 2;
constexpr int kControl = 3;
constexpr int kUserDefined = 4;
constexpr int kUnused = 5;
constexpr int kByte = 6;

std::string ReadText(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

void WriteText(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

std::vector<std::string> Keys(const Metadata& metadata) {
  std::vector<std::string> keys;
  for (const auto& [key, value] : metadata) keys.push_back(key);
  return keys;
}

// The value of `key`, checked to have the GGUF type llama.cpp insists on.
const GgufValue& Get(const Metadata& metadata, const std::string& key, GgufValueType type,
                     GgufValueType element_type = GgufValueType::kU8) {
  for (const auto& [name, value] : metadata) {
    if (name != key) continue;
    EXPECT_EQ(value.type, type) << key;
    if (type == GgufValueType::kArray) {
      EXPECT_EQ(value.element_type, element_type) << key;
    }
    return value;
  }
  ADD_FAILURE() << "no key " << key;
  static const GgufValue missing;
  return missing;
}

bool Has(const Metadata& metadata, const std::string& key) {
  for (const auto& [name, value] : metadata) {
    if (name == key) return true;
  }
  return false;
}

const std::vector<std::string>& Tokens(const Metadata& metadata) {
  return Get(metadata, "tokenizer.ggml.tokens", GgufValueType::kArray, GgufValueType::kString)
      .strings;
}
const std::vector<double>& Types(const Metadata& metadata) {
  return Get(metadata, "tokenizer.ggml.token_type", GgufValueType::kArray, GgufValueType::kI32)
      .numbers;
}
const std::vector<double>& Scores(const Metadata& metadata) {
  return Get(metadata, "tokenizer.ggml.scores", GgufValueType::kArray, GgufValueType::kF32).numbers;
}
uint64_t Id(const Metadata& metadata, const std::string& key) {
  return Get(metadata, key, GgufValueType::kU32).unsigned_value;
}
std::string Text(const Metadata& metadata, const std::string& key) {
  return Get(metadata, key, GgufValueType::kString).string_value;
}

int64_t IndexOf(const std::vector<std::string>& tokens, const std::string& token) {
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] == token) return static_cast<int64_t>(i);
  }
  return -1;
}

// llama.cpp's SentencePiece-style tokenizer (llm_tokenizer_spm_session) over a GGUF vocabulary:
// spaces become "▁" and one is prepended, the text splits into UTF-8 characters, then the
// adjacent pair whose concatenation is the highest-scoring token (leftmost on ties) merges,
// repeatedly; a piece left without a token becomes its <0xNN> byte tokens.
class SpmReference {
 public:
  SpmReference(const std::vector<std::string>& tokens, const std::vector<double>& scores)
      : scores_(scores) {
    for (size_t id = 0; id < tokens.size(); ++id) ids_.try_emplace(tokens[id], id);
  }

  std::vector<int> Encode(const std::string& raw) const {
    std::string text = "\xE2\x96\x81";
    for (const char c : raw) text += c == ' ' ? std::string("\xE2\x96\x81") : std::string(1, c);

    struct Symbol {
      int prev, next;
      size_t start, length;
    };
    std::vector<Symbol> symbols;
    for (size_t pos = 0; pos < text.size();) {
      const auto lead = static_cast<unsigned char>(text[pos]);
      size_t length = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
      length = std::min(length, text.size() - pos);
      const int index = static_cast<int>(symbols.size());
      symbols.push_back({index - 1, index + 1, pos, length});
      pos += length;
    }
    if (!symbols.empty()) symbols.back().next = -1;

    struct Bigram {
      double score;
      int left, right;
      size_t length;
      bool operator<(const Bigram& other) const {  // the queue's top is the greatest
        return score < other.score || (score == other.score && left > other.left);
      }
    };
    std::priority_queue<Bigram> queue;
    const auto add = [&](int left, int right) {
      if (left < 0 || right < 0) return;
      const size_t length = symbols[left].length + symbols[right].length;
      const auto it = ids_.find(text.substr(symbols[left].start, length));
      if (it != ids_.end()) queue.push({scores_[it->second], left, right, length});
    };
    for (size_t i = 1; i < symbols.size(); ++i) add(static_cast<int>(i) - 1, static_cast<int>(i));
    while (!queue.empty()) {
      const Bigram bigram = queue.top();
      queue.pop();
      Symbol& left = symbols[bigram.left];
      Symbol& right = symbols[bigram.right];
      if (left.length == 0 || right.length == 0 || left.length + right.length != bigram.length) {
        continue;  // stale: one side has merged since
      }
      left.length += right.length;
      right.length = 0;
      left.next = right.next;
      if (right.next >= 0) symbols[right.next].prev = bigram.left;
      add(left.prev, bigram.left);
      add(bigram.left, left.next);
    }

    std::vector<int> ids;
    for (int i = symbols.empty() ? -1 : 0; i >= 0; i = symbols[i].next) {
      const std::string piece = text.substr(symbols[i].start, symbols[i].length);
      if (const auto it = ids_.find(piece); it != ids_.end()) {
        ids.push_back(static_cast<int>(it->second));
        continue;
      }
      for (const char c : piece) {
        char name[8];
        std::snprintf(name, sizeof(name), "<0x%02X>", static_cast<unsigned char>(c));
        ids.push_back(static_cast<int>(ids_.at(name)));
      }
    }
    return ids;
  }

 private:
  std::unordered_map<std::string, size_t> ids_;
  const std::vector<double>& scores_;
};

std::vector<std::string> Stories(size_t count) {
  const std::string text = ReadText(SharedPath("data/tinystories-valid.txt"));
  std::vector<std::string> stories;
  for (size_t start = 0; start < text.size() && stories.size() < count;) {
    size_t end = text.find("\n\n", start);
    if (end == std::string::npos) end = text.size();
    if (end > start) stories.push_back(text.substr(start, end - start));
    start = end + 2;
  }
  return stories;
}

// A directory holding only links to `files` of a shared tokenizer directory.
void LinkFiles(const std::filesystem::path& from, const TempDir& to,
               const std::vector<std::string>& files) {
  for (const std::string& file : files) std::filesystem::create_symlink(from / file, to / file);
}

TEST(GgufTokenizerTest, SentencePieceModelKeepsPiecesScoresAndTypes) {
  const std::filesystem::path dir = SharedPath("models/stories260K");
  QUENCH_REQUIRE_SHARED(dir / "tokenizer.model");
  const absl::StatusOr<ModelSpec> spec = LoadModelSpec(dir);
  ASSERT_TRUE(spec.ok()) << spec.status();
  const absl::StatusOr<Metadata> metadata = GgufTokenizerMetadata(dir, *spec);
  ASSERT_TRUE(metadata.ok()) << metadata.status();

  std::string error;
  const auto engine = SentencePieceEngine::Load(ReadText(dir / "tokenizer.model"), &error);
  ASSERT_NE(engine, nullptr) << error;
  ASSERT_EQ(engine->piece_count(), 512);

  EXPECT_EQ(Text(*metadata, "tokenizer.ggml.model"), "llama");
  const auto& tokens = Tokens(*metadata);
  const auto& scores = Scores(*metadata);
  const auto& types = Types(*metadata);
  ASSERT_EQ(tokens.size(), 512u);
  ASSERT_EQ(scores.size(), 512u);
  ASSERT_EQ(types.size(), 512u);
  for (int id = 0; id < 512; ++id) {
    EXPECT_EQ(tokens[id], engine->piece(id)) << id;
    EXPECT_EQ(static_cast<float>(scores[id]), engine->score(id)) << id;
  }
  EXPECT_EQ(tokens[0], "<unk>");
  EXPECT_EQ(types[0], kUnknown);
  EXPECT_EQ(tokens[1], "<s>");
  EXPECT_EQ(types[1], kControl);
  EXPECT_EQ(tokens[2], "</s>");
  EXPECT_EQ(types[2], kControl);
  const int64_t byte_a = IndexOf(tokens, "<0x41>");
  ASSERT_GE(byte_a, 0);
  EXPECT_EQ(types[byte_a], kByte);
  int bytes = 0;
  for (const double type : types) bytes += type == kByte;
  EXPECT_EQ(bytes, 256);
  const int64_t normal = IndexOf(tokens, "\xE2\x96\x81the");  // "▁the"
  ASSERT_GE(normal, 0);
  EXPECT_EQ(types[normal], kNormal);

  EXPECT_EQ(Id(*metadata, "tokenizer.ggml.bos_token_id"), 1u);
  EXPECT_EQ(Id(*metadata, "tokenizer.ggml.eos_token_id"), 2u);
  EXPECT_EQ(Id(*metadata, "tokenizer.ggml.unknown_token_id"), 0u);
  EXPECT_FALSE(Has(*metadata, "tokenizer.ggml.merges"));
}

TEST(GgufTokenizerTest, SentencePieceModelIsPaddedToTheVocabulary) {
  const std::filesystem::path dir = SharedPath("models/stories260K");
  QUENCH_REQUIRE_SHARED(dir / "tokenizer.model");
  absl::StatusOr<ModelSpec> spec = LoadModelSpec(dir);
  ASSERT_TRUE(spec.ok()) << spec.status();
  spec->vocab_size = 515;
  const absl::StatusOr<Metadata> metadata = GgufTokenizerMetadata(dir, *spec);
  ASSERT_TRUE(metadata.ok()) << metadata.status();
  const auto& tokens = Tokens(*metadata);
  ASSERT_EQ(tokens.size(), 515u);
  std::string error;
  const auto engine = SentencePieceEngine::Load(ReadText(dir / "tokenizer.model"), &error);
  ASSERT_NE(engine, nullptr) << error;
  EXPECT_EQ(tokens[511], engine->piece(511));
  EXPECT_EQ(tokens[512], "[PAD512]");
  EXPECT_EQ(tokens[514], "[PAD514]");
  EXPECT_EQ(Types(*metadata)[513], kUnused);
  EXPECT_EQ(Scores(*metadata)[513], 0.0);
  EXPECT_EQ(Scores(*metadata).size(), 515u);
  EXPECT_EQ(Types(*metadata).size(), 515u);
}

TEST(GgufTokenizerTest, MoreTokensThanTheVocabularyIsAnError) {
  const std::filesystem::path dir = SharedPath("models/stories260K");
  QUENCH_REQUIRE_SHARED(dir / "tokenizer.model");
  absl::StatusOr<ModelSpec> spec = LoadModelSpec(dir);
  ASSERT_TRUE(spec.ok()) << spec.status();
  spec->vocab_size = 256;
  const absl::StatusOr<Metadata> metadata = GgufTokenizerMetadata(dir, *spec);
  ASSERT_FALSE(metadata.ok());
  EXPECT_THAT(metadata.status().message(), HasSubstr("tokenizer.model"));
  EXPECT_THAT(metadata.status().message(), HasSubstr("512 tokens"));
  EXPECT_THAT(metadata.status().message(), HasSubstr("vocab_size is 256"));
}

TEST(GgufTokenizerTest, SentencePieceStyleTokenizerJsonBecomesLlama) {
  const std::filesystem::path dir = SharedPath("models/tinystories656K");
  QUENCH_REQUIRE_SHARED(dir / "tokenizer.json");
  const absl::StatusOr<ModelSpec> spec = LoadModelSpec(dir);
  ASSERT_TRUE(spec.ok()) << spec.status();
  const absl::StatusOr<Metadata> metadata = GgufTokenizerMetadata(dir, *spec);
  ASSERT_TRUE(metadata.ok()) << metadata.status();

  EXPECT_EQ(Text(*metadata, "tokenizer.ggml.model"), "llama");
  const auto& tokens = Tokens(*metadata);
  const auto& types = Types(*metadata);
  const auto& scores = Scores(*metadata);
  ASSERT_EQ(tokens.size(), 2048u);
  ASSERT_EQ(types.size(), 2048u);
  ASSERT_EQ(scores.size(), 2048u);

  // The tokens are the file's vocabulary in id order.
  const Json file = Json::parse(ReadText(dir / "tokenizer.json"));
  for (const auto& [token, id] : file["model"]["vocab"].items()) {
    EXPECT_EQ(tokens.at(id.get<size_t>()), token);
  }
  EXPECT_EQ(tokens[0], "<unk>");
  EXPECT_EQ(types[0], kUnknown);
  EXPECT_EQ(tokens[1], "<|start_story|>");
  EXPECT_EQ(types[1], kControl);
  EXPECT_EQ(tokens[2], "<|end_story|>");
  EXPECT_EQ(types[2], kControl);
  // byte_fallback is set, but this vocabulary has no <0xNN> pieces.
  EXPECT_EQ(std::count(types.begin(), types.end(), kByte), 0);
  EXPECT_EQ(std::count(types.begin(), types.end(), kNormal), 2045);
  EXPECT_EQ(Id(*metadata, "tokenizer.ggml.bos_token_id"), 1u);
  EXPECT_EQ(Id(*metadata, "tokenizer.ggml.eos_token_id"), 2u);
  EXPECT_EQ(Id(*metadata, "tokenizer.ggml.unknown_token_id"), 0u);
  EXPECT_EQ(Id(*metadata, "tokenizer.ggml.padding_token_id"), 0u);  // pad_token "<unk>"
  EXPECT_TRUE(Get(*metadata, "tokenizer.ggml.add_bos_token", GgufValueType::kBool).bool_value);
  EXPECT_FALSE(Get(*metadata, "tokenizer.ggml.add_eos_token", GgufValueType::kBool).bool_value);

  // Merge r makes a token of score -(r+1): earlier merges score higher. The file's first merge
  // is "e ▁" and its third "t h".
  const auto& merges = file["model"]["merges"];
  ASSERT_EQ(merges[0].get<std::string>(), "e \xE2\x96\x81");
  ASSERT_EQ(merges[2].get<std::string>(), "t h");
  EXPECT_EQ(scores[IndexOf(tokens, "e\xE2\x96\x81")], -1.0);
  EXPECT_EQ(scores[IndexOf(tokens, "th")], -3.0);
  EXPECT_EQ(scores[IndexOf(tokens, "t")], 0.0);  // no merge makes a single character
}

TEST(GgufTokenizerTest, LlamaScoresReproduceTheBpeMergeOrder) {
  // llama.cpp's merging with our scores must give the reference tokenizer's ids.
  const std::filesystem::path dir = SharedPath("models/tinystories656K");
  QUENCH_REQUIRE_SHARED(dir / "tokenizer.json");
  QUENCH_REQUIRE_SHARED(SharedPath("data/tinystories-valid.txt"));
  const absl::StatusOr<ModelSpec> spec = LoadModelSpec(dir);
  ASSERT_TRUE(spec.ok()) << spec.status();
  const absl::StatusOr<Metadata> metadata = GgufTokenizerMetadata(dir, *spec);
  ASSERT_TRUE(metadata.ok()) << metadata.status();
  const absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = LoadTokenizer(dir);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();

  const SpmReference spm(Tokens(*metadata), Scores(*metadata));
  size_t checked = 0;
  for (const std::string& story : Stories(300)) {
    const std::vector<TokenId> expected = (*tokenizer)->Encode(story);
    const std::vector<int> actual = spm.Encode(story);
    ASSERT_EQ(std::vector<int>(expected.begin(), expected.end()), actual) << story;
    checked += actual.size();
  }
  EXPECT_GT(checked, 10000u);
}

TEST(GgufTokenizerTest, LlamaScoresReproduceLlama2JsonMerges) {
  // A 32000-token SentencePiece-style tokenizer.json (not the conversion of the tokenizer.model
  // beside it: its ids differ). llama.cpp's merging by our scores must give the ids of the
  // reference BPE tokenizer on real text.
  const std::filesystem::path shared = SharedPath("tokenizers/llama2");
  QUENCH_REQUIRE_SHARED(shared / "tokenizer.json");
  QUENCH_REQUIRE_SHARED(SharedPath("data/wikitext2-test.txt"));
  const TempDir dir;  // without the tokenizer.model, which would be preferred
  LinkFiles(shared, dir, {"tokenizer.json", "tokenizer_config.json"});
  ModelSpec spec;
  spec.vocab_size = 32000;
  const absl::StatusOr<Metadata> metadata = GgufTokenizerMetadata(dir.path(), spec);
  ASSERT_TRUE(metadata.ok()) << metadata.status();
  EXPECT_EQ(Text(*metadata, "tokenizer.ggml.model"), "llama");
  EXPECT_EQ(Id(*metadata, "tokenizer.ggml.bos_token_id"), 1u);  // "<s>" in tokenizer_config
  EXPECT_EQ(Id(*metadata, "tokenizer.ggml.eos_token_id"), 2u);
  EXPECT_FALSE(Has(*metadata, "tokenizer.ggml.padding_token_id"));  // pad_token is null
  const auto& tokens = Tokens(*metadata);
  const auto& types = Types(*metadata);
  ASSERT_EQ(tokens.size(), 32000u);
  EXPECT_EQ(types[0], kUnknown);
  EXPECT_EQ(types[1], kControl);
  EXPECT_EQ(types[2], kControl);
  for (int byte = 0; byte < 256; ++byte) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", byte);
    const int64_t id = IndexOf(tokens, name);
    ASSERT_GE(id, 0) << name;
    EXPECT_EQ(types[id], kByte) << name;
  }

  const absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer =
      LoadTokenizer(dir / "tokenizer.json");
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  const SpmReference spm(tokens, Scores(*metadata));
  std::istringstream lines(ReadText(SharedPath("data/wikitext2-test.txt")));
  std::string line;
  size_t checked = 0;
  while (checked < 500 && std::getline(lines, line)) {
    if (line.find_first_not_of(' ') == std::string::npos) continue;
    const std::vector<TokenId> expected = (*tokenizer)->Encode(line);
    ASSERT_EQ(spm.Encode(line), std::vector<int>(expected.begin(), expected.end())) << line;
    ++checked;
  }
  EXPECT_EQ(checked, 500u);
}

TEST(GgufTokenizerTest, ByteLevelTokenizerJsonBecomesGpt2) {
  const std::filesystem::path dir = SharedPath("tokenizers/llama3");
  QUENCH_REQUIRE_SHARED(dir / "tokenizer.json");
  ModelSpec spec;
  spec.vocab_size = 128256;  // 128000 BPE tokens + 256 special ones
  const absl::StatusOr<Metadata> metadata = GgufTokenizerMetadata(dir, spec);
  ASSERT_TRUE(metadata.ok()) << metadata.status();

  EXPECT_EQ(Text(*metadata, "tokenizer.ggml.model"), "gpt2");
  EXPECT_EQ(Text(*metadata, "tokenizer.ggml.pre"), "llama-bpe");
  EXPECT_FALSE(Has(*metadata, "tokenizer.ggml.scores"));
  const auto& merges =
      Get(*metadata, "tokenizer.ggml.merges", GgufValueType::kArray, GgufValueType::kString)
          .strings;
  const Json file = Json::parse(ReadText(dir / "tokenizer.json"));
  ASSERT_EQ(merges.size(), 280147u);
  ASSERT_EQ(file["model"]["merges"].size(), 280147u);
  for (size_t i = 0; i < merges.size(); ++i) {
    ASSERT_EQ(merges[i], file["model"]["merges"][i].get<std::string>()) << i;
  }
  EXPECT_EQ(merges[0], "\xC4\xA0 \xC4\xA0");  // "Ġ Ġ"

  const auto& tokens = Tokens(*metadata);
  const auto& types = Types(*metadata);
  ASSERT_EQ(tokens.size(), 128256u);
  EXPECT_EQ(tokens[279], "\xC4\xA0the");  // "Ġthe"
  EXPECT_EQ(types[279], kNormal);
  EXPECT_EQ(tokens[128000], "<|begin_of_text|>");
  EXPECT_EQ(types[128000], kControl);
  EXPECT_EQ(tokens[128255], "<|reserved_special_token_250|>");
  EXPECT_EQ(types[128255], kControl);
  EXPECT_EQ(Id(*metadata, "tokenizer.ggml.bos_token_id"), 128000u);
  EXPECT_EQ(Id(*metadata, "tokenizer.ggml.eos_token_id"), 128001u);
  const Json config = Json::parse(ReadText(dir / "tokenizer_config.json"));
  EXPECT_EQ(Text(*metadata, "tokenizer.chat_template"), config["chat_template"].get<std::string>());
}

TEST(GgufTokenizerTest, MergePairsAndPaddingOfQwen3) {
  const std::filesystem::path dir = SharedPath("tokenizers/qwen3");
  QUENCH_REQUIRE_SHARED(dir / "tokenizer.json");
  ModelSpec spec;
  spec.vocab_size = 151936;  // Qwen3's embedding rows: more than its 151669 tokens
  const absl::StatusOr<Metadata> metadata = GgufTokenizerMetadata(dir, spec);
  ASSERT_TRUE(metadata.ok()) << metadata.status();

  EXPECT_EQ(Text(*metadata, "tokenizer.ggml.model"), "gpt2");
  EXPECT_EQ(Text(*metadata, "tokenizer.ggml.pre"), "qwen2");
  const auto& merges =
      Get(*metadata, "tokenizer.ggml.merges", GgufValueType::kArray, GgufValueType::kString)
          .strings;
  const Json file = Json::parse(ReadText(dir / "tokenizer.json"));
  const Json& pairs = file["model"]["merges"];
  ASSERT_EQ(merges.size(), pairs.size());
  for (size_t i = 0; i < merges.size(); i += 997) {
    EXPECT_EQ(merges[i], pairs[i][0].get<std::string>() + " " + pairs[i][1].get<std::string>());
  }

  const auto& tokens = Tokens(*metadata);
  const auto& types = Types(*metadata);
  ASSERT_EQ(tokens.size(), 151936u);
  EXPECT_EQ(tokens[151643], "<|endoftext|>");
  EXPECT_EQ(types[151643], kControl);
  EXPECT_EQ(tokens[151657], "<tool_call>");  // an added token not marked special
  EXPECT_EQ(types[151657], kUserDefined);
  EXPECT_EQ(tokens[151659], "<|fim_prefix|>");  // not marked special, but looks it
  EXPECT_EQ(types[151659], kControl);
  EXPECT_EQ(tokens[151668], "</think>");
  EXPECT_EQ(tokens[151669], "[PAD151669]");
  EXPECT_EQ(types[151669], kUnused);
  EXPECT_EQ(tokens[151935], "[PAD151935]");
  EXPECT_EQ(Id(*metadata, "tokenizer.ggml.eos_token_id"), 151645u);  // "<|im_end|>"
  EXPECT_EQ(Id(*metadata, "tokenizer.ggml.padding_token_id"), 151643u);
  EXPECT_FALSE(Has(*metadata, "tokenizer.ggml.bos_token_id"));  // bos_token is null
  EXPECT_FALSE(Get(*metadata, "tokenizer.ggml.add_bos_token", GgufValueType::kBool).bool_value);
}

TEST(GgufTokenizerTest, NoTokenizerGivesModelNone) {
  const TempDir dir;
  ModelSpec spec;
  spec.vocab_size = 100;
  absl::StatusOr<Metadata> metadata = GgufTokenizerMetadata(dir.path(), spec);
  ASSERT_TRUE(metadata.ok()) << metadata.status();
  EXPECT_THAT(Keys(*metadata), ElementsAre("tokenizer.ggml.model"));
  EXPECT_EQ(Text(*metadata, "tokenizer.ggml.model"), "none");

  spec.bos_token_id = 1;
  spec.eos_token_id = 2;
  metadata = GgufTokenizerMetadata(dir.path(), spec);
  ASSERT_TRUE(metadata.ok()) << metadata.status();
  EXPECT_THAT(Keys(*metadata), ElementsAre("tokenizer.ggml.model", "tokenizer.ggml.bos_token_id",
                                           "tokenizer.ggml.eos_token_id"));
  EXPECT_EQ(Id(*metadata, "tokenizer.ggml.bos_token_id"), 1u);
  EXPECT_EQ(Id(*metadata, "tokenizer.ggml.eos_token_id"), 2u);

  spec.eos_token_id = 100;
  metadata = GgufTokenizerMetadata(dir.path(), spec);
  ASSERT_FALSE(metadata.ok());
  EXPECT_THAT(metadata.status().message(), HasSubstr("EOS token id 100"));
}

// A small SentencePiece-style tokenizer.json: merges as pairs, an id gap, a non-special added
// token with "▁", and byte pieces.
constexpr char kSmallLlamaJson[] = R"({
  "added_tokens": [
    {"id": 0, "content": "<unk>", "special": true},
    {"id": 1, "content": "<s>", "special": true},
    {"id": 9, "content": "\u2581hi there", "special": false}
  ],
  "normalizer": {"type": "Sequence", "normalizers": [
    {"type": "Prepend", "prepend": "\u2581"},
    {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
  "pre_tokenizer": null,
  "decoder": {"type": "Sequence", "decoders": [{"type": "ByteFallback"}, {"type": "Fuse"}]},
  "model": {
    "type": "BPE", "unk_token": "<unk>", "byte_fallback": true,
    "vocab": {"<unk>": 0, "<s>": 1, "<0x0A>": 2, "a": 3, "b": 4, "ab": 5, "abb": 6, "bb": 7},
    "merges": [["a", "b"], ["ab", "b"], ["b", "b"]]
  }
})";

TEST(GgufTokenizerTest, SmallSentencePieceStyleJson) {
  const TempDir dir;
  WriteText(dir / "tokenizer.json", kSmallLlamaJson);
  ModelSpec spec;
  spec.vocab_size = 11;
  spec.bos_token_id = 1;
  const absl::StatusOr<Metadata> metadata = GgufTokenizerMetadata(dir.path(), spec);
  ASSERT_TRUE(metadata.ok()) << metadata.status();
  EXPECT_THAT(Tokens(*metadata), ElementsAre("<unk>", "<s>", "<0x0A>", "a", "b", "ab", "abb", "bb",
                                             "[PAD8]", " hi there", "[PAD10]"));
  EXPECT_THAT(Types(*metadata), ElementsAre(kUnknown, kControl, kByte, kNormal, kNormal, kNormal,
                                            kNormal, kNormal, kUnused, kUserDefined, kUnused));
  EXPECT_THAT(Scores(*metadata), ElementsAre(0, 0, 0, 0, 0, -1, -2, -3, 0, 0, 0));
  EXPECT_EQ(Id(*metadata, "tokenizer.ggml.bos_token_id"), 1u);
  EXPECT_EQ(Id(*metadata, "tokenizer.ggml.unknown_token_id"), 0u);
  EXPECT_FALSE(Has(*metadata, "tokenizer.ggml.eos_token_id"));
  EXPECT_FALSE(Has(*metadata, "tokenizer.chat_template"));
}

TEST(GgufTokenizerTest, TokenizerConfigNamesSpecialTokensAndChatTemplate) {
  const TempDir dir;
  WriteText(dir / "tokenizer.json", kSmallLlamaJson);
  WriteText(dir / "tokenizer_config.json", R"({
    "bos_token": {"content": "<s>", "special": true}, "eos_token": "ab", "pad_token": "<pad>",
    "add_bos_token": false, "chat_template": [{"name": "tool_use", "template": "T"},
                                              {"name": "default", "template": "D"}]})");
  ModelSpec spec;
  spec.vocab_size = 10;
  spec.eos_token_id = 7;  // tokenizer_config.json wins
  const absl::StatusOr<Metadata> metadata = GgufTokenizerMetadata(dir.path(), spec);
  ASSERT_TRUE(metadata.ok()) << metadata.status();
  EXPECT_EQ(Id(*metadata, "tokenizer.ggml.bos_token_id"), 1u);
  EXPECT_EQ(Id(*metadata, "tokenizer.ggml.eos_token_id"), 5u);
  EXPECT_FALSE(Has(*metadata, "tokenizer.ggml.padding_token_id"));  // "<pad>" is no token
  EXPECT_FALSE(Get(*metadata, "tokenizer.ggml.add_bos_token", GgufValueType::kBool).bool_value);
  EXPECT_EQ(Text(*metadata, "tokenizer.chat_template"), "D");

  WriteText(dir / "tokenizer_config.json", R"({"eos_token": "</s>"})");
  const absl::StatusOr<Metadata> missing = GgufTokenizerMetadata(dir.path(), spec);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("tokenizer_config.json: eos_token"));
  EXPECT_THAT(missing.status().message(), HasSubstr("\"</s>\" is not a token"));
}

TEST(GgufTokenizerTest, BadTokenizerJsonErrorsNameTheFileAndField) {
  const TempDir dir;
  ModelSpec spec;
  spec.vocab_size = 10;
  const auto error_of = [&](const std::string& json) {
    WriteText(dir / "tokenizer.json", json);
    const absl::StatusOr<Metadata> metadata = GgufTokenizerMetadata(dir.path(), spec);
    EXPECT_FALSE(metadata.ok());
    return std::string(metadata.status().message());
  };
  EXPECT_THAT(error_of(R"({"model": {"type": "WordPiece", "vocab": {}}})"),
              HasSubstr("tokenizer.json: model.type: \"WordPiece\""));
  EXPECT_THAT(error_of(R"({"decoder": {"type": "ByteLevel"}, "model": {"type": "BPE",
                           "vocab": {"a": 0, "b": 1}, "merges": ["a c"]}})"),
              HasSubstr("model.merges[0]: \"c\" is not in the vocabulary"));
  EXPECT_THAT(error_of(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})"),
              HasSubstr("neither byte-level"));
  EXPECT_THAT(error_of("{not json"), HasSubstr("tokenizer.json: not valid JSON"));
}

}  // namespace
}  // namespace quench
