// Sequences of token ids packed back to back, the unit a forward pass works on.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "core/tokenizer/tokenizer.h"

namespace quench {

struct TokenBatch {
  std::vector<TokenId> tokens;         // all sequences, concatenated
  std::vector<int64_t> offsets = {0};  // sequence s is tokens[offsets[s], offsets[s+1])
  std::vector<int64_t> positions;      // position of each token within its sequence

  int64_t num_sequences() const { return static_cast<int64_t>(offsets.size()) - 1; }
  int64_t num_tokens() const { return static_cast<int64_t>(tokens.size()); }
  void Add(absl::Span<const TokenId> sequence) {
    for (size_t i = 0; i < sequence.size(); ++i) positions.push_back(static_cast<int64_t>(i));
    tokens.insert(tokens.end(), sequence.begin(), sequence.end());
    offsets.push_back(static_cast<int64_t>(tokens.size()));
  }
};

}  // namespace quench
