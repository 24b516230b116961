// Sizes for the report's summary: how big the original checkpoint is and how many parameters it
// holds (the denominator of every output's bits per weight), and how big an output's weight files
// are on disk.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "core/io/checkpoint.h"

namespace quench {

struct CheckpointSize {
  uint64_t bytes = 0;       // the safetensors files, headers included
  uint64_t parameters = 0;  // tensor elements, each tied tensor counted once
  std::string dtype;        // the dtype holding most of the bytes ("BF16")
};

CheckpointSize MeasureCheckpoint(const Checkpoint& checkpoint);

// The bytes of the weight files (*.safetensors, *.gguf) at `path`: the file itself, or those in
// the directory tree (config and tokenizer files are not weights).
uint64_t WeightFileBytes(const std::filesystem::path& path);

}  // namespace quench
