#include "core/export/export_tensors.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "core/job/quant_plan.h"
#include "core/util/status_macros.h"

namespace quench {

absl::StatusOr<const QuantizedTensor*> QuantizedModuleCache::Get(const std::string& module) {
  if (module != module_) {
    QUENCH_ASSIGN_OR_RETURN(tensor_, artifact_.ReadQuantized(module));
    module_ = module;
  }
  return &tensor_;
}

Tensor GroupMajorScalesF16(const QuantizedTensor& q) {
  std::vector<float> transposed(q.num_groups * q.rows);
  for (int64_t r = 0; r < q.rows; ++r) {
    for (int64_t g = 0; g < q.num_groups; ++g)
      transposed[g * q.rows + r] = q.params[r * q.num_groups + g].scale;
  }
  Tensor out = Tensor::Zeros(DType::kF16, {q.num_groups, q.rows});
  ConvertFromFloat(transposed.data(), DType::kF16, out.mutable_data<uint8_t>(), transposed.size());
  return out;
}

Tensor GroupIndexI32(const QuantizedTensor& q) {
  Tensor g_idx = Tensor::Zeros(DType::kI32, {q.cols});
  std::memcpy(g_idx.mutable_data<int32_t>(), q.g_idx.data(), q.g_idx.size() * sizeof(int32_t));
  return g_idx;
}

absl::Status CheckNoQuantizedEmbedding(const QuenchArtifactReader& artifact, const ModelSpec& spec,
                                       absl::string_view format) {
  if (artifact.FindQuantized(EmbeddingModuleName(spec)) == nullptr) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(EmbeddingModuleName(spec), ": ", format,
                   " checkpoints cannot hold a quantized embedding: set `embedding: null` in the "
                   "recipe or drop the output"));
}

}  // namespace quench
