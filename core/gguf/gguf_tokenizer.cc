// GgufTokenizerMetadata: the model directory's tokenizer as the tokenizer.ggml.* keys that
// llama.cpp's loader (src/llama-vocab.cpp) reads, laid out as its convert_hf_to_gguf.py writes
// them. llama.cpp checks every key's GGUF type exactly: ids are u32, scores f32, types i32.
#include "core/gguf/gguf_tokenizer.h"

#include <cstdint>
#include <limits>
#include <optional>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "core/tokenizer/json_fields.h"
#include "core/tokenizer/sentencepiece_engine.h"
#include "core/util/atomic_file.h"
#include "core/util/status_macros.h"

namespace quench {
namespace {

using json_fields::Json;
using Metadata = std::vector<std::pair<std::string, GgufValue>>;

constexpr char kSentencePieceFile[] = "tokenizer.model";
constexpr char kHuggingFaceFile[] = "tokenizer.json";
constexpr char kTokenizerConfigFile[] = "tokenizer_config.json";

// Ids index dense arrays; a larger one means a corrupt file, not a real vocabulary.
constexpr int64_t kMaxTokenId = int64_t{1} << 26;

// llama.cpp's token types (gguf-py's TokenType). 0 marks an id no file has named yet.
enum TokenType : int32_t {
  kUnset = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

// The pre-tokenizer regexes of tokenizer.json files whose llama.cpp names we know. llama.cpp
// identifies a BPE pre-tokenizer by name (tokenizer.ggml.pre), not by its regex, so only exact
// matches are mapped; anything else gets "default" (llama.cpp's generic regex, which splits
// text somewhat differently from the original tokenizer).
struct KnownPreTokenizer {
  const char* regex;
  const char* name;
};
constexpr KnownPreTokenizer kKnownPreTokenizers[] = {
    {R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)",
     "llama-bpe"},
    {R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)",
     "qwen2"},
};

// The tokenizer as llama.cpp wants it, before padding to the model's vocabulary size.
struct Vocabulary {
  std::string model;  // "llama" or "gpt2"
  std::string pre = "default";
  std::vector<std::string> tokens;
  std::vector<float> scores;  // "llama" only
  std::vector<int32_t> types;
  std::vector<std::string> merges;  // "gpt2" only
  // Token text as the files spell it → id, for special tokens named by text.
  absl::flat_hash_map<std::string, int64_t> ids;
  // What the tokenizer file itself says; config files take precedence.
  std::optional<int64_t> bos;
  std::optional<int64_t> eos;
  std::optional<int64_t> unk;

  void Set(int64_t id, std::string text, int32_t type, float score = 0) {
    if (static_cast<size_t>(id) >= tokens.size()) {
      tokens.resize(id + 1);
      scores.resize(id + 1, 0.0f);
      types.resize(id + 1, kUnset);
    }
    ids.try_emplace(text, id);
    tokens[id] = std::move(text);
    types[id] = type;
    scores[id] = score;
  }
  std::optional<int64_t> Find(const std::string& text) const {
    const auto it = ids.find(text);
    if (it == ids.end()) return std::nullopt;
    return it->second;
  }
};

absl::Status Prefixed(const absl::Status& status, const std::filesystem::path& path) {
  return absl::Status(status.code(), absl::StrCat(path.string(), ": ", status.message()));
}

absl::StatusOr<Json> ReadJson(const std::filesystem::path& path) {
  QUENCH_ASSIGN_OR_RETURN(const std::string text, ReadFileToString(path));
  Json json = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat(path.string(), ": not valid JSON"));
  }
  if (!json.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(path.string(), ": not a JSON object"));
  }
  return json;
}

absl::StatusOr<int64_t> CheckedId(const Json& value, const std::string& where) {
  if (!value.is_number_integer() ||
      (value.is_number_unsigned() && value.get<uint64_t>() >= uint64_t{kMaxTokenId}) ||
      value.get<int64_t>() < 0 || value.get<int64_t>() >= kMaxTokenId) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": expected a token id in [0, ",
                                                   kMaxTokenId, "), found ", value.dump()));
  }
  return value.get<int64_t>();
}

// Whether a component of type `type` occurs anywhere in a pre_tokenizer / decoder tree.
bool ContainsComponent(const Json& node, const std::string& type) {
  if (node.is_object()) {
    const auto it = node.find("type");
    if (it != node.end() && it->is_string() && it->get_ref<const std::string&>() == type) {
      return true;
    }
  }
  if (node.is_object() || node.is_array()) {
    for (const Json& child : node) {
      if (ContainsComponent(child, type)) return true;
    }
  }
  return false;
}

void CollectSplitRegexes(const Json& node, std::vector<std::string>& regexes) {
  if (node.is_object() && node.value("type", "") == "Split" && node.contains("pattern") &&
      node["pattern"].is_object() && node["pattern"].contains("Regex") &&
      node["pattern"]["Regex"].is_string()) {
    regexes.push_back(node["pattern"]["Regex"].get<std::string>());
    return;
  }
  if (node.is_object() && node.contains("pretokenizers")) {
    for (const Json& child : node["pretokenizers"]) CollectSplitRegexes(child, regexes);
  }
}

// tokenizer.ggml.pre for a byte-level BPE tokenizer.json.
std::string PreTokenizerName(const Json& pre_tokenizer) {
  std::vector<std::string> regexes;
  CollectSplitRegexes(pre_tokenizer, regexes);
  if (regexes.size() == 1) {
    for (const KnownPreTokenizer& known : kKnownPreTokenizers) {
      if (regexes[0] == known.regex) return known.name;
    }
    return "default";
  }
  // A lone ByteLevel splitting with its own (GPT-2) regex, as GPT-2 and RoBERTa files have.
  if (regexes.empty() && pre_tokenizer.is_object() &&
      pre_tokenizer.value("type", "") == "ByteLevel" && pre_tokenizer.value("use_regex", true)) {
    return "gpt-2";
  }
  return "default";
}

// What llama.cpp's converter (does_token_look_special) treats as control even when a file
// forgets to mark it special: "<|...|>" tokens such as Qwen's <|fim_prefix|>.
bool LooksSpecial(const std::string& text) {
  return text.size() >= 4 && text.starts_with("<|") && text.ends_with("|>");
}

// SentencePiece's "<0xNN>" byte pieces, which byte fallback emits for unknown characters.
bool IsBytePiece(const std::string& text) {
  const auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); };
  return text.size() == 6 && text.starts_with("<0x") && hex(text[3]) && hex(text[4]) &&
         text[5] == '>';
}

// llama.cpp matches user-defined tokens against the raw text, before spaces become "▁", so
// the converter writes them with spaces; we do the same.
std::string UserDefinedText(const std::string& text) {
  return absl::StrReplaceAll(text, {{"\xE2\x96\x81", " "}});
}

// Marks the added tokens of tokenizer_config.json's added_tokens_decoder ({"id": {"content",
// "special"}}), which is how HF lists tokens added on top of a SentencePiece model.
absl::Status ApplyAddedTokensDecoder(const Json& config, const std::filesystem::path& config_path,
                                     Vocabulary& vocab, int64_t base_count) {
  const auto it = config.find("added_tokens_decoder");
  if (it == config.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(
        config_path.string(), ": added_tokens_decoder: expected an object of id: token"));
  }
  for (const auto& [key, token] : it->items()) {
    const std::string where = absl::StrCat("added_tokens_decoder[\"", key, "\"]");
    // Nine digits at most keeps std::stoll in range; the id limit is checked after.
    const bool digits =
        !key.empty() && key.size() <= 9 && key.find_first_not_of("0123456789") == std::string::npos;
    const int64_t id = digits ? std::stoll(key) : -1;
    if (id < 0 || id >= kMaxTokenId) {
      return absl::InvalidArgumentError(
          absl::StrCat(config_path.string(), ": ", where, ": the key is not a token id"));
    }
    absl::StatusOr<std::string> content = json_fields::RequiredString(token, "content", where);
    if (!content.ok()) return Prefixed(content.status(), config_path);
    absl::StatusOr<bool> special = json_fields::OptionalBool(token, "special", where, false);
    if (!special.ok()) return Prefixed(special.status(), config_path);
    // The model's own <unk>, <s>, </s> keep the type SentencePiece gives them.
    if (id < base_count && vocab.tokens[id] == *content && vocab.types[id] != kNormal) continue;
    vocab.ids.try_emplace(*content, id);
    if (*special || LooksSpecial(*content)) {
      vocab.Set(id, *content, kControl);
    } else {
      vocab.Set(id, UserDefinedText(*content), kUserDefined);
    }
  }
  return absl::OkStatus();
}

// tokenizer.model: the pieces, scores and types exactly as SentencePiece has them, which is
// what llama.cpp's SentencePiece-style tokenizer ("llama") reimplements.
absl::StatusOr<Vocabulary> FromSentencePiece(const std::filesystem::path& path, const Json& config,
                                             const std::filesystem::path& config_path) {
  QUENCH_ASSIGN_OR_RETURN(const std::string proto, ReadFileToString(path));
  std::string error;
  const std::unique_ptr<SentencePieceEngine> engine = SentencePieceEngine::Load(proto, &error);
  if (engine == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(path.string(), ": not a valid SentencePiece model: ", error));
  }
  Vocabulary vocab;
  vocab.model = "llama";
  const int count = engine->piece_count();
  for (int id = 0; id < count; ++id) {
    int32_t type = kNormal;
    switch (engine->piece_type(id)) {
      case SentencePieceEngine::PieceType::kNormal:
        type = kNormal;
        break;
      case SentencePieceEngine::PieceType::kUnknown:
        type = kUnknown;
        if (!vocab.unk) vocab.unk = id;
        break;
      case SentencePieceEngine::PieceType::kControl:
        type = kControl;
        break;
      case SentencePieceEngine::PieceType::kUnused:
        type = kUnused;
        break;
      case SentencePieceEngine::PieceType::kByte:
        type = kByte;
        break;
    }
    vocab.Set(id, engine->piece(id), type, engine->score(id));
  }
  if (engine->bos_id() >= 0) vocab.bos = engine->bos_id();
  if (engine->eos_id() >= 0) vocab.eos = engine->eos_id();
  QUENCH_RETURN_IF_ERROR(ApplyAddedTokensDecoder(config, config_path, vocab, count));
  return vocab;
}

// One merge of tokenizer.json, "left right" or ["left", "right"].
absl::StatusOr<std::pair<std::string, std::string>> ParseMerge(const Json& merge,
                                                               const std::string& where) {
  if (merge.is_string()) {
    const std::string& text = merge.get_ref<const std::string&>();
    // llama.cpp splits at the first space after the first byte; so do we.
    const size_t space = text.empty() ? std::string::npos : text.find(' ', 1);
    if (space == std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": \"", text, "\" is not two tokens separated by a space"));
    }
    return std::pair{text.substr(0, space), text.substr(space + 1)};
  }
  if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string()) {
    std::string left = merge[0].get<std::string>();
    // GGUF stores "left right", which only reads back if `left` has no space after its start.
    if (left.empty() || left.find(' ', 1) != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": left token \"", left,
                       "\" cannot be written as a GGUF merge (it holds a space)"));
    }
    return std::pair{std::move(left), merge[1].get<std::string>()};
  }
  return absl::InvalidArgumentError(absl::StrCat(
      where, ": expected \"left right\" or [\"left\", \"right\"], found ", merge.dump()));
}

absl::StatusOr<Vocabulary> ParseTokenizerJson(const Json& root) {
  QUENCH_ASSIGN_OR_RETURN(const Json* model, json_fields::Required(root, "model", ""));
  QUENCH_ASSIGN_OR_RETURN(const Json* type, json_fields::Optional(*model, "type", "model"));
  // Old files leave the type out; BPE is the model with merges.
  const bool is_bpe = type == nullptr ? model->contains("merges") : *type == "BPE";
  if (!is_bpe) {
    return absl::UnimplementedError(absl::StrCat(
        "model.type: ", type == nullptr ? std::string("missing") : type->dump(),
        "; only BPE tokenizers can be written to GGUF (llama.cpp's \"llama\" or \"gpt2\")"));
  }
  const Json null;
  const Json& pre_tokenizer = root.contains("pre_tokenizer") ? root["pre_tokenizer"] : null;
  const Json& decoder = root.contains("decoder") ? root["decoder"] : null;
  QUENCH_ASSIGN_OR_RETURN(const bool byte_fallback,
                          json_fields::OptionalBool(*model, "byte_fallback", "model", false));

  Vocabulary vocab;
  if (ContainsComponent(pre_tokenizer, "ByteLevel") || ContainsComponent(decoder, "ByteLevel")) {
    vocab.model = "gpt2";
    vocab.pre = PreTokenizerName(pre_tokenizer);
  } else if (byte_fallback || ContainsComponent(pre_tokenizer, "Metaspace") ||
             ContainsComponent(decoder, "Metaspace")) {
    vocab.model = "llama";
  } else {
    return absl::UnimplementedError(
        "model: a BPE tokenizer that is neither byte-level (ByteLevel) nor SentencePiece-style "
        "(byte_fallback or Metaspace) has no llama.cpp equivalent");
  }
  const bool llama = vocab.model == "llama";

  QUENCH_ASSIGN_OR_RETURN(const Json* tokens, json_fields::Required(*model, "vocab", "model"));
  if (!tokens->is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model.vocab: expected an object of token: id, found ", json_fields::TypeName(*tokens)));
  }
  vocab.ids.reserve(tokens->size());
  for (const auto& [text, id_json] : tokens->items()) {
    QUENCH_ASSIGN_OR_RETURN(const int64_t id,
                            CheckedId(id_json, absl::StrCat("model.vocab[\"", text, "\"]")));
    vocab.Set(id, text, llama && IsBytePiece(text) ? kByte : kNormal);
  }

  QUENCH_ASSIGN_OR_RETURN(const Json* added, json_fields::Optional(root, "added_tokens", ""));
  if (added != nullptr) {
    if (!added->is_array()) {
      return absl::InvalidArgumentError(
          absl::StrCat("added_tokens: expected an array, found ", json_fields::TypeName(*added)));
    }
    for (size_t i = 0; i < added->size(); ++i) {
      const std::string where = json_fields::Element("added_tokens", i);
      QUENCH_ASSIGN_OR_RETURN(const Json* id_json, json_fields::Required((*added)[i], "id", where));
      QUENCH_ASSIGN_OR_RETURN(const int64_t id,
                              CheckedId(*id_json, json_fields::Child(where, "id")));
      QUENCH_ASSIGN_OR_RETURN(const std::string content,
                              json_fields::RequiredString((*added)[i], "content", where));
      QUENCH_ASSIGN_OR_RETURN(const bool special,
                              json_fields::OptionalBool((*added)[i], "special", where, false));
      vocab.ids.try_emplace(content, id);
      if (special || LooksSpecial(content)) {
        vocab.Set(id, content, kControl);
      } else {
        vocab.Set(id, llama ? UserDefinedText(content) : content, kUserDefined);
      }
    }
  }

  QUENCH_ASSIGN_OR_RETURN(const std::string unk_token,
                          json_fields::OptionalString(*model, "unk_token", "model", ""));
  if (!unk_token.empty()) {
    vocab.unk = vocab.Find(unk_token);
    if (!vocab.unk) {
      return absl::InvalidArgumentError(
          absl::StrCat("model.unk_token: \"", unk_token, "\" is not in the vocabulary"));
    }
    // Unknown even when also listed as a special added token, as SentencePiece has it.
    vocab.types[*vocab.unk] = kUnknown;
  }

  QUENCH_ASSIGN_OR_RETURN(const Json* merges, json_fields::Optional(*model, "merges", "model"));
  if (merges != nullptr && !merges->is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat("model.merges: expected an array, found ", json_fields::TypeName(*merges)));
  }
  if (merges != nullptr && merges->size() >= (size_t{1} << 24)) {
    // Merge ranks become float scores below, which are exact only up to 2^24.
    return absl::InvalidArgumentError(absl::StrCat("model.merges: ", merges->size(),
                                                   " merges is more than GGUF scores can rank"));
  }
  const size_t merge_count = merges == nullptr ? 0 : merges->size();
  // "llama": llama.cpp's SentencePiece-style tokenizer repeatedly merges the adjacent pair whose
  // concatenation is the vocabulary token of the highest score (leftmost on ties). Scoring the
  // token made by merge rank r (0-based) as -(r+1) makes that the pair of the earliest merge, as
  // BPE does. The first merge producing a token sets its score; tokens no merge produces (single
  // characters, bytes, specials) keep 0, as concatenation never forms them. This matches BPE
  // except where a token is reachable by two splits (llama.cpp does not check that the pair is
  // the merge's own pair); SentencePiece's BPE scores follow the same order.
  std::vector<bool> scored(llama ? vocab.tokens.size() : 0, false);
  vocab.merges.reserve(llama ? 0 : merge_count);
  for (size_t rank = 0; rank < merge_count; ++rank) {
    const std::string where = json_fields::Element("model.merges", rank);
    QUENCH_ASSIGN_OR_RETURN(auto pair, ParseMerge((*merges)[rank], where));
    std::string merged = absl::StrCat(pair.first, pair.second);
    for (const std::string* token : {&pair.first, &pair.second, &merged}) {
      if (!vocab.Find(*token)) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": \"", *token, "\" is not in the vocabulary"));
      }
    }
    if (llama) {
      const int64_t id = *vocab.Find(merged);
      if (!scored[id]) vocab.scores[id] = -static_cast<float>(rank + 1);
      scored[id] = true;
    } else {
      vocab.merges.push_back(absl::StrCat(pair.first, " ", pair.second));
    }
  }
  return vocab;
}

absl::StatusOr<Vocabulary> FromTokenizerJson(const std::filesystem::path& path) {
  QUENCH_ASSIGN_OR_RETURN(const Json root, ReadJson(path));
  absl::StatusOr<Vocabulary> vocab = ParseTokenizerJson(root);
  if (!vocab.ok()) return Prefixed(vocab.status(), path);
  return vocab;
}

// A special token of tokenizer_config.json: a string, {"content": ...}, or null / absent
// (nullopt: look elsewhere).
absl::StatusOr<std::optional<std::string>> ConfigTokenText(const Json& config,
                                                           const std::string& key) {
  const auto it = config.find(key);
  if (it == config.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  QUENCH_ASSIGN_OR_RETURN(std::string content, json_fields::RequiredString(*it, "content", key));
  return content;
}

absl::Status CheckId(const char* what, int64_t id, int64_t vocab_size,
                     const std::filesystem::path& model_dir) {
  if (id < 0 || id >= vocab_size) {
    return absl::InvalidArgumentError(absl::StrCat(model_dir.string(), ": the ", what, " token id ",
                                                   id, " is outside the vocabulary [0, ",
                                                   vocab_size, "); fix config.json"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<std::pair<std::string, GgufValue>>> GgufTokenizerMetadata(
    const std::filesystem::path& model_dir, const ModelSpec& spec) {
  Metadata metadata;
  const std::filesystem::path sentencepiece_path = model_dir / kSentencePieceFile;
  const std::filesystem::path json_path = model_dir / kHuggingFaceFile;
  const std::filesystem::path config_path = model_dir / kTokenizerConfigFile;
  std::error_code error;
  const bool has_sentencepiece = std::filesystem::is_regular_file(sentencepiece_path, error);
  const bool has_json = std::filesystem::is_regular_file(json_path, error);

  if (!has_sentencepiece && !has_json) {
    // quench testgen models have no tokenizer; llama.cpp then makes vocab_size dummy tokens.
    metadata.emplace_back("tokenizer.ggml.model", GgufValue::String("none"));
    const int64_t limit = spec.vocab_size > 0 ? spec.vocab_size : int64_t{1} << 32;
    if (spec.bos_token_id) {
      QUENCH_RETURN_IF_ERROR(CheckId("BOS", *spec.bos_token_id, limit, model_dir));
      metadata.emplace_back("tokenizer.ggml.bos_token_id",
                            GgufValue::U32(static_cast<uint32_t>(*spec.bos_token_id)));
    }
    if (spec.eos_token_id) {
      QUENCH_RETURN_IF_ERROR(CheckId("EOS", *spec.eos_token_id, limit, model_dir));
      metadata.emplace_back("tokenizer.ggml.eos_token_id",
                            GgufValue::U32(static_cast<uint32_t>(*spec.eos_token_id)));
    }
    return metadata;
  }

  Json config = Json::object();
  if (std::filesystem::is_regular_file(config_path, error)) {
    QUENCH_ASSIGN_OR_RETURN(config, ReadJson(config_path));
  }
  // SentencePiece's own scores are exact, where tokenizer.json's merges only give an order.
  absl::StatusOr<Vocabulary> read = has_sentencepiece
                                        ? FromSentencePiece(sentencepiece_path, config, config_path)
                                        : FromTokenizerJson(json_path);
  if (!read.ok()) return read.status();
  Vocabulary& vocab = *read;
  const std::filesystem::path& source = has_sentencepiece ? sentencepiece_path : json_path;

  const int64_t count = static_cast<int64_t>(vocab.tokens.size());
  if (spec.vocab_size <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(model_dir.string(), ": the model's vocab_size is not set (config.json)"));
  }
  if (count > spec.vocab_size) {
    return absl::InvalidArgumentError(
        absl::StrCat(source.string(), ": the tokenizer has ", count,
                     " tokens but the model's vocab_size is ", spec.vocab_size,
                     "; the tokenizer does not belong to this model, or config.json's "
                     "vocab_size is wrong"));
  }
  // Ids no file names (gaps, and the embedding rows past the tokenizer) become unused
  // "[PAD<id>]" tokens, as llama.cpp's converter writes them.
  vocab.tokens.resize(spec.vocab_size);
  vocab.scores.resize(spec.vocab_size, 0.0f);
  vocab.types.resize(spec.vocab_size, kUnset);
  for (int64_t id = 0; id < spec.vocab_size; ++id) {
    if (vocab.types[id] == kUnset) vocab.Set(id, absl::StrCat("[PAD", id, "]"), kUnused);
  }

  // Special tokens: tokenizer_config.json names them, else config.json's ids, else the
  // tokenizer file's own (the precedence of gguf-py's SpecialVocab).
  struct Special {
    const char* key;  // in tokenizer_config.json
    const char* name;
    const char* gguf_key;
    std::optional<int64_t> fallback;
    bool required_in_vocab;  // BOS/EOS matter for generation; a missing pad token does not
  };
  const Special specials[] = {
      {"bos_token", "BOS", "tokenizer.ggml.bos_token_id",
       spec.bos_token_id ? spec.bos_token_id : vocab.bos, true},
      {"eos_token", "EOS", "tokenizer.ggml.eos_token_id",
       spec.eos_token_id ? spec.eos_token_id : vocab.eos, true},
      {"unk_token", "unknown", "tokenizer.ggml.unknown_token_id", vocab.unk, false},
      {"pad_token", "padding", "tokenizer.ggml.padding_token_id", std::nullopt, false},
  };
  std::vector<std::pair<const char*, int64_t>> special_ids;
  for (const Special& special : specials) {
    absl::StatusOr<std::optional<std::string>> text = ConfigTokenText(config, special.key);
    if (!text.ok()) return Prefixed(text.status(), config_path);
    std::optional<int64_t> id = special.fallback;
    if (*text) {
      if (std::optional<int64_t> found = vocab.Find(**text)) {
        id = found;
      } else if (special.required_in_vocab) {
        return absl::InvalidArgumentError(absl::StrCat(config_path.string(), ": ", special.key,
                                                       ": \"", **text, "\" is not a token of ",
                                                       source.string()));
      }
    }
    if (!id) continue;
    QUENCH_RETURN_IF_ERROR(CheckId(special.name, *id, spec.vocab_size, model_dir));
    special_ids.emplace_back(special.gguf_key, *id);
  }

  metadata.emplace_back("tokenizer.ggml.model", GgufValue::String(vocab.model));
  metadata.emplace_back("tokenizer.ggml.pre", GgufValue::String(vocab.pre));
  metadata.emplace_back("tokenizer.ggml.tokens", GgufValue::StringArray(std::move(vocab.tokens)));
  if (vocab.model == "llama") {
    metadata.emplace_back("tokenizer.ggml.scores", GgufValue::F32Array(std::move(vocab.scores)));
  }
  metadata.emplace_back("tokenizer.ggml.token_type", GgufValue::I32Array(std::move(vocab.types)));
  if (vocab.model == "gpt2") {
    metadata.emplace_back("tokenizer.ggml.merges", GgufValue::StringArray(std::move(vocab.merges)));
  }
  for (const auto& [key, id] : special_ids) {
    metadata.emplace_back(key, GgufValue::U32(static_cast<uint32_t>(id)));
  }
  for (const auto& [key, gguf_key] : {std::pair{"add_bos_token", "tokenizer.ggml.add_bos_token"},
                                      std::pair{"add_eos_token", "tokenizer.ggml.add_eos_token"}}) {
    const auto it = config.find(key);
    if (it != config.end() && it->is_boolean()) {
      metadata.emplace_back(gguf_key, GgufValue::Bool(it->get<bool>()));
    }
  }
  // A string, or (some chat models) a list of {"name", "template"} of which "default" is the
  // one llama.cpp's converter keeps as tokenizer.chat_template.
  const auto chat_template = config.find("chat_template");
  if (chat_template != config.end()) {
    if (chat_template->is_string()) {
      metadata.emplace_back("tokenizer.chat_template",
                            GgufValue::String(chat_template->get<std::string>()));
    } else if (chat_template->is_array()) {
      for (const Json& entry : *chat_template) {
        if (entry.is_object() && entry.value("name", "") == "default" &&
            entry.contains("template") && entry["template"].is_string()) {
          metadata.emplace_back("tokenizer.chat_template",
                                GgufValue::String(entry["template"].get<std::string>()));
        }
      }
    }
  }
  return metadata;
}

}  // namespace quench
