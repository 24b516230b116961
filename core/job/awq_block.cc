#include "core/job/awq_block.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>

#include "absl/strings/str_cat.h"
#include "core/job/job_internal.h"
#include "core/quant/quantized_tensor.h"
#include "core/util/status_macros.h"

namespace quench {
namespace {

// AWQ scale candidates evaluated per pass over the shards (bounds the candidate weights held).
constexpr size_t kCandidatesPerPass = 4;

// Where a group's input scales are folded: the op that produces the group's input.
struct ScalingTarget {
  bool possible = false;
  bool into_norm = false;                // the attention or MLP norm (weight and bias)
  LinearRole previous = LinearRole::kV;  // else the rows of this linear (and its bias)
};

ScalingTarget FindScalingTarget(const ModelSpec& spec, InputGroup group) {
  switch (group) {
    case InputGroup::kQkv:
    case InputGroup::kGateUp:
      return {true, true, LinearRole::kV};
    // v_proj's rows feed o_proj's columns one to one only without grouped-query attention.
    case InputGroup::kO:
      return {spec.kv_out() == spec.q_out(), false, LinearRole::kV};
    case InputGroup::kDown:
      return {true, false, LinearRole::kUp};
  }
  return {};
}

Tensor Copy(const Tensor& tensor) {
  Tensor copy = Tensor::Zeros(tensor.dtype(), tensor.shape());
  std::memcpy(copy.mutable_data<uint8_t>(), tensor.raw_data(), tensor.num_bytes());
  return copy;
}

// W·diag(s) (scale_columns) or diag(1/s)·W (divide_rows) as a new tensor.
Tensor ScaleColumns(const Tensor& weight, const std::vector<float>& scales) {
  Tensor out = Copy(weight);
  const int64_t rows = weight.dim(0), cols = weight.dim(1);
  float* w = out.mutable_data<float>();
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) w[r * cols + c] *= scales[c];
  }
  return out;
}

Tensor DivideRows(const Tensor& tensor, const std::vector<float>& scales) {
  Tensor out = Copy(tensor);
  const int64_t rows = tensor.dim(0);
  const int64_t cols = tensor.rank() == 2 ? tensor.dim(1) : 1;
  float* w = out.mutable_data<float>();
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) w[r * cols + c] /= scales[r];
  }
  return out;
}

std::vector<float> Reciprocals(const std::vector<float>& values) {
  std::vector<float> inverse(values.size());
  for (size_t i = 0; i < values.size(); ++i) inverse[i] = 1.0f / values[i];
  return inverse;
}

// Mean over rows of |w| normalised by its group's max |w| (AutoAWQ's w_mean), per column.
std::vector<double> NormalisedWeightMean(const std::vector<const Tensor*>& weights,
                                         int64_t group_size) {
  const int64_t cols = weights.front()->dim(1);
  std::vector<double> mean(cols, 0.0);
  int64_t total_rows = 0;
  for (const Tensor* weight : weights) {
    const float* w = weight->data<float>();
    for (int64_t r = 0; r < weight->dim(0); ++r, ++total_rows) {
      for (int64_t begin = 0; begin < cols; begin += group_size) {
        const int64_t end = std::min(cols, begin + group_size);
        float max_abs = 0.0f;
        for (int64_t c = begin; c < end; ++c)
          max_abs = std::max(max_abs, std::fabs(w[r * cols + c]));
        for (int64_t c = begin; c < end; ++c) {
          mean[c] += max_abs > 0.0f ? std::fabs(w[r * cols + c]) / max_abs : 0.0;
        }
      }
    }
  }
  for (double& m : mean) m /= static_cast<double>(total_rows);
  return mean;
}

std::vector<float> CandidateScales(const std::vector<double>& x_mean,
                                   const std::vector<double>& w_mean, double ratio,
                                   bool duo_scaling) {
  std::vector<float> scales(x_mean.size());
  double max_scale = 0.0, min_scale = INFINITY;
  std::vector<double> raw(x_mean.size());
  for (size_t c = 0; c < x_mean.size(); ++c) {
    double s = std::pow(x_mean[c], ratio);
    if (duo_scaling) s /= std::pow(w_mean[c], 1.0 - ratio) + 1e-4;
    raw[c] = std::max(s, 1e-4);
    max_scale = std::max(max_scale, raw[c]);
    min_scale = std::min(min_scale, raw[c]);
  }
  // Centre the scales around 1 (geometric mean of the extremes), as AutoAWQ does.
  const double centre = std::sqrt(max_scale * min_scale);
  for (size_t c = 0; c < raw.size(); ++c) scales[c] = static_cast<float>(raw[c] / centre);
  return scales;
}

absl::StatusOr<Tensor> FakeQuantize(const Tensor& weight, const GridSpec& grid) {
  QUENCH_ASSIGN_OR_RETURN(QuantizedTensor quantized, QuantizeRtn(weight, grid));
  return quantized.Dequantize();
}

// Step 1 for one group: search s, then fold it. Returns the chosen scales (empty: no scaling).
absl::StatusOr<std::vector<float>> SearchAndApplyScales(
    const ModelSpec& spec, const PlannedGroup& group, const AwqOptions& options,
    ShardWorker& worker, const std::vector<int64_t>& visit_order, const GroupStatistics& stats,
    LayerWeights& weights) {
  const ScalingTarget target = FindScalingTarget(spec, group.group);
  if (!target.possible) return std::vector<float>{};
  const int64_t cols = stats.hessian.dim();
  std::vector<double> x_mean(cols);
  for (int64_t c = 0; c < cols; ++c)
    x_mean[c] = stats.abs_sums[c] / static_cast<double>(stats.tokens);
  std::vector<const Tensor*> group_weights;
  for (const auto& linear : group.linears)
    group_weights.push_back(&weights.linear(linear.role).weight);
  const int64_t group_size = group.linears.front().grid.EffectiveGroupSize(cols);
  const std::vector<double> w_mean = NormalisedWeightMean(group_weights, group_size);

  std::vector<std::vector<float>> scale_candidates;
  for (int step = 0; step < options.scale_grid; ++step) {
    const double ratio = static_cast<double>(step) / options.scale_grid;
    scale_candidates.push_back(CandidateScales(x_mean, w_mean, ratio, options.duo_scaling));
  }
  // Candidate weights a few at a time: each holds a fake-quantized copy of the group's linears,
  // which for a large MLP is hundreds of MB.
  std::vector<double> losses(scale_candidates.size(), 0.0);
  for (size_t first = 0; first < scale_candidates.size(); first += kCandidatesPerPass) {
    const size_t last = std::min(scale_candidates.size(), first + kCandidatesPerPass);
    std::vector<LayerWeights> candidates;
    for (size_t i = first; i < last; ++i) {
      const std::vector<float>& scales = scale_candidates[i];
      const std::vector<float> inverse = Reciprocals(scales);
      LayerWeights candidate = weights;
      for (const auto& linear : group.linears) {
        const Tensor& w = weights.linear(linear.role).weight;
        QUENCH_ASSIGN_OR_RETURN(Tensor quantized,
                                FakeQuantize(ScaleColumns(w, scales), linear.grid));
        candidate.linear(linear.role).weight = ScaleColumns(quantized, inverse);
      }
      candidates.push_back(std::move(candidate));
    }
    std::vector<std::vector<double>> partials(visit_order.size());
    QUENCH_RETURN_IF_ERROR(
        worker.CandidateLossesEach(visit_order, weights, candidates, group.group,
                                   [&](int64_t shard, std::vector<double> losses) {
                                     partials[shard] = std::move(losses);
                                     return absl::OkStatus();
                                   }));
    for (const auto& partial : partials) {  // shard order
      for (size_t i = first; i < last; ++i) losses[i] += partial[i - first];
    }
  }
  const size_t best = std::min_element(losses.begin(), losses.end()) - losses.begin();
  if (!std::isfinite(losses[best])) {
    return absl::InternalError(
        absl::StrCat("AWQ: no finite loss in the scale search for ", group.linears.front().name));
  }
  const std::vector<float>& scales = scale_candidates[best];

  // Fold: the previous op's output is divided by s, the group's linears take W·diag(s).
  if (target.into_norm) {
    const bool attention = group.group == InputGroup::kQkv;
    Tensor& norm_weight = attention ? weights.attention_norm_weight : weights.mlp_norm_weight;
    Tensor& norm_bias = attention ? weights.attention_norm_bias : weights.mlp_norm_bias;
    norm_weight = DivideRows(norm_weight, scales);
    if (!norm_bias.empty()) norm_bias = DivideRows(norm_bias, scales);
  } else {
    LinearWeights& previous = weights.linear(target.previous);
    previous.weight = DivideRows(previous.weight, scales);
    if (!previous.bias.empty()) previous.bias = DivideRows(previous.bias, scales);
  }
  for (LinearRole role : GroupRoles(spec, group.group)) {
    weights.linear(role).weight = ScaleColumns(weights.linear(role).weight, scales);
  }
  return scales;
}

// Step 2 for one linear: per (row, group) the clipping bound with the least output error on a
// subsample of calibration tokens. Partial errors per shard, reduced in shard order.
absl::Status SearchAndApplyClip(const PlannedLinear& linear, InputGroup group,
                                const AwqOptions& options, ShardWorker& worker,
                                const std::vector<int64_t>& visit_order, int64_t total_tokens,
                                LayerWeights& weights) {
  Tensor& weight = weights.linear(linear.role).weight;
  const int64_t rows = weight.dim(0), cols = weight.dim(1);
  const int64_t group_size = linear.grid.EffectiveGroupSize(cols);
  const int64_t groups = (cols + group_size - 1) / group_size;
  const int steps = std::max(1, static_cast<int>(options.clip_max_shrink * options.clip_grid));
  const int64_t stride =
      std::max<int64_t>(1, total_tokens / std::max<int64_t>(1, options.clip_tokens));
  const float* w = weight.data<float>();

  // Candidate clipped-and-quantized values for every step: [steps][rows * cols].
  std::vector<float> max_abs(rows * groups, 0.0f);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      float& m = max_abs[r * groups + c / group_size];
      m = std::max(m, std::fabs(w[r * cols + c]));
    }
  }
  // A ggml grid chooses a whole block's group parameters at once: each step clips every group
  // of the block by the same factor, and each group then keeps its own best factor.
  const int64_t span = linear.grid.ParamSpan(cols);
  std::vector<std::vector<float>> deltas(steps, std::vector<float>(rows * cols));
  std::vector<float> values;
  std::vector<GroupParams> span_params;
  for (int step = 0; step < steps; ++step) {
    const float shrink = 1.0f - static_cast<float>(step) / options.clip_grid;
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t begin = 0; begin < cols; begin += span) {
        const int64_t end = std::min(cols, begin + span);
        values.assign(w + r * cols + begin, w + r * cols + end);
        for (int64_t c = begin; c < end; ++c) {
          const float bound = max_abs[r * groups + c / group_size] * shrink;
          values[c - begin] = std::clamp(values[c - begin], -bound, bound);
        }
        span_params.resize((end - begin + group_size - 1) / group_size);
        ChooseSpanParams(values, linear.grid, group_size, span_params);
        for (int64_t c = begin; c < end; ++c) {
          const GroupParams& params = span_params[(c - begin) / group_size];
          deltas[step][r * cols + c] =
              FakeQuantize(values[c - begin], params, linear.grid) - w[r * cols + c];
        }
      }
    }
  }

  std::vector<std::vector<double>> partials(visit_order.size());
  for (int64_t shard : visit_order) {
    QUENCH_ASSIGN_OR_RETURN(Tensor x, worker.GroupInput(shard, weights, group));
    std::vector<double>& errors = partials[shard];
    errors.assign(static_cast<size_t>(steps) * rows * groups, 0.0);
    for (int64_t t = 0; t < x.dim(0); t += stride) {
      const float* xt = x.data<float>() + t * cols;
      for (int step = 0; step < steps; ++step) {
        for (int64_t r = 0; r < rows; ++r) {
          const float* d = deltas[step].data() + r * cols;
          for (int64_t g = 0; g < groups; ++g) {
            double out = 0.0;
            for (int64_t c = g * group_size; c < std::min(cols, (g + 1) * group_size); ++c)
              out += xt[c] * d[c];
            errors[(static_cast<size_t>(step) * rows + r) * groups + g] += out * out;
          }
        }
      }
    }
  }
  std::vector<double> errors(static_cast<size_t>(steps) * rows * groups, 0.0);
  for (const auto& partial : partials) {
    for (size_t i = 0; i < errors.size(); ++i) errors[i] += partial[i];
  }
  Tensor clipped = Copy(weight);
  float* out = clipped.mutable_data<float>();
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t g = 0; g < groups; ++g) {
      int best = 0;
      for (int step = 1; step < steps; ++step) {
        if (errors[(static_cast<size_t>(step) * rows + r) * groups + g] <
            errors[(static_cast<size_t>(best) * rows + r) * groups + g]) {
          best = step;
        }
      }
      const float bound =
          max_abs[r * groups + g] * (1.0f - static_cast<float>(best) / options.clip_grid);
      for (int64_t c = g * group_size; c < std::min(cols, (g + 1) * group_size); ++c) {
        out[r * cols + c] = std::clamp(out[r * cols + c], -bound, bound);
      }
    }
  }
  weight = std::move(clipped);
  return absl::OkStatus();
}

}  // namespace

absl::Status RunAwqBlock(const ModelSpec& spec, const PlannedBlock& block,
                         const AwqOptions& options, ShardWorker& worker,
                         const std::vector<int64_t>& visit_order, LayerWeights& weights,
                         std::vector<QuantizedLinear>& linears,
                         std::vector<LinearReport>& reports) {
  if (!spec.norm_before_sublayer) {
    return absl::InvalidArgumentError(
        "AWQ folds scales into the norm before each sublayer; this model normalises after its "
        "sublayers (OPT do_layer_norm_before=false). Use GPTQ or RTN.");
  }
  if (visit_order.empty()) return absl::InvalidArgumentError("AWQ needs calibration data");
  const auto start = std::chrono::steady_clock::now();
  const LayerWeights original = weights;

  // 1. Scales, group by group on the full-precision (scaled so far) block.
  std::map<InputGroup, std::vector<double>> hessians;
  std::map<LinearRole, std::vector<float>> applied_scales;  // columns multiplied by s
  std::map<LinearRole, std::vector<float>> row_scales;      // rows divided by s (folded into)
  int64_t total_tokens = 0;
  for (const PlannedGroup& group : block.groups) {
    if (group.linears.empty()) continue;
    QUENCH_ASSIGN_OR_RETURN(auto stats,
                            ReduceStatistics(worker, visit_order, weights, group.group, true));
    total_tokens = stats.tokens;
    hessians[group.group] = stats.hessian.Finalize();
    QUENCH_ASSIGN_OR_RETURN(auto scales, SearchAndApplyScales(spec, group, options, worker,
                                                              visit_order, stats, weights));
    if (!scales.empty()) {
      for (LinearRole role : GroupRoles(spec, group.group)) applied_scales[role] = scales;
      const ScalingTarget target = FindScalingTarget(spec, group.group);
      if (!target.into_norm) row_scales[target.previous] = scales;
    }
  }
  // 2. Clipping ranges, on the scaled weights; q and k are left alone (their errors are
  // amplified by the softmax, as AutoAWQ notes).
  if (options.clip) {
    for (const PlannedGroup& group : block.groups) {
      for (const PlannedLinear& linear : group.linears) {
        if (linear.role == LinearRole::kQ || linear.role == LinearRole::kK) continue;
        QUENCH_RETURN_IF_ERROR(SearchAndApplyClip(linear, group.group, options, worker, visit_order,
                                                  total_tokens, weights));
      }
    }
  }
  // 3. Quantize on each linear's grid.
  for (const PlannedGroup& group : block.groups) {
    for (const PlannedLinear& linear : group.linears) {
      LinearWeights& target = weights.linear(linear.role);
      QUENCH_ASSIGN_OR_RETURN(QuantizedTensor quantized, QuantizeRtn(target.weight, linear.grid));
      target.weight = quantized.Dequantize();
      LinearReport report;
      report.name = linear.name;
      report.grid = linear.grid.ToString();
      // Errors in the original spaces: the effective weight is diag(s_out)·Ŵ·diag(1/s_in).
      Tensor effective = target.weight;
      const auto scales = applied_scales.find(linear.role);
      if (scales != applied_scales.end()) {
        effective = ScaleColumns(effective, Reciprocals(scales->second));
      }
      if (const auto rows = row_scales.find(linear.role); rows != row_scales.end()) {
        effective = DivideRows(effective, Reciprocals(rows->second));
      }
      const Tensor& before = original.linear(linear.role).weight;
      report.relative_weight_error = RelativeWeightError(before, effective);
      report.relative_output_error = RelativeOutputError(before, effective, hessians[group.group]);
      report.seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      reports.push_back(std::move(report));
      linears.push_back({linear, std::move(quantized),
                         scales != applied_scales.end() ? scales->second : std::vector<float>{}});
    }
  }
  return absl::OkStatus();
}

}  // namespace quench
