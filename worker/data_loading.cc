#include "worker/data_loading.h"

#include <fstream>

#include "absl/strings/str_cat.h"
#include "core/util/status_macros.h"

namespace quench::worker {

absl::StatusOr<TokenSequences> LoadTokenData(const std::filesystem::path& path,
                                             const std::filesystem::path& model_dir,
                                             const DatasetOptions& options) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path.string(), ": cannot open"));
  char first = 0;
  while (in.get(first) && std::isspace(static_cast<unsigned char>(first))) {
  }
  std::unique_ptr<Tokenizer> tokenizer;
  if (auto loaded = LoadTokenizer(model_dir); loaded.ok()) tokenizer = std::move(*loaded);
  if (first == '{') return LoadJsonlSequences(path, tokenizer.get(), options);
  if (tokenizer == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        path.string(), " is plain text, and ", model_dir.string(),
        " has no tokenizer (tokenizer.json or tokenizer.model) to tokenize it; give JSONL with "
        "input_ids instead"));
  }
  return LoadTextSequences(path, *tokenizer, options);
}

}  // namespace quench::worker
