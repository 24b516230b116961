// The GPTQ Hessian of a linear layer's input: H = 2·XᵀX / n over the n calibration tokens that
// reach it. Shards accumulate partial sums Σ xᵀx (fp32 products over fixed chunks of tokens,
// summed in double) and the partials are added in shard order, so the bits never depend on how
// many workers or threads there were.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor/tensor.h"

namespace quench {

class ThreadPool;

class HessianAccumulator {
 public:
  explicit HessianAccumulator(int64_t dim = 0) : dim_(dim), sums_(dim * dim, 0.0) {}
  // A partial computed elsewhere (a remote worker): its Σxᵀx [dim, dim] and token count.
  static HessianAccumulator FromSums(int64_t dim, int64_t tokens, std::vector<double> sums) {
    HessianAccumulator partial;
    partial.dim_ = dim;
    partial.tokens_ = tokens;
    partial.sums_ = std::move(sums);
    return partial;
  }

  // Adds xᵀx for x fp32 [tokens, dim]. Work is tiled over fixed row blocks of the result, so
  // the sums do not depend on the thread count.
  void Accumulate(const Tensor& x, ThreadPool* pool = nullptr);

  // Adds another partial (same dim). Call in shard order.
  void Merge(const HessianAccumulator& other);

  int64_t dim() const { return dim_; }
  int64_t tokens() const { return tokens_; }
  const std::vector<double>& sums() const { return sums_; }

  // 2·Σxᵀx / tokens, row-major [dim, dim].
  std::vector<double> Finalize() const;

 private:
  int64_t dim_ = 0;
  int64_t tokens_ = 0;
  std::vector<double> sums_;  // full symmetric matrix, row-major
};

}  // namespace quench
