// The "model" section of a Hugging Face tokenizer.json of type BPE: a vocabulary and ranked
// merges, applied to one pre-tokenized word at a time.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "core/tokenizer/tokenizer.h"
#include "nlohmann/json.hpp"

namespace quench {

class BpeModel {
 public:
  // Reads `model` (the tokenizer.json "model" object); errors name `where` and the bad field.
  static absl::StatusOr<std::unique_ptr<BpeModel>> FromJson(const nlohmann::json& model,
                                                            const std::string& where);

  // Appends the ids of `word` (valid UTF-8) to `ids`: characters (or their "<0xAB>" bytes with
  // byte_fallback, or the unknown token) merged by rank, lowest first.
  void Tokenize(std::string_view word, std::vector<TokenId>& ids) const;

  std::optional<TokenId> TokenToId(std::string_view token) const;
  // nullptr for an id the vocabulary does not hold.
  const std::string* IdToToken(TokenId id) const;
  // One more than the largest id in the vocabulary (0 when empty).
  int32_t id_limit() const { return static_cast<int32_t>(tokens_by_id_.size()); }

 private:
  struct Merge {
    int32_t rank;
    TokenId merged_id;
  };

  BpeModel() = default;
  static uint64_t PairKey(TokenId left, TokenId right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
           static_cast<uint32_t>(right);
  }
  absl::Status ReadVocab(const nlohmann::json& vocab, const std::string& where);
  absl::Status ReadMerges(const nlohmann::json& merges, const std::string& where);

  // Ids of the single characters of `word`, before merging.
  void InitialSymbols(std::string_view word, std::vector<TokenId>& symbols) const;
  void MergeSymbols(std::vector<TokenId>& symbols) const;

  absl::flat_hash_map<std::string, TokenId> ids_by_token_;
  std::vector<std::optional<std::string>> tokens_by_id_;
  absl::flat_hash_map<uint64_t, Merge> merges_;
  std::optional<TokenId> unk_id_;
  bool fuse_unk_ = false;
  bool byte_fallback_ = false;
  bool ignore_merges_ = false;
  std::string continuing_subword_prefix_;
  std::string end_of_word_suffix_;
  std::array<std::optional<TokenId>, 256> byte_token_ids_;  // "<0xAB>" tokens, for byte_fallback

  // Words repeat a lot in text; caching their ids makes encoding several times faster.
  mutable std::mutex cache_mutex_;
  mutable absl::flat_hash_map<std::string, std::vector<TokenId>> cache_;
};

}  // namespace quench
