#include "core/tokenizer/bpe_tokenizer.h"

#include <algorithm>
#include <exception>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/tokenizer/added_vocabulary.h"
#include "core/tokenizer/bpe_model.h"
#include "core/tokenizer/hf_decoder.h"
#include "core/tokenizer/hf_normalizer.h"
#include "core/tokenizer/hf_pre_tokenizer.h"
#include "core/tokenizer/json_fields.h"
#include "core/tokenizer/utf8.h"
#include "core/util/atomic_file.h"
#include "core/util/status_macros.h"

namespace quench {
namespace {

using json_fields::Json;

struct BpePipeline {
  std::unique_ptr<Normalizer> normalizer;
  std::unique_ptr<PreTokenizer> pre_tokenizer;
  std::unique_ptr<BpeModel> model;
  std::unique_ptr<Decoder> decoder;
  std::unique_ptr<AddedVocabulary> added;
  std::optional<TokenId> bos;
  std::optional<TokenId> eos;
};

class BpeTokenizer final : public Tokenizer {
 public:
  explicit BpeTokenizer(BpePipeline pipeline) : pipeline_(std::move(pipeline)) {}

  std::vector<TokenId> Encode(std::string_view text) const override {
    std::string valid_text;
    if (!utf8::IsValid(text)) {
      valid_text = utf8::ToValidLossy(text);
      text = valid_text;
    }
    std::vector<TokenId> ids;
    std::vector<PreToken> words;
    for (TextPiece& piece :
         pipeline_.added->ExtractAndNormalize(text, pipeline_.normalizer.get())) {
      if (piece.token) {
        ids.push_back(*piece.token);
        continue;
      }
      words.clear();
      words.push_back({std::move(piece.text), piece.at_text_start});
      if (pipeline_.pre_tokenizer != nullptr) pipeline_.pre_tokenizer->PreTokenize(words);
      for (const PreToken& word : words) pipeline_.model->Tokenize(word.text, ids);
    }
    return ids;
  }

  absl::StatusOr<std::string> Decode(absl::Span<const TokenId> ids) const override {
    std::vector<std::string> tokens;
    tokens.reserve(ids.size());
    for (const TokenId id : ids) {
      if (const AddedToken* added = pipeline_.added->FindById(id)) {
        tokens.push_back(added->content);
      } else if (const std::string* token = pipeline_.model->IdToToken(id)) {
        tokens.push_back(*token);
      } else {
        return absl::OutOfRangeError(
            absl::StrCat("token id ", id, " is not in the vocabulary (size ", vocab_size(), ")"));
      }
    }
    if (pipeline_.decoder == nullptr) return absl::StrJoin(tokens, " ");
    pipeline_.decoder->DecodeChain(tokens);
    return absl::StrJoin(tokens, "");
  }

  int32_t vocab_size() const override {
    int32_t size = pipeline_.model->id_limit();
    for (const AddedToken& token : pipeline_.added->tokens()) size = std::max(size, token.id + 1);
    return size;
  }
  std::optional<TokenId> bos_id() const override { return pipeline_.bos; }
  std::optional<TokenId> eos_id() const override { return pipeline_.eos; }
  std::string_view kind() const override { return "bpe"; }

 private:
  BpePipeline pipeline_;
};

absl::Status Prefixed(const absl::Status& status, const std::string& origin) {
  return absl::Status(status.code(), absl::StrCat(origin, ": ", status.message()));
}

absl::StatusOr<Json> ParseJson(std::string_view text) {
  try {
    return Json::parse(text);
  } catch (const Json::parse_error& error) {
    return absl::InvalidArgumentError(absl::StrCat("not valid JSON: ", error.what()));
  }
}

std::optional<TokenId> FindToken(const BpePipeline& p, std::string_view content) {
  if (std::optional<TokenId> id = p.added->FindByContent(content)) return id;
  return p.model->TokenToId(content);
}

// BOS/EOS of tokenizer_config.json: a string, an object with "content", or null (none).
// Returns nullopt-of-optional when the key is absent, so the caller can look elsewhere.
absl::StatusOr<std::optional<std::optional<TokenId>>> SpecialTokenFromConfig(
    const BpePipeline& p, const Json& config, const std::string& key) {
  if (!config.contains(key)) return std::nullopt;
  const Json& value = config[key];
  if (value.is_null()) return std::optional<TokenId>();
  std::string content;
  if (value.is_string()) {
    content = value.get<std::string>();
  } else {
    QUENCH_ASSIGN_OR_RETURN(content, json_fields::RequiredString(value, "content", key));
  }
  const std::optional<TokenId> id = FindToken(p, content);
  if (!id) {
    return absl::InvalidArgumentError(
        absl::StrCat(key, ": \"", content, "\" is not a token of the tokenizer"));
  }
  return std::optional<TokenId>(id);
}

// The special tokens that TemplateProcessing puts before and after a single sequence. The
// post-processor only serves as a fallback here, so a shape it does not recognise yields none.
std::pair<std::optional<TokenId>, std::optional<TokenId>> SpecialTokensFromTemplate(
    const BpePipeline& p, const Json& processor) {
  if (!processor.is_object()) return {};
  if (processor.value("type", "") == "Sequence" && processor.contains("processors") &&
      processor["processors"].is_array()) {
    for (const Json& inner : processor["processors"]) {
      auto found = SpecialTokensFromTemplate(p, inner);
      if (found.first || found.second) return found;
    }
    return {};
  }
  if (processor.value("type", "") != "TemplateProcessing" || !processor.contains("single") ||
      !processor["single"].is_array()) {
    return {};
  }
  std::optional<TokenId> bos;
  std::optional<TokenId> eos;
  bool seen_sequence = false;
  for (const Json& item : processor["single"]) {
    if (!item.is_object()) continue;
    if (item.contains("Sequence")) {
      seen_sequence = true;
      eos.reset();
      continue;
    }
    if (!item.contains("SpecialToken") || !item["SpecialToken"].is_object()) continue;
    const std::string name = item["SpecialToken"].value("id", "");
    std::optional<TokenId> id;
    const Json& specials =
        processor.contains("special_tokens") ? processor["special_tokens"] : Json();
    if (specials.is_object() && specials.contains(name) && specials[name].is_object() &&
        specials[name].contains("ids") && specials[name]["ids"].is_array() &&
        specials[name]["ids"].size() == 1 && specials[name]["ids"][0].is_number_integer()) {
      id = specials[name]["ids"][0].get<TokenId>();
    } else {
      id = FindToken(p, name);
    }
    if (!seen_sequence && !bos) bos = id;
    if (seen_sequence) eos = id;
  }
  return {bos, eos};
}

absl::StatusOr<BpePipeline> ParsePipeline(const Json& root) {
  BpePipeline p;
  QUENCH_ASSIGN_OR_RETURN(const Json* model, json_fields::Required(root, "model", ""));
  QUENCH_ASSIGN_OR_RETURN(const Json* type, json_fields::Optional(*model, "type", "model"));
  // Files written by old versions of `tokenizers` leave the type out; BPE is the one with merges.
  const bool is_bpe = type == nullptr ? model->contains("merges") : *type == "BPE";
  if (!is_bpe) {
    return absl::UnimplementedError(
        type == nullptr ? std::string("model: no \"type\", and not a BPE model (no merges)")
                        : absl::StrCat("model.type: unsupported model ", type->dump(),
                                       " (only BPE is supported)"));
  }
  QUENCH_ASSIGN_OR_RETURN(p.model, BpeModel::FromJson(*model, "model"));

  const Json null;
  const auto section = [&](std::string_view key) -> const Json& {
    const auto it = root.find(key);
    return it == root.end() ? null : *it;
  };
  QUENCH_ASSIGN_OR_RETURN(p.normalizer, ParseNormalizer(section("normalizer"), "normalizer"));
  QUENCH_ASSIGN_OR_RETURN(p.pre_tokenizer,
                          ParsePreTokenizer(section("pre_tokenizer"), "pre_tokenizer"));
  QUENCH_ASSIGN_OR_RETURN(p.decoder, ParseDecoder(section("decoder"), "decoder"));
  QUENCH_ASSIGN_OR_RETURN(std::vector<AddedToken> added,
                          ParseAddedTokens(section("added_tokens"), "added_tokens"));
  p.added = std::make_unique<AddedVocabulary>(std::move(added), p.normalizer.get());
  std::tie(p.bos, p.eos) = SpecialTokensFromTemplate(p, section("post_processor"));
  return p;
}

absl::Status ApplyConfig(const Json& config, BpePipeline& p) {
  if (!config.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected an object, found ", json_fields::TypeName(config)));
  }
  QUENCH_ASSIGN_OR_RETURN(const auto bos, SpecialTokenFromConfig(p, config, "bos_token"));
  QUENCH_ASSIGN_OR_RETURN(const auto eos, SpecialTokenFromConfig(p, config, "eos_token"));
  if (bos) p.bos = *bos;
  if (eos) p.eos = *eos;
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Parse(std::string_view tokenizer_json,
                                                 std::optional<std::string_view> config_json,
                                                 const std::string& origin,
                                                 const std::string& config_origin) {
  absl::StatusOr<Json> root = ParseJson(tokenizer_json);
  if (!root.ok()) return Prefixed(root.status(), origin);
  absl::StatusOr<BpePipeline> pipeline = ParsePipeline(*root);
  if (!pipeline.ok()) return Prefixed(pipeline.status(), origin);
  if (config_json) {
    absl::StatusOr<Json> config = ParseJson(*config_json);
    if (!config.ok()) return Prefixed(config.status(), config_origin);
    const absl::Status applied = ApplyConfig(*config, *pipeline);
    if (!applied.ok()) return Prefixed(applied, config_origin);
  }
  return std::make_unique<BpeTokenizer>(*std::move(pipeline));
}

// Any exception left (nlohmann on an unforeseen shape, bad_alloc) still becomes a Status.
absl::StatusOr<std::unique_ptr<Tokenizer>> ParseNoThrow(std::string_view tokenizer_json,
                                                        std::optional<std::string_view> config_json,
                                                        const std::string& origin,
                                                        const std::string& config_origin) {
  try {
    return Parse(tokenizer_json, config_json, origin, config_origin);
  } catch (const std::exception& error) {
    return absl::InvalidArgumentError(absl::StrCat(origin, ": cannot load: ", error.what()));
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<Tokenizer>> ParseBpeTokenizer(
    std::string_view tokenizer_json, std::optional<std::string_view> tokenizer_config_json,
    std::string_view origin) {
  const std::string origin_text(origin);
  return ParseNoThrow(tokenizer_json, tokenizer_config_json, origin_text,
                      absl::StrCat(origin_text, " (tokenizer_config.json)"));
}

absl::StatusOr<std::unique_ptr<Tokenizer>> LoadBpeTokenizer(
    const std::filesystem::path& tokenizer_json) {
  QUENCH_ASSIGN_OR_RETURN(const std::string contents, ReadFileToString(tokenizer_json));
  const std::filesystem::path config_path = tokenizer_json.parent_path() / "tokenizer_config.json";
  std::error_code error;
  std::optional<std::string> config;
  if (std::filesystem::is_regular_file(config_path, error)) {
    QUENCH_ASSIGN_OR_RETURN(config, ReadFileToString(config_path));
  }
  return ParseNoThrow(contents, config, tokenizer_json.string(), config_path.string());
}

}  // namespace quench
