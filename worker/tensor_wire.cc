#include "worker/tensor_wire.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "core/util/crc32c.h"

namespace quench::worker {
namespace {

// Every tensor of a block by wire name, for reading (const) or replacing.
template <typename Layer, typename Visit>
void ForEachTensor(Layer& layer, Visit visit) {
  visit("attention_norm_weight", layer.attention_norm_weight);
  visit("attention_norm_bias", layer.attention_norm_bias);
  visit("mlp_norm_weight", layer.mlp_norm_weight);
  visit("mlp_norm_bias", layer.mlp_norm_bias);
  for (LinearRole role : kAllLinearRoles) {
    const std::string prefix(LinearRoleName(role));
    visit(prefix + ".weight", layer.linear(role).weight);
    visit(prefix + ".bias", layer.linear(role).bias);
  }
}

}  // namespace

bool SameTensor(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  if (a.raw_data() == b.raw_data()) return true;
  return a.num_bytes() == 0 || std::memcmp(a.raw_data(), b.raw_data(), a.num_bytes()) == 0;
}

std::vector<v1::TensorChunk> TensorToChunks(const std::string& blob_id, const Tensor& tensor) {
  std::vector<v1::TensorChunk> chunks;
  const uint64_t total = tensor.num_bytes();
  uint64_t offset = 0;
  do {
    const uint64_t size = std::min<uint64_t>(kTensorChunkBytes, total - offset);
    v1::TensorChunk& chunk = chunks.emplace_back();
    chunk.set_blob_id(blob_id);
    chunk.set_dtype(std::string(DTypeName(tensor.dtype())));
    for (int64_t dim : tensor.shape()) chunk.add_shape(dim);
    chunk.set_offset(offset);
    chunk.set_total_bytes(total);
    const auto* data = reinterpret_cast<const char*>(tensor.raw_data()) + offset;
    chunk.set_data(data, size);
    chunk.set_crc32c(Crc32c(data, size));
    offset += size;
  } while (offset < total);
  return chunks;
}

absl::Status BlobAssembler::Add(const v1::TensorChunk& chunk) {
  if (Crc32c(chunk.data().data(), chunk.data().size()) != chunk.crc32c()) {
    return absl::DataLossError(
        absl::StrCat("tensor chunk of ", chunk.blob_id(), " at ", chunk.offset(), ": bad CRC"));
  }
  const auto dtype = ParseDType(chunk.dtype());
  const Shape shape(chunk.shape().begin(), chunk.shape().end());
  auto found = blobs_.find(chunk.blob_id());
  if (found == blobs_.end()) {
    if (!dtype) return absl::InvalidArgumentError(absl::StrCat("unknown dtype ", chunk.dtype()));
    for (int64_t dim : shape) {
      if (dim < 0) return absl::InvalidArgumentError("negative dimension in a tensor chunk");
    }
    Blob blob{Tensor::Zeros(*dtype, shape), 0};
    if (blob.tensor.num_bytes() != chunk.total_bytes()) {
      return absl::InvalidArgumentError(absl::StrCat("tensor ", chunk.blob_id(), ": ",
                                                     chunk.total_bytes(),
                                                     " bytes do not match its dtype and shape"));
    }
    found = blobs_.emplace(chunk.blob_id(), std::move(blob)).first;
  }
  Blob& blob = found->second;
  if (!dtype || *dtype != blob.tensor.dtype() || shape != blob.tensor.shape() ||
      chunk.offset() != blob.received ||
      chunk.offset() + chunk.data().size() > blob.tensor.num_bytes()) {
    return absl::InvalidArgumentError(absl::StrCat("tensor chunk of ", chunk.blob_id(), " at ",
                                                   chunk.offset(), " does not continue its blob (",
                                                   blob.received, " bytes so far)"));
  }
  std::memcpy(blob.tensor.mutable_data<char>() + chunk.offset(), chunk.data().data(),
              chunk.data().size());
  blob.received += chunk.data().size();
  return absl::OkStatus();
}

absl::StatusOr<Tensor> BlobAssembler::Take(const std::string& blob_id) {
  auto found = blobs_.find(blob_id);
  if (found == blobs_.end() || found->second.received != found->second.tensor.num_bytes()) {
    return absl::NotFoundError(absl::StrCat("tensor ", blob_id, " has not arrived whole"));
  }
  Tensor tensor = std::move(found->second.tensor);
  blobs_.erase(found);
  return tensor;
}

std::map<std::string, Tensor> BlobAssembler::TakeAll() {
  std::map<std::string, Tensor> whole;
  for (auto it = blobs_.begin(); it != blobs_.end();) {
    if (it->second.received == it->second.tensor.num_bytes()) {
      whole.emplace(it->first, std::move(it->second.tensor));
      it = blobs_.erase(it);
    } else {
      ++it;
    }
  }
  return whole;
}

std::vector<std::pair<std::string, Tensor>> ChangedTensors(const LayerWeights& current,
                                                           const LayerWeights& original) {
  std::vector<std::pair<std::string, Tensor>> changed;
  std::map<std::string, const Tensor*> before;
  ForEachTensor(original, [&](const std::string& name, const Tensor& t) { before[name] = &t; });
  ForEachTensor(current, [&](const std::string& name, const Tensor& tensor) {
    if (!SameTensor(tensor, *before.at(name))) changed.emplace_back(name, tensor);
  });
  return changed;
}

absl::Status SetTensor(LayerWeights& weights, const std::string& name, Tensor tensor) {
  bool found = false;
  ForEachTensor(weights, [&](const std::string& candidate, Tensor& slot) {
    if (candidate == name) {
      slot = std::move(tensor);
      found = true;
    }
  });
  if (!found) return absl::InvalidArgumentError(absl::StrCat("no block tensor named '", name, "'"));
  return absl::OkStatus();
}

}  // namespace quench::worker
