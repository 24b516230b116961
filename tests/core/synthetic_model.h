// Writes a small model directory (config.json + model.safetensors) with random weights for the
// architecture that `config_json` describes, so tests cover shapes no real fixture has.
#pragma once

#include <filesystem>
#include <string>

#include "core/tensor/dtype.h"

namespace quench::testing {

void WriteSyntheticModel(const std::filesystem::path& dir, const std::string& config_json,
                         unsigned seed, DType storage = DType::kF32);

}  // namespace quench::testing
