#include "core/quant/hessian.h"

#include <Eigen/Core>

#include "core/util/check.h"
#include "core/util/thread_pool.h"

namespace quench {

namespace {
// Rows of the result per task: fixed, for thread-count independence.
constexpr int64_t kRowsPerTask = 64;
constexpr int64_t kTokensPerChunk = 256;
using RowMatrixD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using RowMatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
}  // namespace

void HessianAccumulator::Accumulate(const Tensor& x, ThreadPool* pool) {
  QUENCH_CHECK(x.rank() == 2 && x.dim(1) == dim_ && x.dtype() == DType::kF32);
  const int64_t tokens = x.dim(0);
  if (tokens == 0) return;
  const Eigen::Map<const RowMatrixF> input(x.data<float>(), tokens, dim_);
  Eigen::Map<RowMatrixD> sums(sums_.data(), dim_, dim_);
  ThreadPool& workers = pool != nullptr ? *pool : DefaultThreadPool();
  // fp32 products over fixed chunks of tokens (twice the SIMD width of double), summed into
  // double between chunks so long calibration sets lose no precision.
  workers.ParallelFor(dim_, kRowsPerTask, [&](int64_t begin, int64_t end) {
    RowMatrixF partial(end - begin, dim_);
    for (int64_t t = 0; t < tokens; t += kTokensPerChunk) {
      const int64_t n = std::min(kTokensPerChunk, tokens - t);
      partial.noalias() =
          input.block(t, begin, n, end - begin).transpose() * input.middleRows(t, n);
      sums.middleRows(begin, end - begin) += partial.cast<double>();
    }
  });
  tokens_ += tokens;
}

void HessianAccumulator::Merge(const HessianAccumulator& other) {
  QUENCH_CHECK(other.dim_ == dim_);
  for (size_t i = 0; i < sums_.size(); ++i) sums_[i] += other.sums_[i];
  tokens_ += other.tokens_;
}

std::vector<double> HessianAccumulator::Finalize() const {
  std::vector<double> hessian(sums_.size());
  const double factor = tokens_ > 0 ? 2.0 / static_cast<double>(tokens_) : 0.0;
  for (size_t i = 0; i < sums_.size(); ++i) hessian[i] = sums_[i] * factor;
  return hessian;
}

}  // namespace quench
