#include "core/util/token_file.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "core/util/atomic_file.h"

namespace quench {

absl::StatusOr<std::string> ReadTokenFile(const std::filesystem::path& path) {
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--token-file ", path.string(), ": no such file"));
  }
  absl::StatusOr<std::string> content = ReadFileToString(path);
  if (!content.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--token-file ", content.status().message()));
  }
  std::string token(absl::StripAsciiWhitespace(*content));
  if (token.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--token-file ", path.string(), " is empty"));
  }
  for (const char c : token) {
    if (c < 0x20 || c > 0x7e) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--token-file ", path.string(), ": the token must be one line of printable ASCII"));
    }
  }
  return token;
}

}  // namespace quench
