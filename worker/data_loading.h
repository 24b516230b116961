// Token data for CLI commands: JSONL (input_ids or text records) or plain text, by content.
#pragma once

#include <filesystem>

#include "absl/status/statusor.h"
#include "core/data/token_dataset.h"

namespace quench::worker {

// Reads `path` as JSONL when its first non-blank character is '{', else as plain text
// tokenized with the model's tokenizer (loaded from `model_dir` only when needed).
absl::StatusOr<TokenSequences> LoadTokenData(const std::filesystem::path& path,
                                             const std::filesystem::path& model_dir,
                                             const DatasetOptions& options);

}  // namespace quench::worker
