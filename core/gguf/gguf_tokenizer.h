// The tokenizer.ggml.* metadata llama.cpp reads, made from the model directory's tokenizer:
//   tokenizer.model (SentencePiece)          → model "llama": tokens, scores, token_type
//   tokenizer.json, BPE with byte fallback   → model "llama" (SentencePiece-style BPE)
//   tokenizer.json, byte-level BPE           → model "gpt2": tokens, token_type, merges, pre
//   no tokenizer (quench testgen models)     → model "none" (llama.cpp then needs only
//                                              <arch>.vocab_size)
// plus bos/eos/unknown/padding ids (u32) and add_bos_token (bool) where the files say so, and
// tokenizer.chat_template from tokenizer_config.json when present.
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "core/gguf/gguf_file.h"
#include "core/model/model_spec.h"

namespace quench {

// Key/value pairs in the order they should be written. The token count must equal
// spec.vocab_size (a tokenizer with fewer tokens is padded with "[PAD<id>]" tokens of type
// unused, as llama.cpp's converter does); more tokens than the vocabulary is an error.
absl::StatusOr<std::vector<std::pair<std::string, GgufValue>>> GgufTokenizerMetadata(
    const std::filesystem::path& model_dir, const ModelSpec& spec);

}  // namespace quench
