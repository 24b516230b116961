// The tokenizer interface shared by every format Quench reads: SentencePiece `tokenizer.model`
// files and Hugging Face `tokenizer.json` files.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace quench {

using TokenId = int32_t;

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Text → ids, as the reference tokenizer encodes it without special tokens added around it
  // (no BOS/EOS). Special tokens written literally in the text are recognised where the
  // format says they are (added tokens of tokenizer.json).
  virtual std::vector<TokenId> Encode(std::string_view text) const = 0;

  // Ids → text. Fails on an id outside the vocabulary.
  virtual absl::StatusOr<std::string> Decode(absl::Span<const TokenId> ids) const = 0;

  virtual int32_t vocab_size() const = 0;
  virtual std::optional<TokenId> bos_id() const = 0;
  virtual std::optional<TokenId> eos_id() const = 0;

  // "sentencepiece" or "bpe" (tokenizer.json), for messages and `quench tokenize`.
  virtual std::string_view kind() const = 0;
};

// Loads a tokenizer from a `tokenizer.json`, a `tokenizer.model`, or a model directory holding
// one of them (tokenizer.json is preferred when both exist). Errors name the path and the
// problem.
absl::StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizer(const std::filesystem::path& path);

}  // namespace quench
