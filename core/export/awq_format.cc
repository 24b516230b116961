#include "core/export/awq_format.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "core/export/export_tensors.h"
#include "core/export/hf_directory_writer.h"
#include "core/job/quant_plan.h"
#include "core/util/status_macros.h"

namespace quench {
namespace {

constexpr int kAwqOrder[8] = {0, 2, 4, 6, 1, 3, 5, 7};

// values[o] for o in [0, out) → words[out / 8] in AWQ's nibble order.
void PackAwqRow(const std::function<uint8_t(int64_t)>& value, int64_t out, int32_t* words) {
  for (int64_t c = 0; c < out / 8; ++c) {
    uint32_t word = 0;
    for (int s = 0; s < 8; ++s) word |= uint32_t{value(8 * c + kAwqOrder[s]) & 0xfu} << (4 * s);
    words[c] = static_cast<int32_t>(word);
  }
}

uint8_t UnpackAwq(const int32_t* words, int64_t o) {
  const int64_t c = o / 8;
  int slot = 0;
  while (kAwqOrder[slot] != o % 8) ++slot;
  return static_cast<uint8_t>((static_cast<uint32_t>(words[c]) >> (4 * slot)) & 0xf);
}

int32_t ZeroOf(const QuantizedTensor& q, int64_t row, int64_t group) {
  return q.grid.symmetric ? 8 : q.params[row * q.num_groups + group].zero;
}

}  // namespace

absl::Status CheckAwqLinear(const GridSpec& grid, int64_t out, int64_t in) {
  if (grid.kind != GridKind::kInt || grid.bits != 4) {
    return absl::InvalidArgumentError(
        absl::StrCat("AWQ gemm stores int4 weights only, not ", grid.ToString()));
  }
  if (grid.granularity != Granularity::kGroup || in % grid.group_size != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("AWQ gemm needs groups that divide the input width (", in, "); the grid has ",
                     grid.ToString()));
  }
  if (grid.scale_dtype != DType::kF16) {
    return absl::InvalidArgumentError(
        "AWQ stores fp16 scales: set weights.scale_dtype: fp16 in the recipe");
  }
  if (out % 8 != 0) {
    return absl::InvalidArgumentError(absl::StrCat("AWQ packs eight outputs per 32-bit word; ", out,
                                                   " outputs is not a multiple of 8"));
  }
  return absl::OkStatus();
}

absl::Status WriteAwqModel(const QuenchArtifactReader& artifact, const ModelSpec& spec,
                           const Checkpoint& source, const std::filesystem::path& source_dir,
                           const std::filesystem::path& out_dir) {
  std::optional<GridSpec> grid;
  QUENCH_RETURN_IF_ERROR(CheckNoQuantizedEmbedding(artifact, spec, "AWQ"));
  for (const auto& module : artifact.QuantizedNames()) {
    const auto* info = artifact.FindQuantized(module);
    const auto fail = [&](absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat(module, ": ", why));
    };
    if (const auto fits = CheckAwqLinear(info->grid, info->rows, info->cols); !fits.ok())
      return fail(fits.message());
    if (!artifact.HasSequentialGroups(module))
      return fail("AWQ has no g_idx: act-order needs static_groups: true for this output");
    if (grid && (grid->group_size != info->grid.group_size)) {
      return fail("AWQ's config holds one group size for every layer; this one differs");
    }
    grid = info->grid;
  }
  if (!grid) return absl::InvalidArgumentError("no quantized linear to export");

  nlohmann::ordered_json not_converted = nlohmann::ordered_json::array();
  for (int64_t layer = 0; layer < spec.num_layers; ++layer) {
    for (LinearRole role : kAllLinearRoles) {
      if (!spec.HasLinear(role)) continue;
      const std::string module = LinearModuleName(spec, layer, role);
      if (artifact.FindQuantized(module) == nullptr) not_converted.push_back(module);
    }
  }
  nlohmann::ordered_json config = {
      {"quant_method", "awq"},
      {"zero_point", true},
      {"group_size", grid->group_size},
      {"bits", 4},
      {"version", "gemm"},
      {"modules_to_not_convert", not_converted.empty() ? nlohmann::ordered_json() : not_converted}};

  auto cache = std::make_shared<QuantizedModuleCache>(artifact);
  const auto emit = [&](const std::string& module, const QuenchArtifactReader::QuantizedInfo& info,
                        std::vector<OutputTensor>& out) -> absl::Status {
    const int64_t rows = info.rows, cols = info.cols, groups = cols / info.grid.group_size;
    out.push_back({{module + ".qweight", DType::kI32, {cols, rows / 8}},
                   [cache, module]() -> absl::StatusOr<Tensor> {
                     QUENCH_ASSIGN_OR_RETURN(const QuantizedTensor* q, cache->Get(module));
                     Tensor t = Tensor::Zeros(DType::kI32, {q->cols, q->rows / 8});
                     for (int64_t i = 0; i < q->cols; ++i) {
                       PackAwqRow([&](int64_t o) { return q->codes[o * q->cols + i]; }, q->rows,
                                  t.mutable_data<int32_t>() + i * (q->rows / 8));
                     }
                     return t;
                   }});
    out.push_back({{module + ".qzeros", DType::kI32, {groups, rows / 8}},
                   [cache, module]() -> absl::StatusOr<Tensor> {
                     QUENCH_ASSIGN_OR_RETURN(const QuantizedTensor* q, cache->Get(module));
                     Tensor t = Tensor::Zeros(DType::kI32, {q->num_groups, q->rows / 8});
                     for (int64_t g = 0; g < q->num_groups; ++g) {
                       PackAwqRow([&](int64_t o) { return ZeroOf(*q, o, g); }, q->rows,
                                  t.mutable_data<int32_t>() + g * (q->rows / 8));
                     }
                     return t;
                   }});
    out.push_back({{module + ".scales", DType::kF16, {groups, rows}},
                   [cache, module]() -> absl::StatusOr<Tensor> {
                     QUENCH_ASSIGN_OR_RETURN(const QuantizedTensor* q, cache->Get(module));
                     return GroupMajorScalesF16(*q);
                   }});
    return absl::OkStatus();
  };
  HfDirectory directory;
  QUENCH_ASSIGN_OR_RETURN(directory.tensors, ModelOutputTensors(artifact, source, emit));
  directory.quantization_config = config;
  directory.metadata = {{"format", "pt"}, {"quantized_by", "quench"}};
  return WriteHfDirectory(source_dir, out_dir, directory);
}

absl::StatusOr<QuantizedTensor> ReadAwqLinear(const Checkpoint& checkpoint,
                                              const std::string& module, int64_t group_size) {
  const auto bad = [&](absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat(checkpoint.path().string(), ": AWQ module '", module, "': ", what));
  };
  const SafetensorsEntry* qweight = checkpoint.FindEntry(module + ".qweight");
  const SafetensorsEntry* qzeros = checkpoint.FindEntry(module + ".qzeros");
  const SafetensorsEntry* scales = checkpoint.FindEntry(module + ".scales");
  if (!qweight || !qzeros || !scales) return bad("qweight/qzeros/scales missing");
  if (qweight->dtype != DType::kI32 || qzeros->dtype != DType::kI32 ||
      scales->dtype != DType::kF16 || qweight->shape.size() != 2 || scales->shape.size() != 2) {
    return bad("unexpected dtypes or ranks");
  }
  const int64_t cols = qweight->shape[0], rows = scales->shape[1];
  GridSpec grid;
  grid.bits = 4;
  grid.symmetric = false;
  grid.group_size = group_size;
  grid.scale_dtype = DType::kF16;
  QUENCH_ASSIGN_OR_RETURN(QuantizedTensor q, MakeQuantizedTensor(grid, rows, cols));
  if (rows % 8 != 0 || qweight->shape[1] != rows / 8 ||
      qzeros->shape != Shape{q.num_groups, rows / 8} || scales->shape[0] != q.num_groups) {
    return bad("shapes disagree with group_size");
  }
  QUENCH_ASSIGN_OR_RETURN(const Tensor w, checkpoint.Get(module + ".qweight"));
  QUENCH_ASSIGN_OR_RETURN(const Tensor z, checkpoint.Get(module + ".qzeros"));
  QUENCH_ASSIGN_OR_RETURN(const Tensor s, checkpoint.Get(module + ".scales"));
  const Tensor scale_values = s.ToFloat32();
  std::vector<int32_t> row(rows / 8);
  for (int64_t i = 0; i < cols; ++i) {
    std::memcpy(row.data(), w.raw_data() + i * (rows / 8) * 4, row.size() * 4);
    for (int64_t o = 0; o < rows; ++o) q.codes[o * cols + i] = UnpackAwq(row.data(), o);
  }
  for (int64_t g = 0; g < q.num_groups; ++g) {
    std::memcpy(row.data(), z.raw_data() + g * (rows / 8) * 4, row.size() * 4);
    for (int64_t o = 0; o < rows; ++o) {
      q.params[o * q.num_groups + g] = {scale_values.data<float>()[g * rows + o],
                                        UnpackAwq(row.data(), o)};
    }
  }
  return q;
}

}  // namespace quench
