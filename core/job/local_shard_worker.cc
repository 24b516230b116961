// ShardWorker for `quench local`: every shard's activations in this process.
#include <map>

#include "absl/strings/str_cat.h"
#include "core/job/shard_worker.h"
#include "core/util/check.h"
#include "core/util/status_macros.h"

namespace quench {
namespace {

// The tensors a cursor stage reads: stage 0 is the cursor's start (the first norm), stage i > 0
// the i-th Step (from group i-1's input to group i's, or to the block output).
std::vector<const Tensor*> StageTensors(const ModelSpec& spec, const LayerWeights& w, int stage) {
  auto linear = [&](LinearRole role) {
    const LinearWeights& l = w.linear(role);
    return std::vector<const Tensor*>{&l.weight, &l.bias};
  };
  std::vector<const Tensor*> tensors;
  auto add = [&](std::vector<const Tensor*> more) {
    tensors.insert(tensors.end(), more.begin(), more.end());
  };
  const bool pre_norm = spec.norm_before_sublayer;
  switch (stage) {
    case 0:
      if (pre_norm) add({&w.attention_norm_weight, &w.attention_norm_bias});
      break;
    case 1:
      add(linear(LinearRole::kQ));
      add(linear(LinearRole::kK));
      add(linear(LinearRole::kV));
      break;
    case 2:
      add(linear(LinearRole::kO));
      add(pre_norm ? std::vector<const Tensor*>{&w.mlp_norm_weight, &w.mlp_norm_bias}
                   : std::vector<const Tensor*>{&w.attention_norm_weight, &w.attention_norm_bias});
      break;
    case 3:
      add(linear(LinearRole::kGate));
      add(linear(LinearRole::kUp));
      break;
    default:
      add(linear(LinearRole::kDown));
      if (!pre_norm) add({&w.mlp_norm_weight, &w.mlp_norm_bias});
      break;
  }
  return tensors;
}

bool SameStage(const ModelSpec& spec, const LayerWeights& a, const LayerWeights& b, int stage) {
  const auto left = StageTensors(spec, a, stage);
  const auto right = StageTensors(spec, b, stage);
  for (size_t i = 0; i < left.size(); ++i) {
    if (left[i]->raw_data() != right[i]->raw_data() || left[i]->shape() != right[i]->shape()) {
      return false;
    }
  }
  return true;
}

struct Shard {
  TokenBatch batch;
  Tensor hidden;  // activations entering the current block, [tokens, hidden]
  // The current block run partway, and the weights each of its stages used. Holding those
  // handles keeps the tensors alive, so comparing their addresses is exact.
  std::unique_ptr<BlockCursor> cursor;
  std::vector<LayerWeights> stage_weights;
};

double SquaredDifference(const Tensor& a, const Tensor& b) {
  QUENCH_CHECK(a.num_elements() == b.num_elements());
  double sum = 0.0;
  for (int64_t i = 0; i < a.num_elements(); ++i) {
    const double d = static_cast<double>(a.data<float>()[i]) - b.data<float>()[i];
    sum += d * d;
  }
  return sum;
}

class LocalShardWorker final : public ShardWorker {
 public:
  LocalShardWorker(const Transformer& transformer, HessianSums hessian_sums)
      : transformer_(transformer), hessian_sums_(std::move(hessian_sums)) {}

  absl::Status LoadShard(int64_t shard, const TokenBatch& batch) override {
    if (auto status = transformer_.Validate(batch); !status.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("calibration shard ", shard, ": ", status.message()));
    }
    Shard& held = shards_[shard];
    held.batch = batch;
    held.hidden = transformer_.Embed(batch);
    held.cursor.reset();
    held.stage_weights.clear();
    return absl::OkStatus();
  }

  absl::StatusOr<GroupStatistics> CollectStatistics(int64_t shard, const LayerWeights& weights,
                                                    InputGroup group, bool with_abs_sums) override {
    Shard* held = Find(shard);
    if (held == nullptr) return NotHeld(shard);
    const Tensor input = CursorInput(*held, weights, group);
    GroupStatistics statistics;
    const int64_t dim = input.dim(1);
    statistics.tokens = input.dim(0);
    if (hessian_sums_) {
      statistics.hessian = hessian_sums_(input);
    } else {
      statistics.hessian = HessianAccumulator(dim);
      statistics.hessian.Accumulate(input);
    }
    if (with_abs_sums) {
      statistics.abs_sums.assign(dim, 0.0);
      for (int64_t t = 0; t < input.dim(0); ++t) {
        for (int64_t c = 0; c < dim; ++c) {
          statistics.abs_sums[c] += std::fabs(input.data<float>()[t * dim + c]);
        }
      }
    }
    return statistics;
  }

  absl::Status AdvanceBlock(int64_t shard, const LayerWeights& weights) override {
    Shard* held = Find(shard);
    if (held == nullptr) return NotHeld(shard);
    CursorInput(*held, weights, InputGroup::kDown);
    held->cursor->Step(weights);
    held->hidden = held->cursor->output();
    held->cursor.reset();
    held->stage_weights.clear();
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<double>> CandidateLosses(int64_t shard, const LayerWeights& reference,
                                                      const std::vector<LayerWeights>& candidates,
                                                      InputGroup group) override {
    Shard* held = Find(shard);
    if (held == nullptr) return NotHeld(shard);
    const Tensor input = CursorInput(*held, reference, group);
    const Tensor expected = SublayerOutput(reference, held->batch, input, group);
    std::vector<double> losses;
    for (const auto& candidate : candidates) {
      losses.push_back(
          SquaredDifference(expected, SublayerOutput(candidate, held->batch, input, group)));
    }
    return losses;
  }

  absl::StatusOr<Tensor> GroupInput(int64_t shard, const LayerWeights& weights,
                                    InputGroup group) override {
    Shard* held = Find(shard);
    if (held == nullptr) return NotHeld(shard);
    return CursorInput(*held, weights, group);
  }

 private:
  // The input of `group` under `weights`, continuing the shard's cursor where every stage it
  // already ran used the same tensors as `weights` has now (true-sequential quantization changes
  // only later groups), else running the block again from its start.
  Tensor CursorInput(Shard& shard, const LayerWeights& weights, InputGroup group) {
    const int wanted = static_cast<int>(group);
    bool reusable = shard.cursor != nullptr && static_cast<int>(shard.cursor->group()) <= wanted;
    for (size_t stage = 0; reusable && stage < shard.stage_weights.size(); ++stage) {
      reusable = SameStage(transformer_.spec(), shard.stage_weights[stage], weights,
                           static_cast<int>(stage));
    }
    if (!reusable) {
      shard.cursor =
          std::make_unique<BlockCursor>(transformer_, shard.batch, shard.hidden, weights);
      shard.stage_weights = {weights};
    }
    while (static_cast<int>(shard.cursor->group()) < wanted) {
      shard.cursor->Step(weights);
      shard.stage_weights.push_back(weights);
    }
    return shard.cursor->input();
  }

  Tensor SublayerOutput(const LayerWeights& weights, const TokenBatch& batch, const Tensor& input,
                        InputGroup group) const {
    switch (group) {
      case InputGroup::kQkv:
        return transformer_.AttentionOutput(weights, batch, input);
      case InputGroup::kO:
        return transformer_.LinearOutput(input, weights.linear(LinearRole::kO));
      case InputGroup::kGateUp:
        return transformer_.MlpOutput(weights, input);
      case InputGroup::kDown:
        return transformer_.LinearOutput(input, weights.linear(LinearRole::kDown));
    }
    return Tensor();
  }

  Shard* Find(int64_t shard) {
    const auto it = shards_.find(shard);
    return it == shards_.end() ? nullptr : &it->second;
  }
  static absl::Status NotHeld(int64_t shard) {
    return absl::NotFoundError(absl::StrCat("shard ", shard, " is not held by this worker"));
  }

  const Transformer& transformer_;
  HessianSums hessian_sums_;
  std::map<int64_t, Shard> shards_;
};

}  // namespace

absl::Status ShardWorker::CollectStatisticsEach(const std::vector<int64_t>& shards,
                                                const LayerWeights& weights, InputGroup group,
                                                bool with_abs_sums,
                                                const StatisticsCallback& on_result) {
  for (int64_t shard : shards) {
    QUENCH_ASSIGN_OR_RETURN(GroupStatistics stats,
                            CollectStatistics(shard, weights, group, with_abs_sums));
    QUENCH_RETURN_IF_ERROR(on_result(shard, std::move(stats)));
  }
  return absl::OkStatus();
}

absl::Status ShardWorker::AdvanceBlockEach(const std::vector<int64_t>& shards,
                                           const LayerWeights& weights) {
  for (int64_t shard : shards) QUENCH_RETURN_IF_ERROR(AdvanceBlock(shard, weights));
  return absl::OkStatus();
}

absl::Status ShardWorker::CandidateLossesEach(const std::vector<int64_t>& shards,
                                              const LayerWeights& reference,
                                              const std::vector<LayerWeights>& candidates,
                                              InputGroup group, const LossesCallback& on_result) {
  for (int64_t shard : shards) {
    QUENCH_ASSIGN_OR_RETURN(std::vector<double> losses,
                            CandidateLosses(shard, reference, candidates, group));
    QUENCH_RETURN_IF_ERROR(on_result(shard, std::move(losses)));
  }
  return absl::OkStatus();
}

std::vector<absl::StatusOr<GptqResult>> ShardWorker::SolveGptqEach(
    const std::vector<GptqSolve>& solves, const GptqOptions& options) {
  std::vector<absl::StatusOr<GptqResult>> results;
  for (const GptqSolve& solve : solves) {
    results.push_back(QuantizeGptq(*solve.weight, *solve.hessian, solve.grid, options));
  }
  return results;
}

std::unique_ptr<ShardWorker> MakeLocalShardWorker(const Transformer& transformer,
                                                  HessianSums hessian_sums) {
  return std::make_unique<LocalShardWorker>(transformer, std::move(hessian_sums));
}

}  // namespace quench
