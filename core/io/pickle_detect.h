// Recognises PyTorch pickle checkpoints (`*.bin`, `*.pt`, `*.pth`) by their content. Quench
// never loads them: unpickling runs arbitrary code from the file.
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <span>
#include <string_view>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"

namespace quench {

enum class PickleKind {
  kTorchZip,   // torch.save since 1.6: a zip archive holding data.pkl
  kRawPickle,  // legacy torch.save / pickle.dump: starts with the PROTO opcode
};

std::optional<PickleKind> DetectPickleCheckpoint(std::span<const std::byte> head);

// Reads the first bytes of `path`; nullopt when it is not a pickle (or cannot be read).
std::optional<PickleKind> DetectPickleCheckpointFile(const std::filesystem::path& path);

// The error for a refused pickle checkpoint, with the command that converts it.
absl::Status PickleRefusal(const std::filesystem::path& path, PickleKind kind);

}  // namespace quench
