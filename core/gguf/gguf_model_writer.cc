#include "core/gguf/gguf_model_writer.h"

#include <cmath>
#include <map>
#include <memory>
#include <numbers>

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "core/export/export_tensors.h"
#include "core/gguf/gguf_file.h"
#include "core/gguf/gguf_tokenizer.h"
#include "core/job/quant_plan.h"
#include "core/quant/ggml_grid.h"
#include "core/util/status_macros.h"

namespace quench {
namespace {

constexpr uint32_t kQuantizationVersion = 2;  // GGML_QNT_VERSION

DType StoredFloatDType(DType source, int64_t rank) {
  if (rank < 2) return DType::kF32;  // llama.cpp computes norms and biases in fp32
  return source == DType::kF16 || source == DType::kBF16 ? source : DType::kF32;
}

GgmlType GgmlTypeOfDType(DType dtype) {
  if (dtype == DType::kF16) return GgmlType::kF16;
  if (dtype == DType::kBF16) return GgmlType::kBF16;
  return GgmlType::kF32;
}

// One tensor of the file: where its values come from and how it is stored.
struct PlannedTensor {
  std::string gguf_name;
  std::string hf_name;                // the plain tensor's name (module + ".weight" when quantized)
  std::optional<std::string> module;  // set when the artifact holds it quantized
  std::optional<LinearRole> role;
  int64_t permute_heads = 0;
};

std::vector<PlannedTensor> PlanTensors(const ModelSpec& spec) {
  std::vector<PlannedTensor> plan;
  const auto add = [&](std::string gguf, std::string hf, std::optional<LinearRole> role = {}) {
    plan.push_back({std::move(gguf), std::move(hf), std::nullopt, role,
                    role ? GgufPermutedHeads(spec, *role) : 0});
  };
  add("token_embd.weight", spec.EmbeddingName());
  for (int64_t layer = 0; layer < spec.num_layers; ++layer) {
    const std::string blk = absl::StrCat("blk.", layer, ".");
    add(blk + "attn_norm.weight", spec.AttentionNormName(layer));
    for (LinearRole role : kAllLinearRoles) {
      if (!spec.HasLinear(role)) continue;
      add(blk + GgufLinearTensorName(role) + ".weight", spec.LinearName(layer, role), role);
      if (spec.LinearHasBias(role))
        add(blk + GgufLinearTensorName(role) + ".bias", spec.LinearName(layer, role, "bias"), role);
    }
    add(blk + "ffn_norm.weight", spec.MlpNormName(layer));
  }
  add("output_norm.weight", spec.FinalNormName());
  if (!spec.tie_word_embeddings) add("output.weight", spec.LmHeadName());
  return plan;
}

// Rows of `values` ([rows, cols] row-major) in GGUF order, converted to `dtype`'s bytes.
std::vector<uint8_t> FloatRows(const Tensor& values, DType dtype, int64_t heads) {
  // A 1-D tensor is rows of one element, so q/k biases are permuted like the weights' rows.
  const int64_t rows = values.shape()[0];
  const int64_t cols = values.num_elements() / rows;
  const size_t width = DTypeSize(dtype);
  std::vector<uint8_t> out(values.num_elements() * width);
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t source_row = heads > 0 ? HfRowOfGgufRow(r, rows, heads) : r;
    ConvertFromFloat(values.data<float>() + source_row * cols, dtype, out.data() + r * cols * width,
                     cols);
  }
  return out;
}

std::vector<uint8_t> QuantizedRows(const QuantizedTensor& q, GgmlType type, int64_t heads) {
  const int64_t row_bytes = GgmlRowBytes(type, q.cols);
  const int64_t block_bytes = GgmlTypeInfoOf(type).block_bytes;
  std::vector<uint8_t> out(row_bytes * q.rows);
  for (int64_t r = 0; r < q.rows; ++r) {
    const int64_t source_row = heads > 0 ? HfRowOfGgufRow(r, q.rows, heads) : r;
    if (HasGgmlBlockFields(type)) {
      PackGgmlRow(q, source_row, out.data() + r * row_bytes);
      continue;
    }
    for (int64_t block = 0; block < q.cols / 32; ++block) {
      const float d = q.ParamsAt(source_row, block * 32).scale;
      const std::span<const uint8_t, 32> codes(q.codes.data() + source_row * q.cols + block * 32,
                                               32);
      uint8_t* dst = out.data() + r * row_bytes + block * block_bytes;
      if (type == GgmlType::kQ4_0) PackQ4_0Block(d, codes, dst);
      if (type == GgmlType::kQ5_0) PackQ5_0Block(d, codes, dst);
      if (type == GgmlType::kQ8_0) PackQ8_0Block(d, codes, dst);
    }
  }
  return out;
}

// Llama 3.1's frequency-dependent RoPE scaling is a per-frequency factor tensor in GGUF.
std::vector<float> Llama3RopeFactors(const ModelSpec& spec) {
  const RopeScaling& s = spec.rope_scaling;
  const double low_wavelength = s.original_max_position_embeddings / s.low_freq_factor;
  const double high_wavelength = s.original_max_position_embeddings / s.high_freq_factor;
  std::vector<float> factors;
  for (int64_t i = 0; i < spec.head_dim / 2; ++i) {
    const double frequency =
        1.0 / std::pow(spec.rope_theta, 2.0 * static_cast<double>(i) / spec.head_dim);
    const double wavelength = 2 * std::numbers::pi / frequency;
    double factor = 1.0;
    if (wavelength > low_wavelength) {
      factor = s.factor;
    } else if (wavelength >= high_wavelength) {
      const double smooth = (s.original_max_position_embeddings / wavelength - s.low_freq_factor) /
                            (s.high_freq_factor - s.low_freq_factor);
      factor = 1.0 / ((1 - smooth) / s.factor + smooth);
    }
    factors.push_back(static_cast<float>(factor));
  }
  return factors;
}

void AddHyperParameters(const ModelSpec& spec, GgufWriter& writer) {
  const auto u32 = [](int64_t value) { return GgufValue::U32(static_cast<uint32_t>(value)); };
  writer.Add("llama.vocab_size", u32(spec.vocab_size));
  writer.Add("llama.context_length", u32(spec.max_position_embeddings));
  writer.Add("llama.embedding_length", u32(spec.hidden_size));
  writer.Add("llama.block_count", u32(spec.num_layers));
  writer.Add("llama.feed_forward_length", u32(spec.intermediate_size));
  writer.Add("llama.attention.head_count", u32(spec.num_heads));
  writer.Add("llama.attention.head_count_kv", u32(spec.num_kv_heads));
  writer.Add("llama.attention.layer_norm_rms_epsilon",
             GgufValue::F32(static_cast<float>(spec.norm_eps)));
  writer.Add("llama.rope.freq_base", GgufValue::F32(static_cast<float>(spec.rope_theta)));
  writer.Add("llama.rope.dimension_count", u32(spec.head_dim));
  if (spec.head_dim * spec.num_heads != spec.hidden_size) {
    writer.Add("llama.attention.key_length", u32(spec.head_dim));
    writer.Add("llama.attention.value_length", u32(spec.head_dim));
  }
  if (spec.rope_scaling.kind == RopeScalingKind::kLinear) {
    writer.Add("llama.rope.scaling.type", GgufValue::String("linear"));
    writer.Add("llama.rope.scaling.factor",
               GgufValue::F32(static_cast<float>(spec.rope_scaling.factor)));
  }
}

// general.file_type when no mixture was named: the type most quantized weights have.
uint32_t FileTypeOf(const std::map<GgmlType, int>& counts) {
  GgmlType most = GgmlType::kF32;
  int best = 0;
  for (const auto& [type, count] : counts) {
    if (type != GgmlType::kF32 && count > best) most = type, best = count;
  }
  switch (most) {
    case GgmlType::kQ4_0:
      return 2;
    case GgmlType::kQ8_0:
      return 7;
    case GgmlType::kQ5_0:
      return 8;
    case GgmlType::kF16:
      return 1;
    case GgmlType::kBF16:
      return 32;
    default:
      return 0;
  }
}

}  // namespace

int64_t HfRowOfGgufRow(int64_t row, int64_t rows, int64_t heads) {
  // Within a head, GGUF interleaves the two rotate-half halves: row 2i+j ← row j·half + i.
  const int64_t head_dim = rows / heads;
  const int64_t half = head_dim / 2;
  const int64_t head = row / head_dim, within = row % head_dim;
  return head * head_dim + (within % 2) * half + within / 2;
}

int64_t GgufPermutedHeads(const ModelSpec& spec, LinearRole role) {
  if (role == LinearRole::kQ) return spec.num_heads;
  if (role == LinearRole::kK) return spec.num_kv_heads;
  return 0;
}

const char* GgufLinearTensorName(LinearRole role) {
  static constexpr const char* kNames[] = {"attn_q",   "attn_k", "attn_v",  "attn_output",
                                           "ffn_gate", "ffn_up", "ffn_down"};
  return kNames[static_cast<int>(role)];
}

absl::Status CheckGgufModel(const ModelSpec& spec) {
  const bool llama_like =
      spec.architecture == Architecture::kLlama ||
      (spec.architecture == Architecture::kMistral && !spec.sliding_window.has_value());
  if (!llama_like || spec.norm != NormKind::kRmsNorm || !spec.gated_mlp ||
      spec.activation != Activation::kSilu || spec.positions != PositionKind::kRope) {
    return absl::InvalidArgumentError(absl::StrCat(
        "GGUF output is written for Llama-architecture models (and Mistral without a sliding "
        "window); ",
        spec.architecture_name, " is not one yet: drop the gguf output"));
  }
  if (spec.head_dim % 2 != 0)
    return absl::InvalidArgumentError("GGUF: RoPE needs an even head dimension");
  return absl::OkStatus();
}

absl::Status CheckGgufLinear(const GridSpec& grid, int64_t out, int64_t in) {
  (void)out;
  if (GgmlTypeForGrid(grid, in)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "GGUF stores quantized weights in its own block types; ", grid.ToString(), " with ", in,
      " input columns is none of them. Use a GGUF preset (gptq-gguf-q4_0, awq-gguf-q4_0, "
      "rtn-gguf-q8_0, gptq-gguf-q4_k_m) or `gguf: {type: ...}` in the recipe, or a symmetric int4 "
      "/ int5 / int8 grid with fp16 scales and groups of 32 (or multiples)"));
}

namespace {

absl::Status WriteGguf(const QuenchArtifactReader* artifact, const ModelSpec& spec,
                       const Checkpoint& source, const std::filesystem::path& source_dir,
                       const std::filesystem::path& out_file,
                       const std::optional<GgufMixture>& mixture) {
  QUENCH_RETURN_IF_ERROR(CheckGgufModel(spec));
  std::error_code error;
  std::filesystem::create_directories(out_file.parent_path(), error);
  if (error) {
    return absl::PermissionDeniedError(
        absl::StrCat(out_file.parent_path().string(), ": ", error.message()));
  }
  GgufWriter writer;
  std::map<GgmlType, int> type_counts;
  struct Source {
    PlannedTensor tensor;
    GgmlType type;
    std::vector<int64_t> ne;
    DType float_dtype = DType::kF32;
  };
  std::vector<Source> sources;
  // Without an artifact (a plain conversion) every tensor is the source's.
  std::set<std::string> plain;
  if (artifact) plain.insert(artifact->PlainNames().begin(), artifact->PlainNames().end());
  const auto read_plain = [artifact, &source](const std::string& name) -> absl::StatusOr<Tensor> {
    if (artifact) return artifact->ReadPlain(name);
    QUENCH_ASSIGN_OR_RETURN(const Tensor stored, source.Get(name));
    return stored.ToFloat32();
  };
  for (PlannedTensor& tensor : PlanTensors(spec)) {
    const std::string module(absl::StripSuffix(tensor.hf_name, ".weight"));
    if (const auto* info = artifact ? artifact->FindQuantized(module) : nullptr) {
      const auto type = GgmlTypeForGrid(info->grid, info->cols);
      if (!type) {
        return absl::InvalidArgumentError(absl::StrCat(
            module, ": ", CheckGgufLinear(info->grid, info->rows, info->cols).message()));
      }
      if (!artifact->HasSequentialGroups(module)) {
        return absl::InvalidArgumentError(absl::StrCat(
            module, ": GGUF blocks have no g_idx; GPTQ act-order needs `static_groups: true`"));
      }
      tensor.module = module;
      sources.push_back({tensor, *type, {info->cols, info->rows}});
      ++type_counts[*type];
      continue;
    }
    const SafetensorsEntry* entry = source.FindEntry(tensor.hf_name);
    if (entry == nullptr || (artifact && !plain.contains(tensor.hf_name))) {
      return absl::InvalidArgumentError(
          absl::StrCat(tensor.hf_name, " (GGUF ", tensor.gguf_name,
                       ") is in neither the job's artifact nor the source model"));
    }
    std::vector<int64_t> ne(entry->shape.rbegin(), entry->shape.rend());
    const DType dtype = StoredFloatDType(entry->dtype, static_cast<int64_t>(ne.size()));
    sources.push_back({tensor, GgmlTypeOfDType(dtype), ne, dtype});
    if (ne.size() >= 2) ++type_counts[GgmlTypeOfDType(dtype)];
  }

  writer.Add("general.architecture", GgufValue::String("llama"));
  writer.Add("general.name", GgufValue::String(source_dir.filename().string()));
  writer.Add("general.alignment", GgufValue::U32(kGgufDefaultAlignment));
  writer.Add("general.file_type",
             GgufValue::U32(mixture ? mixture->file_type : FileTypeOf(type_counts)));
  writer.Add("general.quantization_version", GgufValue::U32(kQuantizationVersion));
  writer.Add("general.quantized_by", GgufValue::String("quench"));
  AddHyperParameters(spec, writer);
  QUENCH_ASSIGN_OR_RETURN(auto tokenizer, GgufTokenizerMetadata(source_dir, spec));
  for (auto& [key, value] : tokenizer) writer.Add(key, std::move(value));

  std::shared_ptr<QuantizedModuleCache> cache;
  if (artifact) cache = std::make_shared<QuantizedModuleCache>(*artifact);
  if (spec.rope_scaling.kind == RopeScalingKind::kLlama3) {
    const std::vector<float> factors = Llama3RopeFactors(spec);
    QUENCH_RETURN_IF_ERROR(
        writer.AddTensor("rope_freqs.weight", {static_cast<int64_t>(factors.size())},
                         GgmlType::kF32, [factors]() -> absl::StatusOr<std::vector<uint8_t>> {
                           std::vector<uint8_t> bytes(factors.size() * 4);
                           std::memcpy(bytes.data(), factors.data(), bytes.size());
                           return bytes;
                         }));
  }
  for (const Source& item : sources) {
    const PlannedTensor& tensor = item.tensor;
    const int64_t heads = tensor.permute_heads;
    GgufWriter::Producer produce;
    if (tensor.module) {
      produce = [cache, module = *tensor.module, type = item.type,
                 heads]() -> absl::StatusOr<std::vector<uint8_t>> {
        QUENCH_ASSIGN_OR_RETURN(const QuantizedTensor* q, cache->Get(module));
        return QuantizedRows(*q, type, heads);
      };
    } else {
      produce = [&read_plain, name = tensor.hf_name, dtype = item.float_dtype,
                 heads]() -> absl::StatusOr<std::vector<uint8_t>> {
        QUENCH_ASSIGN_OR_RETURN(const Tensor values, read_plain(name));
        return FloatRows(values, dtype, heads);
      };
    }
    QUENCH_RETURN_IF_ERROR(writer.AddTensor(tensor.gguf_name, item.ne, item.type, produce));
  }
  return writer.Write(out_file);
}

}  // namespace

absl::Status WriteGgufModel(const QuenchArtifactReader& artifact, const ModelSpec& spec,
                            const Checkpoint& source, const std::filesystem::path& source_dir,
                            const std::filesystem::path& out_file,
                            const std::optional<GgufMixture>& mixture) {
  return WriteGguf(&artifact, spec, source, source_dir, out_file, mixture);
}

absl::Status ConvertToGguf(const ModelSpec& spec, const Checkpoint& source,
                           const std::filesystem::path& source_dir,
                           const std::filesystem::path& out_file) {
  return WriteGguf(nullptr, spec, source, source_dir, out_file, std::nullopt);
}

}  // namespace quench
