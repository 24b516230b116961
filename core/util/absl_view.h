// Debian's Abseil is built with its own absl::string_view class rather than an alias of
// std::string_view, and the two do not convert into each other. Where a std::string_view meets
// an Abseil API (StrCat, hash-map lookups), it goes through AbslView.
#pragma once

#include <string_view>

#include "absl/strings/string_view.h"

namespace quench {

inline absl::string_view AbslView(std::string_view text) { return {text.data(), text.size()}; }

}  // namespace quench
