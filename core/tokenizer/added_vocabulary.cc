#include "core/tokenizer/added_vocabulary.h"

#include <unicode/uchar.h>

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "core/tokenizer/json_fields.h"
#include "core/tokenizer/utf8.h"
#include "core/util/status_macros.h"

namespace quench {
namespace {

using json_fields::Json;

bool IsWordCharacter(char32_t c) { return c == '_' || u_isalnum(static_cast<UChar32>(c)); }

// Start of the last character of valid UTF-8 `text` (non-empty).
size_t LastCharacterStart(std::string_view text) {
  size_t pos = text.size() - 1;
  while (pos > 0 && (static_cast<unsigned char>(text[pos]) & 0xC0) == 0x80) --pos;
  return pos;
}

// Whether text[begin, end) stands alone: no word character touches it on either side.
bool IsSingleWord(std::string_view text, size_t begin, size_t end) {
  if (begin > 0) {
    const std::string_view before = text.substr(0, begin);
    if (IsWordCharacter(utf8::DecodeAt(before, LastCharacterStart(before)))) return false;
  }
  return end == text.size() || !IsWordCharacter(utf8::DecodeAt(text, end));
}

// Where the whitespace that ends `text` begins.
size_t TrailingWhitespaceStart(std::string_view text) {
  size_t begin = text.size();
  while (begin > 0) {
    const size_t previous = LastCharacterStart(text.substr(0, begin));
    if (!utf8::IsWhitespace(utf8::DecodeAt(text, previous))) break;
    begin = previous;
  }
  return begin;
}

size_t LeadingWhitespaceLength(std::string_view text) {
  size_t length = 0;
  while (length < text.size() && utf8::IsWhitespace(utf8::DecodeAt(text, length))) {
    length += utf8::CharLength(text[length]);
  }
  return length;
}

}  // namespace

absl::StatusOr<std::vector<AddedToken>> ParseAddedTokens(const Json& list,
                                                         const std::string& where) {
  std::vector<AddedToken> tokens;
  if (list.is_null()) return tokens;
  if (!list.is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": expected an array, found ", json_fields::TypeName(list)));
  }
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string item_where = json_fields::Element(where, i);
    const Json& item = list[i];
    AddedToken token;
    QUENCH_ASSIGN_OR_RETURN(token.content,
                            json_fields::RequiredString(item, "content", item_where));
    QUENCH_ASSIGN_OR_RETURN(const int64_t id, json_fields::OptionalInt(item, "id", item_where, -1));
    if (id < 0 || id > std::numeric_limits<TokenId>::max()) {
      return absl::InvalidArgumentError(
          absl::StrCat(item_where, ".id: missing or out of range (", id, ")"));
    }
    token.id = static_cast<TokenId>(id);
    QUENCH_ASSIGN_OR_RETURN(token.special,
                            json_fields::OptionalBool(item, "special", item_where, false));
    QUENCH_ASSIGN_OR_RETURN(token.single_word,
                            json_fields::OptionalBool(item, "single_word", item_where, false));
    QUENCH_ASSIGN_OR_RETURN(token.lstrip,
                            json_fields::OptionalBool(item, "lstrip", item_where, false));
    QUENCH_ASSIGN_OR_RETURN(token.rstrip,
                            json_fields::OptionalBool(item, "rstrip", item_where, false));
    QUENCH_ASSIGN_OR_RETURN(token.normalized, json_fields::OptionalBool(
                                                  item, "normalized", item_where, !token.special));
    tokens.push_back(std::move(token));
  }
  return tokens;
}

void AddedVocabulary::Matcher::Add(std::string pattern, size_t token_index) {
  if (pattern.empty()) return;
  std::vector<Pattern>& bucket = by_first_byte_[static_cast<unsigned char>(pattern[0])];
  // Stable: among equal strings the first token listed wins.
  const auto position =
      std::upper_bound(bucket.begin(), bucket.end(), pattern.size(),
                       [](size_t size, const Pattern& other) { return size > other.text.size(); });
  bucket.insert(position, Pattern{std::move(pattern), token_index});
}

std::optional<AddedVocabulary::Matcher::Found> AddedVocabulary::Matcher::FindNext(
    std::string_view text, size_t from) const {
  for (size_t pos = from; pos < text.size(); ++pos) {
    for (const Pattern& pattern : by_first_byte_[static_cast<unsigned char>(text[pos])]) {
      if (text.substr(pos).starts_with(pattern.text)) {
        return Found{pos, pos + pattern.text.size(), pattern.token_index};
      }
    }
  }
  return std::nullopt;
}

AddedVocabulary::AddedVocabulary(std::vector<AddedToken> tokens, const Normalizer* normalizer)
    : tokens_(std::move(tokens)) {
  for (size_t i = 0; i < tokens_.size(); ++i) {
    index_by_id_.try_emplace(tokens_[i].id, i);
    if (!tokens_[i].normalized) {
      raw_matcher_.Add(tokens_[i].content, i);
      continue;
    }
    std::string pattern = tokens_[i].content;
    if (normalizer != nullptr) normalizer->Normalize(pattern);
    normalized_matcher_.Add(std::move(pattern), i);
  }
}

void AddedVocabulary::Split(std::string_view text, bool at_text_start, const Matcher& matcher,
                            std::vector<TextPiece>& out) const {
  size_t emitted = 0;  // text before this is in `out`
  size_t search_from = 0;
  while (const std::optional<Matcher::Found> found = matcher.FindNext(text, search_from)) {
    search_from = found->end;
    const AddedToken& token = tokens_[found->token_index];
    // A match overlapping whitespace that a previous token swallowed is not a match.
    if (found->begin < emitted) continue;
    if (token.single_word && !IsSingleWord(text, found->begin, found->end)) continue;
    size_t begin = found->begin;
    size_t end = found->end;
    if (token.lstrip) begin = std::max(TrailingWhitespaceStart(text.substr(0, begin)), emitted);
    if (token.rstrip) end += LeadingWhitespaceLength(text.substr(end));
    if (emitted < begin) {
      out.push_back({std::string(text.substr(emitted, begin - emitted)), std::nullopt,
                     at_text_start && emitted == 0});
    }
    out.push_back({std::string(text.substr(begin, end - begin)), token.id, false});
    emitted = end;
    search_from = std::max(search_from, end);
  }
  if (emitted < text.size()) {
    out.push_back({std::string(text.substr(emitted)), std::nullopt, at_text_start && emitted == 0});
  }
}

std::vector<TextPiece> AddedVocabulary::ExtractAndNormalize(std::string_view text,
                                                            const Normalizer* normalizer) const {
  std::vector<TextPiece> raw_pieces;
  Split(text, /*at_text_start=*/true, raw_matcher_, raw_pieces);
  std::vector<TextPiece> pieces;
  pieces.reserve(raw_pieces.size());
  for (TextPiece& piece : raw_pieces) {
    if (piece.token) {
      pieces.push_back(std::move(piece));
      continue;
    }
    if (normalizer != nullptr) normalizer->Normalize(piece.text);
    Split(piece.text, piece.at_text_start, normalized_matcher_, pieces);
  }
  return pieces;
}

const AddedToken* AddedVocabulary::FindById(TokenId id) const {
  const auto it = index_by_id_.find(id);
  return it == index_by_id_.end() ? nullptr : &tokens_[it->second];
}

std::optional<TokenId> AddedVocabulary::FindByContent(std::string_view content) const {
  for (const AddedToken& token : tokens_) {
    if (token.content == content) return token.id;
  }
  return std::nullopt;
}

}  // namespace quench
