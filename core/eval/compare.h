// A candidate model (quantized) against a reference (the original) on the same sequences:
// perplexity of each, mean KL divergence KL(reference ‖ candidate) over predicted positions
// (nats), and top-1 agreement (how often both put the same token first).
#pragma once

#include "absl/status/statusor.h"
#include "core/eval/perplexity.h"

namespace quench {

struct ComparisonResult {
  PerplexityResult reference;
  PerplexityResult candidate;
  double kl_sum = 0.0;
  int64_t top1_agreements = 0;
  int64_t positions = 0;

  double mean_kl() const { return positions > 0 ? kl_sum / positions : 0.0; }
  double top1_agreement() const {
    return positions > 0 ? static_cast<double>(top1_agreements) / positions : 0.0;
  }
};

// Per position: KL(p ‖ q) of the softmaxes of two logit rows, in double.
double KlDivergence(const float* reference_logits, const float* candidate_logits, int64_t vocab);

// Both models must share the vocabulary.
absl::StatusOr<ComparisonResult> CompareModels(const Transformer& reference,
                                               const Transformer& candidate,
                                               const TokenSequences& sequences,
                                               const PerplexityOptions& options = {});

}  // namespace quench
