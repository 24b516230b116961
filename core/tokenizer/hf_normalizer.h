// The "normalizer" section of a Hugging Face tokenizer.json: rewrites text before it is split.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace quench {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  // `text` is valid UTF-8 and stays so.
  virtual void Normalize(std::string& text) const = 0;
};

// Supports Sequence, Prepend, Replace, NFC/NFD/NFKC/NFKD and Lowercase; returns nullptr for a
// JSON null (no normalizer) and an error naming `where` for anything else.
absl::StatusOr<std::unique_ptr<Normalizer>> ParseNormalizer(const nlohmann::json& config,
                                                            const std::string& where);

}  // namespace quench
