#include "core/eval/perplexity.h"

#include <algorithm>
#include <cmath>

#include "core/util/status_macros.h"

namespace quench {

double PerplexityResult::mean_nll() const {
  return predicted_tokens > 0 ? nll_sum / static_cast<double>(predicted_tokens) : 0.0;
}
double PerplexityResult::perplexity() const { return std::exp(mean_nll()); }

double NegativeLogLikelihood(const float* logits, int64_t vocab, TokenId target) {
  const float max_logit = *std::max_element(logits, logits + vocab);
  double sum = 0.0;
  for (int64_t i = 0; i < vocab; ++i) sum += std::exp(static_cast<double>(logits[i]) - max_logit);
  return std::log(sum) + max_logit - static_cast<double>(logits[target]);
}

absl::Status ForEachBatch(const TokenSequences& sequences, int64_t batch_tokens,
                          const std::function<absl::Status(const TokenBatch&, int64_t)>& fn) {
  size_t next = 0;
  while (next < sequences.size()) {
    TokenBatch batch;
    while (next < sequences.size() &&
           (batch.num_sequences() == 0 ||
            batch.num_tokens() + static_cast<int64_t>(sequences[next].size()) <= batch_tokens)) {
      batch.Add(sequences[next++]);
    }
    QUENCH_RETURN_IF_ERROR(fn(batch, static_cast<int64_t>(next)));
  }
  return absl::OkStatus();
}

void ForEachPredictingSlice(const TokenBatch& batch, int64_t slice_rows,
                            const std::function<void(int64_t, int64_t)>& fn) {
  for (int64_t s = 0; s < batch.num_sequences(); ++s) {
    const int64_t last = batch.offsets[s + 1] - 1;  // the last token predicts nothing
    for (int64_t row = batch.offsets[s]; row < last; row += slice_rows) {
      fn(row, std::min(last, row + slice_rows));
    }
  }
}

Tensor RunAllBlocks(const Transformer& model, const TokenBatch& batch) {
  Tensor hidden = model.Embed(batch);
  for (int64_t layer = 0; layer < model.spec().num_layers; ++layer) {
    model.RunBlock(layer, batch, hidden);
  }
  return hidden;
}

absl::StatusOr<PerplexityResult> EvaluatePerplexity(const Transformer& model,
                                                    const TokenSequences& sequences,
                                                    const PerplexityOptions& options) {
  PerplexityResult result;
  const int64_t vocab = model.spec().vocab_size;
  const int64_t total = static_cast<int64_t>(sequences.size());
  QUENCH_RETURN_IF_ERROR(
      ForEachBatch(sequences, options.batch_tokens, [&](const TokenBatch& batch, int64_t done) {
        QUENCH_RETURN_IF_ERROR(model.Validate(batch));
        const Tensor hidden = RunAllBlocks(model, batch);
        ForEachPredictingSlice(batch, options.logits_rows, [&](int64_t row, int64_t row_end) {
          const Tensor logits = model.Logits(hidden, row, row_end);
          for (int64_t r = row; r < row_end; ++r) {
            result.nll_sum += NegativeLogLikelihood(logits.data<float>() + (r - row) * vocab, vocab,
                                                    batch.tokens[r + 1]);
          }
          result.predicted_tokens += row_end - row;
        });
        result.sequences += batch.num_sequences();
        if (options.progress) options.progress(done, total);
        return absl::OkStatus();
      }));
  return result;
}

}  // namespace quench
