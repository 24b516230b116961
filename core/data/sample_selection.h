// Picks the calibration samples a recipe asks for from a larger set.
#pragma once

#include <cstdint>

#include "core/data/token_dataset.h"

namespace quench {

// seed 0: the first `count` sequences (the files in ../shared are cut that way); otherwise
// `count` sequences drawn without replacement by a seeded generator, kept in file order.
TokenSequences SelectSamples(const TokenSequences& sequences, int64_t count, uint64_t seed);

}  // namespace quench
