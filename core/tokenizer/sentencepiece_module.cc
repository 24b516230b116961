// libquench_sentencepiece.so: the SentencePieceEngine on libsentencepiece (see
// sentencepiece_engine.h for why it is a module). No Abseil header may be included here.
#include <sentencepiece_processor.h>

#include "core/tokenizer/sentencepiece_engine.h"

namespace quench {
namespace {

class LibSentencePieceEngine final : public SentencePieceEngine {
 public:
  bool Load(std::string_view model_proto, std::string* error) {
    const sentencepiece::util::Status status = processor_.LoadFromSerializedProto(model_proto);
    if (!status.ok()) *error = status.ToString();
    return status.ok();
  }

  bool Encode(std::string_view text, std::vector<int>* ids) const override {
    return processor_.Encode(text, ids).ok();
  }
  bool Decode(const std::vector<int>& ids, std::string* text, std::string* error) const override {
    const sentencepiece::util::Status status = processor_.Decode(ids, text);
    if (!status.ok()) *error = status.ToString();
    return status.ok();
  }
  int piece_count() const override { return processor_.GetPieceSize(); }
  std::string piece(int id) const override { return processor_.IdToPiece(id); }
  float score(int id) const override { return processor_.GetScore(id); }
  PieceType piece_type(int id) const override {
    if (processor_.IsUnknown(id)) return PieceType::kUnknown;
    if (processor_.IsControl(id)) return PieceType::kControl;
    if (processor_.IsUnused(id)) return PieceType::kUnused;
    if (processor_.IsByte(id)) return PieceType::kByte;
    // User-defined pieces have no public predicate; llama.cpp's converter calls them normal too.
    return PieceType::kNormal;
  }
  int bos_id() const override { return processor_.bos_id(); }
  int eos_id() const override { return processor_.eos_id(); }

 private:
  sentencepiece::SentencePieceProcessor processor_;
};

}  // namespace
}  // namespace quench

extern "C" __attribute__((visibility("default"))) quench::SentencePieceEngine*
quench_sentencepiece_load(const char* data, size_t size, std::string* error) {
  auto engine = std::make_unique<quench::LibSentencePieceEngine>();
  if (!engine->Load(std::string_view(data, size), error)) return nullptr;
  return engine.release();
}
