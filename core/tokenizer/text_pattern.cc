#include "core/tokenizer/text_pattern.h"

#include "absl/strings/str_cat.h"
#include "core/tokenizer/json_fields.h"
#include "core/util/status_macros.h"

namespace quench {

absl::StatusOr<TextPattern> TextPattern::FromJson(const nlohmann::json& pattern,
                                                  const std::string& where) {
  if (!pattern.is_object() || pattern.size() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": expected {\"String\": ...} or {\"Regex\": ...}"));
  }
  if (pattern.contains("String")) {
    QUENCH_ASSIGN_OR_RETURN(std::string literal,
                            json_fields::RequiredString(pattern, "String", where));
    return Literal(std::move(literal));
  }
  if (pattern.contains("Regex")) {
    QUENCH_ASSIGN_OR_RETURN(std::string source,
                            json_fields::RequiredString(pattern, "Regex", where));
    absl::StatusOr<TextPattern> regex = Regex(source);
    if (!regex.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(json_fields::Child(where, "Regex"), ": ", regex.status().message()));
    }
    return regex;
  }
  return absl::InvalidArgumentError(absl::StrCat(where, ": unsupported pattern kind \"",
                                                 pattern.begin().key(),
                                                 "\" (expected \"String\" or \"Regex\")"));
}

TextPattern TextPattern::Literal(std::string literal) {
  return TextPattern(std::move(literal), std::nullopt);
}

absl::StatusOr<TextPattern> TextPattern::Regex(std::string_view source) {
  QUENCH_ASSIGN_OR_RETURN(Pcre2Regex regex, Pcre2Regex::Compile(source));
  return TextPattern(std::string(), std::move(regex));
}

std::vector<Pcre2Regex::Match> TextPattern::FindAll(std::string_view text) const {
  if (regex_) return regex_->FindAll(text);
  std::vector<Pcre2Regex::Match> matches;
  if (literal_.empty()) return matches;
  for (size_t pos = text.find(literal_); pos != std::string_view::npos;
       pos = text.find(literal_, pos + literal_.size())) {
    matches.push_back({pos, pos + literal_.size()});
  }
  return matches;
}

std::string TextPattern::ReplaceAll(std::string_view text, std::string_view replacement) const {
  std::string out;
  out.reserve(text.size());
  size_t copied = 0;
  for (const Pcre2Regex::Match& match : FindAll(text)) {
    out.append(text, copied, match.begin - copied);
    out += replacement;
    copied = match.end;
  }
  out.append(text, copied);
  return out;
}

}  // namespace quench
