#include "core/job/quantization_driver.h"

#include <Eigen/Core>
#include <chrono>
#include <map>
#include <memory>

#include "absl/strings/str_cat.h"
#include "core/job/awq_block.h"
#include "core/job/job_internal.h"
#include "core/quant/gptq.h"
#include "core/util/process_memory.h"
#include "core/util/status_macros.h"

namespace quench {
namespace {

constexpr int64_t kErrorRows = 256;

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

}  // namespace

double RelativeWeightError(const Tensor& original, const Tensor& quantized) {
  double error = 0.0, norm = 0.0;
  for (int64_t i = 0; i < original.num_elements(); ++i) {
    const double w = original.data<float>()[i];
    const double d = quantized.data<float>()[i] - w;
    error += d * d;
    norm += w * w;
  }
  return norm > 0.0 ? error / norm : 0.0;
}

// tr(ΔW H ΔWᵀ) / tr(W H Wᵀ) over evenly spaced rows: the relative change of the layer's output
// energy on the calibration inputs, without keeping the inputs.
double RelativeOutputError(const Tensor& original, const Tensor& quantized,
                           const std::vector<double>& hessian) {
  using Matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const int64_t rows = original.dim(0), cols = original.dim(1);
  const Eigen::Map<const Matrix> h(hessian.data(), cols, cols);
  const int64_t stride = std::max<int64_t>(1, rows / kErrorRows);
  const int64_t sampled = (rows + stride - 1) / stride;
  // The sampled rows stacked, so that H is applied in one matrix product rather than streamed
  // from memory once per row.
  Matrix w(sampled, cols), d(sampled, cols);
  for (int64_t i = 0; i < sampled; ++i) {
    const int64_t r = i * stride;
    w.row(i) = Eigen::Map<const Eigen::RowVectorXf>(original.data<float>() + r * cols, cols)
                   .cast<double>();
    d.row(i) = Eigen::Map<const Eigen::RowVectorXf>(quantized.data<float>() + r * cols, cols)
                   .cast<double>() -
               w.row(i);
  }
  const double error = (d * h).cwiseProduct(d).sum();
  const double energy = (w * h).cwiseProduct(w).sum();
  return energy > 0.0 ? error / energy : 0.0;
}

absl::StatusOr<GroupStatistics> ReduceStatistics(ShardWorker& worker,
                                                 const std::vector<int64_t>& visit_order,
                                                 const LayerWeights& weights, InputGroup group,
                                                 bool with_abs_sums) {
  // Partials are merged as soon as every earlier shard's has been: the sum is always taken in
  // shard order, and visiting in order holds one partial (a cols² Hessian) at a time.
  std::map<int64_t, GroupStatistics> pending;
  std::optional<GroupStatistics> total;
  int64_t next = 0;
  const auto merge = [&](int64_t shard, GroupStatistics stats) -> absl::Status {
    pending[shard] = std::move(stats);
    for (auto it = pending.find(next); it != pending.end(); it = pending.find(++next)) {
      GroupStatistics partial = std::move(it->second);
      pending.erase(it);
      if (!total) {
        total = std::move(partial);
        continue;
      }
      total->hessian.Merge(partial.hessian);
      total->tokens += partial.tokens;
      for (size_t c = 0; c < total->abs_sums.size(); ++c) total->abs_sums[c] += partial.abs_sums[c];
    }
    return absl::OkStatus();
  };
  QUENCH_RETURN_IF_ERROR(
      worker.CollectStatisticsEach(visit_order, weights, group, with_abs_sums, merge));
  return *std::move(total);
}

namespace {

class JobRunner {
 public:
  JobRunner(const ModelSpec& spec, const Recipe& recipe, ShardWorker& worker,
            const DriverOptions& options, std::vector<int64_t> visit_order)
      : spec_(spec),
        recipe_(recipe),
        worker_(worker),
        options_(options),
        visit_order_(std::move(visit_order)) {}

  // Quantizes the block's planned linears in `weights`, appending them to `linears` and their
  // reports to `reports`. The shards advance through the block afterwards (AdvanceShards), once
  // its results are saved.
  absl::Status SolveBlock(const PlannedBlock& block, LayerWeights& weights,
                          std::vector<QuantizedLinear>& linears,
                          std::vector<LinearReport>& reports) {
    if (recipe_.method == QuantMethod::kAwq) {
      QUENCH_RETURN_IF_ERROR(
          RunAwqBlock(spec_, block, recipe_.awq, worker_, visit_order_, weights, linears, reports));
    } else if (recipe_.gptq.true_sequential || recipe_.method == QuantMethod::kRtn) {
      for (const PlannedGroup& group : block.groups) {
        if (group.linears.empty()) continue;
        std::optional<std::vector<double>> hessian;
        if (calibrated()) {
          QUENCH_ASSIGN_OR_RETURN(
              auto stats, ReduceStatistics(worker_, visit_order_, weights, group.group, false));
          hessian = stats.hessian.Finalize();
        }
        QUENCH_RETURN_IF_ERROR(SolveGroup(block, group, hessian, weights, linears, reports));
      }
    } else {
      // Not true-sequential: every group's statistics from the block's original weights.
      std::vector<std::optional<std::vector<double>>> hessians;
      for (const PlannedGroup& group : block.groups) {
        QUENCH_ASSIGN_OR_RETURN(
            auto stats, ReduceStatistics(worker_, visit_order_, weights, group.group, false));
        hessians.push_back(stats.hessian.Finalize());
      }
      for (size_t g = 0; g < block.groups.size(); ++g) {
        QUENCH_RETURN_IF_ERROR(
            SolveGroup(block, block.groups[g], hessians[g], weights, linears, reports));
      }
    }
    return absl::OkStatus();
  }

  // The shards' activations through the block as quantized.
  absl::Status AdvanceShards(const LayerWeights& weights) {
    if (!calibrated()) return absl::OkStatus();
    return worker_.AdvanceBlockEach(visit_order_, weights);
  }

 private:
  bool calibrated() const { return !visit_order_.empty(); }

  // A group's linears: their GPTQ solves (independent given the group's Hessian) handed to the
  // worker together, then each linear's result applied in plan order.
  absl::Status SolveGroup(const PlannedBlock& block, const PlannedGroup& group,
                          const std::optional<std::vector<double>>& hessian, LayerWeights& weights,
                          std::vector<QuantizedLinear>& linears,
                          std::vector<LinearReport>& reports) {
    if (group.linears.empty()) return absl::OkStatus();
    if (options_.cancelled && options_.cancelled()) return absl::CancelledError("job cancelled");
    std::vector<std::optional<GptqResult>> solved(group.linears.size());
    double solve_seconds = 0.0;
    if (recipe_.method == QuantMethod::kGptq) {
      if (!hessian) {
        return absl::InvalidArgumentError(
            "GPTQ needs calibration data (recipe calibration.path or --calib)");
      }
      std::vector<GptqSolve> solves;
      std::string names;
      for (const PlannedLinear& linear : group.linears) {
        solves.push_back(
            {linear.name, &weights.linear(linear.role).weight, &*hessian, linear.grid});
        absl::StrAppend(&names, names.empty() ? "" : ", ", linear.name);
      }
      Progress(block.layer, absl::StrCat("block ", block.layer, ": gptq ", names));
      const auto start = std::chrono::steady_clock::now();
      auto results = worker_.SolveGptqEach(solves, recipe_.gptq);
      solve_seconds = Seconds(start);
      if (results.size() != solves.size()) return absl::InternalError("a solve went missing");
      for (size_t i = 0; i < results.size(); ++i) {
        if (!results[i].ok()) {
          return absl::Status(results[i].status().code(),
                              absl::StrCat(solves[i].name, ": ", results[i].status().message()));
        }
        solved[i] = std::move(*results[i]);
      }
    }
    for (size_t i = 0; i < group.linears.size(); ++i) {
      QUENCH_RETURN_IF_ERROR(SolveLinear(block, group.linears[i], hessian, std::move(solved[i]),
                                         solve_seconds, weights, linears, reports));
    }
    return absl::OkStatus();
  }

  // Applies one linear's GPTQ result, or quantizes it with RTN when there is none.
  absl::Status SolveLinear(const PlannedBlock& block, const PlannedLinear& linear,
                           const std::optional<std::vector<double>>& hessian,
                           std::optional<GptqResult> solved, double solve_seconds,
                           LayerWeights& weights, std::vector<QuantizedLinear>& linears,
                           std::vector<LinearReport>& reports) {
    const auto start = std::chrono::steady_clock::now();
    LinearWeights& target = weights.linear(linear.role);
    const Tensor original = target.weight;
    LinearReport report;
    report.name = linear.name;
    report.grid = linear.grid.ToString();
    QuantizedLinear result{linear, {}, {}};
    if (solved) {
      report.gptq_loss = solved->loss;
      result.quantized = std::move(solved->quantized);
    } else {
      Progress(block.layer, absl::StrCat("block ", block.layer, ": rtn ", linear.name));
      QUENCH_ASSIGN_OR_RETURN(result.quantized, QuantizeRtn(original, linear.grid));
    }
    target.weight = result.quantized.Dequantize();
    report.relative_weight_error = RelativeWeightError(original, target.weight);
    if (hessian)
      report.relative_output_error = RelativeOutputError(original, target.weight, *hessian);
    // Solves of a group run together; each reports the group's solve time.
    report.seconds = solve_seconds + Seconds(start);
    linears.push_back(std::move(result));
    reports.push_back(std::move(report));
    return absl::OkStatus();
  }

  void Progress(int64_t block, std::string stage) {
    if (options_.progress) options_.progress({block, spec_.num_layers, std::move(stage), {}});
  }

  const ModelSpec& spec_;
  const Recipe& recipe_;
  ShardWorker& worker_;
  const DriverOptions& options_;
  std::vector<int64_t> visit_order_;
};

}  // namespace

std::vector<std::pair<int64_t, int64_t>> ShardRanges(int64_t count, int64_t shards) {
  std::vector<std::pair<int64_t, int64_t>> ranges;
  shards = std::max<int64_t>(1, std::min(shards, count));
  for (int64_t s = 0; s < shards; ++s)
    ranges.emplace_back(s * count / shards, (s + 1) * count / shards);
  return ranges;
}

namespace {

// One variant's shards on a shared worker: its shard s is the worker's shard offset + s, so the
// driver's shard-order logic is the same for every variant.
class ShardRangeView : public ShardWorker {
 public:
  ShardRangeView(ShardWorker& worker, int64_t offset) : worker_(worker), offset_(offset) {}

  absl::Status LoadShard(int64_t shard, const TokenBatch& batch) override {
    return worker_.LoadShard(offset_ + shard, batch);
  }
  absl::StatusOr<GroupStatistics> CollectStatistics(int64_t shard, const LayerWeights& weights,
                                                    InputGroup group, bool with_abs_sums) override {
    return worker_.CollectStatistics(offset_ + shard, weights, group, with_abs_sums);
  }
  absl::Status AdvanceBlock(int64_t shard, const LayerWeights& weights) override {
    return worker_.AdvanceBlock(offset_ + shard, weights);
  }
  absl::StatusOr<std::vector<double>> CandidateLosses(int64_t shard, const LayerWeights& reference,
                                                      const std::vector<LayerWeights>& candidates,
                                                      InputGroup group) override {
    return worker_.CandidateLosses(offset_ + shard, reference, candidates, group);
  }
  absl::StatusOr<Tensor> GroupInput(int64_t shard, const LayerWeights& weights,
                                    InputGroup group) override {
    return worker_.GroupInput(offset_ + shard, weights, group);
  }
  absl::Status CollectStatisticsEach(const std::vector<int64_t>& shards,
                                     const LayerWeights& weights, InputGroup group,
                                     bool with_abs_sums,
                                     const StatisticsCallback& on_result) override {
    return worker_.CollectStatisticsEach(Offset(shards), weights, group, with_abs_sums,
                                         [&](int64_t shard, GroupStatistics stats) {
                                           return on_result(shard - offset_, std::move(stats));
                                         });
  }
  absl::Status AdvanceBlockEach(const std::vector<int64_t>& shards,
                                const LayerWeights& weights) override {
    return worker_.AdvanceBlockEach(Offset(shards), weights);
  }
  absl::Status CandidateLossesEach(const std::vector<int64_t>& shards,
                                   const LayerWeights& reference,
                                   const std::vector<LayerWeights>& candidates, InputGroup group,
                                   const LossesCallback& on_result) override {
    return worker_.CandidateLossesEach(Offset(shards), reference, candidates, group,
                                       [&](int64_t shard, std::vector<double> losses) {
                                         return on_result(shard - offset_, std::move(losses));
                                       });
  }

 private:
  std::vector<absl::StatusOr<GptqResult>> SolveGptqEach(const std::vector<GptqSolve>& solves,
                                                        const GptqOptions& options) override {
    return worker_.SolveGptqEach(solves, options);
  }

  std::vector<int64_t> Offset(const std::vector<int64_t>& shards) const {
    std::vector<int64_t> offset;
    for (int64_t shard : shards) offset.push_back(offset_ + shard);
    return offset;
  }

  ShardWorker& worker_;
  int64_t offset_;
};

// The tensors outside the blocks, with the embedding quantized when the plan says so.
// Calibration keeps embedding with the original table (the worker's model), so quantizing it
// first changes nothing downstream.
absl::Status BeginSinks(const ModelWeights& original, const QuantPlan& plan,
                        const std::vector<QuantizationSink*>& sinks) {
  ModelWeights globals = original;
  globals.layers.clear();
  globals.load_layer = nullptr;
  std::optional<QuantizedTensor> embedding;
  if (plan.embedding) {
    QUENCH_ASSIGN_OR_RETURN(embedding, QuantizeRtn(original.embedding, *plan.embedding));
    const bool tied = original.lm_head.raw_data() == original.embedding.raw_data();
    globals.embedding = embedding->Dequantize();
    if (tied) globals.lm_head = globals.embedding;
  }
  for (QuantizationSink* sink : sinks)
    QUENCH_RETURN_IF_ERROR(sink->Begin(globals, embedding ? &*embedding : nullptr));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<QuantizationOutcome> RunQuantizationJob(
    const ModelSpec& spec, const ModelWeights& original, const QuantPlan& plan,
    const Recipe& recipe, const TokenSequences& calibration, ShardWorker& worker,
    const std::vector<QuantizationSink*>& sinks, const DriverOptions& options) {
  QUENCH_ASSIGN_OR_RETURN(auto outcomes,
                          RunQuantizationJobVariants(spec, original, {{&plan, sinks}}, recipe,
                                                     calibration, worker, options));
  return std::move(outcomes.front());
}

absl::StatusOr<std::vector<QuantizationOutcome>> RunQuantizationJobVariants(
    const ModelSpec& spec, const ModelWeights& original, const std::vector<JobVariant>& variants,
    const Recipe& recipe, const TokenSequences& calibration, ShardWorker& worker,
    const DriverOptions& options) {
  if (recipe.method != QuantMethod::kRtn && calibration.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        QuantMethodName(recipe.method),
        " needs calibration data: set calibration.path in the recipe or pass --calib FILE"));
  }
  if (variants.empty()) return absl::InvalidArgumentError("a job needs at least one plan");
  for (const JobVariant& variant : variants) {
    if (variant.plan == nullptr ||
        static_cast<int64_t>(variant.plan->blocks.size()) != spec.num_layers) {
      return absl::InvalidArgumentError("the plan must have one block per layer");
    }
  }
  const auto ranges = calibration.empty() ? std::vector<std::pair<int64_t, int64_t>>{}
                                          : ShardRanges(static_cast<int64_t>(calibration.size()),
                                                        recipe.calibration.shards);
  const int64_t num_shards = static_cast<int64_t>(ranges.size());
  std::vector<int64_t> visit_order = options.shard_visit_order;
  if (visit_order.empty()) {
    for (int64_t s = 0; s < num_shards; ++s) visit_order.push_back(s);
  }
  if (static_cast<int64_t>(visit_order.size()) != num_shards) {
    return absl::InvalidArgumentError("shard_visit_order must list every shard once");
  }
  std::vector<QuantizationOutcome> outcomes(variants.size());
  std::vector<std::unique_ptr<ShardRangeView>> views;
  for (size_t v = 0; v < variants.size(); ++v) {
    views.push_back(std::make_unique<ShardRangeView>(worker, static_cast<int64_t>(v) * num_shards));
    outcomes[v].shards = num_shards;
  }
  for (int64_t shard : visit_order) {
    TokenBatch batch;
    for (int64_t i = ranges[shard].first; i < ranges[shard].second; ++i) batch.Add(calibration[i]);
    // Wrong input fails here, once, rather than on a worker that would be retried.
    if (const absl::Status valid = ValidateTokenBatch(spec, batch); !valid.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("calibration shard ", shard, ": ", valid.message()));
    }
    for (size_t v = 0; v < variants.size(); ++v) {
      outcomes[v].calibration_tokens += batch.num_tokens();
      QUENCH_RETURN_IF_ERROR(views[v]->LoadShard(shard, batch));
    }
  }
  std::vector<JobRunner> runners;
  for (size_t v = 0; v < variants.size(); ++v) {
    QUENCH_RETURN_IF_ERROR(BeginSinks(original, *variants[v].plan, variants[v].sinks));
    runners.emplace_back(spec, recipe, *views[v], options, visit_order);
  }

  int64_t saved_blocks = 0;
  if (options.checkpoints != nullptr) {
    QUENCH_ASSIGN_OR_RETURN(saved_blocks, options.checkpoints->SavedBlocks());
  }
  for (int64_t layer_index = 0; layer_index < spec.num_layers; ++layer_index) {
    ReleaseFreedMemory();  // what the previous block freed
    if (options.cancelled && options.cancelled()) return absl::CancelledError("job cancelled");
    const LayerWeights original_layer = original.Layer(layer_index);
    const bool restored = layer_index < saved_blocks;
    std::vector<BlockResult> results;
    if (restored) {
      std::vector<const PlannedBlock*> blocks;
      for (const JobVariant& variant : variants)
        blocks.push_back(&variant.plan->blocks[layer_index]);
      QUENCH_ASSIGN_OR_RETURN(results,
                              options.checkpoints->Load(layer_index, original_layer, blocks));
      if (results.size() != variants.size()) {
        return absl::DataLossError(absl::StrCat("the checkpoint of block ", layer_index, " holds ",
                                                results.size(), " variants, not ",
                                                variants.size()));
      }
    } else {
      results.resize(variants.size());
      for (size_t v = 0; v < variants.size(); ++v) {
        results[v].weights = original_layer;
        QUENCH_RETURN_IF_ERROR(runners[v].SolveBlock(variants[v].plan->blocks[layer_index],
                                                     results[v].weights, results[v].linears,
                                                     results[v].reports));
      }
    }
    for (size_t v = 0; v < variants.size(); ++v) {
      BlockResult& result = results[v];
      outcomes[v].linears += static_cast<int64_t>(result.linears.size());
      outcomes[v].reports.insert(outcomes[v].reports.end(), result.reports.begin(),
                                 result.reports.end());
      for (QuantizationSink* sink : variants[v].sinks) {
        QUENCH_RETURN_IF_ERROR(sink->AddBlock(variants[v].plan->blocks[layer_index].layer,
                                              result.weights, result.linears));
      }
    }
    // Saved before any shard moves past the block: a shard rebuilt elsewhere (a lost worker)
    // or a resumed job replays exactly the saved blocks.
    if (options.checkpoints != nullptr && !restored) {
      QUENCH_RETURN_IF_ERROR(options.checkpoints->Save(layer_index, original_layer, results));
    }
    for (size_t v = 0; v < variants.size(); ++v) {
      QUENCH_RETURN_IF_ERROR(runners[v].AdvanceShards(results[v].weights));
    }
    if (options.progress) {
      options.progress({layer_index + 1, spec.num_layers,
                        absl::StrCat("block ", layer_index,
                                     restored ? " restored from its checkpoint" : " done"),
                        results.front().reports, restored});
    }
  }
  for (const JobVariant& variant : variants) {
    for (QuantizationSink* sink : variant.sinks) QUENCH_RETURN_IF_ERROR(sink->Finish());
  }
  return outcomes;
}

}  // namespace quench
