// The "added_tokens" of a Hugging Face tokenizer.json: strings (special tokens such as "<s>" or
// "<|eot_id|>", and user-added words) that are cut out of the input literally, before the
// normalizer and pre-tokenizer see it, and map straight to their ids.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "core/tokenizer/hf_normalizer.h"
#include "core/tokenizer/tokenizer.h"
#include "nlohmann/json.hpp"

namespace quench {

struct AddedToken {
  std::string content;
  TokenId id = 0;
  bool single_word = false;  // only matches when not inside a word
  bool lstrip = false;       // also swallows the whitespace before it
  bool rstrip = false;       // also swallows the whitespace after it
  bool normalized = true;    // matched in normalized text instead of the raw input
  bool special = false;
};

absl::StatusOr<std::vector<AddedToken>> ParseAddedTokens(const nlohmann::json& list,
                                                         const std::string& where);

// A stretch of the input: either an added token or text still to be tokenized.
struct TextPiece {
  std::string text;
  std::optional<TokenId> token;
  bool at_text_start = false;  // begins the whole input
};

class AddedVocabulary {
 public:
  // `normalizer` (may be null) rewrites the contents of normalized tokens, which are matched in
  // normalized text.
  AddedVocabulary(std::vector<AddedToken> tokens, const Normalizer* normalizer);

  // Cuts out the raw-matched tokens, normalizes each remaining piece with `normalizer`, then
  // cuts out the normalized-matched tokens. Empty pieces are dropped.
  std::vector<TextPiece> ExtractAndNormalize(std::string_view text,
                                             const Normalizer* normalizer) const;

  const AddedToken* FindById(TokenId id) const;
  std::optional<TokenId> FindByContent(std::string_view content) const;
  const std::vector<AddedToken>& tokens() const { return tokens_; }

 private:
  // Finds the leftmost, then longest, occurrence of any of a set of strings.
  class Matcher {
   public:
    struct Found {
      size_t begin;
      size_t end;
      size_t token_index;
    };
    void Add(std::string pattern, size_t token_index);
    std::optional<Found> FindNext(std::string_view text, size_t from) const;

   private:
    struct Pattern {
      std::string text;
      size_t token_index;
    };
    std::array<std::vector<Pattern>, 256> by_first_byte_;  // longest first
  };

  void Split(std::string_view text, bool at_text_start, const Matcher& matcher,
             std::vector<TextPiece>& out) const;

  std::vector<AddedToken> tokens_;
  absl::flat_hash_map<TokenId, size_t> index_by_id_;
  Matcher raw_matcher_;
  Matcher normalized_matcher_;
};

}  // namespace quench
