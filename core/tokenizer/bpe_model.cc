#include "core/tokenizer/bpe_model.h"

#include <limits>
#include <queue>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/tokenizer/json_fields.h"
#include "core/tokenizer/utf8.h"
#include "core/util/absl_view.h"
#include "core/util/status_macros.h"

namespace quench {
namespace {

using json_fields::Json;

// Ids index a dense table; a larger id in a vocabulary means a corrupt file, not a real model.
constexpr int64_t kMaxTokenId = int64_t{1} << 26;
constexpr size_t kMaxCachedWordBytes = 256;
constexpr size_t kMaxCacheEntries = size_t{1} << 18;

}  // namespace

absl::StatusOr<std::unique_ptr<BpeModel>> BpeModel::FromJson(const Json& model,
                                                             const std::string& where) {
  std::unique_ptr<BpeModel> bpe(new BpeModel());
  QUENCH_ASSIGN_OR_RETURN(const Json* vocab, json_fields::Required(model, "vocab", where));
  QUENCH_RETURN_IF_ERROR(bpe->ReadVocab(*vocab, json_fields::Child(where, "vocab")));

  QUENCH_ASSIGN_OR_RETURN(const std::string unk_token,
                          json_fields::OptionalString(model, "unk_token", where, ""));
  if (!unk_token.empty()) {
    bpe->unk_id_ = bpe->TokenToId(unk_token);
    if (!bpe->unk_id_) {
      return absl::InvalidArgumentError(absl::StrCat(json_fields::Child(where, "unk_token"), ": \"",
                                                     unk_token, "\" is not in the vocabulary"));
    }
  }
  QUENCH_ASSIGN_OR_RETURN(bpe->fuse_unk_,
                          json_fields::OptionalBool(model, "fuse_unk", where, false));
  QUENCH_ASSIGN_OR_RETURN(bpe->byte_fallback_,
                          json_fields::OptionalBool(model, "byte_fallback", where, false));
  QUENCH_ASSIGN_OR_RETURN(bpe->ignore_merges_,
                          json_fields::OptionalBool(model, "ignore_merges", where, false));
  QUENCH_ASSIGN_OR_RETURN(
      bpe->continuing_subword_prefix_,
      json_fields::OptionalString(model, "continuing_subword_prefix", where, ""));
  QUENCH_ASSIGN_OR_RETURN(bpe->end_of_word_suffix_,
                          json_fields::OptionalString(model, "end_of_word_suffix", where, ""));
  QUENCH_ASSIGN_OR_RETURN(const Json* dropout, json_fields::Optional(model, "dropout", where));
  if (dropout != nullptr && !(dropout->is_number() && dropout->get<double>() == 0.0)) {
    return absl::UnimplementedError(absl::StrCat(json_fields::Child(where, "dropout"),
                                                 ": BPE dropout is not supported (it is random)"));
  }
  for (int byte = 0; byte < 256; ++byte) {
    bpe->byte_token_ids_[byte] = bpe->TokenToId(absl::StrFormat("<0x%02X>", byte));
  }

  QUENCH_ASSIGN_OR_RETURN(const Json* merges, json_fields::Optional(model, "merges", where));
  if (merges != nullptr) {
    QUENCH_RETURN_IF_ERROR(bpe->ReadMerges(*merges, json_fields::Child(where, "merges")));
  }
  return bpe;
}

absl::Status BpeModel::ReadVocab(const Json& vocab, const std::string& where) {
  if (!vocab.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": expected an object of token: id, found ", json_fields::TypeName(vocab)));
  }
  ids_by_token_.reserve(vocab.size());
  for (const auto& [token, id_json] : vocab.items()) {
    if (!id_json.is_number_integer() ||
        (id_json.is_number_unsigned() && id_json.get<uint64_t>() > uint64_t{kMaxTokenId}) ||
        id_json.get<int64_t>() < 0 || id_json.get<int64_t>() >= kMaxTokenId) {
      return absl::InvalidArgumentError(absl::StrCat(where, "[\"", token,
                                                     "\"]: expected an id in [0, ", kMaxTokenId,
                                                     "), found ", id_json.dump()));
    }
    const auto id = static_cast<TokenId>(id_json.get<int64_t>());
    ids_by_token_.try_emplace(token, id);
    if (static_cast<size_t>(id) >= tokens_by_id_.size()) tokens_by_id_.resize(id + 1);
    if (!tokens_by_id_[id]) tokens_by_id_[id] = token;
  }
  return absl::OkStatus();
}

absl::Status BpeModel::ReadMerges(const Json& merges, const std::string& where) {
  if (!merges.is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": expected an array, found ", json_fields::TypeName(merges)));
  }
  if (merges.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": too many merges"));
  }
  merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const Json& merge = merges[rank];
    std::string left;
    std::string right;
    // Either "left right" (older files) or ["left", "right"].
    if (merge.is_string()) {
      const std::string& text = merge.get_ref<const std::string&>();
      const size_t space = text.find(' ');
      if (space == std::string::npos || text.find(' ', space + 1) != std::string::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat(json_fields::Element(where, rank), ": \"", text,
                         "\" is not two tokens separated by one space"));
      }
      left = text.substr(0, space);
      right = text.substr(space + 1);
    } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() &&
               merge[1].is_string()) {
      left = merge[0].get<std::string>();
      right = merge[1].get<std::string>();
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat(json_fields::Element(where, rank),
                       ": expected \"left right\" or [\"left\", \"right\"], found ", merge.dump()));
    }
    const std::optional<TokenId> left_id = TokenToId(left);
    const std::optional<TokenId> right_id = TokenToId(right);
    std::string_view right_rest = right;
    if (!continuing_subword_prefix_.empty() && right_rest.starts_with(continuing_subword_prefix_)) {
      right_rest.remove_prefix(continuing_subword_prefix_.size());
    }
    std::string merged = absl::StrCat(left, AbslView(right_rest));
    const std::optional<TokenId> merged_id = TokenToId(merged);
    for (const auto& [token, id] :
         {std::pair{&left, left_id}, std::pair{&right, right_id}, std::pair{&merged, merged_id}}) {
      if (!id) {
        return absl::InvalidArgumentError(absl::StrCat(json_fields::Element(where, rank), ": \"",
                                                       *token, "\" is not in the vocabulary"));
      }
    }
    merges_.try_emplace(PairKey(*left_id, *right_id),
                        Merge{static_cast<int32_t>(rank), *merged_id});
  }
  return absl::OkStatus();
}

std::optional<TokenId> BpeModel::TokenToId(std::string_view token) const {
  const auto it = ids_by_token_.find(AbslView(token));
  if (it == ids_by_token_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::IdToToken(TokenId id) const {
  if (id < 0 || static_cast<size_t>(id) >= tokens_by_id_.size() || !tokens_by_id_[id]) {
    return nullptr;
  }
  return &*tokens_by_id_[id];
}

void BpeModel::InitialSymbols(std::string_view word, std::vector<TokenId>& symbols) const {
  // A pending run of unknown characters, emitted as one token when fuse_unk is set.
  bool unk_pending = false;
  std::string piece;
  for (size_t pos = 0; pos < word.size();) {
    const size_t length = std::min(utf8::CharLength(word[pos]), word.size() - pos);
    const bool is_first = pos == 0;
    const bool is_last = pos + length == word.size();
    piece.clear();
    if (!is_first) piece += continuing_subword_prefix_;
    piece.append(word, pos, length);
    if (is_last) piece += end_of_word_suffix_;
    pos += length;

    if (const std::optional<TokenId> id = TokenToId(piece)) {
      if (unk_pending) symbols.push_back(*unk_id_);
      unk_pending = false;
      symbols.push_back(*id);
      continue;
    }
    if (byte_fallback_) {
      bool all_bytes_known = true;
      for (const char c : piece)
        all_bytes_known &= byte_token_ids_[static_cast<unsigned char>(c)].has_value();
      if (all_bytes_known) {
        if (unk_pending) symbols.push_back(*unk_id_);
        unk_pending = false;
        for (const char c : piece)
          symbols.push_back(*byte_token_ids_[static_cast<unsigned char>(c)]);
        continue;
      }
    }
    if (!unk_id_) continue;  // without an unknown token, unknown characters are dropped
    if (unk_pending && !fuse_unk_) symbols.push_back(*unk_id_);
    unk_pending = true;
  }
  if (unk_pending) symbols.push_back(*unk_id_);
}

void BpeModel::MergeSymbols(std::vector<TokenId>& symbols) const {
  if (symbols.size() < 2 || merges_.empty()) return;
  // A doubly linked list over `symbols`; merged-away symbols are marked with id -1.
  const int count = static_cast<int>(symbols.size());
  std::vector<int> previous(count);
  std::vector<int> next(count);
  for (int i = 0; i < count; ++i) {
    previous[i] = i - 1;
    next[i] = i + 1 < count ? i + 1 : -1;
  }
  struct Candidate {
    int32_t rank;
    int position;  // of the left symbol
    TokenId merged_id;
    // Lowest rank first, then leftmost.
    bool operator>(const Candidate& other) const {
      return rank != other.rank ? rank > other.rank : position > other.position;
    }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
  const auto push_pair = [&](int left) {
    if (left < 0 || next[left] < 0) return;
    const auto it = merges_.find(PairKey(symbols[left], symbols[next[left]]));
    if (it != merges_.end()) queue.push({it->second.rank, left, it->second.merged_id});
  };
  for (int i = 0; i + 1 < count; ++i) push_pair(i);

  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    const int left = top.position;
    if (symbols[left] < 0 || next[left] < 0) continue;
    const int right = next[left];
    // Skip entries made stale by an earlier merge: the pair there must still merge this way.
    const auto it = merges_.find(PairKey(symbols[left], symbols[right]));
    if (it == merges_.end() || it->second.merged_id != top.merged_id) continue;

    symbols[left] = top.merged_id;
    symbols[right] = -1;
    next[left] = next[right];
    if (next[right] >= 0) previous[next[right]] = left;
    push_pair(previous[left]);
    push_pair(left);
  }
  std::erase(symbols, -1);
}

void BpeModel::Tokenize(std::string_view word, std::vector<TokenId>& ids) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    if (const std::optional<TokenId> id = TokenToId(word)) {
      ids.push_back(*id);
      return;
    }
  }
  const bool cacheable = word.size() <= kMaxCachedWordBytes;
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    const auto it = cache_.find(AbslView(word));
    if (it != cache_.end()) {
      ids.insert(ids.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<TokenId> symbols;
  InitialSymbols(word, symbols);
  MergeSymbols(symbols);
  ids.insert(ids.end(), symbols.begin(), symbols.end());
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    if (cache_.size() < kMaxCacheEntries) cache_.try_emplace(AbslView(word), std::move(symbols));
  }
}

}  // namespace quench
