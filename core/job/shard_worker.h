// What a shard holder does for a quantization job (DESIGN §3–4). A shard is a slice of the
// calibration set; its activations stay with its holder, which returns partial statistics (sums)
// that the driver reduces in shard order. `quench local` holds every shard in one
// LocalShardWorker; the service's workers implement the same calls remotely.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/model/forward.h"
#include "core/quant/gptq.h"
#include "core/quant/hessian.h"

namespace quench {

// Partial statistics of one input group's activations over one shard.
struct GroupStatistics {
  HessianAccumulator hessian;    // Σ xᵀx
  std::vector<double> abs_sums;  // Σ |x| per input channel (AWQ), when asked
  int64_t tokens = 0;
};

// One GPTQ solve: a linear's weight and its input group's Hessian (both outlive the call).
struct GptqSolve {
  std::string name;  // for messages
  const Tensor* weight = nullptr;
  const std::vector<double>* hessian = nullptr;
  GridSpec grid;
};

class ShardWorker {
 public:
  virtual ~ShardWorker() = default;

  // Takes the shard's sequences and embeds them: the activations entering block 0.
  virtual absl::Status LoadShard(int64_t shard, const TokenBatch& batch) = 0;

  // Statistics of `group`'s input when a block with `weights` runs on the shard's activations.
  virtual absl::StatusOr<GroupStatistics> CollectStatistics(int64_t shard,
                                                            const LayerWeights& weights,
                                                            InputGroup group,
                                                            bool with_abs_sums) = 0;

  // The shard's activations become the output of a block with `weights` (the next block's input).
  virtual absl::Status AdvanceBlock(int64_t shard, const LayerWeights& weights) = 0;

  // AWQ scale search: Σ over the shard of ‖out(reference) − out(candidate)‖² for the sublayer that
  // `group` feeds (attention for qkv, MLP for gate/up, the linear itself otherwise), one sum per
  // candidate.
  virtual absl::StatusOr<std::vector<double>> CandidateLosses(
      int64_t shard, const LayerWeights& reference, const std::vector<LayerWeights>& candidates,
      InputGroup group) = 0;

  // The group's input activations over the shard, for searches that need them (AWQ clip).
  virtual absl::StatusOr<Tensor> GroupInput(int64_t shard, const LayerWeights& weights,
                                            InputGroup group) = 0;

  // The same calls for several shards at once: a holder that can run shards in parallel
  // (remote workers) overrides them. Results arrive through `on_result` in any order, one call
  // at a time; callers reduce them in shard order, so the bytes do not depend on the order.
  // The defaults run the shards one by one, in the order given.
  using StatisticsCallback = std::function<absl::Status(int64_t shard, GroupStatistics stats)>;
  virtual absl::Status CollectStatisticsEach(const std::vector<int64_t>& shards,
                                             const LayerWeights& weights, InputGroup group,
                                             bool with_abs_sums,
                                             const StatisticsCallback& on_result);
  virtual absl::Status AdvanceBlockEach(const std::vector<int64_t>& shards,
                                        const LayerWeights& weights);
  using LossesCallback = std::function<absl::Status(int64_t shard, std::vector<double> losses)>;
  virtual absl::Status CandidateLossesEach(const std::vector<int64_t>& shards,
                                           const LayerWeights& reference,
                                           const std::vector<LayerWeights>& candidates,
                                           InputGroup group, const LossesCallback& on_result);

  // GPTQ on independent linears (a group's, which share a Hessian): remote workers solve them
  // at once, one per worker; the default solves them here, one after another. One result per
  // solve, in order; each is what QuantizeGptq gives for it, wherever it ran.
  virtual std::vector<absl::StatusOr<GptqResult>> SolveGptqEach(
      const std::vector<GptqSolve>& solves, const GptqOptions& options);
};

// What rebuilds a shard whose holder was lost (DESIGN §6, lineage): for a shard and a block it
// has advanced through, that block's weights as quantized for the shard's variant.
using ShardLineage = std::function<absl::StatusOr<LayerWeights>(int64_t shard, int64_t layer)>;

// Σxᵀx of a group's input [tokens, dim] (with its token count): where the statistics are
// computed. Unset: HessianAccumulator on the host.
using HessianSums = std::function<HessianAccumulator(const Tensor& input)>;

// Holds shards in this process and runs them on `transformer`'s backend.
std::unique_ptr<ShardWorker> MakeLocalShardWorker(const Transformer& transformer,
                                                  HessianSums hessian_sums = {});

}  // namespace quench
