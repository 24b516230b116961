// SentencePiece model loading and encoding, through libsentencepiece kept at arm's length.
//
// Why at arm's length: Debian's libsentencepiece carries its own copy of protobuf-lite (3.14)
// and exports its symbols. In a process that also loads libprotobuf (every gRPC binary), the
// two copies interpose each other and the process crashes as libprotobuf starts. So
// libsentencepiece is used only by a module (libquench_sentencepiece.so, built from
// sentencepiece_module.cc) that Load() opens with its symbols kept local and bound to itself
// first; the rest of Quench sees this std-only interface. (The module also keeps
// <sentencepiece_processor.h>, whose `namespace absl { using std::string_view; }` clashes with
// Debian's Abseil, away from every Abseil header.)
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace quench {

class SentencePieceEngine {
 public:
  // nullptr with `*error` set when `model_proto` is not a valid serialized ModelProto, or the
  // module cannot be loaded (the message says where it was looked for).
  static std::unique_ptr<SentencePieceEngine> Load(std::string_view model_proto,
                                                   std::string* error);
  virtual ~SentencePieceEngine() = default;

  virtual bool Encode(std::string_view text, std::vector<int>* ids) const = 0;
  // Ids must be in [0, piece_count()).
  virtual bool Decode(const std::vector<int>& ids, std::string* text, std::string* error) const = 0;

  virtual int piece_count() const = 0;
  // The piece string and score of `id` in [0, piece_count()), for inspecting a model.
  virtual std::string piece(int id) const = 0;
  virtual float score(int id) const = 0;
  // What kind of piece `id` in [0, piece_count()) is; llama.cpp's GGUF stores it per token.
  enum class PieceType { kNormal, kUnknown, kControl, kUnused, kByte };
  virtual PieceType piece_type(int id) const = 0;
  virtual int bos_id() const = 0;  // -1 when the model has none
  virtual int eos_id() const = 0;  // -1 when the model has none
};

// The module's entry point: a new engine for the serialized ModelProto, or nullptr with
// `*error` set. The engine is deleted through its virtual destructor, in the module.
using SentencePieceLoadFunction = SentencePieceEngine* (*)(const char* data, size_t size,
                                                           std::string* error);
inline constexpr char kSentencePieceLoadSymbol[] = "quench_sentencepiece_load";
inline constexpr char kSentencePieceModuleFile[] = "libquench_sentencepiece.so";

}  // namespace quench
