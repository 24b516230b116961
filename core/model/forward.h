// The forward pass of a decoder-only transformer on a compute backend, exposed block by block
// because quantization runs the model one block at a time. All activations are fp32
// [tokens, features] with the batch's sequences packed along the rows.
#pragma once

#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "core/model/model_spec.h"
#include "core/model/model_weights.h"
#include "core/model/token_batch.h"
#include "core/tensor/tensor.h"
#include "kernels/backend.h"

namespace quench {

// The linears of a block that read the same activations, in execution order (DESIGN §3).
// Llama: {q,k,v}, {o}, {gate,up}, {down}; OPT: {q,k,v}, {out}, {fc1}, {fc2}.
enum class InputGroup { kQkv, kO, kGateUp, kDown };
inline constexpr InputGroup kAllInputGroups[] = {InputGroup::kQkv, InputGroup::kO,
                                                 InputGroup::kGateUp, InputGroup::kDown};
std::vector<LinearRole> GroupRoles(const ModelSpec& spec, InputGroup group);
absl::string_view InputGroupName(InputGroup group);  // "qkv", "o", "gate_up", "down"

// Sees each input group's activations during a traced block run; returns false to stop the
// block there (nothing after it is computed).
using GroupInputVisitor = std::function<bool(InputGroup group, const Tensor& input)>;

// The rotary inverse frequencies (head_dim/2 of them), rope_scaling applied.
std::vector<float> RotaryInverseFrequencies(const ModelSpec& spec);

class Transformer;

// Runs one block an input group at a time. Each step uses the weights given to it, so a group's
// linears can be replaced (quantized) before the next group's input is computed: true-sequential
// quantization without re-running the block from its start for every group. TraceBlock runs
// through the same steps, so both give bit-identical activations.
class BlockCursor {
 public:
  // Starts at the {q,k,v} input; `weights` supplies the norm that produces it.
  BlockCursor(const Transformer& model, const TokenBatch& batch, const Tensor& block_input,
              const LayerWeights& weights);

  bool finished() const { return finished_; }
  InputGroup group() const { return group_; }  // the group whose input input() is
  const Tensor& input() const { return input_; }
  // Runs the current group's linears (and the norm after them) with `weights`: afterwards input()
  // is the next group's input, or the block is finished and output() holds its result.
  void Step(const LayerWeights& weights);
  const Tensor& output() const { return output_; }

 private:
  const Transformer& model_;
  const TokenBatch& batch_;
  Tensor block_input_;
  Tensor residual_;  // the residual stream after attention
  Tensor input_;
  Tensor output_;
  InputGroup group_ = InputGroup::kQkv;
  bool finished_ = false;
};

// OK when every sequence fits the model's context and every token id is in its vocabulary;
// INVALID_ARGUMENT saying which does not. Checked before any work is sent to a worker.
absl::Status ValidateTokenBatch(const ModelSpec& spec, const TokenBatch& batch);

class Transformer {
 public:
  // Both references must outlive the Transformer; weights may be changed between calls.
  Transformer(const ModelSpec& spec, const ModelWeights& weights, kernels::Backend& backend);

  // Checks token ids and sequence lengths against the model.
  absl::Status Validate(const TokenBatch& batch) const { return ValidateTokenBatch(spec_, batch); }

  // Token (and learned position) embeddings: [tokens, hidden].
  Tensor Embed(const TokenBatch& batch) const;

  // Runs block `layer` on `hidden` ([tokens, hidden]) in place.
  void RunBlock(int64_t layer, const TokenBatch& batch, Tensor& hidden) const;

  // Runs a block with explicit weights (quantization swaps candidates in) on `hidden` in place,
  // showing each input group's activations to `visit` (may be empty). When `visit` stops the
  // run early, `hidden` is left unchanged.
  void TraceBlock(const LayerWeights& weights, const TokenBatch& batch, Tensor& hidden,
                  const GroupInputVisitor& visit) const;

  // Sublayer outputs, for searches that compare a sublayer's output under candidate weights.
  Tensor AttentionOutput(const LayerWeights& weights, const TokenBatch& batch,
                         const Tensor& normed) const;
  Tensor MlpOutput(const LayerWeights& weights, const Tensor& normed) const;
  Tensor LinearOutput(const Tensor& input, const LinearWeights& linear) const;

  // Final norm and LM head for rows [row_begin, row_end) of `hidden`: [rows, vocab].
  Tensor Logits(const Tensor& hidden, int64_t row_begin, int64_t row_end) const;

  // Everything: [tokens, vocab] logits. Validates the batch first.
  absl::StatusOr<Tensor> Forward(const TokenBatch& batch) const;

  const ModelSpec& spec() const { return spec_; }

 private:
  friend class BlockCursor;
  void Norm(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& y) const;
  void ApplyLinear(const Tensor& x, const LinearWeights& linear, Tensor& y) const;
  Tensor AttentionContext(const LayerWeights& lw, const TokenBatch& batch,
                          const Tensor& normed) const;
  Tensor MlpHidden(const LayerWeights& lw, const Tensor& normed) const;

  const ModelSpec& spec_;
  const ModelWeights& weights_;
  kernels::Backend& backend_;
  std::vector<float> inv_freq_;
};

}  // namespace quench
