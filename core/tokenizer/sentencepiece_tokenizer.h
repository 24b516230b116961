// SentencePiece `tokenizer.model` files (Llama 1/2, llama2.c models), run by libsentencepiece.
#pragma once

#include <filesystem>
#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/tokenizer/tokenizer.h"

namespace quench {

// Loads a serialized SentencePiece ModelProto. BOS/EOS are the model's own (none when the model
// has none). Errors name the file.
absl::StatusOr<std::unique_ptr<Tokenizer>> LoadSentencePieceTokenizer(
    const std::filesystem::path& model_path);

// The same from the file's bytes; `origin` names the source in error messages.
absl::StatusOr<std::unique_ptr<Tokenizer>> ParseSentencePieceTokenizer(std::string_view model_proto,
                                                                       std::string_view origin);

}  // namespace quench
