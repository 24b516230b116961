// Pieces the checkpoint writers (GPTQ, AWQ) share.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/export/quench_artifact.h"
#include "core/model/model_spec.h"

namespace quench {

// The artifact module read last, so that the several tensors a format makes of one module come
// from one read, and only one module is held at a time.
class QuantizedModuleCache {
 public:
  explicit QuantizedModuleCache(const QuenchArtifactReader& artifact) : artifact_(artifact) {}
  absl::StatusOr<const QuantizedTensor*> Get(const std::string& module);

 private:
  const QuenchArtifactReader& artifact_;
  std::string module_;
  QuantizedTensor tensor_;
};

// Scales as GPTQ and AWQ store them: fp16 [groups, out] (Quench keeps [out, groups]).
Tensor GroupMajorScalesF16(const QuantizedTensor& q);

// The group of each input column, I32 [cols], as GPTQ's g_idx and compressed-tensors'
// weight_g_idx store it.
Tensor GroupIndexI32(const QuantizedTensor& q);

// A format for linears only refuses a quantized embedding, saying what to change.
absl::Status CheckNoQuantizedEmbedding(const QuenchArtifactReader& artifact, const ModelSpec& spec,
                                       absl::string_view format);

}  // namespace quench
