#include "worker/solve_wire.h"

#include <cstring>

#include "core/util/status_macros.h"
#include "nlohmann/json.hpp"

namespace quench::worker {
namespace {

using nlohmann::json;

constexpr int64_t kParamFields = 5;

template <typename T>
int32_t Bits(T value) {
  static_assert(sizeof(T) == 4);
  int32_t bits;
  std::memcpy(&bits, &value, 4);
  return bits;
}

float FloatFromBits(int32_t bits) {
  float value;
  std::memcpy(&value, &bits, 4);
  return value;
}

absl::StatusOr<json> Parse(const std::string& text, const char* what) {
  json value = json::parse(text, nullptr, false);
  if (!value.is_object()) return absl::InvalidArgumentError(std::string(what) + " is not JSON");
  return value;
}

}  // namespace

std::string GridToWire(const GridSpec& grid) {
  return json{{"kind", static_cast<int>(grid.kind)},
              {"bits", grid.bits},
              {"symmetric", grid.symmetric},
              {"granularity", static_cast<int>(grid.granularity)},
              {"group_size", grid.group_size},
              {"scale_dtype", static_cast<int>(grid.scale_dtype)},
              {"observer", static_cast<int>(grid.observer)},
              {"percentile", grid.percentile},
              {"mse_grid", grid.mse_grid},
              {"mse_max_shrink", grid.mse_max_shrink},
              {"ggml_type", static_cast<int>(grid.ggml_type)}}
      .dump();
}

absl::StatusOr<GridSpec> GridFromWire(const std::string& text) {
  QUENCH_ASSIGN_OR_RETURN(const json value, Parse(text, "grid"));
  GridSpec grid;
  try {
    grid.kind = static_cast<GridKind>(value.at("kind").get<int>());
    grid.bits = value.at("bits").get<int>();
    grid.symmetric = value.at("symmetric").get<bool>();
    grid.granularity = static_cast<Granularity>(value.at("granularity").get<int>());
    grid.group_size = value.at("group_size").get<int64_t>();
    grid.scale_dtype = static_cast<DType>(value.at("scale_dtype").get<int>());
    grid.observer = static_cast<Observer>(value.at("observer").get<int>());
    grid.percentile = value.at("percentile").get<double>();
    grid.mse_grid = value.at("mse_grid").get<int>();
    grid.mse_max_shrink = value.at("mse_max_shrink").get<double>();
    grid.ggml_type = static_cast<GgmlType>(value.at("ggml_type").get<int>());
  } catch (const json::exception& error) {
    return absl::InvalidArgumentError(std::string("grid: ") + error.what());
  }
  QUENCH_RETURN_IF_ERROR(grid.Validate());
  return grid;
}

std::string GptqOptionsToWire(const GptqOptions& options) {
  return json{{"damp_percent", options.damp_percent},
              {"block_size", options.block_size},
              {"act_order", options.act_order},
              {"static_groups", options.static_groups},
              {"true_sequential", options.true_sequential}}
      .dump();
}

absl::StatusOr<GptqOptions> GptqOptionsFromWire(const std::string& text) {
  QUENCH_ASSIGN_OR_RETURN(const json value, Parse(text, "GPTQ options"));
  GptqOptions options;
  try {
    options.damp_percent = value.at("damp_percent").get<double>();
    options.block_size = value.at("block_size").get<int64_t>();
    options.act_order = value.at("act_order").get<bool>();
    options.static_groups = value.at("static_groups").get<bool>();
    options.true_sequential = value.at("true_sequential").get<bool>();
  } catch (const json::exception& error) {
    return absl::InvalidArgumentError(std::string("GPTQ options: ") + error.what());
  }
  return options;
}

QuantizedTensors QuantizedToTensors(const QuantizedTensor& quantized) {
  QuantizedTensors tensors;
  tensors.codes = Tensor::Zeros(DType::kU8, {quantized.rows, quantized.cols});
  std::memcpy(tensors.codes.mutable_data<uint8_t>(), quantized.codes.data(),
              quantized.codes.size());
  const int64_t count = static_cast<int64_t>(quantized.params.size());
  tensors.params = Tensor::Zeros(DType::kI32, {count, kParamFields});
  int32_t* fields = tensors.params.mutable_data<int32_t>();
  for (const GroupParams& p : quantized.params) {
    *fields++ = Bits(p.scale);
    *fields++ = p.zero;
    *fields++ = Bits(p.offset);
    *fields++ = static_cast<int32_t>(p.ggml_d | (static_cast<uint32_t>(p.ggml_dmin) << 16));
    *fields++ =
        static_cast<int32_t>(static_cast<uint16_t>(p.ggml_sub_scale) |
                             (static_cast<uint32_t>(static_cast<uint16_t>(p.ggml_sub_min)) << 16));
  }
  tensors.g_idx = Tensor::Zeros(DType::kI32, {quantized.cols});
  std::memcpy(tensors.g_idx.mutable_data<int32_t>(), quantized.g_idx.data(),
              quantized.g_idx.size() * sizeof(int32_t));
  return tensors;
}

absl::StatusOr<QuantizedTensor> QuantizedFromTensors(const GridSpec& grid, int64_t rows,
                                                     int64_t cols,
                                                     const QuantizedTensors& tensors) {
  QUENCH_ASSIGN_OR_RETURN(QuantizedTensor quantized, MakeQuantizedTensor(grid, rows, cols));
  const int64_t count = static_cast<int64_t>(quantized.params.size());
  if (tensors.codes.dtype() != DType::kU8 || tensors.codes.shape() != Shape{rows, cols} ||
      tensors.params.dtype() != DType::kI32 ||
      tensors.params.shape() != Shape{count, kParamFields} ||
      tensors.g_idx.dtype() != DType::kI32 || tensors.g_idx.shape() != Shape{cols}) {
    return absl::DataLossError("a solve result whose tensors do not fit its grid and shape");
  }
  std::memcpy(quantized.codes.data(), tensors.codes.raw_data(), quantized.codes.size());
  const int32_t* fields = tensors.params.data<int32_t>();
  for (GroupParams& p : quantized.params) {
    p.scale = FloatFromBits(*fields++);
    p.zero = *fields++;
    p.offset = FloatFromBits(*fields++);
    const auto ggml = static_cast<uint32_t>(*fields++);
    p.ggml_d = static_cast<uint16_t>(ggml & 0xffff);
    p.ggml_dmin = static_cast<uint16_t>(ggml >> 16);
    const auto sub = static_cast<uint32_t>(*fields++);
    p.ggml_sub_scale = static_cast<int16_t>(static_cast<uint16_t>(sub & 0xffff));
    p.ggml_sub_min = static_cast<int16_t>(static_cast<uint16_t>(sub >> 16));
  }
  std::memcpy(quantized.g_idx.data(), tensors.g_idx.raw_data(), cols * sizeof(int32_t));
  for (int32_t group : quantized.g_idx) {
    if (group < 0 || group >= quantized.num_groups) {
      return absl::DataLossError("a solve result with a g_idx out of range");
    }
  }
  return quantized;
}

}  // namespace quench::worker
