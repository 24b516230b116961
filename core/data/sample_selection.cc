#include "core/data/sample_selection.h"

#include <algorithm>
#include <numeric>
#include <random>

namespace quench {

TokenSequences SelectSamples(const TokenSequences& sequences, int64_t count, uint64_t seed) {
  const auto total = static_cast<int64_t>(sequences.size());
  if (count <= 0 || count >= total) return sequences;
  std::vector<int64_t> indices(total);
  std::iota(indices.begin(), indices.end(), 0);
  if (seed != 0) {
    std::mt19937_64 random(seed);
    // Fisher-Yates written out: std::shuffle's draws differ between standard libraries.
    for (int64_t i = total - 1; i > 0; --i) {
      std::swap(indices[i], indices[static_cast<int64_t>(random() % static_cast<uint64_t>(i + 1))]);
    }
    std::sort(indices.begin(), indices.begin() + count);
  }
  TokenSequences selected;
  for (int64_t i = 0; i < count; ++i) selected.push_back(sequences[indices[i]]);
  return selected;
}

}  // namespace quench
