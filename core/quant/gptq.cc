#include "core/quant/gptq.h"

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <algorithm>
#include <numeric>
#include <span>

#include "absl/strings/str_cat.h"
#include "core/util/status_macros.h"
#include "core/util/thread_pool.h"

namespace quench {
namespace {

using RowMatrixD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using RowMatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Rows per task. Rows are independent in GPTQ; a fixed chunk keeps results thread-independent.
constexpr int64_t kRowsPerTask = 16;
// Dampening is multiplied by this when the Hessian is not positive definite, a few times.
constexpr double kDampGrowth = 10.0;
constexpr int kDampAttempts = 4;

// Columns whose permutation puts large-diagonal (most important) inputs first.
std::vector<int64_t> ActOrderPermutation(const Eigen::MatrixXd& hessian) {
  std::vector<int64_t> perm(hessian.rows());
  std::iota(perm.begin(), perm.end(), 0);
  std::stable_sort(perm.begin(), perm.end(),
                   [&](int64_t a, int64_t b) { return hessian(a, a) > hessian(b, b); });
  return perm;
}

// The upper Cholesky factor U of H⁻¹ (H⁻¹ = UᵀU) after adding dampening, raising the
// dampening when H is not positive definite. With J the reversal permutation and
// JHJ = LLᵀ, H = RRᵀ for the upper triangular R = JLJ, so H⁻¹ = R⁻ᵀR⁻¹ and U = R⁻¹ = JL⁻¹J:
// one Cholesky and one triangular inverse, no explicit H⁻¹.
// `updater` may do the factorization (a GPU); otherwise Eigen does it here.
absl::StatusOr<Eigen::MatrixXd> InverseCholeskyUpper(const Eigen::MatrixXd& hessian,
                                                     double damp_percent, double* damp_used,
                                                     GptqUpdater* updater) {
  const int64_t n = hessian.rows();
  double damp = damp_percent * hessian.diagonal().mean();
  for (int attempt = 0; attempt < kDampAttempts; ++attempt, damp *= kDampGrowth) {
    Eigen::MatrixXd reversed = hessian.reverse();
    reversed.diagonal().array() += damp;
    Eigen::MatrixXd lower_inverse(n, n);
    absl::StatusOr<bool> factored = absl::UnimplementedError("");
    if (updater != nullptr) {
      factored = updater->CholeskyLowerInverse(reversed.data(), n, lower_inverse.data());
    }
    if (factored.ok()) {
      if (!*factored) continue;  // not positive definite: more dampening
    } else if (absl::IsUnimplemented(factored.status())) {
      Eigen::LLT<Eigen::MatrixXd> llt(reversed);
      if (llt.info() != Eigen::Success) continue;
      lower_inverse.setIdentity();
      llt.matrixL().solveInPlace(lower_inverse);
    } else {
      return factored.status();
    }
    if (!lower_inverse.allFinite()) continue;
    *damp_used = damp;
    return Eigen::MatrixXd(lower_inverse.reverse());
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "GPTQ: the Hessian (", n, "x", n, ") is not positive definite even with dampening ", damp,
      "; use more calibration data or a larger gptq.damp_percent"));
}

// Block length for lazy updates such that every parameter span (a group, or a ggml block of
// groups) starts at a block start or lies inside one block: then each span's parameters are
// chosen from fully updated weights.
int64_t EffectiveBlockSize(int64_t block_size, int64_t param_span, bool groups_follow_updates) {
  if (!groups_follow_updates) return block_size;
  if (param_span >= block_size) return param_span;
  return (block_size / param_span) * param_span;
}

// The lazy updates on the host matrix, in the fixed 64-row chunks the quantization uses.
class HostGptqUpdater final : public GptqUpdater {
 public:
  explicit HostGptqUpdater(ThreadPool& workers) : workers_(workers) {}
  absl::Status Begin(double* w, const double* u, int64_t rows, int64_t cols) override {
    w_ = w;
    u_ = u;
    rows_ = rows;
    cols_ = cols;
    return absl::OkStatus();
  }
  absl::Status FetchColumns(int64_t, int64_t, double*) override { return absl::OkStatus(); }
  absl::Status Update(int64_t i1, int64_t i2, const double* errors,
                      int64_t errors_stride) override {
    Eigen::Map<RowMatrixD> w(w_, rows_, cols_);
    const Eigen::Map<const RowMatrixD> u(u_, cols_, cols_);
    const Eigen::Map<const RowMatrixD, 0, Eigen::OuterStride<>> e(
        errors, rows_, i2 - i1, Eigen::OuterStride<>(errors_stride));
    const Eigen::MatrixXd u_block = u.block(i1, i2, i2 - i1, cols_ - i2);
    workers_.ParallelFor(rows_, kRowsPerTask, [&](int64_t row_begin, int64_t row_end) {
      const RowMatrixD chunk = e.middleRows(row_begin, row_end - row_begin);
      w.middleRows(row_begin, row_end - row_begin).rightCols(cols_ - i2).noalias() -=
          chunk * u_block;
    });
    return absl::OkStatus();
  }

 private:
  ThreadPool& workers_;
  double* w_ = nullptr;
  const double* u_ = nullptr;
  int64_t rows_ = 0, cols_ = 0;
};

}  // namespace

absl::StatusOr<GptqResult> QuantizeGptq(const Tensor& weight, const std::vector<double>& hessian,
                                        const GridSpec& grid, const GptqOptions& options,
                                        ThreadPool* pool, GptqUpdater* updater) {
  if (weight.rank() != 2 || weight.dtype() != DType::kF32) {
    return absl::InvalidArgumentError("GPTQ: the weight must be a 2-D fp32 matrix");
  }
  const int64_t rows = weight.dim(0);
  const int64_t cols = weight.dim(1);
  if (static_cast<int64_t>(hessian.size()) != cols * cols) {
    return absl::InvalidArgumentError(absl::StrCat("GPTQ: Hessian has ", hessian.size(),
                                                   " entries, the weight's ", cols, " inputs need ",
                                                   cols * cols));
  }
  if (options.block_size < 1) return absl::InvalidArgumentError("gptq.block_size must be >= 1");
  QUENCH_RETURN_IF_ERROR(grid.Validate());
  QUENCH_ASSIGN_OR_RETURN(QuantizedTensor result, MakeQuantizedTensor(grid, rows, cols));
  const int64_t group_size = result.group_size;
  const int64_t num_groups = result.num_groups;
  // Columns whose groups' parameters are chosen at once (a ggml block), a multiple of groups.
  const int64_t param_span = grid.ParamSpan(cols);

  GptqResult output;
  RowMatrixD w = Eigen::Map<const RowMatrixF>(weight.data<float>(), rows, cols).cast<double>();
  Eigen::MatrixXd h =
      Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
          hessian.data(), cols, cols);
  // Inputs that never fire carry no information: zero their weights, keep H invertible.
  for (int64_t c = 0; c < cols; ++c) {
    if (h(c, c) == 0.0) {
      h(c, c) = 1.0;
      w.col(c).setZero();
      ++output.dead_columns;
    }
  }

  // Static parameters: always for tensor/channel grids, and for groups when asked; chosen from
  // the weights before any update, by the same code RTN uses.
  const bool per_group = num_groups > 1;
  const bool static_params = options.static_groups || !per_group;
  std::vector<GroupParams> fixed_params;
  if (static_params) {
    Tensor original = Tensor::Zeros(DType::kF32, {rows, cols});
    Eigen::Map<RowMatrixF>(original.mutable_data<float>(), rows, cols) = w.cast<float>();
    QUENCH_ASSIGN_OR_RETURN(QuantizedTensor rtn, QuantizeRtn(original, grid));
    fixed_params = std::move(rtn.params);
  }

  std::vector<int64_t> perm(cols);
  std::iota(perm.begin(), perm.end(), 0);
  if (options.act_order) perm = ActOrderPermutation(h);
  RowMatrixD wp(rows, cols);
  Eigen::MatrixXd hp(cols, cols);
  for (int64_t j = 0; j < cols; ++j) {
    wp.col(j) = w.col(perm[j]);
    for (int64_t i = 0; i < cols; ++i) hp(i, j) = h(perm[i], perm[j]);
  }
  QUENCH_ASSIGN_OR_RETURN(const Eigen::MatrixXd u,
                          InverseCholeskyUpper(hp, options.damp_percent, &output.damp, updater));

  // Group of the column at permuted position j: static groups keep the natural grouping;
  // dynamic groups are runs of consecutive permuted columns (the reference's g_idx).
  auto group_of = [&](int64_t j) {
    if (!per_group) return int64_t{0};
    return static_params ? perm[j] / group_size : j / group_size;
  };
  for (int64_t j = 0; j < cols; ++j) result.g_idx[perm[j]] = static_cast<int32_t>(group_of(j));
  if (static_params) result.params = fixed_params;

  const int64_t block =
      EffectiveBlockSize(options.block_size, param_span, per_group && !static_params);
  const int64_t num_tasks = (rows + kRowsPerTask - 1) / kRowsPerTask;
  std::vector<double> task_loss(num_tasks, 0.0);
  ThreadPool& workers = pool != nullptr ? *pool : DefaultThreadPool();
  HostGptqUpdater host_updater(workers);
  GptqUpdater& lazy = updater != nullptr ? *updater : host_updater;
  const RowMatrixD u_rows = u;  // row-major for updaters that take a plain array
  QUENCH_RETURN_IF_ERROR(lazy.Begin(wp.data(), u_rows.data(), rows, cols));
  RowMatrixD errors(rows, block);
  for (int64_t i1 = 0; i1 < cols; i1 += block) {
    const int64_t i2 = std::min(cols, i1 + block);
    QUENCH_RETURN_IF_ERROR(lazy.FetchColumns(i1, i2, wp.data()));
    workers.ParallelFor(rows, kRowsPerTask, [&](int64_t row_begin, int64_t row_end) {
      const int64_t n = row_end - row_begin;
      auto rows_w = wp.middleRows(row_begin, n);
      double& loss = task_loss[row_begin / kRowsPerTask];
      std::vector<float> group_values;
      for (int64_t j = i1; j < i2; ++j) {
        if (!static_params && j % param_span == 0) {
          // Parameters from the updated weights, for the group (or the ggml block) starting here.
          const int64_t width = std::min(param_span, cols - j);
          const int64_t groups = (width + group_size - 1) / group_size;
          group_values.resize(width);
          for (int64_t r = 0; r < n; ++r) {
            for (int64_t k = 0; k < width; ++k)
              group_values[k] = static_cast<float>(rows_w(r, j + k));
            ChooseSpanParams(group_values, grid, group_size,
                             std::span<GroupParams>(result.params)
                                 .subspan((row_begin + r) * num_groups + j / group_size, groups));
          }
        }
        const double diagonal = u(j, j);
        const int64_t group = group_of(j);
        for (int64_t r = 0; r < n; ++r) {
          const double value = rows_w(r, j);
          const GroupParams& params = result.params[(row_begin + r) * num_groups + group];
          const uint8_t code = EncodeValue(static_cast<float>(value), params, grid);
          result.codes[(row_begin + r) * cols + perm[j]] = code;
          const double error = (value - DecodeValue(code, params, grid)) / diagonal;
          loss += error * error / 2.0;
          errors(row_begin + r, j - i1) = error;
          // Within the block, push the error onto the remaining columns right away.
          rows_w.row(r).segment(j + 1, i2 - j - 1) -= error * u.row(j).segment(j + 1, i2 - j - 1);
        }
      }
    });
    // Lazy update: the rest of the matrix receives the whole block's errors at once.
    if (i2 < cols) QUENCH_RETURN_IF_ERROR(lazy.Update(i1, i2, errors.data(), block));
  }
  for (double loss : task_loss) output.loss += loss;
  output.quantized = std::move(result);
  return output;
}

}  // namespace quench
