#include "worker/comparison_json.h"

namespace quench::worker {

nlohmann::ordered_json ComparisonJson(const ComparisonResult& comparison) {
  return {{"tokens", comparison.positions},
          {"reference_perplexity", comparison.reference.perplexity()},
          {"perplexity", comparison.candidate.perplexity()},
          {"kl_divergence", comparison.mean_kl()},
          {"top1_agreement", comparison.top1_agreement()}};
}

}  // namespace quench::worker
