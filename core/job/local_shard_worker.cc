// ShardWorker for `quench local`: every shard's activations in this process.
#include <map>

#include "absl/strings/str_cat.h"
#include "core/job/shard_worker.h"
#include "core/util/check.h"

namespace quench {
namespace {

struct Shard {
  TokenBatch batch;
  Tensor hidden;  // activations entering the current block, [tokens, hidden]
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
  explicit LocalShardWorker(const Transformer& transformer) : transformer_(transformer) {}

  absl::Status LoadShard(int64_t shard, const TokenBatch& batch) override {
    if (auto status = transformer_.Validate(batch); !status.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("calibration shard ", shard, ": ", status.message()));
    }
    shards_[shard] = {batch, transformer_.Embed(batch)};
    return absl::OkStatus();
  }

  absl::StatusOr<GroupStatistics> CollectStatistics(int64_t shard, const LayerWeights& weights,
                                                    InputGroup group, bool with_abs_sums) override {
    const Shard* held = Find(shard);
    if (held == nullptr) return NotHeld(shard);
    const Tensor input = transformer_.GroupInput(weights, held->batch, held->hidden, group);
    GroupStatistics statistics;
    const int64_t dim = input.dim(1);
    statistics.tokens = input.dim(0);
    statistics.hessian = HessianAccumulator(dim);
    statistics.hessian.Accumulate(input);
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
    transformer_.TraceBlock(weights, held->batch, held->hidden, nullptr);
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<double>> CandidateLosses(int64_t shard, const LayerWeights& reference,
                                                      const std::vector<LayerWeights>& candidates,
                                                      InputGroup group) override {
    const Shard* held = Find(shard);
    if (held == nullptr) return NotHeld(shard);
    const Tensor input = transformer_.GroupInput(reference, held->batch, held->hidden, group);
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
    const Shard* held = Find(shard);
    if (held == nullptr) return NotHeld(shard);
    return transformer_.GroupInput(weights, held->batch, held->hidden, group);
  }

 private:
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
  std::map<int64_t, Shard> shards_;
};

}  // namespace

std::unique_ptr<ShardWorker> MakeLocalShardWorker(const Transformer& transformer) {
  return std::make_unique<LocalShardWorker>(transformer);
}

}  // namespace quench
