// Hugging Face `tokenizer.json` files with a BPE model (Llama 2/3, Qwen, Mistral, GPT-2 style):
// added tokens, normalizer, pre-tokenizer, BPE merges and decoder, as the `tokenizers` library
// runs them.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/tokenizer/tokenizer.h"

namespace quench {

// Loads `tokenizer_json`, and the `tokenizer_config.json` beside it when there is one (for the
// BOS/EOS tokens). Errors name the file and the field at fault.
absl::StatusOr<std::unique_ptr<Tokenizer>> LoadBpeTokenizer(
    const std::filesystem::path& tokenizer_json);

// The same from file contents; `origin` names the source in error messages. Without a config,
// BOS/EOS come from the TemplateProcessing post-processor, if any.
absl::StatusOr<std::unique_ptr<Tokenizer>> ParseBpeTokenizer(
    std::string_view tokenizer_json, std::optional<std::string_view> tokenizer_config_json,
    std::string_view origin);

}  // namespace quench
