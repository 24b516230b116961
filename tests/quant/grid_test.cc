// Quantization grids checked against hand-computed scales and codes, and against slow, obvious
// references: a brute-force search over every code for the nearest representable value, the
// scale formulas written out, and the MSE search written as a plain loop.
#include "core/quant/grid.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/quant/quantized_tensor.h"
#include "core/tensor/dtype.h"
#include "core/tensor/tensor.h"
#include "core/util/thread_pool.h"

namespace quench {

// Defined in quantized_tensor.cc: QuantizeRtn on a given pool (not yet declared in the header).
absl::StatusOr<QuantizedTensor> QuantizeRtn(const Tensor& weight, const GridSpec& grid,
                                            ThreadPool& pool);

namespace {

// The QLoRA / bitsandbytes NF4 table.
constexpr std::array<double, 16> kNf4Reference = {
    -1.0,
    -0.6961928009986877,
    -0.5250730514526367,
    -0.39491748809814453,
    -0.28444138169288635,
    -0.18477343022823334,
    -0.09105003625154495,
    0.0,
    0.07958029955625534,
    0.16093020141124725,
    0.24611230194568634,
    0.33791524171829224,
    0.44070982933044434,
    0.5626170039176941,
    0.7229568362236023,
    1.0,
};

// e2m1 from its bit fields: sign (bit 3), exponent (bits 2..1, bias 1), mantissa (bit 0).
double E2m1Reference(uint8_t code) {
  const int exponent = (code >> 1) & 0x3;
  const int mantissa = code & 0x1;
  const double magnitude =
      exponent == 0 ? mantissa * 0.5 : std::ldexp(1.0 + mantissa * 0.5, exponent - 1);
  return (code & 0x8) ? -magnitude : magnitude;
}

double ReferenceDecode(uint8_t code, const GroupParams& params, const GridSpec& spec) {
  const double scale = params.scale;
  switch (spec.kind) {
    case GridKind::kInt: {
      const int zero = spec.symmetric ? 1 << (spec.bits - 1) : params.zero;
      return (static_cast<int>(code) - zero) * scale;
    }
    case GridKind::kFp8:
    case GridKind::kMxFp8:
      return E4M3BitsToFloat(code) * scale;
    case GridKind::kNf4:
      return kNf4Reference[code] * scale;
    case GridKind::kFp4:
    case GridKind::kMxFp4:
      return E2m1Reference(code) * scale;
    case GridKind::kMxInt8:
      return (static_cast<int>(code) - 128) / 64.0 * scale;
    case GridKind::kGgml:
      return (static_cast<int>(code) - params.zero) * scale + params.offset;
  }
  return NAN;
}

// Every code an encoder may produce.
std::vector<uint8_t> ValidCodes(const GridSpec& spec) {
  std::vector<uint8_t> codes;
  for (int code = 0; code < spec.num_codes(); ++code) {
    const bool fp8_nan =
        (spec.kind == GridKind::kFp8 || spec.kind == GridKind::kMxFp8) && (code & 0x7f) == 0x7f;
    const bool mxint8_unused = spec.kind == GridKind::kMxInt8 && code == 0;  // q = -128
    if (!fp8_nan && !mxint8_unused) codes.push_back(static_cast<uint8_t>(code));
  }
  return codes;
}

// Checks that `value` encodes to (one of) the nearest representable values, exact ties aside,
// and that the decoder agrees with the reference decoder.
void ExpectNearestCode(float value, const GroupParams& params, const GridSpec& spec) {
  const uint8_t code = EncodeValue(value, params, spec);
  ASSERT_LT(code, spec.num_codes());
  const double decoded = ReferenceDecode(code, params, spec);
  ASSERT_EQ(DecodeValue(code, params, spec), static_cast<float>(decoded)) << int{code};
  double best = INFINITY;
  for (const uint8_t candidate : ValidCodes(spec)) {
    best = std::min(best, std::fabs(ReferenceDecode(candidate, params, spec) - value));
  }
  const double slack = 1e-6 * (std::fabs(value) + params.scale);
  EXPECT_LE(std::fabs(decoded - value), best + slack)
      << spec.ToString() << " value " << value << " code " << int{code} << " scale " << params.scale
      << " zero " << params.zero;
}

float RoundToDtype(float value, DType dtype) {
  if (dtype == DType::kF16) return HalfBitsToFloat(FloatToHalfBits(value));
  if (dtype == DType::kBF16) return BFloat16BitsToFloat(FloatToBFloat16Bits(value));
  return value;
}

// The int parameter formulas written out (no zero groups here).
GroupParams ReferenceIntParams(std::span<const float> values, const GridSpec& spec) {
  float lo = 0.0f;
  float hi = 0.0f;
  for (const float value : values) {
    lo = std::min(lo, value);
    hi = std::max(hi, value);
  }
  const int max_code = (1 << spec.bits) - 1;
  GroupParams params;
  if (spec.symmetric) {
    const float absmax = std::max(-lo, hi);
    params.scale = RoundToDtype(absmax / (max_code / 2.0f), spec.scale_dtype);
  } else {
    params.scale = RoundToDtype((hi - lo) / static_cast<float>(max_code), spec.scale_dtype);
    params.zero = static_cast<int32_t>(
        std::clamp(std::nearbyint(-lo / params.scale), 0.0f, static_cast<float>(max_code)));
  }
  return params;
}

GridSpec IntGrid(int bits, bool symmetric, Granularity granularity, int64_t group_size = 32,
                 DType scale_dtype = DType::kF32) {
  GridSpec spec;
  spec.kind = GridKind::kInt;
  spec.bits = bits;
  spec.symmetric = symmetric;
  spec.granularity = granularity;
  spec.group_size = group_size;
  spec.scale_dtype = scale_dtype;
  return spec;
}

GridSpec KindGrid(GridKind kind, Granularity granularity = Granularity::kGroup,
                  int64_t group_size = 32, DType scale_dtype = DType::kF32) {
  GridSpec spec;
  spec.kind = kind;
  spec.bits =
      (kind == GridKind::kFp8 || kind == GridKind::kMxFp8 || kind == GridKind::kMxInt8) ? 8 : 4;
  spec.granularity = granularity;
  spec.group_size = group_size;
  spec.scale_dtype = scale_dtype;
  return spec;
}

// Normal weights with a few large outliers, like real linear layers.
Tensor RandomMatrix(int64_t rows, int64_t cols, uint32_t seed) {
  Tensor matrix = Tensor::Zeros(DType::kF32, {rows, cols});
  float* data = matrix.mutable_data<float>();
  std::mt19937 generator(seed);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  std::uniform_int_distribution<int> outlier(0, 49);
  for (int64_t i = 0; i < rows * cols; ++i) {
    data[i] = normal(generator);
    if (outlier(generator) == 0) data[i] *= 8.0f;
  }
  return matrix;
}

std::span<const float> GroupValues(const Tensor& matrix, const QuantizedTensor& q, int64_t row,
                                   int64_t group) {
  const int64_t begin = group * q.group_size;
  const int64_t end = std::min(q.cols, begin + q.group_size);
  return {matrix.data<float>() + row * q.cols + begin, static_cast<size_t>(end - begin)};
}

double SquaredError(std::span<const float> values, const GroupParams& params,
                    const GridSpec& spec) {
  double sum = 0.0;
  for (const float value : values) {
    // The fp32 value the model sees (DecodeValue is checked against ReferenceDecode elsewhere).
    const double error = static_cast<double>(value) - FakeQuantize(value, params, spec);
    sum += error * error;
  }
  return sum;
}

void ExpectSameParams(const GroupParams& actual, const GroupParams& expected) {
  EXPECT_EQ(std::bit_cast<uint32_t>(actual.scale), std::bit_cast<uint32_t>(expected.scale))
      << actual.scale << " vs " << expected.scale;
  EXPECT_EQ(actual.zero, expected.zero);
}

// Quantizes, then checks every group's parameters against ChooseGroupParams on that group's
// values, every code against the brute-force nearest, and Dequantize against FakeQuantize.
QuantizedTensor QuantizeAndCheck(const Tensor& weight, const GridSpec& spec) {
  absl::StatusOr<QuantizedTensor> result = QuantizeRtn(weight, spec);
  EXPECT_TRUE(result.ok()) << result.status();
  if (!result.ok()) return {};
  const QuantizedTensor& q = *result;
  const float* data = weight.data<float>();
  const GroupParams tensor_params = ChooseGroupParams(
      std::span<const float>(data, static_cast<size_t>(weight.num_elements())), spec);
  for (int64_t row = 0; row < q.rows; ++row) {
    for (int64_t group = 0; group < q.num_groups; ++group) {
      ExpectSameParams(q.params[row * q.num_groups + group],
                       spec.granularity == Granularity::kTensor
                           ? tensor_params
                           : ChooseGroupParams(GroupValues(weight, q, row, group), spec));
    }
  }
  const Tensor dequantized = q.Dequantize();
  EXPECT_EQ(dequantized.shape(), weight.shape());
  for (int64_t row = 0; row < q.rows; ++row) {
    for (int64_t col = 0; col < q.cols; ++col) {
      const int64_t index = row * q.cols + col;
      const GroupParams& params = q.ParamsAt(row, col);
      EXPECT_EQ(q.codes[index], EncodeValue(data[index], params, spec));
      EXPECT_EQ(dequantized.data<float>()[index], FakeQuantize(data[index], params, spec));
      ExpectNearestCode(data[index], params, spec);
    }
  }
  return std::move(*result);
}

TEST(IntGridTest, SymmetricHandComputed) {
  const GridSpec int4 = IntGrid(4, true, Granularity::kGroup);
  const std::vector<float> values = {-3.0f, 1.5f, 0.75f, 7.5f, -7.5f};
  const GroupParams params = ChooseGroupParams(values, int4);
  EXPECT_EQ(params.scale, 1.0f);                   // 7.5 / 7.5
  EXPECT_EQ(EncodeValue(-3.0f, params, int4), 5);  // q = -3
  EXPECT_EQ(EncodeValue(1.5f, params, int4), 10);  // 1.5 rounds to even 2
  EXPECT_EQ(EncodeValue(0.75f, params, int4), 9);  // q = 1
  EXPECT_EQ(EncodeValue(7.5f, params, int4), 15);  // 8 clamps to 7
  EXPECT_EQ(EncodeValue(-7.5f, params, int4), 0);  // -8 is in range
  EXPECT_EQ(DecodeValue(15, params, int4), 7.0f);
  EXPECT_EQ(DecodeValue(0, params, int4), -8.0f);

  const GridSpec int2 = IntGrid(2, true, Granularity::kChannel);
  const GroupParams params2 = ParamsFromRange(-1.0f, 3.0f, int2);
  EXPECT_EQ(params2.scale, 2.0f);                  // 3 / 1.5
  EXPECT_EQ(EncodeValue(3.0f, params2, int2), 3);  // 1.5 → 2 → clamp 1
  EXPECT_EQ(EncodeValue(-3.0f, params2, int2), 0);
  EXPECT_EQ(EncodeValue(1.0f, params2, int2), 2);  // 0.5 rounds to even 0

  const GridSpec int8 = IntGrid(8, true, Granularity::kTensor);
  const GroupParams params8 = ParamsFromRange(-127.5f, 10.0f, int8);
  EXPECT_EQ(params8.scale, 1.0f);
  EXPECT_EQ(EncodeValue(-127.5f, params8, int8), 0);
  EXPECT_EQ(EncodeValue(3.5f, params8, int8), 132);
  EXPECT_EQ(EncodeValue(2.5f, params8, int8), 130);
  EXPECT_EQ(EncodeValue(1000.0f, params8, int8), 255);
}

TEST(IntGridTest, AsymmetricHandComputed) {
  const GridSpec int4 = IntGrid(4, false, Granularity::kGroup);
  const std::vector<float> values = {-3.0f, 4.5f, 1.25f, 0.75f};
  const GroupParams params = ChooseGroupParams(values, int4);
  EXPECT_EQ(params.scale, 0.5f);  // 7.5 / 15
  EXPECT_EQ(params.zero, 6);      // 3 / 0.5
  EXPECT_EQ(EncodeValue(-3.0f, params, int4), 0);
  EXPECT_EQ(EncodeValue(4.5f, params, int4), 15);
  EXPECT_EQ(EncodeValue(1.25f, params, int4), 8);  // 2.5 → 2
  EXPECT_EQ(EncodeValue(0.75f, params, int4), 8);  // 1.5 → 2
  EXPECT_EQ(EncodeValue(0.0f, params, int4), 6);
  EXPECT_EQ(DecodeValue(6, params, int4), 0.0f);
  EXPECT_EQ(DecodeValue(15, params, int4), 4.5f);

  // An all-positive range still contains 0.
  const GroupParams positive = ParamsFromRange(1.0f, 7.5f, int4);
  EXPECT_EQ(positive.scale, 0.5f);
  EXPECT_EQ(positive.zero, 0);
  EXPECT_EQ(EncodeValue(1.0f, positive, int4), 2);
  EXPECT_EQ(EncodeValue(0.0f, positive, int4), 0);
  // An all-negative one too.
  const GroupParams negative = ParamsFromRange(-7.5f, -1.0f, int4);
  EXPECT_EQ(negative.scale, 0.5f);
  EXPECT_EQ(negative.zero, 15);
  EXPECT_EQ(DecodeValue(15, negative, int4), 0.0f);
}

// Every int width, symmetric or not, at every granularity, with a ragged last group.
TEST(IntGridTest, AllWidthsMatchFormulasAndNearestCode) {
  const Tensor weight = RandomMatrix(5, 172, 1);
  for (int bits = 2; bits <= 8; ++bits) {
    for (const bool symmetric : {true, false}) {
      for (const Granularity granularity :
           {Granularity::kTensor, Granularity::kChannel, Granularity::kGroup}) {
        for (const DType scale_dtype : {DType::kF32, DType::kF16, DType::kBF16}) {
          const GridSpec spec = IntGrid(bits, symmetric, granularity, 32, scale_dtype);
          SCOPED_TRACE(spec.ToString());
          const QuantizedTensor q = QuantizeAndCheck(weight, spec);
          ASSERT_EQ(q.num_groups, granularity == Granularity::kGroup ? 6 : 1);
          for (int64_t row = 0; row < q.rows; ++row) {
            for (int64_t group = 0; group < q.num_groups; ++group) {
              const std::span<const float> values =
                  granularity == Granularity::kTensor
                      ? std::span<const float>(weight.data<float>(), 5 * 172)
                      : GroupValues(weight, q, row, group);
              ExpectSameParams(q.params[row * q.num_groups + group],
                               ReferenceIntParams(values, spec));
            }
          }
          for (const uint8_t code : q.codes) ASSERT_LT(code, 1 << bits);
        }
      }
    }
  }
}

TEST(IntGridTest, RaggedLastGroupHasItsOwnParams) {
  // stories260K's MLP width: 172 = 5·32 + 12.
  Tensor weight = RandomMatrix(3, 172, 2);
  weight.mutable_data<float>()[171] = 40.0f;  // an outlier in row 0's last, short group
  const GridSpec spec = IntGrid(4, true, Granularity::kGroup, 32, DType::kF16);
  absl::StatusOr<QuantizedTensor> made = MakeQuantizedTensor(spec, 3, 172);
  ASSERT_TRUE(made.ok()) << made.status();
  EXPECT_EQ(made->group_size, 32);
  EXPECT_EQ(made->num_groups, 6);
  EXPECT_EQ(made->g_idx[159], 4);
  EXPECT_EQ(made->g_idx[160], 5);
  EXPECT_EQ(made->g_idx[171], 5);
  EXPECT_EQ(made->codes.size(), 3u * 172u);
  EXPECT_EQ(made->params.size(), 3u * 6u);

  const QuantizedTensor q = QuantizeAndCheck(weight, spec);
  EXPECT_EQ(q.params[5].scale, RoundToDtype(40.0f / 7.5f, DType::kF16));
  EXPECT_LT(q.params[4].scale, 1.0f);  // the outlier stays in its group
  EXPECT_EQ(q.codes[171], 15);
}

TEST(IntGridTest, GroupLargerThanRowIsTheRow) {
  const GridSpec spec = IntGrid(4, true, Granularity::kGroup, 128);
  EXPECT_EQ(spec.EffectiveGroupSize(64), 64);
  EXPECT_EQ(spec.EffectiveGroupSize(300), 128);
  EXPECT_EQ(IntGrid(4, true, Granularity::kChannel).EffectiveGroupSize(300), 300);
  EXPECT_EQ(IntGrid(4, true, Granularity::kTensor).EffectiveGroupSize(300), 300);
  const QuantizedTensor q = QuantizeAndCheck(RandomMatrix(2, 64, 3), spec);
  EXPECT_EQ(q.num_groups, 1);
}

TEST(ScaleRoundingTest, HandComputedFp16AndBf16Scales) {
  GridSpec spec = IntGrid(4, true, Granularity::kGroup);
  spec.scale_dtype = DType::kF32;
  EXPECT_EQ(ParamsFromRange(-1.0f, 1.0f, spec).scale, 1.0f / 7.5f);
  spec.scale_dtype = DType::kF16;
  EXPECT_EQ(ParamsFromRange(-1.0f, 1.0f, spec).scale, 0.13330078125f);  // 1092·2^-13
  spec.scale_dtype = DType::kBF16;
  EXPECT_EQ(ParamsFromRange(-1.0f, 1.0f, spec).scale, 0.1337890625f);  // 137·2^-10

  // 0.467 lies on different sides of a rounding boundary for the exact and the bf16 scale:
  // 0.467 / (1/7.5) = 3.5025 → 4, but 0.467 / 0.1337890625 = 3.4906 → 3.
  spec.scale_dtype = DType::kF32;
  EXPECT_EQ(EncodeValue(0.467f, ParamsFromRange(-1.0f, 1.0f, spec), spec), 12);
  spec.scale_dtype = DType::kBF16;
  const GroupParams rounded = ParamsFromRange(-1.0f, 1.0f, spec);
  EXPECT_EQ(EncodeValue(0.467f, rounded, spec), 11);
  EXPECT_EQ(FakeQuantize(0.467f, rounded, spec), 3.0f * 0.1337890625f);
}

TEST(ScaleRoundingTest, CodesUseTheRoundedScale) {
  std::mt19937 generator(4);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  for (const DType dtype : {DType::kF16, DType::kBF16}) {
    for (const bool symmetric : {true, false}) {
      const GridSpec spec = IntGrid(4, symmetric, Granularity::kGroup, 32, dtype);
      std::vector<float> values(32);
      for (float& value : values) value = uniform(generator) * 0.3f;
      const GroupParams params = ChooseGroupParams(values, spec);
      ExpectSameParams(params, ReferenceIntParams(values, spec));
      EXPECT_EQ(params.scale, RoundToDtype(params.scale, dtype));
      for (const float value : values) {
        // Reference: round-half-even with the stored (rounded) scale, then clamp.
        const int zero = symmetric ? 8 : params.zero;
        const float q = std::clamp(std::nearbyint(value / params.scale) + zero, 0.0f, 15.0f);
        EXPECT_EQ(FakeQuantize(value, params, spec), (q - zero) * params.scale) << value;
      }
    }
  }
}

TEST(ScaleRoundingTest, ScalesNeverUnderflowOrOverflow) {
  GridSpec spec = IntGrid(4, true, Granularity::kGroup, 32, DType::kF16);
  EXPECT_EQ(ParamsFromRange(-1e-9f, 1e-9f, spec).scale, std::ldexp(1.0f, -24));
  EXPECT_EQ(ParamsFromRange(-1e6f, 1e6f, spec).scale, 65504.0f);
  const GroupParams huge = ParamsFromRange(-1e6f, 1e6f, spec);
  EXPECT_EQ(EncodeValue(1e6f, huge, spec), 15);  // clamped, not wrapped
  EXPECT_TRUE(std::isfinite(FakeQuantize(1e6f, huge, spec)));

  spec.scale_dtype = DType::kBF16;
  EXPECT_EQ(ParamsFromRange(0.0f, 1e-45f, spec).scale, std::ldexp(1.0f, -133));
  spec.scale_dtype = DType::kF32;
  EXPECT_EQ(ParamsFromRange(0.0f, 1e-45f, spec).scale, std::numeric_limits<float>::denorm_min());
  EXPECT_EQ(ParamsFromRange(-3e38f, 3e38f, IntGrid(4, false, Granularity::kGroup)).scale,
            std::numeric_limits<float>::max());

  GridSpec fp8 = KindGrid(GridKind::kFp8, Granularity::kChannel, 0, DType::kF16);
  EXPECT_EQ(ParamsFromRange(0.0f, 1e-9f, fp8).scale, std::ldexp(1.0f, -24));
  EXPECT_EQ(ParamsFromRange(0.0f, 1e9f, fp8).scale, 65504.0f);
}

TEST(ZeroGroupTest, EveryKindCodesZerosExactly) {
  const std::vector<float> zeros(32, 0.0f);
  std::vector<GridSpec> specs = {IntGrid(4, true, Granularity::kGroup),
                                 IntGrid(3, false, Granularity::kGroup)};
  for (const GridKind kind : {GridKind::kFp8, GridKind::kNf4, GridKind::kFp4, GridKind::kMxFp4,
                              GridKind::kMxFp8, GridKind::kMxInt8}) {
    specs.push_back(KindGrid(kind));
  }
  for (GridSpec spec : specs) {
    for (const Observer observer : {Observer::kMinMax, Observer::kPercentile, Observer::kMse}) {
      spec.observer = observer;
      SCOPED_TRACE(spec.ToString());
      const GroupParams params = ChooseGroupParams(zeros, spec);
      EXPECT_GT(params.scale, 0.0f);
      EXPECT_TRUE(std::isfinite(params.scale));
      const bool is_mx = spec.kind == GridKind::kMxFp4 || spec.kind == GridKind::kMxFp8 ||
                         spec.kind == GridKind::kMxInt8;
      EXPECT_EQ(params.scale, is_mx ? std::ldexp(1.0f, -127) : 1.0f);
      EXPECT_EQ(params.zero, 0);
      for (const float value : zeros) EXPECT_EQ(FakeQuantize(value, params, spec), 0.0f);
    }
  }
  const Tensor zero_matrix = Tensor::Zeros(DType::kF32, {2, 64});
  const QuantizedTensor q = QuantizeAndCheck(zero_matrix, IntGrid(4, true, Granularity::kGroup));
  for (const uint8_t code : q.codes) EXPECT_EQ(code, 8);
}

TEST(Fp8GridTest, HandComputedCodes) {
  const GridSpec spec = KindGrid(GridKind::kFp8, Granularity::kChannel, 0, DType::kF16);
  const std::vector<float> values = {448.0f, -1.0f, 0.5f, 0.0f};
  const GroupParams params = ChooseGroupParams(values, spec);
  EXPECT_EQ(params.scale, 1.0f);
  EXPECT_EQ(EncodeValue(448.0f, params, spec), 0x7e);
  EXPECT_EQ(EncodeValue(-1.0f, params, spec), 0xb8);
  EXPECT_EQ(EncodeValue(0.5f, params, spec), 0x30);
  EXPECT_EQ(EncodeValue(0.0f, params, spec), 0x00);
  EXPECT_EQ(DecodeValue(0xb8, params, spec), -1.0f);
  // A scale of 2: 3.0 → 1.5 = 0 0111 100.
  const GroupParams doubled = ParamsFromRange(-896.0f, 10.0f, spec);
  EXPECT_EQ(doubled.scale, 2.0f);
  EXPECT_EQ(EncodeValue(3.0f, doubled, spec), 0x3c);
}

TEST(Fp8GridTest, PerChannelMatchesFormulaAndNearestCode) {
  const Tensor weight = RandomMatrix(6, 96, 5);
  for (const DType dtype : {DType::kF32, DType::kF16, DType::kBF16}) {
    const GridSpec spec = KindGrid(GridKind::kFp8, Granularity::kChannel, 0, dtype);
    const QuantizedTensor q = QuantizeAndCheck(weight, spec);
    ASSERT_EQ(q.num_groups, 1);
    for (int64_t row = 0; row < q.rows; ++row) {
      float absmax = 0.0f;
      for (int64_t col = 0; col < q.cols; ++col) {
        absmax = std::max(absmax, std::fabs(weight.data<float>()[row * q.cols + col]));
      }
      EXPECT_EQ(q.params[row].scale, RoundToDtype(absmax / 448.0f, dtype));
    }
  }
  QuantizeAndCheck(weight, KindGrid(GridKind::kFp8, Granularity::kTensor, 0, DType::kF16));
  QuantizeAndCheck(weight, KindGrid(GridKind::kFp8, Granularity::kGroup, 32, DType::kBF16));
}

TEST(Nf4GridTest, TableAndHandComputedCodes) {
  const GridSpec spec = KindGrid(GridKind::kNf4, Granularity::kGroup, 64, DType::kF16);
  const GroupParams unit{1.0f, 0};
  for (int code = 0; code < 16; ++code) {
    EXPECT_EQ(DecodeValue(static_cast<uint8_t>(code), unit, spec),
              static_cast<float>(kNf4Reference[code]));
  }
  const std::vector<float> values = {-2.0f, 1.0f, 0.5f, 0.0f, 2.0f};
  const GroupParams params = ChooseGroupParams(values, spec);
  EXPECT_EQ(params.scale, 2.0f);  // absmax
  EXPECT_EQ(EncodeValue(-2.0f, params, spec), 0);
  EXPECT_EQ(EncodeValue(1.0f, params, spec), 12);  // 0.5: 0.4407 is nearer than 0.5626
  EXPECT_EQ(EncodeValue(0.5f, params, spec), 10);  // 0.25 → 0.2461
  EXPECT_EQ(EncodeValue(0.0f, params, spec), 7);
  EXPECT_EQ(EncodeValue(2.0f, params, spec), 15);
  EXPECT_EQ(EncodeValue(2.5f, params, spec), 15);  // beyond the range: the end level
  // An exact tie between two levels goes to the lower index.
  EXPECT_EQ(EncodeValue(0.07958029955625534f / 2.0f, unit, spec), 7);
  EXPECT_EQ(EncodeValue(-0.09105003625154495f / 2.0f, unit, spec), 6);

  QuantizeAndCheck(RandomMatrix(4, 200, 6), spec);
}

TEST(Fp4GridTest, TableAndHandComputedCodes) {
  const GridSpec spec = KindGrid(GridKind::kFp4, Granularity::kGroup, 32, DType::kF16);
  const GroupParams unit{1.0f, 0};
  for (int code = 0; code < 16; ++code) {
    EXPECT_EQ(DecodeValue(static_cast<uint8_t>(code), unit, spec),
              static_cast<float>(E2m1Reference(static_cast<uint8_t>(code))));
  }
  EXPECT_EQ(DecodeValue(0b0101, unit, spec), 3.0f);
  EXPECT_EQ(DecodeValue(0b1111, unit, spec), -6.0f);

  const std::vector<float> values = {6.0f, -6.0f, 1.0f};
  const GroupParams params = ChooseGroupParams(values, spec);
  EXPECT_EQ(params.scale, 1.0f);  // 6 / 6
  struct Case {
    float value;
    uint8_t code;
  };
  // Midpoints go to the even mantissa; values that round to zero give +0.
  const Case cases[] = {{6.0f, 0b0111},  {-6.0f, 0b1111}, {7.0f, 0b0111},  {0.25f, 0b0000},
                        {0.3f, 0b0001},  {0.75f, 0b0010}, {1.25f, 0b0010}, {1.75f, 0b0100},
                        {2.5f, 0b0100},  {3.5f, 0b0110},  {5.0f, 0b0110},  {-0.1f, 0b0000},
                        {-0.3f, 0b1001}, {-2.6f, 0b1101}};
  for (const Case& c : cases) EXPECT_EQ(EncodeValue(c.value, params, spec), c.code) << c.value;

  const QuantizedTensor q = QuantizeAndCheck(RandomMatrix(4, 100, 7), spec);
  for (const uint8_t code : q.codes) EXPECT_NE(code, 0b1000);  // never -0
}

// OCP MX: e = floor(log2(amax)) - emax_elem, scale 2^e.
TEST(MxGridTest, HandComputedExponents) {
  const GridSpec mxfp4 = KindGrid(GridKind::kMxFp4);
  const GridSpec mxfp8 = KindGrid(GridKind::kMxFp8);
  const GridSpec mxint8 = KindGrid(GridKind::kMxInt8);
  std::vector<float> block(32, 0.25f);
  block[3] = -5.0f;                                                // amax 5: floor(log2 5) = 2
  EXPECT_EQ(ChooseGroupParams(block, mxfp4).scale, 1.0f);          // 2^(2-2)
  EXPECT_EQ(ChooseGroupParams(block, mxfp8).scale, 1.0f / 64.0f);  // 2^(2-8)
  EXPECT_EQ(ChooseGroupParams(block, mxint8).scale, 4.0f);         // 2^(2-0)
  EXPECT_EQ(ParamsFromRange(0.0f, 0.75f, mxfp4).scale, 0.125f);    // 2^(-1-2)
  EXPECT_EQ(ParamsFromRange(0.0f, 4.0f, mxfp4).scale, 1.0f);       // exact power of two
  EXPECT_EQ(ParamsFromRange(0.0f, 3.999f, mxfp4).scale, 0.5f);
  EXPECT_EQ(ParamsFromRange(0.0f, 1e-40f, mxfp4).scale, std::ldexp(1.0f, -127));  // clamped
  EXPECT_EQ(ParamsFromRange(0.0f, 3e38f, mxint8).scale, std::ldexp(1.0f, 127));
  EXPECT_EQ(ParamsFromRange(0.0f, 3e38f, mxfp4).scale, std::ldexp(1.0f, 125));

  const GroupParams fp4_params{1.0f, 0};
  EXPECT_EQ(EncodeValue(-5.0f, fp4_params, mxfp4), 0b1110);  // tie 4|6 → 4 (even)
  EXPECT_EQ(EncodeValue(7.0f, fp4_params, mxfp4), 0b0111);   // saturates at 6
  const GroupParams fp8_params = ParamsFromRange(0.0f, 500.0f, mxfp8);
  EXPECT_EQ(fp8_params.scale, 1.0f);                        // floor(log2 500) = 8
  EXPECT_EQ(EncodeValue(500.0f, fp8_params, mxfp8), 0x7e);  // saturates at 448
  EXPECT_EQ(EncodeValue(-5.0f, ChooseGroupParams(block, mxfp8), mxfp8), 0xfa);  // -320 = -1.25·2^8

  const GroupParams int8_params{4.0f, 0};
  EXPECT_EQ(EncodeValue(5.0f, int8_params, mxint8), 208);   // q = 5/4·64 = 80
  EXPECT_EQ(EncodeValue(-1.3f, int8_params, mxint8), 107);  // -20.8 → -21
  EXPECT_EQ(EncodeValue(7.99f, int8_params, mxint8), 255);  // 127.84 clamps to 127
  EXPECT_EQ(EncodeValue(-9.0f, int8_params, mxint8), 1);    // -127, never -128
  EXPECT_EQ(DecodeValue(208, int8_params, mxint8), 5.0f);
  EXPECT_EQ(DecodeValue(107, int8_params, mxint8), -21.0f / 16.0f);
}

TEST(MxGridTest, BlocksOf32MatchFormulaAndNearestCode) {
  const Tensor weight = RandomMatrix(3, 128, 8);
  for (const GridKind kind : {GridKind::kMxFp4, GridKind::kMxFp8, GridKind::kMxInt8}) {
    GridSpec spec = KindGrid(kind, Granularity::kGroup, 128);  // group_size is ignored: 32
    SCOPED_TRACE(spec.ToString());
    const QuantizedTensor q = QuantizeAndCheck(weight, spec);
    ASSERT_EQ(q.group_size, 32);
    ASSERT_EQ(q.num_groups, 4);
    const int element_emax = kind == GridKind::kMxFp4 ? 2 : kind == GridKind::kMxFp8 ? 8 : 0;
    for (int64_t row = 0; row < q.rows; ++row) {
      for (int64_t group = 0; group < q.num_groups; ++group) {
        float amax = 0.0f;
        for (const float value : GroupValues(weight, q, row, group)) {
          amax = std::max(amax, std::fabs(value));
        }
        const int e = std::ilogb(amax) - element_emax;
        EXPECT_EQ(q.params[row * 4 + group].scale, std::ldexp(1.0f, e));
      }
    }
  }
}

TEST(MxGridTest, ShapeAndGranularityChecks) {
  const GridSpec mxfp4 = KindGrid(GridKind::kMxFp4);
  absl::StatusOr<QuantizedTensor> ragged = MakeQuantizedTensor(mxfp4, 4, 40);
  ASSERT_FALSE(ragged.ok());
  EXPECT_EQ(ragged.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(ragged.status().message()).find("32"), std::string::npos);
  absl::StatusOr<QuantizedTensor> fine = MakeQuantizedTensor(mxfp4, 4, 64);
  ASSERT_TRUE(fine.ok()) << fine.status();
  EXPECT_EQ(fine->num_groups, 2);
  EXPECT_EQ(fine->g_idx[63], 1);

  GridSpec per_channel = KindGrid(GridKind::kMxFp8, Granularity::kChannel);
  EXPECT_FALSE(per_channel.Validate().ok());
}

TEST(ObserverTest, MseNeverWorseThanMinMaxAndMatchesPlainSearch) {
  std::mt19937 generator(9);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<GridSpec> specs = {IntGrid(4, true, Granularity::kGroup, 32, DType::kF16),
                                 IntGrid(3, false, Granularity::kGroup, 32, DType::kBF16),
                                 KindGrid(GridKind::kNf4),
                                 KindGrid(GridKind::kFp4),
                                 KindGrid(GridKind::kFp8),
                                 KindGrid(GridKind::kMxFp4)};
  for (GridSpec spec : specs) {
    spec.mse_grid = 20;
    spec.mse_max_shrink = 0.5;
    SCOPED_TRACE(spec.ToString());
    int strictly_better = 0;
    for (int trial = 0; trial < 40; ++trial) {
      std::vector<float> values(32);
      for (float& value : values) value = normal(generator);
      values[trial % 32] *= 6.0f;  // an outlier worth clipping
      GridSpec minmax = spec;
      minmax.observer = Observer::kMinMax;
      GridSpec mse = spec;
      mse.observer = Observer::kMse;
      const double minmax_error = SquaredError(values, ChooseGroupParams(values, minmax), spec);
      const GroupParams chosen = ChooseGroupParams(values, mse);
      const double mse_error = SquaredError(values, chosen, spec);
      EXPECT_LE(mse_error, minmax_error);
      if (mse_error < minmax_error) ++strictly_better;

      // The plain search: every factor, the first of the least errors.
      const float lo = *std::min_element(values.begin(), values.end());
      const float hi = *std::max_element(values.begin(), values.end());
      GroupParams best;
      double best_error = INFINITY;
      for (int k = 0; k <= spec.mse_grid; ++k) {
        const float factor = static_cast<float>(1.0 - k * spec.mse_max_shrink / spec.mse_grid);
        const GroupParams candidate = ParamsFromRange(factor * lo, factor * hi, spec);
        const double error = SquaredError(values, candidate, spec);
        if (error < best_error) {
          best = candidate;
          best_error = error;
        }
      }
      ExpectSameParams(chosen, best);
    }
    // MX shrinking can only halve the scale, which rarely pays; the others must gain somewhere.
    if (spec.kind != GridKind::kMxFp4) {
      EXPECT_GT(strictly_better, 0);
    }
  }
}

TEST(ObserverTest, MseTieKeepsTheFirstFactor) {
  // Factors 0.9 (k = 2, scale 1.2) and 0.85 (k = 3, scale 1.1333) both give the least error:
  // 3.5 decodes to 3.6 or 3.4, -0.5 to 0 under either.
  GridSpec spec = IntGrid(2, false, Granularity::kGroup);
  spec.observer = Observer::kMse;
  spec.mse_grid = 10;
  spec.mse_max_shrink = 0.5;
  const std::vector<float> values = {-0.5f, -0.5f, 3.5f};
  const GroupParams first = ParamsFromRange(0.9f * -0.5f, 0.9f * 3.5f, spec);
  const GroupParams second = ParamsFromRange(0.85f * -0.5f, 0.85f * 3.5f, spec);
  ASSERT_NE(first.scale, second.scale);
  ASSERT_EQ(SquaredError(values, first, spec), SquaredError(values, second, spec));
  ExpectSameParams(ChooseGroupParams(values, spec), first);
}

TEST(ObserverTest, PercentileClipsOutliers) {
  // 99 values 0.01..0.99 and one outlier: the 99th percentile of |x| (nearest rank 99) is 0.99.
  std::vector<float> values;
  for (int i = 1; i <= 99; ++i) values.push_back((i % 2 ? -1.0f : 1.0f) * i / 100.0f);
  values.push_back(100.0f);
  GridSpec spec = IntGrid(4, true, Granularity::kGroup, 128, DType::kF16);
  spec.observer = Observer::kPercentile;
  spec.percentile = 99.0;
  const GroupParams clipped = ChooseGroupParams(values, spec);
  EXPECT_EQ(clipped.scale, RoundToDtype(0.99f / 7.5f, DType::kF16));
  EXPECT_EQ(EncodeValue(100.0f, clipped, spec), 15);  // the outlier saturates
  spec.percentile = 100.0;                            // keeps everything: minmax
  EXPECT_EQ(ChooseGroupParams(values, spec).scale, RoundToDtype(100.0f / 7.5f, DType::kF16));

  // Asymmetric: clip x at its 1.5th and 98.5th percentiles (nearest ranks 2 and 99 of 100).
  std::vector<float> skewed;
  for (int k = 0; k < 98; ++k) skewed.push_back(-1.0f + 2.0f * k / 97.0f);
  skewed.push_back(-50.0f);
  skewed.push_back(80.0f);
  const float lo = *std::min_element(skewed.begin(), skewed.end() - 2);
  const float hi = *std::max_element(skewed.begin(), skewed.end() - 2);
  GridSpec asym = IntGrid(4, false, Granularity::kGroup, 128, DType::kF32);
  asym.observer = Observer::kPercentile;
  asym.percentile = 98.5;
  ExpectSameParams(ChooseGroupParams(skewed, asym), ParamsFromRange(lo, hi, asym));
  const GroupParams asym_clipped = ChooseGroupParams(skewed, asym);
  EXPECT_EQ(asym_clipped.scale, (hi - lo) / 15.0f);

  // nf4 clips |x| the same way.
  GridSpec nf4 = KindGrid(GridKind::kNf4, Granularity::kGroup, 128);
  nf4.observer = Observer::kPercentile;
  nf4.percentile = 99.0;
  EXPECT_EQ(ChooseGroupParams(values, nf4).scale, 0.99f);
}

TEST(QuantizeRtnTest, DequantizeEqualsFakeQuantizeForEveryKind) {
  const Tensor weight = RandomMatrix(7, 192, 10);
  GridSpec percentile_asym = IntGrid(4, false, Granularity::kGroup, 64, DType::kBF16);
  percentile_asym.observer = Observer::kPercentile;
  GridSpec mse_tensor = IntGrid(8, true, Granularity::kTensor, 0, DType::kF16);
  mse_tensor.observer = Observer::kMse;
  mse_tensor.mse_grid = 10;
  const std::vector<GridSpec> specs = {
      percentile_asym,
      mse_tensor,
      KindGrid(GridKind::kNf4, Granularity::kGroup, 64, DType::kF16),
      KindGrid(GridKind::kFp4, Granularity::kChannel, 0, DType::kBF16),
      KindGrid(GridKind::kFp8, Granularity::kTensor, 0, DType::kF32),
      KindGrid(GridKind::kMxFp8),
      KindGrid(GridKind::kMxInt8)};
  for (const GridSpec& spec : specs) {
    SCOPED_TRACE(spec.ToString());
    QuantizeAndCheck(weight, spec);
  }
}

TEST(QuantizeRtnTest, SameResultForAnyThreadCount) {
  const Tensor weight = RandomMatrix(200, 172, 11);  // several ParallelFor chunks
  GridSpec mse = IntGrid(4, true, Granularity::kGroup, 32, DType::kF16);
  mse.observer = Observer::kMse;
  GridSpec percentile = IntGrid(3, false, Granularity::kChannel, 0, DType::kBF16);
  percentile.observer = Observer::kPercentile;
  ThreadPool one(1);
  ThreadPool three(3);
  for (const GridSpec& spec :
       {mse, percentile, KindGrid(GridKind::kNf4, Granularity::kTensor, 0, DType::kF16)}) {
    SCOPED_TRACE(spec.ToString());
    absl::StatusOr<QuantizedTensor> a = QuantizeRtn(weight, spec, one);
    absl::StatusOr<QuantizedTensor> b = QuantizeRtn(weight, spec, three);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(a->codes, b->codes);
    ASSERT_EQ(a->params.size(), b->params.size());
    for (size_t i = 0; i < a->params.size(); ++i) ExpectSameParams(a->params[i], b->params[i]);
  }
}

TEST(QuantizeRtnTest, RejectsBadInput) {
  const GridSpec spec = IntGrid(4, true, Granularity::kGroup);
  const absl::StatusOr<QuantizedTensor> vector = QuantizeRtn(Tensor::Zeros(DType::kF32, {8}), spec);
  EXPECT_EQ(vector.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(vector.status().message()).find("2-D"), std::string::npos);

  Tensor with_nan = RandomMatrix(2, 8, 12);
  with_nan.mutable_data<float>()[9] = NAN;
  const absl::StatusOr<QuantizedTensor> nan = QuantizeRtn(with_nan, spec);
  EXPECT_EQ(nan.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(nan.status().message()).find("row 1, col 1"), std::string::npos);

  GridSpec bad = spec;
  bad.bits = 9;
  EXPECT_FALSE(QuantizeRtn(RandomMatrix(2, 8, 13), bad).ok());
  EXPECT_FALSE(MakeQuantizedTensor(spec, 0, 8).ok());
}

TEST(QuantizeRtnTest, AcceptsHalfPrecisionWeights) {
  const Tensor weight = RandomMatrix(2, 64, 14);
  Tensor half = Tensor::Zeros(DType::kBF16, {2, 64});
  ConvertFromFloat(weight.data<float>(), DType::kBF16, half.mutable_data<uint16_t>(), 128);
  const absl::StatusOr<QuantizedTensor> from_half = QuantizeRtn(half, KindGrid(GridKind::kNf4));
  ASSERT_TRUE(from_half.ok()) << from_half.status();
  const absl::StatusOr<QuantizedTensor> from_float =
      QuantizeRtn(half.ToFloat32(), KindGrid(GridKind::kNf4));
  ASSERT_TRUE(from_float.ok());
  EXPECT_EQ(from_half->codes, from_float->codes);
}

TEST(GridSpecTest, ValidateNamesTheField) {
  struct Case {
    GridSpec spec;
    std::string message;
  };
  std::vector<Case> cases;
  GridSpec spec = IntGrid(9, true, Granularity::kGroup);
  cases.push_back({spec, "bits: int grids take 2..8 bits, got 9"});
  spec.bits = 1;
  cases.push_back({spec, "bits: int grids take 2..8 bits, got 1"});
  spec = KindGrid(GridKind::kFp8);
  spec.bits = 4;
  cases.push_back({spec, "bits: fp8 grids take 8 bits, got 4"});
  spec = KindGrid(GridKind::kNf4);
  spec.bits = 8;
  cases.push_back({spec, "bits: nf4 grids take 4 bits"});
  spec = KindGrid(GridKind::kMxFp4);
  spec.bits = 8;
  cases.push_back({spec, "bits: mxfp4 grids take 4 bits"});
  spec = KindGrid(GridKind::kMxInt8);
  spec.bits = 4;
  cases.push_back({spec, "bits: mxint8 grids take 8 bits"});
  spec = KindGrid(GridKind::kFp8);
  spec.symmetric = false;
  cases.push_back({spec, "symmetric: only int grids can be asymmetric; fp8 is symmetric"});
  spec = IntGrid(4, true, Granularity::kGroup, 0);
  cases.push_back({spec, "group_size: group granularity needs group_size >= 1, got 0"});
  spec = IntGrid(4, true, Granularity::kGroup);
  spec.scale_dtype = DType::kI8;
  cases.push_back({spec, "scale_dtype: scales are F32, F16 or BF16, got I8"});
  spec = IntGrid(4, true, Granularity::kGroup);
  spec.observer = Observer::kPercentile;
  spec.percentile = 0.0;
  cases.push_back({spec, "percentile: must be in (0, 100]"});
  spec.percentile = 100.5;
  cases.push_back({spec, "percentile: must be in (0, 100]"});
  spec = IntGrid(4, true, Granularity::kGroup);
  spec.observer = Observer::kMse;
  spec.mse_grid = 0;
  cases.push_back({spec, "mse_grid: must be >= 1, got 0"});
  spec.mse_grid = 10;
  spec.mse_max_shrink = 1.0;
  cases.push_back({spec, "mse_max_shrink: must be in (0, 1)"});
  spec.mse_max_shrink = 0.0;
  cases.push_back({spec, "mse_max_shrink: must be in (0, 1)"});
  spec = KindGrid(GridKind::kMxFp8, Granularity::kTensor);
  cases.push_back({spec, "granularity: mxfp8 scales blocks of 32 columns"});
  spec = IntGrid(4, true, Granularity::kGroup);
  spec.kind = static_cast<GridKind>(42);
  cases.push_back({spec, "kind: unknown grid kind 42"});

  for (const Case& c : cases) {
    const absl::Status status = c.spec.Validate();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.message;
    EXPECT_NE(std::string(status.message()).find(c.message), std::string::npos)
        << "got: " << status.message() << "\nwant: " << c.message;
  }

  GridSpec valid[] = {GridSpec{}, IntGrid(2, false, Granularity::kChannel, 0),
                      IntGrid(8, true, Granularity::kTensor, 0, DType::kBF16),
                      KindGrid(GridKind::kFp8, Granularity::kTensor),
                      KindGrid(GridKind::kMxInt8, Granularity::kGroup, 128)};
  valid[1].observer = Observer::kPercentile;
  valid[1].percentile = 100.0;
  valid[2].mse_grid = 0;  // ignored by the minmax observer
  for (const GridSpec& ok : valid) EXPECT_TRUE(ok.Validate().ok()) << ok.ToString();
}

TEST(GridSpecTest, NamesCodesAndStrings) {
  EXPECT_EQ(std::string(GridKindName(GridKind::kInt)), "int");
  EXPECT_EQ(std::string(GridKindName(GridKind::kFp8)), "fp8");
  EXPECT_EQ(std::string(GridKindName(GridKind::kNf4)), "nf4");
  EXPECT_EQ(std::string(GridKindName(GridKind::kFp4)), "fp4");
  EXPECT_EQ(std::string(GridKindName(GridKind::kMxFp4)), "mxfp4");
  EXPECT_EQ(std::string(GridKindName(GridKind::kMxFp8)), "mxfp8");
  EXPECT_EQ(std::string(GridKindName(GridKind::kMxInt8)), "mxint8");

  EXPECT_EQ(IntGrid(3, true, Granularity::kGroup).num_codes(), 8);
  EXPECT_EQ(IntGrid(8, false, Granularity::kGroup).num_codes(), 256);
  EXPECT_EQ(KindGrid(GridKind::kNf4).num_codes(), 16);
  EXPECT_EQ(KindGrid(GridKind::kFp4).num_codes(), 16);
  EXPECT_EQ(KindGrid(GridKind::kMxFp4).num_codes(), 16);
  EXPECT_EQ(KindGrid(GridKind::kFp8).num_codes(), 256);
  EXPECT_EQ(KindGrid(GridKind::kMxInt8).num_codes(), 256);

  EXPECT_EQ(IntGrid(4, true, Granularity::kGroup, 32, DType::kF16).ToString(),
            "int4 sym g32 (fp16 scales, minmax)");
  GridSpec asym = IntGrid(3, false, Granularity::kChannel, 0, DType::kBF16);
  asym.observer = Observer::kMse;
  EXPECT_EQ(asym.ToString(), "int3 asym per-channel (bf16 scales, mse grid 100, shrink 0.2)");
  GridSpec fp8 = KindGrid(GridKind::kFp8, Granularity::kTensor, 0, DType::kF32);
  fp8.observer = Observer::kPercentile;
  EXPECT_EQ(fp8.ToString(), "fp8 e4m3 per-tensor (fp32 scales, percentile 99.9)");
  EXPECT_EQ(KindGrid(GridKind::kNf4, Granularity::kGroup, 64, DType::kF16).ToString(),
            "nf4 g64 (fp16 scales, minmax)");
  EXPECT_EQ(KindGrid(GridKind::kFp4).ToString(), "fp4 e2m1 g32 (fp32 scales, minmax)");
  EXPECT_EQ(KindGrid(GridKind::kMxFp4).ToString(), "mxfp4");
  EXPECT_EQ(KindGrid(GridKind::kMxInt8).ToString(), "mxint8");
}

}  // namespace
}  // namespace quench
