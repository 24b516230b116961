// SHA-256 (FIPS 180-4), incremental: artifact digests that clients verify after a download.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace quench {

class Sha256 {
 public:
  Sha256();
  void Update(const void* data, size_t size);
  void Update(absl::string_view text) { Update(text.data(), text.size()); }
  // The digest of everything added; the object is spent afterwards.
  std::array<uint8_t, 32> Finish();
  // Finish() as 64 lowercase hex digits.
  std::string FinishHex();

 private:
  void Compress(const uint8_t* block);

  std::array<uint32_t, 8> state_;
  std::array<uint8_t, 64> buffer_{};
  size_t buffered_ = 0;
  uint64_t total_bytes_ = 0;
};

std::string Sha256Hex(absl::string_view data);
// Streams the file; NotFound / a read error as a status.
absl::StatusOr<std::string> Sha256FileHex(const std::filesystem::path& path);

}  // namespace quench
