#include "core/export/gptq_format.h"

#include <map>
#include <memory>
#include <regex>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "core/export/bit_packing.h"
#include "core/export/export_tensors.h"
#include "core/export/hf_directory_writer.h"
#include "core/job/quant_plan.h"
#include "core/util/status_macros.h"

namespace quench {
namespace {

using nlohmann::ordered_json;

constexpr int kBitsAllowed[] = {2, 3, 4, 8};

int64_t ConfigGroupSize(const GridSpec& grid) {
  return grid.granularity == Granularity::kGroup ? grid.group_size : -1;
}

int32_t StoredZero(const QuantizedTensor& q, int64_t row, int64_t group) {
  if (q.grid.symmetric) return 1 << (q.grid.bits - 1);
  return q.params[row * q.num_groups + group].zero;
}

Tensor PackQweight(const QuantizedTensor& q) {
  const int bits = q.grid.bits;
  const int64_t words = PackedWords(q.cols, bits);
  Tensor out = Tensor::Zeros(DType::kI32, {words, q.rows});
  std::vector<int32_t> packed(words);
  for (int64_t r = 0; r < q.rows; ++r) {
    PackBits(std::span(q.codes).subspan(r * q.cols, q.cols), bits, packed);
    for (int64_t w = 0; w < words; ++w) out.mutable_data<int32_t>()[w * q.rows + r] = packed[w];
  }
  return out;
}

absl::StatusOr<Tensor> PackQzeros(const QuantizedTensor& q, const std::string& module,
                                  GptqZeroConvention convention) {
  const int bits = q.grid.bits;
  const int64_t words = PackedWords(q.rows, bits);
  Tensor out = Tensor::Zeros(DType::kI32, {q.num_groups, words});
  std::vector<uint8_t> zeros(q.rows);
  for (int64_t g = 0; g < q.num_groups; ++g) {
    for (int64_t r = 0; r < q.rows; ++r) {
      int32_t zero = StoredZero(q, r, g);
      if (convention == GptqZeroConvention::kV1) {
        if (zero == 0) {
          return absl::InvalidArgumentError(
              absl::StrCat(module,
                           ": a zero point of 0 cannot be stored in GPTQ v1 (it keeps zero − 1); "
                           "export with the gptq_v2 output instead"));
        }
        --zero;
      }
      zeros[r] = static_cast<uint8_t>(zero);
    }
    PackBits(zeros, bits, std::span(out.mutable_data<int32_t>() + g * words, words));
  }
  return out;
}

std::string ExactPattern(const std::string& module) {
  return absl::StrCat("^", absl::StrReplaceAll(module, {{".", "\\."}}), "$");
}

ordered_json ModuleOverride(const GridSpec& grid, bool desc_act) {
  return {{"bits", grid.bits},
          {"group_size", ConfigGroupSize(grid)},
          {"sym", grid.symmetric},
          {"desc_act", desc_act}};
}

std::string GridKey(const GridSpec& grid) {
  return absl::StrCat(grid.bits, "/", ConfigGroupSize(grid), "/", grid.symmetric);
}

}  // namespace

absl::Status CheckGptqLinear(const GridSpec& grid, int64_t out, int64_t in) {
  if (grid.kind != GridKind::kInt || std::find(std::begin(kBitsAllowed), std::end(kBitsAllowed),
                                               grid.bits) == std::end(kBitsAllowed)) {
    return absl::InvalidArgumentError(
        absl::StrCat("GPTQ stores int2, int3, int4 or int8 weights, not ", grid.ToString()));
  }
  if (grid.scale_dtype != DType::kF16) {
    return absl::InvalidArgumentError(
        "GPTQ stores fp16 scales: set weights.scale_dtype: fp16 in the recipe");
  }
  if ((in * grid.bits) % 32 != 0 || (out * grid.bits) % 32 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("GPTQ packs ", grid.bits,
                     "-bit codes into 32-bit words along both dimensions, so [", out, ", ", in,
                     "] needs in·bits and out·bits to be multiples of 32; leave the layer "
                     "unquantized (recipe `ignore`) or drop the gptq output"));
  }
  return absl::OkStatus();
}

absl::Status WriteGptqModel(const QuenchArtifactReader& artifact, const ModelSpec& spec,
                            const Checkpoint& source, const std::filesystem::path& source_dir,
                            const std::filesystem::path& out_dir, GptqZeroConvention zeros) {
  // The grid most linears use is the top-level one; the others go under `dynamic`.
  std::map<std::string, int> grid_counts;
  std::map<std::string, GridSpec> grids;
  bool desc_act = false;
  QUENCH_RETURN_IF_ERROR(CheckNoQuantizedEmbedding(artifact, spec, "GPTQ"));
  for (const auto& module : artifact.QuantizedNames()) {
    const auto* info = artifact.FindQuantized(module);
    const auto fits = CheckGptqLinear(info->grid, info->rows, info->cols);
    if (!fits.ok()) return absl::InvalidArgumentError(absl::StrCat(module, ": ", fits.message()));
    ++grid_counts[GridKey(info->grid)];
    grids[GridKey(info->grid)] = info->grid;
    desc_act |= !artifact.HasSequentialGroups(module);
  }
  if (grid_counts.empty()) return absl::InvalidArgumentError("no quantized linear to export");
  std::string base_key = grid_counts.begin()->first;
  for (const auto& [key, count] : grid_counts) {
    if (count > grid_counts[base_key]) base_key = key;
  }
  const GridSpec& base = grids[base_key];

  ordered_json dynamic = ordered_json::object();
  for (int64_t layer = 0; layer < spec.num_layers; ++layer) {
    for (LinearRole role : kAllLinearRoles) {
      if (!spec.HasLinear(role)) continue;
      const std::string module = LinearModuleName(spec, layer, role);
      const auto* info = artifact.FindQuantized(module);
      if (info == nullptr) {
        dynamic[absl::StrCat("-:", ExactPattern(module))] = ordered_json::object();
      } else if (GridKey(info->grid) != base_key) {
        dynamic[absl::StrCat("+:", ExactPattern(module))] = ModuleOverride(info->grid, desc_act);
      }
    }
  }
  ordered_json config = {
      {"bits", base.bits},
      {"group_size", ConfigGroupSize(base)},
      {"desc_act", desc_act},
      {"sym", base.symmetric},
      {"lm_head", false},
      {"quant_method", "gptq"},
      {"checkpoint_format", zeros == GptqZeroConvention::kV1 ? "gptq" : "gptq_v2"},
      {"pack_dtype", "int32"}};
  if (!dynamic.empty()) config["dynamic"] = dynamic;
  config["meta"] = {{"quantizer", {"quench:0.1.0"}}};

  auto cache = std::make_shared<QuantizedModuleCache>(artifact);
  const auto emit = [&](const std::string& module, const QuenchArtifactReader::QuantizedInfo& info,
                        std::vector<OutputTensor>& out) -> absl::Status {
    const int bits = info.grid.bits;
    QUENCH_ASSIGN_OR_RETURN(QuantizedTensor shape,
                            MakeQuantizedTensor(info.grid, info.rows, info.cols));
    const int64_t groups = shape.num_groups;
    out.push_back({{module + ".qweight", DType::kI32, {PackedWords(info.cols, bits), info.rows}},
                   [cache, module]() -> absl::StatusOr<Tensor> {
                     QUENCH_ASSIGN_OR_RETURN(const QuantizedTensor* q, cache->Get(module));
                     return PackQweight(*q);
                   }});
    out.push_back({{module + ".qzeros", DType::kI32, {groups, PackedWords(info.rows, bits)}},
                   [cache, module, zeros]() -> absl::StatusOr<Tensor> {
                     QUENCH_ASSIGN_OR_RETURN(const QuantizedTensor* q, cache->Get(module));
                     return PackQzeros(*q, module, zeros);
                   }});
    out.push_back({{module + ".scales", DType::kF16, {groups, info.rows}},
                   [cache, module]() -> absl::StatusOr<Tensor> {
                     QUENCH_ASSIGN_OR_RETURN(const QuantizedTensor* q, cache->Get(module));
                     return GroupMajorScalesF16(*q);
                   }});
    out.push_back({{module + ".g_idx", DType::kI32, {info.cols}},
                   [cache, module]() -> absl::StatusOr<Tensor> {
                     QUENCH_ASSIGN_OR_RETURN(const QuantizedTensor* q, cache->Get(module));
                     return GroupIndexI32(*q);
                   }});
    return absl::OkStatus();
  };
  HfDirectory directory;
  QUENCH_ASSIGN_OR_RETURN(directory.tensors, ModelOutputTensors(artifact, source, emit));
  directory.quantization_config = config;
  directory.extra_files["quantize_config.json"] = config.dump(2) + "\n";
  directory.metadata = {{"format", "pt"}, {"quantized_by", "quench"}};
  return WriteHfDirectory(source_dir, out_dir, directory);
}

absl::StatusOr<GptqModuleConfig> GptqConfigForModule(const nlohmann::json& config,
                                                     const std::string& module) {
  const auto bad = [](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat("GPTQ quantization_config: ", what));
  };
  if (!config.is_object() || config.value("quant_method", "") != "gptq") {
    return bad("quant_method is not \"gptq\"");
  }
  GptqModuleConfig result;
  const auto read_fields = [&](const nlohmann::json& from) -> absl::Status {
    if (from.contains("bits")) {
      if (!from["bits"].is_number_integer()) return bad("bits is not an integer");
      result.bits = from["bits"].get<int>();
    }
    if (from.contains("group_size")) {
      if (!from["group_size"].is_number_integer()) return bad("group_size is not an integer");
      result.group_size = from["group_size"].get<int64_t>();
    }
    if (from.contains("sym")) {
      if (!from["sym"].is_boolean()) return bad("sym is not a boolean");
      result.symmetric = from["sym"].get<bool>();
    }
    return absl::OkStatus();
  };
  QUENCH_RETURN_IF_ERROR(read_fields(config));
  const std::string format = config.value("checkpoint_format", "gptq");
  if (format != "gptq" && format != "gptq_v2") return bad("checkpoint_format " + format);
  result.zeros = format == "gptq" ? GptqZeroConvention::kV1 : GptqZeroConvention::kV2;
  if (config.contains("dynamic") && config["dynamic"].is_object()) {
    for (const auto& [key, value] : config["dynamic"].items()) {
      const bool skip = absl::StartsWith(key, "-:");
      const std::string pattern =
          absl::StartsWith(key, "-:") || absl::StartsWith(key, "+:") ? key.substr(2) : key;
      std::regex regex;
      try {
        regex = std::regex(pattern);
      } catch (const std::regex_error&) {
        return bad("dynamic key '" + key + "' is not a regex");
      }
      if (!std::regex_search(module, regex)) continue;
      if (skip) {
        result.quantized = false;
      } else {
        QUENCH_RETURN_IF_ERROR(read_fields(value));
      }
      break;
    }
  }
  if (std::find(std::begin(kBitsAllowed), std::end(kBitsAllowed), result.bits) ==
      std::end(kBitsAllowed)) {
    return bad(absl::StrCat("bits ", result.bits, " (allowed: 2, 3, 4, 8)"));
  }
  return result;
}

absl::StatusOr<QuantizedTensor> ReadGptqLinear(const Checkpoint& checkpoint,
                                               const std::string& module,
                                               const GptqModuleConfig& config) {
  const auto bad = [&](absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat(checkpoint.path().string(), ": GPTQ module '", module, "': ", what));
  };
  const SafetensorsEntry* qweight = checkpoint.FindEntry(module + ".qweight");
  const SafetensorsEntry* qzeros = checkpoint.FindEntry(module + ".qzeros");
  const SafetensorsEntry* scales = checkpoint.FindEntry(module + ".scales");
  const SafetensorsEntry* g_idx = checkpoint.FindEntry(module + ".g_idx");
  if (!qweight || !qzeros || !scales || !g_idx) return bad("qweight/qzeros/scales/g_idx missing");
  if (qweight->dtype != DType::kI32 || qzeros->dtype != DType::kI32 ||
      scales->dtype != DType::kF16 || g_idx->dtype != DType::kI32 || scales->shape.size() != 2 ||
      g_idx->shape.size() != 1) {
    return bad("unexpected dtypes or ranks");
  }
  const int bits = config.bits;
  const int64_t rows = scales->shape[1], cols = g_idx->shape[0], groups = scales->shape[0];
  GridSpec grid;
  grid.bits = bits;
  grid.symmetric = config.symmetric;
  grid.granularity = config.group_size > 0 ? Granularity::kGroup : Granularity::kChannel;
  grid.group_size = config.group_size > 0 ? config.group_size : 128;
  grid.scale_dtype = DType::kF16;
  QUENCH_ASSIGN_OR_RETURN(QuantizedTensor q, MakeQuantizedTensor(grid, rows, cols));
  if (qweight->shape != Shape{PackedWords(cols, bits), rows} || groups != q.num_groups ||
      qzeros->shape != Shape{groups, PackedWords(rows, bits)}) {
    return bad("shapes disagree with bits and group_size");
  }
  QUENCH_ASSIGN_OR_RETURN(const Tensor qweight_data, checkpoint.Get(module + ".qweight"));
  QUENCH_ASSIGN_OR_RETURN(const Tensor qzeros_data, checkpoint.Get(module + ".qzeros"));
  QUENCH_ASSIGN_OR_RETURN(const Tensor scales_data, checkpoint.Get(module + ".scales"));
  QUENCH_ASSIGN_OR_RETURN(const Tensor g_idx_data, checkpoint.Get(module + ".g_idx"));
  const Tensor scale_values = scales_data.ToFloat32();
  const int64_t weight_words = PackedWords(cols, bits);
  std::vector<int32_t> column(weight_words);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t w = 0; w < weight_words; ++w)
      std::memcpy(&column[w], qweight_data.raw_data() + (w * rows + r) * 4, 4);
    UnpackBits(column, bits, std::span(q.codes).subspan(r * cols, cols));
  }
  const int64_t zero_words = PackedWords(rows, bits);
  std::vector<int32_t> zero_row(zero_words);
  std::vector<uint8_t> zeros(rows);
  const int32_t mask = (1 << bits) - 1;
  for (int64_t g = 0; g < groups; ++g) {
    std::memcpy(zero_row.data(), qzeros_data.raw_data() + g * zero_words * 4, zero_words * 4);
    UnpackBits(zero_row, bits, zeros);
    for (int64_t r = 0; r < rows; ++r) {
      int32_t zero = zeros[r];
      if (config.zeros == GptqZeroConvention::kV1) zero = (zero + 1) & mask;
      if (config.symmetric && zero != (1 << (bits - 1)))
        return bad(absl::StrCat("symmetric but a zero point is ", zero));
      q.params[r * groups + g] = {scale_values.data<float>()[g * rows + r],
                                  config.symmetric ? 0 : zero};
    }
  }
  std::memcpy(q.g_idx.data(), g_idx_data.raw_data(), cols * sizeof(int32_t));
  for (int32_t group : q.g_idx) {
    if (group < 0 || group >= groups) return bad("g_idx out of range");
  }
  return q;
}

}  // namespace quench
