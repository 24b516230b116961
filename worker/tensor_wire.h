// Tensors on the coordinator ↔ worker stream: cut into TensorChunk messages (each with its
// CRC-32C) that travel before the task or result naming their blob id, and put back together
// on the other side. Also how a block's weights travel: only the tensors that differ from the
// model on disk (quantized linears, rescaled norms), which the worker reads itself.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "core/model/model_weights.h"
#include "core/tensor/tensor.h"
#include "quench/v1/worker.pb.h"

namespace quench::worker {

inline constexpr size_t kTensorChunkBytes = 1 << 20;

std::vector<v1::TensorChunk> TensorToChunks(const std::string& blob_id, const Tensor& tensor);

// Collects chunks by blob id until a blob is whole.
class BlobAssembler {
 public:
  // DATA_LOSS for a chunk whose CRC does not match; INVALID_ARGUMENT for one that does not fit
  // its blob (dtype, shape, offset or size disagreeing with earlier chunks).
  absl::Status Add(const v1::TensorChunk& chunk);
  // The whole blob, removed from the assembler; NOT_FOUND when absent or incomplete.
  absl::StatusOr<Tensor> Take(const std::string& blob_id);
  // Every whole blob, removed from the assembler.
  std::map<std::string, Tensor> TakeAll();
  void Clear() { blobs_.clear(); }

 private:
  struct Blob {
    Tensor tensor;
    uint64_t received = 0;
  };
  std::map<std::string, Blob> blobs_;
};

// Same dtype, shape and bytes.
bool SameTensor(const Tensor& a, const Tensor& b);

// The tensors of `current` that differ from `original` (bytes or shape), by wire name
// ("attention_norm_weight", "q.weight", "down.bias", ...).
std::vector<std::pair<std::string, Tensor>> ChangedTensors(const LayerWeights& current,
                                                           const LayerWeights& original);
// Replaces the tensor `name` of `weights`; INVALID_ARGUMENT for an unknown name.
absl::Status SetTensor(LayerWeights& weights, const std::string& name, Tensor tensor);

}  // namespace quench::worker
