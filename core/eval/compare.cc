#include "core/eval/compare.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "core/util/status_macros.h"

namespace quench {
namespace {

// log-softmax of one row, in double.
void LogSoftmax(const float* logits, int64_t vocab, std::vector<double>& out) {
  out.resize(vocab);
  const float max_logit = *std::max_element(logits, logits + vocab);
  double sum = 0.0;
  for (int64_t i = 0; i < vocab; ++i) sum += std::exp(static_cast<double>(logits[i]) - max_logit);
  const double log_sum = std::log(sum) + max_logit;
  for (int64_t i = 0; i < vocab; ++i) out[i] = logits[i] - log_sum;
}

}  // namespace

double KlDivergence(const float* reference_logits, const float* candidate_logits, int64_t vocab) {
  std::vector<double> p, q;
  LogSoftmax(reference_logits, vocab, p);
  LogSoftmax(candidate_logits, vocab, q);
  double kl = 0.0;
  for (int64_t i = 0; i < vocab; ++i) kl += std::exp(p[i]) * (p[i] - q[i]);
  return std::max(kl, 0.0);
}

absl::StatusOr<ComparisonResult> CompareModels(const Transformer& reference,
                                               const Transformer& candidate,
                                               const TokenSequences& sequences,
                                               const PerplexityOptions& options) {
  const int64_t vocab = reference.spec().vocab_size;
  if (candidate.spec().vocab_size != vocab) {
    return absl::InvalidArgumentError(absl::StrCat("the models' vocabularies differ (", vocab,
                                                   " vs ", candidate.spec().vocab_size,
                                                   " tokens): they cannot be compared"));
  }
  ComparisonResult result;
  const int64_t total = static_cast<int64_t>(sequences.size());
  QUENCH_RETURN_IF_ERROR(
      ForEachBatch(sequences, options.batch_tokens, [&](const TokenBatch& batch, int64_t done) {
        QUENCH_RETURN_IF_ERROR(reference.Validate(batch));
        QUENCH_RETURN_IF_ERROR(candidate.Validate(batch));
        const Tensor reference_hidden = RunAllBlocks(reference, batch);
        const Tensor candidate_hidden = RunAllBlocks(candidate, batch);
        ForEachPredictingSlice(batch, options.logits_rows, [&](int64_t row, int64_t row_end) {
          const Tensor p = reference.Logits(reference_hidden, row, row_end);
          const Tensor q = candidate.Logits(candidate_hidden, row, row_end);
          for (int64_t r = row; r < row_end; ++r) {
            const float* p_row = p.data<float>() + (r - row) * vocab;
            const float* q_row = q.data<float>() + (r - row) * vocab;
            const TokenId target = batch.tokens[r + 1];
            result.reference.nll_sum += NegativeLogLikelihood(p_row, vocab, target);
            result.candidate.nll_sum += NegativeLogLikelihood(q_row, vocab, target);
            result.kl_sum += KlDivergence(p_row, q_row, vocab);
            result.top1_agreements += std::max_element(p_row, p_row + vocab) - p_row ==
                                      std::max_element(q_row, q_row + vocab) - q_row;
            ++result.positions;
          }
        });
        result.reference.sequences += batch.num_sequences();
        result.candidate.sequences += batch.num_sequences();
        if (options.progress) options.progress(done, total);
        return absl::OkStatus();
      }));
  result.reference.predicted_tokens = result.positions;
  result.candidate.predicted_tokens = result.positions;
  return result;
}

}  // namespace quench
