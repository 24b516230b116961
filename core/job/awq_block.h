// AWQ (Lin et al., 2023) on one transformer block, following AutoAWQ's procedure:
//  1. for each input group, search per-input-channel scales s over a grid of ratios
//     (s = x̄^r / w̄^(1-r) with duo scaling), scoring each by the sublayer output error under
//     fake quantization, and fold the best s into the previous op (norm weight, v_proj→o_proj,
//     up_proj→down_proj) while the group's linears take W·diag(s);
//  2. search a clipping range per output row and group (never for q/k);
//  3. quantize every planned linear of the block on its grid.
// Statistics and losses are sums over calibration shards reduced in shard order.
#pragma once

#include <vector>

#include "absl/status/status.h"
#include "core/job/quant_plan.h"
#include "core/job/quantization_driver.h"
#include "core/job/shard_worker.h"

namespace quench {

absl::Status RunAwqBlock(const ModelSpec& spec, const PlannedBlock& block,
                         const AwqOptions& options, ShardWorker& worker,
                         const std::vector<int64_t>& visit_order, LayerWeights& weights,
                         std::vector<QuantizedLinear>& linears, std::vector<LinearReport>& reports);

}  // namespace quench
