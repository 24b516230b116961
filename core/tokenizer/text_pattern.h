// The `pattern` of tokenizer.json's Split, Replace normalizer and Replace decoder: either
// {"String": "literal"} or {"Regex": "pattern"}.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/tokenizer/pcre2_regex.h"
#include "nlohmann/json.hpp"

namespace quench {

class TextPattern {
 public:
  static absl::StatusOr<TextPattern> FromJson(const nlohmann::json& pattern,
                                              const std::string& where);
  static TextPattern Literal(std::string literal);
  static absl::StatusOr<TextPattern> Regex(std::string_view source);

  // Every non-overlapping occurrence, left to right (none for an empty literal).
  std::vector<Pcre2Regex::Match> FindAll(std::string_view text) const;

  std::string ReplaceAll(std::string_view text, std::string_view replacement) const;

 private:
  TextPattern(std::string literal, std::optional<Pcre2Regex> regex)
      : literal_(std::move(literal)), regex_(std::move(regex)) {}

  std::string literal_;  // used when regex_ is empty
  std::optional<Pcre2Regex> regex_;
};

}  // namespace quench
