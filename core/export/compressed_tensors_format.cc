#include "core/export/compressed_tensors_format.h"

#include <cstring>
#include <map>
#include <memory>
#include <regex>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/export/bit_packing.h"
#include "core/export/export_tensors.h"
#include "core/export/hf_directory_writer.h"
#include "core/job/quant_plan.h"
#include "core/util/status_macros.h"

namespace quench {
namespace {

using nlohmann::ordered_json;

// compressed-tensors packs 32/bits codes per word with no code split across words; for these
// widths that is the dense bitstream of bit_packing.h.
constexpr int kPackedBits[] = {2, 4, 8};
constexpr char kFormatVersion[] = "0.12.2";

bool IsFp8(const GridSpec& grid) { return grid.kind == GridKind::kFp8; }

const char* Strategy(Granularity granularity) {
  switch (granularity) {
    case Granularity::kTensor:
      return "tensor";
    case Granularity::kChannel:
      return "channel";
    case Granularity::kGroup:
      return "group";
  }
  return "group";
}

const char* GroupFormat(const GridSpec& grid) {
  return IsFp8(grid) ? "float-quantized" : "pack-quantized";
}

// Scales are [out, groups], [out, 1] per channel and [1] per tensor.
Shape ScaleShape(const GridSpec& grid, int64_t rows, int64_t groups) {
  if (grid.granularity == Granularity::kTensor) return {1};
  return {rows, groups};
}

DType ScaleDType(const GridSpec& grid, DType weight_dtype) {
  return IsFp8(grid) ? DType::kF32 : weight_dtype;
}

Tensor Scales(const QuantizedTensor& q, DType dtype) {
  const Shape shape = ScaleShape(q.grid, q.rows, q.num_groups);
  std::vector<float> values;
  for (const GroupParams& params : q.params) values.push_back(params.scale);
  values.resize(q.grid.granularity == Granularity::kTensor ? 1 : values.size());
  Tensor out = Tensor::Zeros(dtype, shape);
  ConvertFromFloat(values.data(), dtype, out.mutable_data<uint8_t>(), values.size());
  return out;
}

Tensor PackedWeight(const QuantizedTensor& q) {
  const int64_t words = PackedWords(q.cols, q.grid.bits);
  Tensor out = Tensor::Zeros(DType::kI32, {q.rows, words});
  for (int64_t r = 0; r < q.rows; ++r) {
    PackBits(std::span(q.codes).subspan(r * q.cols, q.cols), q.grid.bits,
             std::span(out.mutable_data<int32_t>() + r * words, words));
  }
  return out;
}

// Zero points packed along the output dimension: column g of [ceil(out·bits/32), groups] is the
// bitstream of group g's zero points over all rows.
Tensor PackedZeroPoints(const QuantizedTensor& q) {
  const int64_t words = PackedWords(q.rows, q.grid.bits);
  Tensor out = Tensor::Zeros(DType::kI32, {words, q.num_groups});
  std::vector<uint8_t> zeros(q.rows);
  std::vector<int32_t> packed(words);
  for (int64_t g = 0; g < q.num_groups; ++g) {
    for (int64_t r = 0; r < q.rows; ++r) zeros[r] = q.params[r * q.num_groups + g].zero;
    PackBits(zeros, q.grid.bits, packed);
    for (int64_t w = 0; w < words; ++w)
      out.mutable_data<int32_t>()[w * q.num_groups + g] = packed[w];
  }
  return out;
}

Tensor Fp8Weight(const QuantizedTensor& q) {
  Tensor out = Tensor::Zeros(DType::kF8E4M3, {q.rows, q.cols});
  std::memcpy(out.mutable_data<uint8_t>(), q.codes.data(), q.codes.size());
  return out;
}

std::string GridKey(const GridSpec& grid) {
  return absl::StrCat(GridKindName(grid.kind), grid.bits, "/", Strategy(grid.granularity), "/",
                      grid.granularity == Granularity::kGroup ? grid.group_size : 0, "/",
                      grid.symmetric);
}

ordered_json WeightArgs(const GridSpec& grid, bool act_order) {
  ordered_json group_size = nullptr;
  if (grid.granularity == Granularity::kGroup) group_size = grid.group_size;
  return {{"num_bits", grid.bits},
          {"type", IsFp8(grid) ? "float" : "int"},
          {"symmetric", grid.symmetric},
          {"group_size", group_size},
          {"strategy", Strategy(grid.granularity)},
          {"block_structure", nullptr},
          {"dynamic", false},
          {"actorder", act_order ? ordered_json("group") : ordered_json(nullptr)},
          {"observer", "minmax"},
          {"observer_kwargs", ordered_json::object()}};
}

DType SourceWeightDType(const Checkpoint& source, const std::string& module) {
  const SafetensorsEntry* entry = source.FindEntry(module + ".weight");
  return entry ? entry->dtype : DType::kF32;
}

// One config group: the modules stored with one grid.
struct ConfigGroup {
  GridSpec grid;
  std::vector<std::string> modules;
  bool act_order = false;
};

bool TargetMatches(const std::string& target, const std::string& module) {
  if (target == "Linear" || target == module) return true;
  if (!absl::StartsWith(target, "re:")) return false;
  try {
    return std::regex_match(module, std::regex(target.substr(3)));
  } catch (const std::regex_error&) {
    return false;
  }
}

}  // namespace

absl::Status CheckCompressedTensorsLinear(const GridSpec& grid, int64_t out, int64_t in,
                                          DType weight_dtype) {
  if (IsFp8(grid)) {
    if (grid.granularity == Granularity::kGroup) {
      return absl::InvalidArgumentError(
          "compressed-tensors fp8 weights (float-quantized) are per channel or per tensor: set "
          "weights.granularity: channel");
    }
    return absl::OkStatus();
  }
  if (grid.kind != GridKind::kInt || std::find(std::begin(kPackedBits), std::end(kPackedBits),
                                               grid.bits) == std::end(kPackedBits)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "compressed-tensors stores int2, int4 or int8 (pack-quantized) or fp8 (float-quantized) "
        "weights, not ",
        grid.ToString()));
  }
  if (!grid.symmetric && grid.granularity == Granularity::kTensor) {
    return absl::InvalidArgumentError(
        "compressed-tensors packs zero points per channel or per group only: use a symmetric "
        "grid or channel/group granularity");
  }
  if (grid.granularity == Granularity::kGroup && in % grid.group_size != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("compressed-tensors needs whole groups: ", in,
                     " input columns are not a "
                     "multiple of group_size ",
                     grid.group_size, "; pick a group size that divides it or ignore the layer"));
  }
  // Scales are stored in the model's dtype (vLLM loads them into parameters of that dtype).
  if (weight_dtype != DType::kF32 && grid.scale_dtype != weight_dtype) {
    return absl::InvalidArgumentError(absl::StrCat(
        "compressed-tensors stores scales in the model's dtype (", DTypeName(weight_dtype),
        "), which would round the grid's ", DTypeName(grid.scale_dtype),
        " scales: set "
        "weights.scale_dtype: ",
        weight_dtype == DType::kBF16 ? "bf16" : "fp16"));
  }
  (void)out;
  return absl::OkStatus();
}

absl::Status WriteCompressedTensorsModel(const QuenchArtifactReader& artifact,
                                         const ModelSpec& spec, const Checkpoint& source,
                                         const std::filesystem::path& source_dir,
                                         const std::filesystem::path& out_dir) {
  QUENCH_RETURN_IF_ERROR(CheckNoQuantizedEmbedding(artifact, spec, "compressed-tensors"));
  std::map<std::string, ConfigGroup> groups;  // by grid key, in a stable order
  std::vector<std::string> ignore;
  for (int64_t layer = 0; layer < spec.num_layers; ++layer) {
    for (LinearRole role : kAllLinearRoles) {
      if (!spec.HasLinear(role)) continue;
      const std::string module = LinearModuleName(spec, layer, role);
      const auto* info = artifact.FindQuantized(module);
      if (info == nullptr) {
        ignore.push_back(module);
        continue;
      }
      const absl::Status fits = CheckCompressedTensorsLinear(info->grid, info->rows, info->cols,
                                                             SourceWeightDType(source, module));
      if (!fits.ok()) return absl::InvalidArgumentError(absl::StrCat(module, ": ", fits.message()));
      ConfigGroup& group = groups[GridKey(info->grid)];
      group.grid = info->grid;
      group.modules.push_back(module);
      group.act_order |= !artifact.HasSequentialGroups(module);
    }
  }
  if (groups.empty()) return absl::InvalidArgumentError("no quantized linear to export");
  ignore.push_back("lm_head");

  // One grid: every Linear not ignored. Several: each group names its modules, so no module
  // matches two groups.
  ordered_json config_groups = ordered_json::object();
  std::map<std::string, const ConfigGroup*> group_of_module;
  std::set<std::string> formats;
  int index = 0;
  for (const auto& [key, group] : groups) {
    ordered_json targets = ordered_json::array();
    if (groups.size() == 1) {
      targets.push_back("Linear");
    } else {
      for (const auto& module : group.modules) targets.push_back(module);
    }
    for (const auto& module : group.modules) group_of_module[module] = &group;
    formats.insert(GroupFormat(group.grid));
    config_groups[absl::StrCat("group_", index++)] = {
        {"targets", targets},
        {"weights", WeightArgs(group.grid, group.act_order)},
        {"input_activations", nullptr},
        {"output_activations", nullptr},
        {"format", GroupFormat(group.grid)}};
  }
  ordered_json config = {{"config_groups", config_groups},
                         {"format", formats.size() == 1 ? *formats.begin() : "mixed-precision"},
                         {"global_compression_ratio", nullptr},
                         {"ignore", ignore},
                         {"kv_cache_scheme", nullptr},
                         {"quant_method", "compressed-tensors"},
                         {"quantization_status", "compressed"},
                         {"sparsity_config", ordered_json::object()},
                         {"transform_config", ordered_json::object()},
                         {"version", kFormatVersion}};

  auto cache = std::make_shared<QuantizedModuleCache>(artifact);
  const auto emit = [&](const std::string& module, const QuenchArtifactReader::QuantizedInfo& info,
                        std::vector<OutputTensor>& out) -> absl::Status {
    const ConfigGroup& group = *group_of_module.at(module);
    QUENCH_ASSIGN_OR_RETURN(QuantizedTensor shape,
                            MakeQuantizedTensor(info.grid, info.rows, info.cols));
    const auto produce = [cache, module](Tensor (*make)(const QuantizedTensor&)) {
      return [cache, module, make]() -> absl::StatusOr<Tensor> {
        QUENCH_ASSIGN_OR_RETURN(const QuantizedTensor* q, cache->Get(module));
        return make(*q);
      };
    };
    const DType scale_dtype = ScaleDType(info.grid, SourceWeightDType(source, module));
    if (IsFp8(info.grid)) {
      out.push_back(
          {{module + ".weight", DType::kF8E4M3, {info.rows, info.cols}}, produce(&Fp8Weight)});
    } else {
      out.push_back({{module + ".weight_packed",
                      DType::kI32,
                      {info.rows, PackedWords(info.cols, info.grid.bits)}},
                     produce(&PackedWeight)});
    }
    out.push_back({{module + ".weight_scale", scale_dtype,
                    ScaleShape(info.grid, info.rows, shape.num_groups)},
                   [cache, module, scale_dtype]() -> absl::StatusOr<Tensor> {
                     QUENCH_ASSIGN_OR_RETURN(const QuantizedTensor* q, cache->Get(module));
                     return Scales(*q, scale_dtype);
                   }});
    if (IsFp8(info.grid)) return absl::OkStatus();
    if (!info.grid.symmetric) {
      out.push_back({{module + ".weight_zero_point",
                      DType::kI32,
                      {PackedWords(info.rows, info.grid.bits), shape.num_groups}},
                     produce(&PackedZeroPoints)});
    }
    const int64_t rows = info.rows, cols = info.cols;
    out.push_back({{module + ".weight_shape", DType::kI64, {2}}, [rows, cols] {
                     Tensor shape_tensor = Tensor::Zeros(DType::kI64, {2});
                     shape_tensor.mutable_data<int64_t>()[0] = rows;
                     shape_tensor.mutable_data<int64_t>()[1] = cols;
                     return absl::StatusOr<Tensor>(std::move(shape_tensor));
                   }});
    if (group.act_order) {
      out.push_back(
          {{module + ".weight_g_idx", DType::kI32, {info.cols}}, produce(&GroupIndexI32)});
    }
    return absl::OkStatus();
  };
  HfDirectory directory;
  QUENCH_ASSIGN_OR_RETURN(directory.tensors, ModelOutputTensors(artifact, source, emit));
  directory.quantization_config = config;
  directory.metadata = {{"format", "pt"}, {"quantized_by", "quench"}};
  return WriteHfDirectory(source_dir, out_dir, directory);
}

absl::StatusOr<std::optional<GridSpec>> CompressedTensorsGridForModule(const nlohmann::json& config,
                                                                       const std::string& module) {
  const auto bad = [](absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat("compressed-tensors quantization_config: ", what));
  };
  if (!config.is_object() || config.value("quant_method", "") != "compressed-tensors")
    return bad("quant_method is not \"compressed-tensors\"");
  if (config.contains("ignore") && config["ignore"].is_array()) {
    for (const auto& target : config["ignore"]) {
      if (target.is_string() && target != "Linear" && TargetMatches(target, module))
        return std::optional<GridSpec>();
    }
  }
  if (!config.contains("config_groups") || !config["config_groups"].is_object())
    return bad("config_groups missing");
  for (const auto& [name, group] : config["config_groups"].items()) {
    if (!group.contains("targets") || !group["targets"].is_array())
      return bad(name + ": no targets");
    bool matches = false;
    for (const auto& target : group["targets"])
      matches |= target.is_string() && TargetMatches(target, module);
    if (!matches) continue;
    const auto& weights = group.value("weights", nlohmann::json());
    if (!weights.is_object()) return bad(name + ": no weights");
    if (!group.value("input_activations", nlohmann::json()).is_null())
      return bad(name + ": activation quantization is not read");
    GridSpec grid;
    const std::string type = weights.value("type", "int");
    grid.kind = type == "float" ? GridKind::kFp8 : GridKind::kInt;
    grid.bits = weights.value("num_bits", 8);
    grid.symmetric = weights.value("symmetric", true);
    const std::string strategy = weights.value("strategy", "tensor");
    if (strategy == "tensor") {
      grid.granularity = Granularity::kTensor;
    } else if (strategy == "channel") {
      grid.granularity = Granularity::kChannel;
    } else if (strategy == "group") {
      grid.granularity = Granularity::kGroup;
      if (!weights["group_size"].is_number_integer()) return bad(name + ": group_size missing");
      grid.group_size = weights["group_size"].get<int64_t>();
    } else {
      return bad(name + ": strategy '" + strategy + "' is not read");
    }
    if (type != "int" && type != "float") return bad(name + ": type '" + type + "'");
    if (grid.kind == GridKind::kFp8 && grid.bits != 8)
      return bad(name + ": float of num_bits != 8");
    grid.scale_dtype = DType::kF32;  // the stored tensor's dtype decides on reading
    return std::optional<GridSpec>(grid);
  }
  return std::optional<GridSpec>();
}

absl::StatusOr<QuantizedTensor> ReadCompressedTensorsLinear(const Checkpoint& checkpoint,
                                                            const std::string& module,
                                                            const GridSpec& stored_grid) {
  const auto bad = [&](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat(
        checkpoint.path().string(), ": compressed-tensors module '", module, "': ", what));
  };
  GridSpec grid = stored_grid;
  const SafetensorsEntry* scale_entry = checkpoint.FindEntry(module + ".weight_scale");
  if (scale_entry == nullptr) return bad("weight_scale missing");
  grid.scale_dtype = scale_entry->dtype;
  const bool fp8 = IsFp8(grid);
  const std::string weight_name = module + (fp8 ? ".weight" : ".weight_packed");
  const SafetensorsEntry* weight = checkpoint.FindEntry(weight_name);
  if (weight == nullptr || weight->shape.size() != 2)
    return bad(weight_name + " missing or not 2-D");
  int64_t rows = weight->shape[0], cols = weight->shape[1];
  if (!fp8) {
    QUENCH_ASSIGN_OR_RETURN(const Tensor shape, checkpoint.Get(module + ".weight_shape"));
    if (shape.dtype() != DType::kI64 || shape.num_elements() != 2)
      return bad("weight_shape is not I64 [2]");
    // Safetensors data is not aligned: copy instead of loading through an int64 pointer.
    int64_t dims[2];
    std::memcpy(dims, shape.raw_data(), sizeof(dims));
    cols = dims[1];
    if (dims[0] != rows || weight->dtype != DType::kI32 ||
        weight->shape[1] != PackedWords(cols, grid.bits))
      return bad("weight_packed disagrees with weight_shape and num_bits");
  } else if (weight->dtype != DType::kF8E4M3) {
    return bad("weight is not F8_E4M3");
  }
  QUENCH_ASSIGN_OR_RETURN(QuantizedTensor q, MakeQuantizedTensor(grid, rows, cols));
  if (scale_entry->shape != ScaleShape(grid, rows, q.num_groups))
    return bad("weight_scale shape disagrees with the strategy");
  QUENCH_ASSIGN_OR_RETURN(const Tensor weight_data, checkpoint.Get(weight_name));
  QUENCH_ASSIGN_OR_RETURN(const Tensor scale_data, checkpoint.Get(module + ".weight_scale"));
  if (fp8) {
    std::memcpy(q.codes.data(), weight_data.raw_data(), q.codes.size());
  } else {
    const int64_t words = PackedWords(cols, grid.bits);
    std::vector<int32_t> row(words);
    for (int64_t r = 0; r < rows; ++r) {
      std::memcpy(row.data(), weight_data.raw_data() + r * words * 4, words * 4);
      UnpackBits(row, grid.bits, std::span(q.codes).subspan(r * cols, cols));
    }
  }
  const Tensor scales = scale_data.ToFloat32();
  for (int64_t i = 0; i < static_cast<int64_t>(q.params.size()); ++i)
    q.params[i].scale = scales.data<float>()[grid.granularity == Granularity::kTensor ? 0 : i];
  if (!fp8 && !grid.symmetric) {
    const int64_t words = PackedWords(rows, grid.bits);
    QUENCH_ASSIGN_OR_RETURN(const Tensor zero_data, checkpoint.Get(module + ".weight_zero_point"));
    if (zero_data.dtype() != DType::kI32 || zero_data.shape() != Shape{words, q.num_groups})
      return bad("weight_zero_point is not I32 [ceil(out·bits/32), groups]");
    std::vector<int32_t> packed(words);
    std::vector<uint8_t> zeros(rows);
    for (int64_t g = 0; g < q.num_groups; ++g) {
      for (int64_t w = 0; w < words; ++w)
        std::memcpy(&packed[w], zero_data.raw_data() + (w * q.num_groups + g) * 4, 4);
      UnpackBits(packed, grid.bits, zeros);
      for (int64_t r = 0; r < rows; ++r) q.params[r * q.num_groups + g].zero = zeros[r];
    }
  }
  if (checkpoint.Contains(module + ".weight_g_idx")) {
    QUENCH_ASSIGN_OR_RETURN(const Tensor g_idx, checkpoint.Get(module + ".weight_g_idx"));
    if (g_idx.dtype() != DType::kI32 || g_idx.shape() != Shape{cols})
      return bad("weight_g_idx is not I32 [in]");
    std::memcpy(q.g_idx.data(), g_idx.raw_data(), cols * sizeof(int32_t));
    for (int32_t group : q.g_idx) {
      if (group < 0 || group >= q.num_groups) return bad("weight_g_idx out of range");
    }
  }
  return q;
}

}  // namespace quench
