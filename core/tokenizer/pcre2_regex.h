// A compiled PCRE2 pattern in UTF + Unicode-property mode, for the regexes tokenizer.json files
// carry (written for Oniguruma; the pre-tokenizer patterns in use mean the same in PCRE2).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace quench {

class Pcre2Regex {
 public:
  struct Match {
    size_t begin;
    size_t end;
  };

  // Compiles `pattern`; the error names the pattern and the offending offset.
  static absl::StatusOr<Pcre2Regex> Compile(std::string_view pattern);

  // Every non-overlapping match, left to right. `text` must be valid UTF-8 (not rechecked, which
  // would cost a pass over the text per match).
  std::vector<Match> FindAll(std::string_view text) const;

 private:
  struct CodeDeleter {
    void operator()(void* code) const;
  };
  explicit Pcre2Regex(void* code) : code_(code) {}

  std::unique_ptr<void, CodeDeleter> code_;  // pcre2_code_8, kept out of this header
};

}  // namespace quench
