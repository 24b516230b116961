// The "pre_tokenizer" section of a Hugging Face tokenizer.json: cuts normalized text into the
// words that the BPE model then tokenizes one by one.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace quench {

struct PreToken {
  std::string text;  // never empty
  // Whether the piece begins the whole input text (Metaspace's prepend_scheme "first" only
  // marks that piece).
  bool at_text_start = false;
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Replaces every piece by the pieces it splits into.
  virtual void PreTokenize(std::vector<PreToken>& pieces) const = 0;
};

// Supports Sequence, Split, ByteLevel and Metaspace; returns nullptr for a JSON null (the whole
// text is one word) and an error naming `where` for anything else.
absl::StatusOr<std::unique_ptr<PreTokenizer>> ParsePreTokenizer(const nlohmann::json& config,
                                                                const std::string& where);

}  // namespace quench
