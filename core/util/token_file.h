// The bearer token every Quench process reads from a --token-file: quenchd and quench-worker
// to require or present it, the CLI to present it.
#pragma once

#include <filesystem>
#include <string>

#include "absl/status/statusor.h"

namespace quench {

// The file's content without surrounding whitespace. INVALID_ARGUMENT, naming --token-file,
// when the file is missing or unreadable, empty, or not one line of printable ASCII (gRPC
// metadata values must be; a stray newline would otherwise be refused far from its cause).
absl::StatusOr<std::string> ReadTokenFile(const std::filesystem::path& path);

}  // namespace quench
