#include "core/util/format_bytes.h"

#include "absl/strings/str_format.h"

namespace quench {

std::string FormatBytes(double bytes, int decimals) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  while (bytes >= 1024 && unit < 4) {
    bytes /= 1024;
    ++unit;
  }
  return unit == 0 ? absl::StrFormat("%.0f B", bytes)
                   : absl::StrFormat("%.*f %s", decimals, bytes, kUnits[unit]);
}

}  // namespace quench
