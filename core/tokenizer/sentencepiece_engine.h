// A thin, Abseil-free wrapper of libsentencepiece's SentencePieceProcessor.
//
// Why it exists: <sentencepiece_processor.h> declares `namespace absl { using std::string_view; }`,
// while Debian's Abseil defines its own absl::string_view class; any file that sees both fails to
// compile. So libsentencepiece is only included by sentencepiece_engine.cc, which includes no
// Abseil header, and the rest of Quench talks to it through this std-only interface.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace quench {

class SentencePieceEngine {
 public:
  // nullptr with `*error` set when `model_proto` is not a valid serialized ModelProto.
  static std::unique_ptr<SentencePieceEngine> Load(std::string_view model_proto,
                                                   std::string* error);
  ~SentencePieceEngine();

  bool Encode(std::string_view text, std::vector<int>* ids) const;
  // Ids must be in [0, piece_count()).
  bool Decode(const std::vector<int>& ids, std::string* text, std::string* error) const;

  int piece_count() const;
  // The piece string and score of `id` in [0, piece_count()), for inspecting a model.
  std::string piece(int id) const;
  float score(int id) const;
  // What kind of piece `id` in [0, piece_count()) is; llama.cpp's GGUF stores it per token.
  enum class PieceType { kNormal, kUnknown, kControl, kUnused, kByte };
  PieceType piece_type(int id) const;
  int bos_id() const;  // -1 when the model has none
  int eos_id() const;  // -1 when the model has none

 private:
  struct Impl;
  explicit SentencePieceEngine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace quench
