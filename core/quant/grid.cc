#include "core/quant/grid.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/quant/ggml_grid.h"
#include "core/util/check.h"

namespace quench {
namespace {

constexpr float kFp8Max = 448.0f;  // OCP e4m3 "fn"
constexpr float kFp4Max = 6.0f;    // e2m1
constexpr int kMxBlockSize = 32;   // OCP MX v1.0
constexpr int kMxMinExponent = -127;
constexpr int kMxMaxExponent = 127;
constexpr float kMxInt8Steps = 64.0f;  // mxint8 elements are q/64
constexpr int kMxInt8MaxQ = 127;

// NormalFloat4 (QLoRA), as in bitsandbytes; ascending, so the code order is the value order.
constexpr std::array<float, 16> kNf4Levels = {
    -1.0f,
    -0.6961928009986877f,
    -0.5250730514526367f,
    -0.39491748809814453f,
    -0.28444138169288635f,
    -0.18477343022823334f,
    -0.09105003625154495f,
    0.0f,
    0.07958029955625534f,
    0.16093020141124725f,
    0.24611230194568634f,
    0.33791524171829224f,
    0.44070982933044434f,
    0.5626170039176941f,
    0.7229568362236023f,
    1.0f,
};

// e2m1 values indexed by their bit pattern: bit 3 is the sign, then exponent (2) and mantissa (1).
constexpr std::array<float, 16> kFp4Values = {
    0.0f,  0.5f,  1.0f,  1.5f,  2.0f,  3.0f,  4.0f,  6.0f,
    -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f,
};

bool IsMx(GridKind kind) {
  return kind == GridKind::kMxFp4 || kind == GridKind::kMxFp8 || kind == GridKind::kMxInt8;
}

bool IsKnownKind(GridKind kind) {
  switch (kind) {
    case GridKind::kInt:
    case GridKind::kFp8:
    case GridKind::kNf4:
    case GridKind::kFp4:
    case GridKind::kMxFp4:
    case GridKind::kMxFp8:
    case GridKind::kMxInt8:
    case GridKind::kGgml:
      return true;
  }
  return false;
}

// The bit width every non-int kind is fixed to.
int FixedBits(GridKind kind) {
  switch (kind) {
    case GridKind::kFp8:
    case GridKind::kMxFp8:
    case GridKind::kMxInt8:
      return 8;
    default:
      return 4;
  }
}

int IntMaxCode(int bits) { return (1 << bits) - 1; }
int IntSymOffset(int bits) { return 1 << (bits - 1); }

// Rounds half to even, then clamps to [lo, hi]. NaN becomes 0 (clamped) so that the integer
// conversion that follows is always defined.
int RoundAndClamp(float value, int lo, int hi) {
  const float rounded = std::nearbyint(value);
  if (std::isnan(rounded)) return std::clamp(0, lo, hi);
  return static_cast<int>(std::clamp(rounded, static_cast<float>(lo), static_cast<float>(hi)));
}

// Rounds a positive (possibly infinite) fp32 scale to the scale dtype. A scale that would
// become 0 or inf there is replaced by the nearest finite positive value of that dtype
// (its smallest subnormal or its largest finite value), so a stored scale is never 0/inf/NaN.
float RoundScale(float scale, DType dtype) {
  float rounded = scale;
  float smallest = std::numeric_limits<float>::denorm_min();
  float largest = std::numeric_limits<float>::max();
  if (dtype == DType::kF16) {
    rounded = HalfBitsToFloat(FloatToHalfBits(scale));
    smallest = HalfBitsToFloat(0x0001);  // 2^-24
    largest = HalfBitsToFloat(0x7bff);   // 65504
  } else if (dtype == DType::kBF16) {
    rounded = BFloat16BitsToFloat(FloatToBFloat16Bits(scale));
    smallest = BFloat16BitsToFloat(0x0001);  // 2^-133
    largest = BFloat16BitsToFloat(0x7f7f);
  }
  if (!(rounded >= smallest)) return smallest;  // 0 (underflow) or NaN
  return std::min(rounded, largest);
}

// Scale for a symmetric grid whose largest magnitude is `max_level`. A zero group gets scale 1:
// every value then codes to 0 exactly.
float SymmetricScale(float absmax, float max_level, DType dtype) {
  if (!(absmax > 0.0f)) return 1.0f;
  return RoundScale(absmax / max_level, dtype);
}

// MX shared exponent (OCP MX v1.0): floor(log2(amax)) - emax_elem, clamped to e8m0's range.
int MxExponent(float amax, GridKind kind) {
  if (!(amax > 0.0f)) return kMxMinExponent;
  if (std::isinf(amax)) return kMxMaxExponent;
  int exponent = 0;
  std::frexp(amax, &exponent);  // amax = m·2^exponent, m in [0.5, 1): floor(log2) = exponent - 1
  const int element_emax = kind == GridKind::kMxFp4 ? 2 : kind == GridKind::kMxFp8 ? 8 : 0;
  return std::clamp(exponent - 1 - element_emax, kMxMinExponent, kMxMaxExponent);
}

GroupParams IntParamsFromRange(float min_value, float max_value, const GridSpec& spec) {
  GroupParams params;
  if (spec.symmetric) {
    const float absmax = std::max(std::fabs(min_value), std::fabs(max_value));
    params.scale =
        SymmetricScale(absmax, static_cast<float>(IntMaxCode(spec.bits)) / 2.0f, spec.scale_dtype);
    return params;
  }
  // Asymmetric: the range always contains 0 so that 0 is exactly representable.
  const float lo = std::min(min_value, 0.0f);
  const float hi = std::max(max_value, 0.0f);
  const float width = hi - lo;
  const int max_code = IntMaxCode(spec.bits);
  // The zero point comes from the rounded scale: stored scale and zero reproduce the codes.
  params.scale =
      width > 0.0f ? RoundScale(width / static_cast<float>(max_code), spec.scale_dtype) : 1.0f;
  params.zero = RoundAndClamp(-lo / params.scale, 0, max_code);
  return params;
}

// e2m1 magnitude code (0..7) nearest to `magnitude`, saturating at 6; ties go to the even code
// (even mantissa), which matches compressed-tensors and round-to-nearest-even casts.
uint8_t EncodeE2m1Magnitude(float magnitude) {
  uint8_t code = 0;
  for (uint8_t next = 1; next < 8; ++next) {
    const float midpoint = (kFp4Values[next - 1] + kFp4Values[next]) / 2.0f;
    const bool tie_goes_up = (next % 2) == 0;
    if (magnitude > midpoint || (tie_goes_up && magnitude == midpoint)) code = next;
  }
  return code;
}

// Sign bit plus magnitude code; values that round to zero give +0 (code 0), like the packers
// of compressed-tensors and llama.cpp, so a code's sign bit never carries a zero.
uint8_t EncodeE2m1(float value) {
  if (std::isnan(value)) return 0;
  const uint8_t magnitude_code = EncodeE2m1Magnitude(std::fabs(value));
  if (magnitude_code == 0 || !std::signbit(value)) return magnitude_code;
  return magnitude_code | 0x8;
}

// Index of the NF4 level nearest to `value`; an exact tie between two levels goes to the lower
// index (as bitsandbytes' decision tree, which tests x > midpoint).
uint8_t EncodeNf4(float value) {
  constexpr uint8_t kZeroIndex = 7;
  if (std::isnan(value)) return kZeroIndex;
  const auto upper = std::lower_bound(kNf4Levels.begin(), kNf4Levels.end(), value);
  if (upper == kNf4Levels.begin()) return 0;
  if (upper == kNf4Levels.end()) return static_cast<uint8_t>(kNf4Levels.size() - 1);
  const auto lower = upper - 1;
  const bool lower_is_nearer = value - *lower <= *upper - value;
  return static_cast<uint8_t>((lower_is_nearer ? lower : upper) - kNf4Levels.begin());
}

// Nearest-rank percentile (the ceil(p/100·n)-th smallest value, at least the first) of
// `values`; reorders them.
float NearestRank(std::vector<float>& values, double percentile) {
  const double n = static_cast<double>(values.size());
  // The small tolerance keeps e.g. 99.9% of 1000 at rank 999 despite binary fractions.
  const double rank = std::ceil(percentile * n / 100.0 - 1e-9);
  const size_t index = static_cast<size_t>(std::clamp(rank, 1.0, n)) - 1;
  std::nth_element(values.begin(), values.begin() + index, values.end());
  return values[index];
}

struct Range {
  float min = 0.0f;
  float max = 0.0f;
};

Range MinMaxRange(std::span<const float> values) {
  Range range{std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity()};
  for (const float value : values) {
    range.min = std::min(range.min, value);
    range.max = std::max(range.max, value);
  }
  return range;
}

// Symmetric grids clip |x| at its percentile; asymmetric ones clip x at its (100-p)th and pth.
Range PercentileRange(std::span<const float> values, const GridSpec& spec) {
  std::vector<float> sorted(values.begin(), values.end());
  if (spec.kind != GridKind::kInt || spec.symmetric) {
    for (float& value : sorted) value = std::fabs(value);
    const float absmax = NearestRank(sorted, spec.percentile);
    return {-absmax, absmax};
  }
  const float low = NearestRank(sorted, 100.0 - spec.percentile);
  const float high = NearestRank(sorted, spec.percentile);
  return {low, high};
}

double SquaredError(std::span<const float> values, const GroupParams& params,
                    const GridSpec& spec) {
  double sum = 0.0;
  for (const float value : values) {
    const double error = static_cast<double>(value) - FakeQuantize(value, params, spec);
    sum += error * error;
  }
  return sum;
}

// GPTQ's find_params(mse=True) search over shrunk min/max ranges, with squared error instead
// of its |err|^2.4. Factor 1 (k = 0) is the min/max range, so MSE is never worse than it; ties
// keep the first (largest) factor.
GroupParams MseParams(std::span<const float> values, const GridSpec& spec) {
  const Range range = MinMaxRange(values);
  GroupParams best = ParamsFromRange(range.min, range.max, spec);
  double best_error = SquaredError(values, best, spec);
  for (int k = 1; k <= spec.mse_grid; ++k) {
    const float factor = static_cast<float>(1.0 - k * spec.mse_max_shrink / spec.mse_grid);
    const GroupParams candidate = ParamsFromRange(factor * range.min, factor * range.max, spec);
    const double error = SquaredError(values, candidate, spec);
    if (error < best_error) {
      best = candidate;
      best_error = error;
    }
  }
  return best;
}

absl::string_view ScaleDtypeLabel(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return "fp32";
    case DType::kF16:
      return "fp16";
    case DType::kBF16:
      return "bf16";
    default:
      return DTypeName(dtype);
  }
}

std::string ObserverLabel(const GridSpec& spec) {
  switch (spec.observer) {
    case Observer::kMinMax:
      return "minmax";
    case Observer::kPercentile:
      return absl::StrFormat("percentile %g", spec.percentile);
    case Observer::kMse:
      return absl::StrFormat("mse grid %d, shrink %g", spec.mse_grid, spec.mse_max_shrink);
  }
  return "unknown observer";
}

std::string GranularityLabel(const GridSpec& spec) {
  switch (spec.granularity) {
    case Granularity::kTensor:
      return "per-tensor";
    case Granularity::kChannel:
      return "per-channel";
    case Granularity::kGroup:
      return absl::StrCat("g", spec.group_size);
  }
  return "unknown granularity";
}

absl::Status CheckBits(const GridSpec& spec) {
  if (spec.kind == GridKind::kInt) {
    if (spec.bits < 2 || spec.bits > 8) {
      return absl::InvalidArgumentError(
          absl::StrCat("bits: int grids take 2..8 bits, got ", spec.bits));
    }
    return absl::OkStatus();
  }
  const int fixed = FixedBits(spec.kind);
  if (spec.bits != fixed) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bits: ", GridKindName(spec.kind), " grids take ", fixed, " bits, got ", spec.bits));
  }
  return absl::OkStatus();
}

absl::Status CheckGranularity(const GridSpec& spec) {
  if (IsMx(spec.kind)) {
    // group_size is ignored: MX blocks are always 32 columns.
    if (spec.granularity != Granularity::kGroup) {
      return absl::InvalidArgumentError(
          absl::StrCat("granularity: ", GridKindName(spec.kind),
                       " scales blocks of 32 columns (OCP MX); use group granularity"));
    }
    return absl::OkStatus();
  }
  // Every other kind takes any granularity; fp8 per group is the same math as per channel.
  if (spec.granularity == Granularity::kGroup && spec.group_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("group_size: group granularity needs group_size >= 1, got ", spec.group_size));
  }
  if (spec.granularity != Granularity::kTensor && spec.granularity != Granularity::kChannel &&
      spec.granularity != Granularity::kGroup) {
    return absl::InvalidArgumentError("granularity: must be tensor, channel or group");
  }
  return absl::OkStatus();
}

absl::Status CheckObserver(const GridSpec& spec) {
  switch (spec.observer) {
    case Observer::kMinMax:
      return absl::OkStatus();
    case Observer::kPercentile:
      if (!(spec.percentile > 0.0 && spec.percentile <= 100.0)) {
        return absl::InvalidArgumentError(
            absl::StrCat("percentile: must be in (0, 100], got ", spec.percentile));
      }
      return absl::OkStatus();
    case Observer::kMse:
      if (spec.mse_grid < 1) {
        return absl::InvalidArgumentError(
            absl::StrCat("mse_grid: must be >= 1, got ", spec.mse_grid));
      }
      if (!(spec.mse_max_shrink > 0.0 && spec.mse_max_shrink < 1.0)) {
        return absl::InvalidArgumentError(
            absl::StrCat("mse_max_shrink: must be in (0, 1), got ", spec.mse_max_shrink));
      }
      return absl::OkStatus();
  }
  return absl::InvalidArgumentError("observer: must be minmax, percentile or mse");
}

}  // namespace

absl::string_view GridKindName(GridKind kind) {
  switch (kind) {
    case GridKind::kInt:
      return "int";
    case GridKind::kFp8:
      return "fp8";
    case GridKind::kNf4:
      return "nf4";
    case GridKind::kFp4:
      return "fp4";
    case GridKind::kMxFp4:
      return "mxfp4";
    case GridKind::kMxFp8:
      return "mxfp8";
    case GridKind::kMxInt8:
      return "mxint8";
    case GridKind::kGgml:
      return "ggml";
  }
  return "unknown";
}

absl::Status GridSpec::Validate() const {
  if (!IsKnownKind(kind)) {
    return absl::InvalidArgumentError(
        absl::StrCat("kind: unknown grid kind ", static_cast<int>(kind)));
  }
  if (kind == GridKind::kGgml) return ValidateGgmlGrid(*this);
  if (absl::Status status = CheckBits(*this); !status.ok()) return status;
  if (!symmetric && kind != GridKind::kInt) {
    return absl::InvalidArgumentError(absl::StrCat("symmetric: only int grids can be asymmetric; ",
                                                   GridKindName(kind), " is symmetric"));
  }
  if (absl::Status status = CheckGranularity(*this); !status.ok()) return status;
  if (!IsMx(kind) && scale_dtype != DType::kF32 && scale_dtype != DType::kF16 &&
      scale_dtype != DType::kBF16) {
    return absl::InvalidArgumentError(
        absl::StrCat("scale_dtype: scales are F32, F16 or BF16, got ", DTypeName(scale_dtype)));
  }
  return CheckObserver(*this);
}

int64_t GridSpec::EffectiveGroupSize(int64_t cols) const {
  if (IsMx(kind)) return kMxBlockSize;
  if (kind == GridKind::kGgml) return GgmlSubBlockSize(ggml_type);
  if (granularity != Granularity::kGroup || group_size < 1) return cols;
  return std::min(group_size, cols);
}

int64_t GridSpec::ParamSpan(int64_t cols) const {
  if (kind == GridKind::kGgml) return GgmlTypeInfoOf(ggml_type).block_size;
  return EffectiveGroupSize(cols);
}

int GridSpec::num_codes() const {
  switch (kind) {
    case GridKind::kInt:
    case GridKind::kGgml:
      return 1 << bits;
    case GridKind::kNf4:
    case GridKind::kFp4:
    case GridKind::kMxFp4:
      return 16;
    default:
      return 256;
  }
}

std::string GridSpec::ToString() const {
  const std::string details =
      absl::StrCat("(", ScaleDtypeLabel(scale_dtype), " scales, ", ObserverLabel(*this), ")");
  switch (kind) {
    case GridKind::kInt:
      return absl::StrCat("int", bits, symmetric ? " sym " : " asym ", GranularityLabel(*this), " ",
                          details);
    case GridKind::kFp8:
      return absl::StrCat("fp8 e4m3 ", GranularityLabel(*this), " ", details);
    case GridKind::kNf4:
      return absl::StrCat("nf4 ", GranularityLabel(*this), " ", details);
    case GridKind::kFp4:
      return absl::StrCat("fp4 e2m1 ", GranularityLabel(*this), " ", details);
    case GridKind::kGgml:
      return absl::StrCat("ggml ", GgmlTypeInfoOf(ggml_type).name, " (llama.cpp's block search)");
    default:  // MX: e8m0 scales, blocks of 32; only a non-default observer is worth naming
      if (observer == Observer::kMinMax) return std::string(GridKindName(kind));
      return absl::StrCat(GridKindName(kind), " (", ObserverLabel(*this), ")");
  }
}

GroupParams ParamsFromRange(float min_value, float max_value, const GridSpec& spec) {
  const float absmax = std::max(std::fabs(min_value), std::fabs(max_value));
  GroupParams params;
  switch (spec.kind) {
    case GridKind::kInt:
      return IntParamsFromRange(min_value, max_value, spec);
    case GridKind::kFp8:
      params.scale = SymmetricScale(absmax, kFp8Max, spec.scale_dtype);
      break;
    case GridKind::kNf4:
      params.scale = SymmetricScale(absmax, 1.0f, spec.scale_dtype);
      break;
    case GridKind::kFp4:
      params.scale = SymmetricScale(absmax, kFp4Max, spec.scale_dtype);
      break;
    case GridKind::kMxFp4:
    case GridKind::kMxFp8:
    case GridKind::kMxInt8:
      params.scale = std::ldexp(1.0f, MxExponent(absmax, spec.kind));
      break;
    case GridKind::kGgml:
      QUENCH_CHECK(false && "ggml grids choose parameters per block: use ChooseSpanParams");
  }
  return params;
}

void ChooseSpanParams(std::span<const float> values, const GridSpec& spec, int64_t group_size,
                      std::span<GroupParams> out) {
  if (spec.kind == GridKind::kGgml) {
    ChooseGgmlBlockParams(values, spec, out);
    return;
  }
  for (size_t group = 0; group < out.size(); ++group) {
    const size_t begin = group * group_size;
    const size_t width = std::min<size_t>(group_size, values.size() - begin);
    out[group] = ChooseGroupParams(values.subspan(begin, width), spec);
  }
}

GroupParams ChooseGroupParams(std::span<const float> values, const GridSpec& spec) {
  if (values.empty()) return ParamsFromRange(0.0f, 0.0f, spec);
  switch (spec.observer) {
    case Observer::kPercentile: {
      const Range range = PercentileRange(values, spec);
      return ParamsFromRange(range.min, range.max, spec);
    }
    case Observer::kMse:
      return MseParams(values, spec);
    case Observer::kMinMax:
      break;
  }
  const Range range = MinMaxRange(values);
  return ParamsFromRange(range.min, range.max, spec);
}

uint8_t EncodeValue(float value, const GroupParams& params, const GridSpec& spec) {
  const float ratio = value / params.scale;
  switch (spec.kind) {
    case GridKind::kInt: {
      if (spec.symmetric) {
        const int offset = IntSymOffset(spec.bits);
        return static_cast<uint8_t>(RoundAndClamp(ratio, -offset, offset - 1) + offset);
      }
      const int max_code = IntMaxCode(spec.bits);
      const float shifted = std::nearbyint(ratio) + static_cast<float>(params.zero);
      return static_cast<uint8_t>(RoundAndClamp(shifted, 0, max_code));
    }
    case GridKind::kFp8:
    case GridKind::kMxFp8:
      return FloatToE4M3Bits(ratio);
    case GridKind::kNf4:
      return EncodeNf4(ratio);
    case GridKind::kFp4:
    case GridKind::kMxFp4:
      return EncodeE2m1(ratio);
    case GridKind::kMxInt8:
      return static_cast<uint8_t>(RoundAndClamp(ratio * kMxInt8Steps, -kMxInt8MaxQ, kMxInt8MaxQ) +
                                  128);
    case GridKind::kGgml:
      return EncodeGgmlValue(value, params, spec);
  }
  return 0;
}

float DecodeValue(uint8_t code, const GroupParams& params, const GridSpec& spec) {
  switch (spec.kind) {
    case GridKind::kInt: {
      const int zero = spec.symmetric ? IntSymOffset(spec.bits) : params.zero;
      return static_cast<float>(static_cast<int>(code) - zero) * params.scale;
    }
    case GridKind::kFp8:
    case GridKind::kMxFp8:
      return E4M3BitsToFloat(code) * params.scale;
    case GridKind::kNf4:
      return kNf4Levels[code & 0xf] * params.scale;
    case GridKind::kFp4:
    case GridKind::kMxFp4:
      return kFp4Values[code & 0xf] * params.scale;
    case GridKind::kMxInt8:
      return static_cast<float>(static_cast<int>(code) - 128) / kMxInt8Steps * params.scale;
    case GridKind::kGgml:
      return DecodeGgmlValue(code, params, spec);
  }
  return 0.0f;
}

}  // namespace quench
