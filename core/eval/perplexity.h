// Perplexity of a model on token sequences: every position predicts the next token of its own
// sequence; NLLs are summed in sequence order in double precision.
#pragma once

#include <functional>

#include "absl/status/statusor.h"
#include "core/data/token_dataset.h"
#include "core/model/forward.h"

namespace quench {

struct PerplexityOptions {
  int64_t batch_tokens = 8192;  // tokens forwarded together (whole sequences)
  int64_t logits_rows = 512;    // rows of logits materialised at once (bounds memory)
  // Called after each batch with (sequences done, total).
  std::function<void(int64_t, int64_t)> progress;
};

struct PerplexityResult {
  double nll_sum = 0.0;
  int64_t predicted_tokens = 0;
  int64_t sequences = 0;
  double perplexity() const;
  double mean_nll() const;
};

// Packs consecutive sequences into batches of at most `batch_tokens` tokens (a longer sequence
// forms a batch alone) and calls fn(batch, sequences done so far) for each, stopping at an error.
absl::Status ForEachBatch(const TokenSequences& sequences, int64_t batch_tokens,
                          const std::function<absl::Status(const TokenBatch&, int64_t)>& fn);

// Calls fn(row_begin, row_end) for consecutive slices (at most `slice_rows`) of the batch's rows
// that predict a next token: every position but the last of each sequence, in order.
void ForEachPredictingSlice(const TokenBatch& batch, int64_t slice_rows,
                            const std::function<void(int64_t, int64_t)>& fn);

// The final hidden states of a batch: embeddings through every block.
Tensor RunAllBlocks(const Transformer& model, const TokenBatch& batch);

// -log softmax(logits)[target], computed in double.
double NegativeLogLikelihood(const float* logits, int64_t vocab, TokenId target);

absl::StatusOr<PerplexityResult> EvaluatePerplexity(const Transformer& model,
                                                    const TokenSequences& sequences,
                                                    const PerplexityOptions& options = {});

}  // namespace quench
