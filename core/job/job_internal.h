// Pieces the job driver and its AWQ block share. Not for use outside core/job.
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "core/job/shard_worker.h"

namespace quench {

// Partial statistics from every shard, reduced in shard order whatever the visit order.
absl::StatusOr<GroupStatistics> ReduceStatistics(ShardWorker& worker,
                                                 const std::vector<int64_t>& visit_order,
                                                 const LayerWeights& weights, InputGroup group,
                                                 bool with_abs_sums);

// ‖Ŵ − W‖² / ‖W‖².
double RelativeWeightError(const Tensor& original, const Tensor& quantized);

// tr(ΔW H ΔWᵀ) / tr(W H Wᵀ) over at most 256 evenly spaced rows: the relative change of the
// layer's output energy on the calibration inputs (H = 2XᵀX/n), without keeping the inputs.
double RelativeOutputError(const Tensor& original, const Tensor& quantized,
                           const std::vector<double>& hessian);

}  // namespace quench
