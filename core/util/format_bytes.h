// Sizes for people: 1536 → "1.5 KiB" (binary units, B up to TiB).
#pragma once

#include <string>

namespace quench {

// `decimals` digits after the point for KiB and up; bytes below 1 KiB are whole ("512 B").
std::string FormatBytes(double bytes, int decimals = 1);

}  // namespace quench
