// Quench's version: what workers register with, and what the coordinator checks them against.
#pragma once

namespace quench {

inline constexpr char kQuenchVersion[] = "0.1.0";

}  // namespace quench
