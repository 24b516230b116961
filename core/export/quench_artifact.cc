#include "core/export/quench_artifact.h"

#include "absl/strings/str_cat.h"
#include "core/export/model_tensors.h"
#include "core/job/quant_plan.h"
#include "core/quant/ggml_grid.h"
#include "core/util/status_macros.h"

namespace quench {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kFormatVersion = "1";  // a std::string: GCC 12 misfires -Wrestrict on "1"
constexpr const char* kGridKinds[] = {"int",   "fp8",   "nf4",    "fp4",
                                      "mxfp4", "mxfp8", "mxint8", "ggml"};
// A ggml grid's stored factors per group: fp16 bits of d and dmin, the sub-block scale and min.
constexpr int64_t kGgmlFactors = 4;
constexpr const char* kGranularities[] = {"tensor", "channel", "group"};

json GridToJson(const GridSpec& grid) {
  json value = {{"type", kGridKinds[static_cast<int>(grid.kind)]},
                {"bits", grid.bits},
                {"symmetric", grid.symmetric},
                {"granularity", kGranularities[static_cast<int>(grid.granularity)]},
                {"group_size", grid.group_size},
                {"scale_dtype", std::string(DTypeName(grid.scale_dtype))}};
  if (grid.kind == GridKind::kGgml) value["ggml_type"] = GgmlTypeInfoOf(grid.ggml_type).name;
  return value;
}

absl::StatusOr<GridSpec> GridFromJson(const json& value, const std::string& name) {
  GridSpec grid;
  auto bad = [&](absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat("quench artifact: grid of '", name, "': ", what));
  };
  if (!value.is_object()) return bad("not an object");
  const auto find_index = [&](const char* key, auto& names) -> int {
    const auto it = value.find(key);
    if (it == value.end() || !it->is_string()) return -1;
    for (size_t i = 0; i < std::size(names); ++i) {
      if (it->template get<std::string>() == names[i]) return static_cast<int>(i);
    }
    return -1;
  };
  const int kind = find_index("type", kGridKinds);
  const int granularity = find_index("granularity", kGranularities);
  if (kind < 0 || granularity < 0) return bad("unknown type or granularity");
  grid.kind = static_cast<GridKind>(kind);
  grid.granularity = static_cast<Granularity>(granularity);
  if (!value.value("bits", json()).is_number_integer() ||
      !value.value("group_size", json()).is_number_integer() ||
      !value.value("symmetric", json()).is_boolean() ||
      !value.value("scale_dtype", json()).is_string()) {
    return bad("bits, group_size, symmetric or scale_dtype missing");
  }
  grid.bits = value["bits"].get<int>();
  grid.group_size = value["group_size"].get<int64_t>();
  grid.symmetric = value["symmetric"].get<bool>();
  const auto scale_dtype = ParseDType(value["scale_dtype"].get<std::string>());
  if (!scale_dtype) return bad("unknown scale_dtype");
  grid.scale_dtype = *scale_dtype;
  if (grid.kind == GridKind::kGgml) {
    const auto type = ParseGgmlTypeName(value.value("ggml_type", std::string()));
    if (!type) return bad("a ggml grid needs a known ggml_type");
    grid.ggml_type = *type;
  }
  QUENCH_RETURN_IF_ERROR(grid.Validate());
  return grid;
}

template <typename T>
Tensor VectorTensor(const std::vector<T>& values, DType dtype, Shape shape) {
  Tensor tensor = Tensor::Zeros(dtype, std::move(shape));
  std::memcpy(tensor.mutable_data<uint8_t>(), values.data(), values.size() * sizeof(T));
  return tensor;
}

// Codes of 16-level grids (int ≤ 4 bits, nf4, fp4, mxfp4) are packed two per byte, low nibble
// first, along each row; wider codes take a byte each.
bool PacksNibbles(const QuantizedTensor& q) { return q.grid.num_codes() <= 16; }

int64_t PackedCodeColumns(const QuantizedTensor& q) {
  return PacksNibbles(q) ? (q.cols + 1) / 2 : q.cols;
}

Tensor PackCodes(const QuantizedTensor& q) {
  const int64_t packed_cols = PackedCodeColumns(q);
  Tensor packed = Tensor::Zeros(DType::kU8, {q.rows, packed_cols});
  uint8_t* out = packed.mutable_data<uint8_t>();
  for (int64_t r = 0; r < q.rows; ++r) {
    for (int64_t c = 0; c < q.cols; ++c) {
      const uint8_t code = q.codes[r * q.cols + c];
      if (PacksNibbles(q)) {
        out[r * packed_cols + c / 2] |= static_cast<uint8_t>(code << (4 * (c % 2)));
      } else {
        out[r * packed_cols + c] = code;
      }
    }
  }
  return packed;
}

void UnpackCodes(const Tensor& packed, QuantizedTensor& q) {
  const int64_t packed_cols = PackedCodeColumns(q);
  const uint8_t* in = packed.data<uint8_t>();
  for (int64_t r = 0; r < q.rows; ++r) {
    for (int64_t c = 0; c < q.cols; ++c) {
      q.codes[r * q.cols + c] = PacksNibbles(q)
                                    ? (in[r * packed_cols + c / 2] >> (4 * (c % 2))) & 0x0f
                                    : in[r * packed_cols + c];
    }
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<QuenchArtifactWriter>> QuenchArtifactWriter::Create(
    const fs::path& path, const ModelSpec& spec,
    const std::map<std::string, std::string>& metadata) {
  QUENCH_ASSIGN_OR_RETURN(auto writer, SpooledSafetensorsWriter::Create(path));
  return std::unique_ptr<QuenchArtifactWriter>(
      new QuenchArtifactWriter(std::move(writer), spec, metadata));
}

absl::Status QuenchArtifactWriter::AddQuantized(const std::string& name, const QuantizedTensor& q,
                                                const std::vector<float>& awq_scales) {
  grids_[name] = GridToJson(q.grid);
  quantized_weights_.insert(absl::StrCat(name, ".weight"));
  QUENCH_RETURN_IF_ERROR(writer_.Add(absl::StrCat(name, ".qcodes"), PackCodes(q)));
  std::vector<float> scales;
  std::vector<int32_t> zeros;
  for (const auto& p : q.params) {
    scales.push_back(p.scale);
    zeros.push_back(p.zero);
  }
  QUENCH_RETURN_IF_ERROR(writer_.Add(absl::StrCat(name, ".qscales"),
                                     VectorTensor(scales, DType::kF32, {q.rows, q.num_groups})));
  if (q.grid.kind == GridKind::kInt && !q.grid.symmetric) {
    QUENCH_RETURN_IF_ERROR(writer_.Add(absl::StrCat(name, ".qzeros"),
                                       VectorTensor(zeros, DType::kI32, {q.rows, q.num_groups})));
  }
  if (q.grid.kind == GridKind::kGgml) {
    std::vector<int32_t> factors;
    for (const auto& p : q.params) {
      factors.insert(factors.end(), {p.ggml_d, p.ggml_dmin, p.ggml_sub_scale, p.ggml_sub_min});
    }
    QUENCH_RETURN_IF_ERROR(
        writer_.Add(absl::StrCat(name, ".qggml"),
                    VectorTensor(factors, DType::kI32, {q.rows, q.num_groups, kGgmlFactors})));
  }
  QUENCH_RETURN_IF_ERROR(
      writer_.Add(absl::StrCat(name, ".g_idx"), VectorTensor(q.g_idx, DType::kI32, {q.cols})));
  if (awq_scales.empty()) return absl::OkStatus();
  return writer_.Add(
      absl::StrCat(name, ".awq_scales"),
      VectorTensor(awq_scales, DType::kF32, {static_cast<int64_t>(awq_scales.size())}));
}

absl::Status QuenchArtifactWriter::AddPlain(const std::map<std::string, Tensor>& named) {
  for (const auto& [name, tensor] : named) {
    if (quantized_weights_.count(name) == 0) QUENCH_RETURN_IF_ERROR(writer_.Add(name, tensor));
  }
  return absl::OkStatus();
}

absl::Status QuenchArtifactWriter::Begin(const ModelWeights& globals,
                                         const QuantizedTensor* embedding) {
  if (embedding != nullptr) {
    QUENCH_RETURN_IF_ERROR(AddQuantized(EmbeddingModuleName(spec_), *embedding, {}));
  }
  return AddPlain(NamedGlobalTensors(spec_, globals));
}

absl::Status QuenchArtifactWriter::AddBlock(int64_t layer, const LayerWeights& weights,
                                            const std::vector<QuantizedLinear>& linears) {
  for (const auto& linear : linears)
    QUENCH_RETURN_IF_ERROR(AddQuantized(linear.plan.name, linear.quantized, linear.awq_scales));
  return AddPlain(NamedLayerTensors(spec_, layer, weights));
}

absl::Status QuenchArtifactWriter::Finish() {
  std::map<std::string, std::string> metadata = metadata_;
  metadata.insert_or_assign("quench.format", kFormatVersion);
  metadata["quench.grids"] = grids_.dump();
  return writer_.Finish(metadata);
}

absl::StatusOr<QuenchArtifactReader> QuenchArtifactReader::Open(const fs::path& path) {
  QUENCH_ASSIGN_OR_RETURN(SafetensorsFile file, SafetensorsFile::Open(path));
  const auto format = file.metadata().find("quench.format");
  const auto grids_text = file.metadata().find("quench.grids");
  if (format == file.metadata().end() || format->second != kFormatVersion ||
      grids_text == file.metadata().end()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path.string(), ": not a Quench artifact (quench.format 1 metadata missing)"));
  }
  const json grids = json::parse(grids_text->second, nullptr, false);
  if (!grids.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path.string(), ": quench.grids is not a JSON object"));
  }
  QuenchArtifactReader reader;
  std::set<std::string> parts;  // tensors that belong to a quantized weight
  for (const auto& [name, grid_json] : grids.items()) {
    QUENCH_ASSIGN_OR_RETURN(GridSpec grid, GridFromJson(grid_json, name));
    const auto* codes = file.Find(absl::StrCat(name, ".qcodes"));
    const auto* scales = file.Find(absl::StrCat(name, ".qscales"));
    const auto* g_idx = file.Find(absl::StrCat(name, ".g_idx"));
    if (codes == nullptr || scales == nullptr || g_idx == nullptr || codes->shape.size() != 2 ||
        codes->dtype != DType::kU8 || scales->dtype != DType::kF32 || g_idx->dtype != DType::kI32 ||
        g_idx->shape.size() != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(path.string(), ": '", name, "' lacks well-formed qcodes/qscales/g_idx"));
    }
    QUENCH_ASSIGN_OR_RETURN(QuantizedTensor shape,
                            MakeQuantizedTensor(grid, codes->shape[0], g_idx->shape[0]));
    if (scales->shape != Shape{shape.rows, shape.num_groups} ||
        codes->shape[1] != PackedCodeColumns(shape)) {
      return absl::InvalidArgumentError(
          absl::StrCat(path.string(), ": '", name, "' has inconsistent shapes"));
    }
    const auto* zeros = file.Find(absl::StrCat(name, ".qzeros"));
    if (zeros != nullptr && (zeros->dtype != DType::kI32 || zeros->shape != scales->shape)) {
      return absl::InvalidArgumentError(
          absl::StrCat(path.string(), ": '", name, "' qzeros malformed"));
    }
    const auto* factors = file.Find(absl::StrCat(name, ".qggml"));
    if ((grid.kind == GridKind::kGgml) != (factors != nullptr) ||
        (factors != nullptr &&
         (factors->dtype != DType::kI32 ||
          factors->shape != Shape{shape.rows, shape.num_groups, kGgmlFactors}))) {
      return absl::InvalidArgumentError(absl::StrCat(
          path.string(), ": '", name, "' qggml (the ggml grid's block factors) malformed"));
    }
    const auto* awq_scales = file.Find(absl::StrCat(name, ".awq_scales"));
    if (awq_scales != nullptr &&
        (awq_scales->dtype != DType::kF32 || awq_scales->shape != Shape{shape.cols})) {
      return absl::InvalidArgumentError(
          absl::StrCat(path.string(), ": '", name, "' awq_scales malformed"));
    }
    for (const char* suffix : {".qcodes", ".qscales", ".qzeros", ".qggml", ".g_idx", ".awq_scales"})
      parts.insert(absl::StrCat(name, suffix));
    reader.quantized_[name] = {grid, shape.rows, shape.cols};
  }
  for (const auto& entry : file.entries()) {
    if (parts.count(entry.name) == 0) reader.plain_.push_back(entry.name);
  }
  reader.file_ = std::move(file);
  return reader;
}

std::vector<std::string> QuenchArtifactReader::QuantizedNames() const {
  std::vector<std::string> names;
  for (const auto& [name, info] : quantized_) names.push_back(name);
  return names;
}

const QuenchArtifactReader::QuantizedInfo* QuenchArtifactReader::FindQuantized(
    absl::string_view name) const {
  const auto it = quantized_.find(name);
  return it == quantized_.end() ? nullptr : &it->second;
}

absl::StatusOr<QuantizedTensor> QuenchArtifactReader::ReadQuantized(absl::string_view name) const {
  const QuantizedInfo* info = FindQuantized(name);
  if (info == nullptr) {
    return absl::NotFoundError(
        absl::StrCat(file_.path().string(), ": no quantized tensor '", name, "'"));
  }
  QUENCH_ASSIGN_OR_RETURN(QuantizedTensor q,
                          MakeQuantizedTensor(info->grid, info->rows, info->cols));
  UnpackCodes(file_.View(*file_.Find(absl::StrCat(name, ".qcodes"))), q);
  const Tensor scales = file_.View(*file_.Find(absl::StrCat(name, ".qscales"))).ToFloat32();
  const Tensor g_idx = file_.View(*file_.Find(absl::StrCat(name, ".g_idx")));
  std::memcpy(q.g_idx.data(), g_idx.raw_data(), q.g_idx.size() * sizeof(int32_t));
  for (int32_t group : q.g_idx) {
    if (group < 0 || group >= q.num_groups) {
      return absl::InvalidArgumentError(
          absl::StrCat(file_.path().string(), ": '", name, "' g_idx out of range"));
    }
  }
  std::vector<int32_t> zeros(q.params.size(), 0);
  if (const auto* entry = file_.Find(absl::StrCat(name, ".qzeros")); entry != nullptr)
    std::memcpy(zeros.data(), file_.View(*entry).raw_data(), zeros.size() * sizeof(int32_t));
  for (size_t i = 0; i < q.params.size(); ++i) q.params[i] = {scales.data<float>()[i], zeros[i]};
  if (q.grid.kind == GridKind::kGgml) ReadGgmlFactors(name, q);
  return q;
}

void QuenchArtifactReader::ReadGgmlFactors(absl::string_view name, QuantizedTensor& q) const {
  // Scales and offsets come from the stored factors by the dequantizer's arithmetic, so the
  // weights decode exactly as they did in the job (and as llama.cpp will decode them).
  std::vector<int32_t> factors(q.params.size() * kGgmlFactors);
  std::memcpy(factors.data(), file_.View(*file_.Find(absl::StrCat(name, ".qggml"))).raw_data(),
              factors.size() * sizeof(int32_t));
  for (size_t i = 0; i < q.params.size(); ++i) {
    GgmlBlockFields fields;
    fields.d = static_cast<uint16_t>(factors[kGgmlFactors * i]);
    fields.dmin = static_cast<uint16_t>(factors[kGgmlFactors * i + 1]);
    fields.sub_scales[0] = factors[kGgmlFactors * i + 2];
    fields.sub_mins[0] = factors[kGgmlFactors * i + 3];
    q.params[i] = GgmlGroupParams(q.grid.ggml_type, fields, 0);
  }
}

std::vector<float> QuenchArtifactReader::ReadAwqScales(absl::string_view name) const {
  const auto* entry = file_.Find(absl::StrCat(name, ".awq_scales"));
  if (entry == nullptr) return {};
  const Tensor t = file_.View(*entry).ToFloat32();
  return std::vector<float>(t.data<float>(), t.data<float>() + t.num_elements());
}

bool QuenchArtifactReader::HasSequentialGroups(absl::string_view name) const {
  const QuantizedInfo* info = FindQuantized(name);
  if (info == nullptr) return false;
  const Tensor g_idx = file_.View(*file_.Find(absl::StrCat(name, ".g_idx")));
  const int64_t group_size = info->grid.EffectiveGroupSize(info->cols);
  for (int64_t c = 0; c < info->cols; ++c) {
    int32_t group = 0;
    std::memcpy(&group, g_idx.raw_data() + c * sizeof(int32_t), sizeof(group));
    const int64_t expected = info->grid.granularity == Granularity::kGroup ? c / group_size : 0;
    if (group != expected) return false;
  }
  return true;
}

Tensor QuenchArtifactReader::ReadPlain(absl::string_view name) const {
  const auto* entry = file_.Find(name);
  return entry == nullptr ? Tensor() : file_.View(*entry);
}

absl::StatusOr<std::map<std::string, QuantizedTensor>> ReadQuenchArtifact(const fs::path& path) {
  QUENCH_ASSIGN_OR_RETURN(const QuenchArtifactReader reader, QuenchArtifactReader::Open(path));
  std::map<std::string, QuantizedTensor> result;
  for (const auto& name : reader.QuantizedNames()) {
    QUENCH_ASSIGN_OR_RETURN(result[name], reader.ReadQuantized(name));
  }
  return result;
}

}  // namespace quench
