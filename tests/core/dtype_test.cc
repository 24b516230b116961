// Conversions checked against bit patterns and against a brute-force nearest-value search.
#include "core/tensor/dtype.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

namespace quench {
namespace {

// The representable value nearest to x among `values` (decoded codes), ties to the even code;
// NaN codes are skipped. Slow and obvious on purpose.
template <typename Code>
Code NearestCode(double x, const std::vector<double>& values) {
  Code best = 0;
  double best_distance = INFINITY;
  for (size_t code = 0; code < values.size(); ++code) {
    if (std::isnan(values[code])) continue;
    const double distance = std::fabs(values[code] - x);
    bool better = distance < best_distance;
    if (distance == best_distance) {
      const bool code_even = (code & 1) == 0;
      const bool best_even = (best & 1) == 0;
      if (code_even != best_even) {
        better = code_even;
      } else {  // ±0: the zero with x's sign
        better = std::signbit(values[code]) == std::signbit(x) &&
                 std::signbit(values[best]) != std::signbit(x);
      }
    }
    if (better) {
      best = static_cast<Code>(code);
      best_distance = distance;
    }
  }
  return best;
}

TEST(DTypeTest, NamesRoundTrip) {
  for (DType dtype :
       {DType::kF32, DType::kF16, DType::kBF16, DType::kF8E4M3, DType::kF64, DType::kI8, DType::kU8,
        DType::kI16, DType::kI32, DType::kI64, DType::kBool}) {
    EXPECT_EQ(ParseDType(DTypeName(dtype)), dtype);
  }
  EXPECT_EQ(ParseDType("F8_E4M3"), DType::kF8E4M3);
  EXPECT_EQ(DTypeSize(DType::kBF16), 2u);
  EXPECT_FALSE(ParseDType("F12").has_value());
  EXPECT_FALSE(ParseDType("f32").has_value());
}

TEST(DTypeTest, HalfKnownBitPatterns) {
  EXPECT_EQ(FloatToHalfBits(1.0f), 0x3c00);
  EXPECT_EQ(FloatToHalfBits(-2.0f), 0xc000);
  EXPECT_EQ(FloatToHalfBits(65504.0f), 0x7bff);  // largest finite
  EXPECT_EQ(FloatToHalfBits(65520.0f), 0x7c00);  // halfway to 2^16: rounds to inf
  EXPECT_EQ(FloatToHalfBits(65519.99f), 0x7bff);
  EXPECT_EQ(FloatToHalfBits(std::ldexp(1.0f, -24)), 0x0001);  // smallest subnormal
  EXPECT_EQ(FloatToHalfBits(std::ldexp(1.0f, -25)), 0x0000);  // tie → even (zero)
  EXPECT_EQ(FloatToHalfBits(std::ldexp(1.5f, -24)), 0x0002);  // tie → even (2)
  EXPECT_EQ(FloatToHalfBits(std::ldexp(1.0f, -14)), 0x0400);  // smallest normal
  EXPECT_EQ(FloatToHalfBits(-0.0f), 0x8000);
  EXPECT_EQ(FloatToHalfBits(INFINITY), 0x7c00);
  EXPECT_EQ(FloatToHalfBits(-INFINITY), 0xfc00);
  EXPECT_EQ(FloatToHalfBits(1.0f + std::ldexp(1.0f, -11)), 0x3c00);  // tie → even
  EXPECT_EQ(FloatToHalfBits(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
  const uint16_t nan = FloatToHalfBits(std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(nan & 0x7c00, 0x7c00);
  EXPECT_NE(nan & 0x03ff, 0);
}

TEST(DTypeTest, HalfDecodesEveryCodeAndRoundTrips) {
  for (uint32_t code = 0; code < 0x10000; ++code) {
    const float value = HalfBitsToFloat(static_cast<uint16_t>(code));
    const uint32_t exponent = (code >> 10) & 0x1f;
    const uint32_t mantissa = code & 0x3ff;
    const double sign = (code & 0x8000) ? -1.0 : 1.0;
    if (exponent == 0x1f) {
      EXPECT_TRUE(mantissa ? std::isnan(value) : std::isinf(value)) << code;
      continue;
    }
    const double expected = exponent == 0 ? sign * std::ldexp(mantissa, -24)
                                          : sign * std::ldexp(1024 + mantissa, exponent - 25);
    ASSERT_EQ(static_cast<double>(value), expected) << code;
    ASSERT_EQ(FloatToHalfBits(value), code) << code;
  }
}

TEST(DTypeTest, HalfRoundsLikeNearestSearch) {
  std::vector<double> values(0x10000);
  for (uint32_t code = 0; code < 0x10000; ++code) values[code] = HalfBitsToFloat(code);
  // Finite codes only for the search; overflow is tested above.
  for (uint32_t code = 0; code < 0x10000; ++code) {
    if (((code >> 10) & 0x1f) == 0x1f) values[code] = NAN;
  }
  std::mt19937 random(7);
  std::uniform_real_distribution<float> exponent(-27.0f, 15.9f);
  for (int trial = 0; trial < 300; ++trial) {
    const float magnitude = std::exp2(exponent(random));
    const float x = (trial % 2) ? -magnitude : magnitude;
    ASSERT_EQ(FloatToHalfBits(x), NearestCode<uint16_t>(x, values)) << x;
  }
}

TEST(DTypeTest, BFloat16BitPatternsAndRounding) {
  EXPECT_EQ(FloatToBFloat16Bits(1.0f), 0x3f80);
  EXPECT_EQ(FloatToBFloat16Bits(-1.0f), 0xbf80);
  EXPECT_EQ(FloatToBFloat16Bits(std::bit_cast<float>(0x3f808000u)), 0x3f80);  // tie → even
  EXPECT_EQ(FloatToBFloat16Bits(std::bit_cast<float>(0x3f818000u)), 0x3f82);  // tie → even
  EXPECT_EQ(FloatToBFloat16Bits(std::bit_cast<float>(0x3f808001u)), 0x3f81);
  EXPECT_EQ(FloatToBFloat16Bits(std::bit_cast<float>(0x00010000u)), 0x0001);  // subnormal kept
  EXPECT_EQ(FloatToBFloat16Bits(std::numeric_limits<float>::max()), 0x7f80);  // rounds to inf
  EXPECT_EQ(FloatToBFloat16Bits(INFINITY), 0x7f80);
  EXPECT_EQ(FloatToBFloat16Bits(-INFINITY), 0xff80);
  EXPECT_TRUE(std::isnan(BFloat16BitsToFloat(FloatToBFloat16Bits(NAN))));
  // A NaN whose payload sits in the low 16 bits must stay NaN, not become inf.
  EXPECT_TRUE(
      std::isnan(BFloat16BitsToFloat(FloatToBFloat16Bits(std::bit_cast<float>(0x7f800001u)))));
  for (uint32_t code = 0; code < 0x10000; ++code) {
    const float value = BFloat16BitsToFloat(static_cast<uint16_t>(code));
    if (std::isnan(value)) continue;
    ASSERT_EQ(FloatToBFloat16Bits(value), code);
  }
}

TEST(DTypeTest, E4M3DecodesAndRoundsLikeNearestSearch) {
  EXPECT_EQ(E4M3BitsToFloat(0x7e), 448.0f);
  EXPECT_EQ(E4M3BitsToFloat(0x01), std::ldexp(1.0f, -9));  // smallest subnormal
  EXPECT_EQ(E4M3BitsToFloat(0x08), std::ldexp(1.0f, -6));  // smallest normal
  EXPECT_EQ(E4M3BitsToFloat(0x38), 1.0f);
  EXPECT_TRUE(std::isnan(E4M3BitsToFloat(0x7f)));
  EXPECT_TRUE(std::isnan(E4M3BitsToFloat(0xff)));
  EXPECT_EQ(FloatToE4M3Bits(1.0f), 0x38);
  EXPECT_EQ(FloatToE4M3Bits(-448.0f), 0xfe);
  EXPECT_EQ(FloatToE4M3Bits(1000.0f), 0x7e);    // saturates
  EXPECT_EQ(FloatToE4M3Bits(-INFINITY), 0xfe);  // saturates
  EXPECT_EQ(FloatToE4M3Bits(NAN), 0x7f);
  EXPECT_EQ(FloatToE4M3Bits(std::ldexp(1.0f, -10)), 0x00);  // tie between 0 and 2^-9 → even
  EXPECT_EQ(FloatToE4M3Bits(std::ldexp(3.0f, -10)), 0x02);  // tie → even

  std::vector<double> values(256);
  for (uint32_t code = 0; code < 256; ++code) values[code] = E4M3BitsToFloat(code);
  for (uint32_t code = 0; code < 256; ++code) {
    if (!std::isnan(values[code])) {
      ASSERT_EQ(FloatToE4M3Bits(values[code]), code);
    }
  }
  std::mt19937 random(11);
  std::uniform_real_distribution<float> magnitude(0.0f, 460.0f);
  std::uniform_real_distribution<float> small(0.0f, 0.05f);
  for (int trial = 0; trial < 3000; ++trial) {
    float x = (trial % 3 == 0) ? small(random) : magnitude(random);
    if (trial % 2) x = -x;
    const double clamped = std::clamp<double>(x, -448.0, 448.0);
    ASSERT_EQ(FloatToE4M3Bits(x), NearestCode<uint8_t>(clamped, values)) << x;
  }
}

TEST(DTypeTest, BulkConversionHandlesUnalignedSources) {
  std::vector<std::byte> buffer(1 + 4 * sizeof(uint16_t));
  const uint16_t codes[4] = {0x3c00, 0xc000, 0x7bff, 0x0001};
  std::memcpy(buffer.data() + 1, codes, sizeof(codes));
  float out[4];
  ConvertToFloat(DType::kF16, buffer.data() + 1, out, 4);
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[1], -2.0f);
  EXPECT_EQ(out[2], 65504.0f);
  EXPECT_EQ(out[3], std::ldexp(1.0f, -24));
  const int64_t ints[2] = {-5, 1 << 20};
  ConvertToFloat(DType::kI64, ints, out, 2);
  EXPECT_EQ(out[0], -5.0f);
  EXPECT_EQ(out[1], 1048576.0f);
}

}  // namespace
}  // namespace quench
