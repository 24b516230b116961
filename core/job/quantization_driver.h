// Runs a quantization job (RTN, GPTQ or AWQ) block by block around calibration shards, as
// DESIGN §4–5 describe: shard holders return partial statistics, the driver reduces them in
// shard order, solves each linear, and sends the quantized block back so the shards' activations
// advance through it. The same driver serves `quench local` (one in-process ShardWorker) and the
// service (remote workers).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/data/token_dataset.h"
#include "core/job/quant_plan.h"
#include "core/job/quantization_sink.h"
#include "core/job/shard_worker.h"
#include "core/model/model_weights.h"
#include "core/quant/quantized_tensor.h"

namespace quench {

struct LinearReport {
  std::string name;
  std::string grid;
  // ‖X(Ŵ − W)ᵀ‖² / ‖XWᵀ‖² on the calibration inputs that reached the layer (from the Hessian,
  // over at most 256 evenly spaced rows); -1 without calibration data.
  double relative_output_error = -1.0;
  double relative_weight_error = 0.0;  // ‖Ŵ − W‖² / ‖W‖²
  double gptq_loss = 0.0;
  double seconds = 0.0;
};

struct DriverProgress {
  int64_t block = 0;  // blocks finished
  int64_t blocks = 0;
  std::string stage;  // what is running, e.g. "block 3: gptq mlp.down_proj"
  // When a block has just finished: its linears' reports (the first variant's).
  std::vector<LinearReport> finished_layers;
  // That block came from its checkpoint (nothing was solved).
  bool restored = false;
};

// One variant's results for a finished block: what its sinks got and what it reported.
struct BlockResult {
  LayerWeights weights;  // as quantized (dequantized fp32, AWQ scales folded)
  std::vector<QuantizedLinear> linears;
  std::vector<LinearReport> reports;
};

// Durable results of finished blocks (DESIGN §6). The driver saves each block's results (every
// variant's) before the shards advance through it; a job run again resumes after the blocks
// saved: their results go to the sinks again and the shards advance through them, with no
// statistics gathered and nothing solved, so the bytes are those of an uninterrupted run.
class BlockCheckpoints {
 public:
  virtual ~BlockCheckpoints() = default;
  // How many leading blocks (0, 1, ...) have saved results.
  virtual absl::StatusOr<int64_t> SavedBlocks() = 0;
  // `original`: the block's weights as the model has them (only what changed need be kept).
  virtual absl::Status Save(int64_t layer, const LayerWeights& original,
                            const std::vector<BlockResult>& variants) = 0;
  // The saved results of `layer`; `original` is the block's weights as the model has them and
  // `blocks` each variant's plan of the block.
  virtual absl::StatusOr<std::vector<BlockResult>> Load(
      int64_t layer, const LayerWeights& original,
      const std::vector<const PlannedBlock*>& blocks) = 0;
};

struct DriverOptions {
  // The order in which the driver visits shards (a test hook: any order gives the same bytes,
  // because partials are reduced in shard order). Empty: 0, 1, ..., S-1.
  std::vector<int64_t> shard_visit_order;
  std::function<void(const DriverProgress&)> progress;
  // Polled before every block and every solve; when it returns true the job stops with
  // CANCELLED (sinks are left unfinished, so no output appears under its final name).
  std::function<bool()> cancelled;
  // Where finished blocks are saved and a resumed job finds them; null: nothing is saved.
  BlockCheckpoints* checkpoints = nullptr;
};

// What the job measured; the quantized model itself went to the sinks.
struct QuantizationOutcome {
  std::vector<LinearReport> reports;  // one per quantized linear, in plan order
  int64_t linears = 0;
  int64_t calibration_tokens = 0;
  int64_t shards = 0;
};

// Cuts `count` sequences into `shards` contiguous, near-equal shards: [begin, end) per shard.
std::vector<std::pair<int64_t, int64_t>> ShardRanges(int64_t count, int64_t shards);

// Reads `original` one block at a time (it may load blocks on demand) and hands each finished
// block to every sink in order; the embedding, when planned, is quantized before block 0.
absl::StatusOr<QuantizationOutcome> RunQuantizationJob(
    const ModelSpec& spec, const ModelWeights& original, const QuantPlan& plan,
    const Recipe& recipe, const TokenSequences& calibration, ShardWorker& worker,
    const std::vector<QuantizationSink*>& sinks, const DriverOptions& options = {});

// One of several solves a job makes in the same calibration pass (outputs whose grids differ,
// e.g. GPTQ int4 g128 safetensors and a GGUF Q4_K_M): its plan and where its blocks go.
struct JobVariant {
  const QuantPlan* plan = nullptr;
  std::vector<QuantizationSink*> sinks;
};

// Every variant in one pass over the model: the calibration set is read and sharded once and
// each block's original weights loaded once; every variant then solves the block on its own
// grids and advances its own copy of the shards' activations (the worker holds
// variants × shards of them), so each variant's result is byte-identical to running it alone.
// One outcome per variant, in order.
absl::StatusOr<std::vector<QuantizationOutcome>> RunQuantizationJobVariants(
    const ModelSpec& spec, const ModelWeights& original, const std::vector<JobVariant>& variants,
    const Recipe& recipe, const TokenSequences& calibration, ShardWorker& worker,
    const DriverOptions& options = {});

}  // namespace quench
