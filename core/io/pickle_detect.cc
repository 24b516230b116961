#include "core/io/pickle_detect.h"

#include <array>
#include <fstream>

#include "absl/strings/str_cat.h"

namespace quench {

std::optional<PickleKind> DetectPickleCheckpoint(std::span<const std::byte> head) {
  auto at = [&](size_t i) { return static_cast<uint8_t>(head[i]); };
  if (head.size() >= 4 && at(0) == 'P' && at(1) == 'K' && at(2) == 3 && at(3) == 4) {
    return PickleKind::kTorchZip;
  }
  // Pickle protocol 2+ opens with PROTO (0x80) and the protocol number.
  if (head.size() >= 2 && at(0) == 0x80 && at(1) >= 2 && at(1) <= 5) return PickleKind::kRawPickle;
  return std::nullopt;
}

std::optional<PickleKind> DetectPickleCheckpointFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::array<char, 8> head{};
  in.read(head.data(), head.size());
  const auto got = static_cast<size_t>(in.gcount());
  return DetectPickleCheckpoint(std::as_bytes(std::span<const char>(head.data(), got)));
}

absl::Status PickleRefusal(const std::filesystem::path& path, PickleKind kind) {
  return absl::InvalidArgumentError(absl::StrCat(
      path.string(), ": this is a PyTorch pickle checkpoint (",
      kind == PickleKind::kTorchZip ? "torch.save zip archive" : "raw pickle",
      "). Quench does not load pickles, because loading one executes code stored in it. "
      "Convert the model to safetensors first, e.g. in Python: "
      "AutoModelForCausalLM.from_pretrained(DIR).save_pretrained(OUT, safe_serialization=True)"));
}

}  // namespace quench
