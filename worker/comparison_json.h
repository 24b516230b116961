// The JSON both `quench eval --reference` and report.json use for a model comparison, so
// pipelines read the same keys from either.
#pragma once

#include "core/eval/compare.h"
#include "nlohmann/json.hpp"

namespace quench::worker {

// tokens, reference_perplexity, perplexity, kl_divergence (mean, nats), top1_agreement (0–1).
nlohmann::ordered_json ComparisonJson(const ComparisonResult& comparison);

}  // namespace quench::worker
