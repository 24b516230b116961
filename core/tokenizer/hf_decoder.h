// The "decoder" section of a Hugging Face tokenizer.json: turns token strings back into text.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace quench {

class Decoder {
 public:
  virtual ~Decoder() = default;
  // Rewrites the token strings; decoders that join tokens leave fewer of them. The caller
  // concatenates what is left.
  virtual void DecodeChain(std::vector<std::string>& tokens) const = 0;
};

// Supports Sequence, ByteLevel, ByteFallback, Fuse, Replace, Strip and Metaspace; returns
// nullptr for a JSON null and an error naming `where` for anything else.
absl::StatusOr<std::unique_ptr<Decoder>> ParseDecoder(const nlohmann::json& config,
                                                      const std::string& where);

}  // namespace quench
