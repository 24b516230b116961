// No Abseil header may be included here (see sentencepiece_engine.h).
#include "core/tokenizer/sentencepiece_engine.h"

#include <sentencepiece_processor.h>

namespace quench {

struct SentencePieceEngine::Impl {
  sentencepiece::SentencePieceProcessor processor;
};

SentencePieceEngine::SentencePieceEngine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SentencePieceEngine::~SentencePieceEngine() = default;

std::unique_ptr<SentencePieceEngine> SentencePieceEngine::Load(std::string_view model_proto,
                                                               std::string* error) {
  auto impl = std::make_unique<Impl>();
  const sentencepiece::util::Status status = impl->processor.LoadFromSerializedProto(model_proto);
  if (!status.ok()) {
    *error = status.ToString();
    return nullptr;
  }
  return std::unique_ptr<SentencePieceEngine>(new SentencePieceEngine(std::move(impl)));
}

bool SentencePieceEngine::Encode(std::string_view text, std::vector<int>* ids) const {
  return impl_->processor.Encode(text, ids).ok();
}

bool SentencePieceEngine::Decode(const std::vector<int>& ids, std::string* text,
                                 std::string* error) const {
  const sentencepiece::util::Status status = impl_->processor.Decode(ids, text);
  if (!status.ok()) *error = status.ToString();
  return status.ok();
}

int SentencePieceEngine::piece_count() const { return impl_->processor.GetPieceSize(); }
std::string SentencePieceEngine::piece(int id) const { return impl_->processor.IdToPiece(id); }
float SentencePieceEngine::score(int id) const { return impl_->processor.GetScore(id); }
SentencePieceEngine::PieceType SentencePieceEngine::piece_type(int id) const {
  const sentencepiece::SentencePieceProcessor& processor = impl_->processor;
  if (processor.IsUnknown(id)) return PieceType::kUnknown;
  if (processor.IsControl(id)) return PieceType::kControl;
  if (processor.IsUnused(id)) return PieceType::kUnused;
  if (processor.IsByte(id)) return PieceType::kByte;
  // User-defined pieces have no public predicate; llama.cpp's converter calls them normal too.
  return PieceType::kNormal;
}
int SentencePieceEngine::bos_id() const { return impl_->processor.bos_id(); }
int SentencePieceEngine::eos_id() const { return impl_->processor.eos_id(); }

}  // namespace quench
