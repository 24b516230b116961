#include "core/tokenizer/sentencepiece_tokenizer.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/tokenizer/sentencepiece_engine.h"
#include "core/util/atomic_file.h"
#include "core/util/status_macros.h"

namespace quench {
namespace {

class SentencePieceTokenizer final : public Tokenizer {
 public:
  explicit SentencePieceTokenizer(std::unique_ptr<SentencePieceEngine> engine)
      : engine_(std::move(engine)) {}

  // SentencePiece fails only for an unloaded model, which the loader rules out.
  std::vector<TokenId> Encode(std::string_view text) const override {
    std::vector<int> ids;
    if (!engine_->Encode(text, &ids)) return {};
    return std::vector<TokenId>(ids.begin(), ids.end());
  }

  // Control pieces (BOS/EOS) decode to nothing, as SentencePiece defines.
  absl::StatusOr<std::string> Decode(absl::Span<const TokenId> ids) const override {
    const int size = engine_->piece_count();
    for (const TokenId id : ids) {
      if (id < 0 || id >= size) {
        return absl::OutOfRangeError(
            absl::StrCat("token id ", id, " is not in the vocabulary (size ", size, ")"));
      }
    }
    std::string text;
    std::string error;
    if (!engine_->Decode(std::vector<int>(ids.begin(), ids.end()), &text, &error)) {
      return absl::InternalError(absl::StrCat("SentencePiece cannot decode: ", error));
    }
    return text;
  }

  int32_t vocab_size() const override { return engine_->piece_count(); }
  std::optional<TokenId> bos_id() const override { return IdOrNone(engine_->bos_id()); }
  std::optional<TokenId> eos_id() const override { return IdOrNone(engine_->eos_id()); }
  std::string_view kind() const override { return "sentencepiece"; }

 private:
  // SentencePiece says -1 for a special piece the model does not have.
  static std::optional<TokenId> IdOrNone(int id) {
    return id < 0 ? std::nullopt : std::optional<TokenId>(id);
  }

  std::unique_ptr<SentencePieceEngine> engine_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Tokenizer>> ParseSentencePieceTokenizer(std::string_view model_proto,
                                                                       std::string_view origin) {
  std::string error;
  std::unique_ptr<SentencePieceEngine> engine = SentencePieceEngine::Load(model_proto, &error);
  const std::string origin_text(origin);
  if (engine == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(origin_text, ": not a valid SentencePiece model: ", error));
  }
  if (engine->piece_count() <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(origin_text, ": SentencePiece model has no pieces"));
  }
  return std::make_unique<SentencePieceTokenizer>(std::move(engine));
}

absl::StatusOr<std::unique_ptr<Tokenizer>> LoadSentencePieceTokenizer(
    const std::filesystem::path& model_path) {
  QUENCH_ASSIGN_OR_RETURN(const std::string contents, ReadFileToString(model_path));
  return ParseSentencePieceTokenizer(contents, model_path.string());
}

}  // namespace quench
