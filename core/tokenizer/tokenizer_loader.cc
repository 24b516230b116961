// LoadTokenizer: picks the tokenizer format from the path (a file or a model directory) and the
// file's first bytes.
#include <fstream>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "core/tokenizer/bpe_tokenizer.h"
#include "core/tokenizer/sentencepiece_tokenizer.h"
#include "core/tokenizer/tokenizer.h"

namespace quench {
namespace {

constexpr char kHuggingFaceFile[] = "tokenizer.json";
constexpr char kSentencePieceFile[] = "tokenizer.model";

// The first byte that is not JSON whitespace, or nullopt for an empty (or all-blank) file.
absl::StatusOr<std::optional<char>> FirstSignificantByte(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::PermissionDeniedError(absl::StrCat(path.string(), ": cannot read"));
  char c = 0;
  while (in.get(c)) {
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return c;
  }
  return std::nullopt;
}

absl::StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizerFile(const std::filesystem::path& path) {
  absl::StatusOr<std::optional<char>> first = FirstSignificantByte(path);
  if (!first.ok()) return first.status();
  if (!*first) return absl::InvalidArgumentError(absl::StrCat(path.string(), ": file is empty"));
  // A JSON object starts with '{'; a SentencePiece ModelProto (protobuf) never does (0x7B would
  // be field 15, which ModelProto does not have).
  if (**first == '{' || path.extension() == ".json") return LoadBpeTokenizer(path);
  return LoadSentencePieceTokenizer(path);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizer(const std::filesystem::path& path) {
  std::error_code error;
  const std::filesystem::file_status status = std::filesystem::status(path, error);
  if (!std::filesystem::exists(status)) {
    return absl::NotFoundError(absl::StrCat(path.string(), ": no such file or directory"));
  }
  if (!std::filesystem::is_directory(status)) return LoadTokenizerFile(path);

  for (const char* name : {kHuggingFaceFile, kSentencePieceFile}) {
    const std::filesystem::path candidate = path / name;
    if (std::filesystem::is_regular_file(candidate, error)) return LoadTokenizerFile(candidate);
  }
  return absl::NotFoundError(absl::StrCat(path.string(), ": directory holds neither ",
                                          kHuggingFaceFile, " nor ", kSentencePieceFile));
}

}  // namespace quench
