// ggml block codecs against references written out plainly here: hand-built blocks decode to
// known values (layouts as FORMATS.md §2d and ggml-common.h give them), random blocks decode
// bit for bit like llama.cpp-style loops, quantizers reproduce bytes llama.cpp wrote, stay
// within their grids' error bounds and rank by bit width, and Pack*Block rebuilds
// d·(code − offset).
#include "core/gguf/ggml_types.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/tensor/dtype.h"

namespace quench {
namespace {

using Bytes = std::vector<uint8_t>;

void PutHalf(Bytes& bytes, size_t at, float value) {
  const uint16_t bits = FloatToHalfBits(value);
  bytes[at] = static_cast<uint8_t>(bits & 0xff);
  bytes[at + 1] = static_cast<uint8_t>(bits >> 8);
}

float GetHalf(const uint8_t* p) { return HalfBitsToFloat(static_cast<uint16_t>(p[0] | p[1] << 8)); }

std::vector<float> Decode(GgmlType type, const Bytes& bytes) {
  const GgmlTypeInfo& info = GgmlTypeInfoOf(type);
  std::vector<float> out(bytes.size() / info.block_bytes * info.block_size);
  DequantizeGgmlRow(type, bytes, out);
  return out;
}

Bytes Encode(GgmlType type, const std::vector<float>& x) {
  Bytes out(GgmlRowBytes(type, static_cast<int64_t>(x.size())));
  QuantizeGgmlRow(type, x, out);
  return out;
}

std::vector<float> Gaussian(size_t n, uint32_t seed) {
  std::mt19937 random(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(n);
  for (float& v : x) v = normal(random);
  return x;
}

double Rmse(const std::vector<float>& a, const std::vector<float>& b) {
  double sum = 0;
  for (size_t i = 0; i < a.size(); ++i) sum += (double{a[i]} - b[i]) * (double{a[i]} - b[i]);
  return std::sqrt(sum / static_cast<double>(a.size()));
}

// Equal as bit patterns (so −0 ≠ +0 and a NaN would have to match too).
void ExpectSameBits(const std::vector<float>& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(std::bit_cast<uint32_t>(got[i]), std::bit_cast<uint32_t>(want[i]))
        << "element " << i << ": " << got[i] << " vs " << want[i];
  }
}

constexpr GgmlType kQuantTypes[] = {
    GgmlType::kQ4_0, GgmlType::kQ4_1, GgmlType::kQ5_0, GgmlType::kQ5_1, GgmlType::kQ8_0,
    GgmlType::kQ2_K, GgmlType::kQ3_K, GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K,
};

// ---------------------------------------------------------------------------------------------
// Type table.

TEST(GgmlTypesTest, TableHasUpstreamIdsAndSizes) {
  struct Expected {
    uint32_t id;
    const char* name;
    int64_t block_size;
    int64_t block_bytes;
  };
  const Expected expected[] = {
      {0, "F32", 1, 4},       {1, "F16", 1, 2},       {2, "Q4_0", 32, 18},
      {3, "Q4_1", 32, 20},    {6, "Q5_0", 32, 22},    {7, "Q5_1", 32, 24},
      {8, "Q8_0", 32, 34},    {10, "Q2_K", 256, 84},  {11, "Q3_K", 256, 110},
      {12, "Q4_K", 256, 144}, {13, "Q5_K", 256, 176}, {14, "Q6_K", 256, 210},
      {30, "BF16", 1, 2},
  };
  ASSERT_EQ(GgmlTypes().size(), std::size(expected));
  for (size_t i = 0; i < std::size(expected); ++i) {
    const GgmlTypeInfo& info = GgmlTypes()[i];
    EXPECT_EQ(static_cast<uint32_t>(info.type), expected[i].id);
    EXPECT_STREQ(info.name, expected[i].name);
    EXPECT_EQ(info.block_size, expected[i].block_size) << info.name;
    EXPECT_EQ(info.block_bytes, expected[i].block_bytes) << info.name;
    ASSERT_NE(FindGgmlType(expected[i].id), nullptr);
    EXPECT_EQ(FindGgmlType(expected[i].id), &GgmlTypeInfoOf(info.type));
  }
  for (uint32_t unsupported : {4u, 5u, 9u, 15u, 16u, 20u, 39u, 40u, 1000u}) {
    EXPECT_EQ(FindGgmlType(unsupported), nullptr) << unsupported;
  }
}

TEST(GgmlTypesTest, RowBytes) {
  EXPECT_EQ(GgmlRowBytes(GgmlType::kQ4_K, 4096), 16 * 144);
  EXPECT_EQ(GgmlRowBytes(GgmlType::kQ6_K, 256), 210);
  EXPECT_EQ(GgmlRowBytes(GgmlType::kQ4_0, 64), 36);
  EXPECT_EQ(GgmlRowBytes(GgmlType::kQ8_0, 4096), 128 * 34);
  EXPECT_EQ(GgmlRowBytes(GgmlType::kF16, 3), 6);
  EXPECT_EQ(GgmlRowBytes(GgmlType::kBF16, 5), 10);
  EXPECT_EQ(GgmlRowBytes(GgmlType::kF32, 7), 28);
}

TEST(GgmlTypesTest, ParsesNamesCaseInsensitively) {
  EXPECT_EQ(ParseGgmlTypeName("q4_0"), GgmlType::kQ4_0);
  EXPECT_EQ(ParseGgmlTypeName("Q4_K"), GgmlType::kQ4_K);
  EXPECT_EQ(ParseGgmlTypeName("q4_k"), GgmlType::kQ4_K);
  EXPECT_EQ(ParseGgmlTypeName("Q6_k"), GgmlType::kQ6_K);
  EXPECT_EQ(ParseGgmlTypeName("bf16"), GgmlType::kBF16);
  EXPECT_EQ(ParseGgmlTypeName("Bf16"), GgmlType::kBF16);
  EXPECT_EQ(ParseGgmlTypeName("f32"), GgmlType::kF32);
  EXPECT_EQ(ParseGgmlTypeName("F16"), GgmlType::kF16);
  EXPECT_EQ(ParseGgmlTypeName("q5_1"), GgmlType::kQ5_1);
  EXPECT_EQ(ParseGgmlTypeName("Q8_0"), GgmlType::kQ8_0);
  EXPECT_EQ(ParseGgmlTypeName("Q2_K"), GgmlType::kQ2_K);
  EXPECT_EQ(ParseGgmlTypeName("q3_K"), GgmlType::kQ3_K);
  EXPECT_EQ(ParseGgmlTypeName("q5_k"), GgmlType::kQ5_K);
  for (const char* bad : {"", "Q4_K_M", "q4", "Q8_1", "IQ4_NL", "F64", "q4_0 "}) {
    EXPECT_FALSE(ParseGgmlTypeName(bad).has_value()) << bad;
  }
}

// ---------------------------------------------------------------------------------------------
// Hand-built blocks. All scales are powers of two and codes small, so every expected value is
// exact whatever order one multiplies in.

TEST(GgmlTypesTest, DecodesHandBuiltQ4_0Block) {
  Bytes block(18);
  PutHalf(block, 0, 0.5f);
  for (int j = 0; j < 16; ++j) block[2 + j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  const std::vector<float> x = Decode(GgmlType::kQ4_0, block);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(x[j], 0.5f * static_cast<float>(j - 8)) << j;            // low nibble: j
    EXPECT_EQ(x[j + 16], 0.5f * static_cast<float>(15 - j - 8)) << j;  // high nibble: j+16
  }
  EXPECT_EQ(x[0], -4.0f);
  EXPECT_EQ(x[16], 3.5f);
}

TEST(GgmlTypesTest, DecodesHandBuiltQ4_1Block) {
  Bytes block(20);
  PutHalf(block, 0, 0.25f);
  PutHalf(block, 2, -1.5f);
  int codes[32];
  for (int j = 0; j < 32; ++j) codes[j] = (5 * j + 1) % 16;
  for (int j = 0; j < 16; ++j) block[4 + j] = static_cast<uint8_t>(codes[j] | codes[j + 16] << 4);
  const std::vector<float> x = Decode(GgmlType::kQ4_1, block);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(x[j], 0.25f * codes[j] - 1.5f) << j;
}

// Q5_0/Q5_1 keep the fifth bit of element j in bit j of the little-endian uint32 qh.
void PutFiveBitCodes(const int* codes, Bytes& block, size_t qh, size_t qs) {
  for (int j = 0; j < 32; ++j) {
    if (codes[j] & 16) block[qh + j / 8] |= static_cast<uint8_t>(1 << (j % 8));
  }
  for (int j = 0; j < 16; ++j) {
    block[qs + j] = static_cast<uint8_t>((codes[j] & 15) | (codes[j + 16] & 15) << 4);
  }
}

TEST(GgmlTypesTest, DecodesHandBuiltQ5_0Block) {
  Bytes block(22);
  PutHalf(block, 0, 0.125f);
  int codes[32];
  for (int j = 0; j < 32; ++j) codes[j] = (7 * j + 3) % 32;
  PutFiveBitCodes(codes, block, 2, 6);
  const std::vector<float> x = Decode(GgmlType::kQ5_0, block);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(x[j], 0.125f * (codes[j] - 16)) << j;
}

TEST(GgmlTypesTest, DecodesHandBuiltQ5_1Block) {
  Bytes block(24);
  PutHalf(block, 0, 0.5f);
  PutHalf(block, 2, 2.0f);
  int codes[32];
  for (int j = 0; j < 32; ++j) codes[j] = (11 * j + 5) % 32;
  PutFiveBitCodes(codes, block, 4, 8);
  const std::vector<float> x = Decode(GgmlType::kQ5_1, block);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(x[j], 0.5f * codes[j] + 2.0f) << j;
}

TEST(GgmlTypesTest, DecodesHandBuiltQ8_0Block) {
  Bytes block(34);
  PutHalf(block, 0, -2.0f);
  for (int j = 0; j < 32; ++j)
    block[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(8 * j - 128));
  const std::vector<float> x = Decode(GgmlType::kQ8_0, block);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(x[j], -2.0f * (8 * j - 128)) << j;
}

// Q2_K: scales[16] (scale low nibble, min high nibble), qs[64], d, dmin. Element e's 2 bits sit
// in qs[32·(e/128) + e%32] at bit 2·((e%128)/32).
TEST(GgmlTypesTest, DecodesHandBuiltQ2_KBlock) {
  Bytes block(84);
  int q[256], scale[16], min[16];
  for (int e = 0; e < 256; ++e) q[e] = (e * 7 + e / 13) % 4;
  for (int g = 0; g < 16; ++g) {
    scale[g] = (g * 5 + 3) % 16;
    min[g] = (g * 3 + 1) % 16;
    block[g] = static_cast<uint8_t>(scale[g] | min[g] << 4);
  }
  for (int base = 0; base < 256; base += 128) {
    for (int l = 0; l < 32; ++l) {
      block[16 + base / 4 + l] = static_cast<uint8_t>(
          q[base + l] | q[base + l + 32] << 2 | q[base + l + 64] << 4 | q[base + l + 96] << 6);
    }
  }
  PutHalf(block, 80, 0.5f);
  PutHalf(block, 82, 0.25f);
  const std::vector<float> x = Decode(GgmlType::kQ2_K, block);
  for (int e = 0; e < 256; ++e) {
    EXPECT_EQ(x[e], 0.5f * scale[e / 16] * q[e] - 0.25f * min[e / 16]) << e;
  }
}

// Q3_K: hmask[32], qs[64], scales[12], d. Values q ∈ [−4, 3] stored as q + 4: low 2 bits in qs
// as Q2_K, the third bit in hmask[e%32] bit e/32. Scales s ∈ [−32, 31] stored as s + 32 in 6 bits.
TEST(GgmlTypesTest, DecodesHandBuiltQ3_KBlock) {
  Bytes block(110);
  int q[256], scale[16];
  for (int e = 0; e < 256; ++e) q[e] = (e * 5 + e / 7) % 8 - 4;
  for (int g = 0; g < 16; ++g) scale[g] = (g * 13 + 7) % 64 - 32;
  for (int e = 0; e < 256; ++e) {
    const int stored = q[e] + 4;
    if (stored & 4) block[e % 32] |= static_cast<uint8_t>(1 << (e / 32));
    block[32 + 32 * (e / 128) + e % 32] |=
        static_cast<uint8_t>((stored & 3) << (2 * ((e % 128) / 32)));
  }
  for (int g = 0; g < 16; ++g) {
    const int stored = scale[g] + 32;
    if (g < 8) {
      block[96 + g] |= static_cast<uint8_t>(stored & 15);
    } else {
      block[96 + g - 8] |= static_cast<uint8_t>((stored & 15) << 4);
    }
    block[96 + 8 + g % 4] |= static_cast<uint8_t>((stored >> 4) << (2 * (g / 4)));
  }
  PutHalf(block, 108, 0.25f);
  const std::vector<float> x = Decode(GgmlType::kQ3_K, block);
  for (int e = 0; e < 256; ++e) EXPECT_EQ(x[e], 0.25f * scale[e / 16] * q[e]) << e;
}

// The Q4_K/Q5_K 12-byte scale block as FORMATS.md §2d packs it.
void PutScalesMins(const int* ls, const int* lm, uint8_t* packed) {
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      packed[j] = static_cast<uint8_t>(ls[j]);
      packed[j + 4] = static_cast<uint8_t>(lm[j]);
    } else {
      packed[j + 4] = static_cast<uint8_t>((ls[j] & 0xf) | (lm[j] & 0xf) << 4);
      packed[j - 4] |= static_cast<uint8_t>((ls[j] >> 4) << 6);
      packed[j] |= static_cast<uint8_t>((lm[j] >> 4) << 6);
    }
  }
}

// llama.cpp's get_scale_min_k4, read off bit by bit: scale/min j < 4 are the low six bits of
// bytes j and j+4; for j ≥ 4 the low nibbles are in byte j+4 and the top two bits in bits 6-7 of
// bytes j−4 (scale) and j (min).
void ReferenceScaleMin(const uint8_t* packed, int j, int* scale, int* min) {
  auto bit = [&](int byte, int b) { return (packed[byte] >> b) & 1; };
  *scale = 0;
  *min = 0;
  for (int b = 0; b < 6; ++b) {
    if (j < 4) {
      *scale |= bit(j, b) << b;
      *min |= bit(j + 4, b) << b;
    } else {
      *scale |= (b < 4 ? bit(j + 4, b) : bit(j - 4, b + 2)) << b;
      *min |= (b < 4 ? bit(j + 4, b + 4) : bit(j, b + 2)) << b;
    }
  }
}

TEST(GgmlTypesTest, ScaleMinPackingRoundTripsThroughReference) {
  std::mt19937 random(3);
  for (int trial = 0; trial < 200; ++trial) {
    int ls[8], lm[8];
    for (int j = 0; j < 8; ++j) {
      ls[j] = static_cast<int>(random() % 64);
      lm[j] = static_cast<int>(random() % 64);
    }
    uint8_t packed[12] = {};
    PutScalesMins(ls, lm, packed);
    for (int j = 0; j < 8; ++j) {
      int scale, min;
      ReferenceScaleMin(packed, j, &scale, &min);
      ASSERT_EQ(scale, ls[j]) << j;
      ASSERT_EQ(min, lm[j]) << j;
    }
  }
}

TEST(GgmlTypesTest, DecodesHandBuiltQ4_KAndQ5_KBlocks) {
  const int ls[8] = {1, 2, 63, 17, 33, 48, 5, 60};
  const int lm[8] = {0, 7, 31, 62, 16, 40, 63, 9};
  int q[256];
  for (int e = 0; e < 256; ++e) q[e] = (e * 11 + e / 9) % 32;

  // Q4_K: d, dmin, scales[12], qs[128]; qs[32c + l] = q[64c + l] | q[64c + 32 + l] << 4.
  Bytes q4(144);
  PutHalf(q4, 0, 0.5f);
  PutHalf(q4, 2, 0.25f);
  PutScalesMins(ls, lm, &q4[4]);
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l) {
      q4[16 + 32 * c + l] =
          static_cast<uint8_t>((q[64 * c + l] & 15) | (q[64 * c + 32 + l] & 15) << 4);
    }
  }
  const std::vector<float> x4 = Decode(GgmlType::kQ4_K, q4);
  for (int e = 0; e < 256; ++e) {
    EXPECT_EQ(x4[e], 0.5f * ls[e / 32] * (q[e] & 15) - 0.25f * lm[e / 32]) << e;
  }

  // Q5_K: d, dmin, scales[12], qh[32], qs[128]; the fifth bit of 64c + l is bit 2c of qh[l],
  // of 64c + 32 + l bit 2c + 1.
  Bytes q5(176);
  PutHalf(q5, 0, 0.5f);
  PutHalf(q5, 2, 0.25f);
  PutScalesMins(ls, lm, &q5[4]);
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l) {
      q5[48 + 32 * c + l] =
          static_cast<uint8_t>((q[64 * c + l] & 15) | (q[64 * c + 32 + l] & 15) << 4);
      q5[16 + l] |= static_cast<uint8_t>(((q[64 * c + l] >> 4) << (2 * c)) |
                                         ((q[64 * c + 32 + l] >> 4) << (2 * c + 1)));
    }
  }
  const std::vector<float> x5 = Decode(GgmlType::kQ5_K, q5);
  for (int e = 0; e < 256; ++e) {
    EXPECT_EQ(x5[e], 0.5f * ls[e / 32] * q[e] - 0.25f * lm[e / 32]) << e;
  }
}

// Q6_K: ql[128], qh[64], int8 scales[16], d last. Per 128-element half h (ql base 64h, qh base
// 32h), l ∈ 0..31: ql[l] = q[l]&15 | (q[l+64]&15) << 4, ql[l+32] = q[l+32]&15 | (q[l+96]&15) << 4,
// qh[l] = q[l]>>4 | (q[l+32]>>4) << 2 | (q[l+64]>>4) << 4 | (q[l+96]>>4) << 6.
TEST(GgmlTypesTest, DecodesHandBuiltQ6_KBlockWithDLast) {
  Bytes block(210);
  int q[256], scale[16];
  for (int e = 0; e < 256; ++e) q[e] = (e * 37 + e / 5) % 64;
  for (int g = 0; g < 16; ++g) scale[g] = (g * 29) % 256 - 128;  // includes −128 and positives
  for (int h = 0; h < 2; ++h) {
    const int* qq = q + 128 * h;
    for (int l = 0; l < 32; ++l) {
      block[64 * h + l] = static_cast<uint8_t>((qq[l] & 15) | (qq[l + 64] & 15) << 4);
      block[64 * h + l + 32] = static_cast<uint8_t>((qq[l + 32] & 15) | (qq[l + 96] & 15) << 4);
      block[128 + 32 * h + l] = static_cast<uint8_t>(
          (qq[l] >> 4) | (qq[l + 32] >> 4) << 2 | (qq[l + 64] >> 4) << 4 | (qq[l + 96] >> 4) << 6);
    }
  }
  for (int g = 0; g < 16; ++g) block[192 + g] = static_cast<uint8_t>(static_cast<int8_t>(scale[g]));
  PutHalf(block, 208, 0.125f);
  const std::vector<float> x = Decode(GgmlType::kQ6_K, block);
  for (int e = 0; e < 256; ++e) EXPECT_EQ(x[e], 0.125f * scale[e / 16] * (q[e] - 32)) << e;
}

// ---------------------------------------------------------------------------------------------
// Random blocks (every bit pattern, fp16 scales of all sizes) decode bit for bit like the
// decode loops of llama.cpp's dequantize_row_*, transcribed here in their operation order.

float RandomHalf(std::mt19937& random) {
  for (;;) {
    const auto bits = static_cast<uint16_t>(random());
    if ((bits & 0x7c00) != 0x7c00) return HalfBitsToFloat(bits);  // finite only
  }
}

Bytes RandomBlock(std::mt19937& random, size_t size, std::initializer_list<size_t> halves) {
  Bytes block(size);
  for (uint8_t& b : block) b = static_cast<uint8_t>(random());
  for (size_t at : halves) PutHalf(block, at, RandomHalf(random));
  return block;
}

std::vector<float> LoopDecodeQ2_K(const uint8_t* b) {
  std::vector<float> y;
  const float d = GetHalf(b + 80), min = GetHalf(b + 82);
  const uint8_t* q = b + 16;
  int is = 0;
  for (int n = 0; n < 256; n += 128) {
    for (int shift = 0; shift < 8; shift += 2) {
      for (int half = 0; half < 2; ++half) {
        const uint8_t sc = b[is++];
        const float dl = d * (sc & 0xF), ml = min * (sc >> 4);
        for (int l = 0; l < 16; ++l) y.push_back(dl * ((q[l + 16 * half] >> shift) & 3) - ml);
      }
    }
    q += 32;
  }
  return y;
}

std::vector<float> LoopDecodeQ3_K(const uint8_t* b) {
  std::vector<float> y;
  const float d_all = GetHalf(b + 108);
  const uint8_t* hm = b;
  const uint8_t* q = b + 32;
  int scales[16];
  for (int j = 0; j < 16; ++j) {
    const int low = j < 8 ? b[96 + j] & 0xF : b[96 + j - 8] >> 4;
    scales[j] = (low | ((b[96 + 8 + j % 4] >> (2 * (j / 4))) & 3) << 4) - 32;
  }
  int is = 0;
  uint8_t m = 1;
  for (int n = 0; n < 256; n += 128) {
    for (int shift = 0; shift < 8; shift += 2) {
      for (int half = 0; half < 2; ++half) {
        const float dl = d_all * scales[is++];
        for (int l = 0; l < 16; ++l) {
          const int k = l + 16 * half;
          y.push_back(dl * (((q[k] >> shift) & 3) - ((hm[k] & m) ? 0 : 4)));
        }
      }
      m = static_cast<uint8_t>(m << 1);
    }
    q += 32;
  }
  return y;
}

std::vector<float> LoopDecodeQ4_KOrQ5_K(const uint8_t* b, bool five_bit) {
  std::vector<float> y;
  const float d = GetHalf(b), min = GetHalf(b + 2);
  const uint8_t* qh = b + 16;
  const uint8_t* ql = five_bit ? b + 48 : b + 16;
  int u1 = 1, u2 = 2;
  for (int j = 0; j < 8; j += 2) {
    int sc1, m1, sc2, m2;
    ReferenceScaleMin(b + 4, j, &sc1, &m1);
    ReferenceScaleMin(b + 4, j + 1, &sc2, &m2);
    const float d1 = d * sc1, min1 = min * m1, d2 = d * sc2, min2 = min * m2;
    for (int l = 0; l < 32; ++l) {
      y.push_back(d1 * ((ql[l] & 0xF) + (five_bit && (qh[l] & u1) ? 16 : 0)) - min1);
    }
    for (int l = 0; l < 32; ++l) {
      y.push_back(d2 * ((ql[l] >> 4) + (five_bit && (qh[l] & u2) ? 16 : 0)) - min2);
    }
    ql += 32;
    u1 <<= 2;
    u2 <<= 2;
  }
  return y;
}

std::vector<float> LoopDecodeQ6_K(const uint8_t* b) {
  std::vector<float> y(256);
  const float d = GetHalf(b + 208);
  for (int h = 0; h < 2; ++h) {
    const uint8_t* ql = b + 64 * h;
    const uint8_t* qh = b + 128 + 32 * h;
    const auto* sc = reinterpret_cast<const int8_t*>(b + 192 + 8 * h);
    for (int l = 0; l < 32; ++l) {
      const int is = l / 16;
      const int q1 = ((ql[l] & 0xF) | ((qh[l] >> 0) & 3) << 4) - 32;
      const int q2 = ((ql[l + 32] & 0xF) | ((qh[l] >> 2) & 3) << 4) - 32;
      const int q3 = ((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32;
      const int q4 = ((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32;
      y[128 * h + l] = d * sc[is] * q1;
      y[128 * h + l + 32] = d * sc[is + 2] * q2;
      y[128 * h + l + 64] = d * sc[is + 4] * q3;
      y[128 * h + l + 96] = d * sc[is + 6] * q4;
    }
  }
  return y;
}

TEST(GgmlTypesTest, RandomKQuantBlocksDecodeLikeLlamaCppLoops) {
  std::mt19937 random(11);
  for (int trial = 0; trial < 300; ++trial) {
    const Bytes q2 = RandomBlock(random, 84, {80, 82});
    ExpectSameBits(Decode(GgmlType::kQ2_K, q2), LoopDecodeQ2_K(q2.data()));
    const Bytes q3 = RandomBlock(random, 110, {108});
    ExpectSameBits(Decode(GgmlType::kQ3_K, q3), LoopDecodeQ3_K(q3.data()));
    const Bytes q4 = RandomBlock(random, 144, {0, 2});
    ExpectSameBits(Decode(GgmlType::kQ4_K, q4), LoopDecodeQ4_KOrQ5_K(q4.data(), false));
    const Bytes q5 = RandomBlock(random, 176, {0, 2});
    ExpectSameBits(Decode(GgmlType::kQ5_K, q5), LoopDecodeQ4_KOrQ5_K(q5.data(), true));
    const Bytes q6 = RandomBlock(random, 210, {208});
    ExpectSameBits(Decode(GgmlType::kQ6_K, q6), LoopDecodeQ6_K(q6.data()));
  }
}

TEST(GgmlTypesTest, RandomLegacyBlocksDecodeLikeLlamaCppLoops) {
  std::mt19937 random(12);
  for (int trial = 0; trial < 300; ++trial) {
    const Bytes q41 = RandomBlock(random, 20, {0, 2});
    const float d = GetHalf(&q41[0]), m = GetHalf(&q41[2]);
    std::vector<float> want(32);
    for (int j = 0; j < 16; ++j) {
      want[j] = (q41[4 + j] & 0x0F) * d + m;
      want[j + 16] = (q41[4 + j] >> 4) * d + m;
    }
    ExpectSameBits(Decode(GgmlType::kQ4_1, q41), want);

    const Bytes q51 = RandomBlock(random, 24, {0, 2});
    const float d5 = GetHalf(&q51[0]), m5 = GetHalf(&q51[2]);
    uint32_t qh;
    std::memcpy(&qh, &q51[4], 4);  // little-endian host
    for (int j = 0; j < 16; ++j) {
      want[j] = ((q51[8 + j] & 0x0F) | (((qh >> j) << 4) & 0x10)) * d5 + m5;
      want[j + 16] = ((q51[8 + j] >> 4) | ((qh >> (j + 12)) & 0x10)) * d5 + m5;
    }
    ExpectSameBits(Decode(GgmlType::kQ5_1, q51), want);
  }
}

// ---------------------------------------------------------------------------------------------
// Quantizers.

// What llama.cpp's quantize_row_*_ref (commit de3ff81) wrote for GoldenInput(): pins the exact
// choices of the reference quantizers (scale search, ties, clamps), which error bounds alone
// cannot. The input uses only correctly rounded float operations, so it is the same on every
// platform. Regenerate only from llama.cpp itself.
std::vector<float> GoldenInput(int n) {
  const float magnitude[8] = {1.0f, 0.25f, 3.0f, 0.01f, 1.5f, 0.5f, 8.0f, 0.125f};
  const float scale[5] = {1.0f, 0.001f, 40.0f, 0.3f, 2.0f};  // per super-block
  std::vector<float> x(n);
  for (int i = 0; i < n; ++i) {
    uint32_t h = static_cast<uint32_t>(i) * 2654435761u;
    h ^= h >> 15;
    const float v = static_cast<float>(static_cast<int>(h % 2001) - 1000) / 1000.0f;
    const float s = scale[i / 256 % 5];
    x[i] = (v * v * v * 2.0f + v * 0.5f) * magnitude[i / 32 % 8] * s;
    if (i / 32 % 8 == 5) x[i] += 0.75f * s;           // a sub-block away from zero (min > 0)
    if (i % 256 >= 96 && i % 256 < 112) x[i] = 0.0f;  // an all-zero group of 16
  }
  return x;
}

uint64_t Fnv1a(const Bytes& bytes) {
  uint64_t hash = 14695981039346656037ull;
  for (uint8_t b : bytes) hash = (hash ^ b) * 1099511628211ull;
  return hash;
}

Bytes FromHex(const char* hex) {
  auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  Bytes bytes(std::strlen(hex) / 2);
  for (size_t i = 0; i < bytes.size(); ++i) {
    bytes[i] = static_cast<uint8_t>(nibble(hex[2 * i]) << 4 | nibble(hex[2 * i + 1]));
  }
  return bytes;
}

// The first 256 values, byte by byte (readable when something moves).
TEST(GgmlTypesTest, QuantizersMatchLlamaCppBytes) {
  struct Golden {
    GgmlType type;
    const char* hex;
  };
  const Golden kGolden[] = {
      {GgmlType::kQ4_0,
       "00353086885b80a72ac231397aa07864848a00ada958b2f58fb8898880798789bb890668013b188793987d84"
       "8a177009935c8a98cc28669ac8888888b838a89898789878088888b8b6b6fa889688a9586f1e86e899b06854"
       "97f83db348749268555255558375504a46527752dfc0ad870c7769f87939859997858b2687c5ea27a68970cb"
       "9a617edb078dbc8848d67ba8"},
      {GgmlType::kQ4_1,
       "fe3300c140a8aa6ea1d93cf2414c8cd08a86a5ad3f2dd5b866a84d0b804787877f8688865587f997dc3901c7"
       "2a99a4ba9f95ac18900ab36fabbafe2a1b1957a20555455515b5254545654565f5555515113789c205876978"
       "56a891e27927675f98ab6917ed3000b8a3592c74878c78873a588f90a67d548dbe4006cc5278f388960786c6"
       "7955687a74d9773a5f27eab3a69a80dc9b718fec089ecd9959e77ca9"},
      {GgmlType::kQ5_0,
       "00314c96b6c8700c00a6015f53846263d340d0d9070400a9f3ba3d1533b064f90f70f1f000e20ff355f20dd0"
       "013759fa6e74310f1730f908142ef0112598033198416696ffffdfe5800010006060401010e020e000100070"
       "b6b2d3961fcff4012d0f43afde3c0cc03250d0b83ee03daf0108040170e824bfab94baaa07e9a0947db3dea3"
       "dfbcf51223df4a1d07eed1d0e1610b332d0a054b0f8aea23dade9bae3c03f08614d2eca61f1b6800909dd630"},
      {GgmlType::kQ5_1,
       "bc2f00c16e96b6fc904055dd51b369f5827819a1151c595a1329d5b80e45d2eecc509b16009f0e0fff1d000c"
       "aa0ef32fab3501c7dbfa7e75353259742f3a5932201677ce4875ee55f01457a2000020100aaa9aaa2a7a5a9a"
       "9aca8acafa9aba2ad63289c22c79e2300b0ed2f0bd5032c4f43fdeaf3047d22fc52c00b866a7b19c47a33ae8"
       "0f19f00f75a11f204bfab90a973c06cc0aaddc20a3d1f6102d0e0c9de3bbc1e4e9b3ef642223eab3dadfdfae"
       "6d2510b837e20fc9113d9a22a2cef852"},
      {GgmlType::kQ8_0,
       "0a2581e0003387f819a18e14198502c8ba21b9fd00ce0024a73fb4adec21eae603000a1de9035e368501f7fd"
       "7bf10aead6f31bfde52cce8c03cb0805020f0307d6087f190f2b05f7b80148c41ff2810cab421807410897fd"
       "0914f5fd0693f78612cb0118449f730a00000000000000000000000000000000c100f8fed051e0f8f70cf00d"
       "7ffa03cbc426e0f91907eb0494a223fef37f023d13018402effedf301c68019febd51a29ea924c23013f6205"
       "2a60322c49367fdd19670d674510ef2733362b2fff13333b4729172ee930ae18c811f501f4f729ea172dd727"
       "0b2ce2fc7f131b970f4f03ecf200005e02c1fa17df16812c228f5f33f7543c0100e62f021c00f83f08e8f34c"
       "88063203c54bea18"},
      {GgmlType::kQ2_K,
       "211111116555000033330100b9ff0000242a1b2b341b272908271b342726392b046966641aa7284b5848695a"
       "e5697a0a41a51aa2a52ae4a4b6d6edb3927aa2ba9c96b1eaa94aaafb2294d9ad6efaa598c4397a3c"},
      {GgmlType::kQ3_K,
       "36d601f5965397d6c097d3e69746e4d7caddbf9e8f57de9b7ecacecb569e4dc90403240a2c20110100011124"
       "14022e01850c081e804a4003010153210713209cc15817507d04fb8f2bf890242ce69324550c04b83bf909eb"
       "001d8b0785d9cf69b463dfef4b0a0000da2a99990431"},
      {GgmlType::kQ4_K,
       "b828f3330702d3000a02db00dc24ff115077daae00796c72f16b7c504a65947c54a93a067a3c737e7483787c"
       "4878fa8a5a59545a5f555c58505b535f5b5a5f5a01594a5b19b92a4149604b65fa4b5f123597d94876d88182"
       "a997f70f67db58d7a0572677859a898e37518695a97a6681518803989617c69669b5a87a7459977a85766fa8"
       "795068bc0775967747bd6783"},
      {GgmlType::kQ5_K,
       "c7241a340602d3000a02dc00db24ff1104e533d78431a58472b5e15415749675a01745d4653d54f11402a521"
       "3dd507a3b1e1a75f02e5dbd6e3cafbb187cd1bddaa36770ee77df7efea08e3fd83f2e817a5a3a9a4afaba9a2"
       "a0a6a7aea8a5aea504a496a72374559393c187cce498bf257c3fa481fe9102f45510ff0fc0b893b040a04ee0"
       "1c16f40e70b41e2b44f5bd02a30106201c2e8c3dd36b41e4e8b33fe41aedde40f1b0c0681eeb3cee8e6abe06"},
      {GgmlType::kQ6_K,
       "10e8e00d221e86c80335b60161220f2846ff205ed0fd2037e402592c08672160060f08030f00020101040d06"
       "0a03090107052d1dcfcd8e2f20dc4fde0b1ef0da0892aa7ec50fbac70781932100f14b1070101cbf97acc7db"
       "f0573b05079a0af49041789f76a934a5ee13c1090ab79d07b309d7903b6abeed00284b1792ef77ad28150226"
       "3c192a18002a06382a29342ac895aaac961aa4879844a55629a572864aa601a59621d79771d6a2b89661a5b2"
       "a0a649d5917252c31aa4e1a122c265a0100bfcfc2d2a0000ea15f4f950800201041d"},
  };
  const std::vector<float> x = GoldenInput(256);
  for (const Golden& golden : kGolden) {
    const Bytes want = FromHex(golden.hex);
    const Bytes got = Encode(golden.type, x);
    ASSERT_EQ(got.size(), want.size()) << GgmlTypeInfoOf(golden.type).name;
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i], want[i]) << GgmlTypeInfoOf(golden.type).name << " byte " << i;
    }
  }
}

// 80 super-blocks, as FNV-1a hashes of the row: rarer paths (a refit that moves the min, scale
// narrowing) show up somewhere in this many blocks.
TEST(GgmlTypesTest, QuantizersMatchLlamaCppHashes) {
  struct Golden {
    GgmlType type;
    uint64_t fnv1a;
  };
  const Golden kGolden[] = {
      {GgmlType::kQ4_0, 0xb89e6039cbe99829ull}, {GgmlType::kQ4_1, 0x9d98d6180fd3e50eull},
      {GgmlType::kQ5_0, 0x19dbd0c8034afb31ull}, {GgmlType::kQ5_1, 0x5b6f03b8bb8e05aaull},
      {GgmlType::kQ8_0, 0x0dd6c92a5725bb3aull}, {GgmlType::kQ2_K, 0x6b003ea2cbc91da4ull},
      {GgmlType::kQ3_K, 0x602c3146791ced53ull}, {GgmlType::kQ4_K, 0xc67e1c65c4820424ull},
      {GgmlType::kQ5_K, 0xd1dd3eb67dd0419aull}, {GgmlType::kQ6_K, 0x5b8652ef5182d7bfull},
  };
  const std::vector<float> x = GoldenInput(256 * 80);
  for (const Golden& golden : kGolden) {
    EXPECT_EQ(Fnv1a(Encode(golden.type, x)), golden.fnv1a) << GgmlTypeInfoOf(golden.type).name;
  }
}

// Per block: every element within half a step of d (the block's stored scale).
TEST(GgmlTypesTest, SymmetricLegacyRoundTripWithinHalfAStep) {
  const std::vector<float> x = Gaussian(32 * 512, 5);
  struct Case {
    GgmlType type;
    int offset;      // code offset: the largest |x| maps to code 0 = −offset·d
    double in_grid;  // bound on |err|/|d| for elements inside the grid
  };
  // Rounding gives d/2; d's fp16 rounding adds up to offset·|d|·2^-11 on top.
  for (const Case c : {Case{GgmlType::kQ4_0, 8, 0.51}, Case{GgmlType::kQ5_0, 16, 0.51},
                       Case{GgmlType::kQ8_0, 0, 0.57}}) {
    const GgmlTypeInfo& info = GgmlTypeInfoOf(c.type);
    const Bytes bytes = Encode(c.type, x);
    const std::vector<float> y = Decode(c.type, bytes);
    for (size_t b = 0; b < x.size() / 32; ++b) {
      const float d = std::fabs(GetHalf(&bytes[b * info.block_bytes]));
      ASSERT_GT(d, 0.0f);
      for (size_t j = 32 * b; j < 32 * b + 32; ++j) {
        const double err = std::fabs(double{x[j]} - y[j]);
        // Q4_0/Q5_0 only reach +(offset − 1)·d on the side opposite the extreme: values beyond
        // are clamped, costing up to one step.
        const bool clamped = c.offset > 0 && std::fabs(x[j]) > (c.offset - 1) * d;
        EXPECT_LE(err, (clamped ? 1.01 : c.in_grid) * d) << info.name << " element " << j;
      }
    }
  }
}

TEST(GgmlTypesTest, AffineLegacyRoundTripWithinHalfAStep) {
  std::vector<float> x = Gaussian(32 * 512, 6);
  for (size_t i = 0; i < x.size(); ++i) x[i] += (i / 32 % 3 == 0) ? 3.0f : 0.0f;  // offset blocks
  for (const GgmlType type : {GgmlType::kQ4_1, GgmlType::kQ5_1}) {
    const Bytes bytes = Encode(type, x);
    const std::vector<float> y = Decode(type, bytes);
    const int64_t stride = GgmlTypeInfoOf(type).block_bytes;
    for (size_t b = 0; b < x.size() / 32; ++b) {
      const float d = GetHalf(&bytes[b * stride]);
      const float m = GetHalf(&bytes[b * stride + 2]);
      ASSERT_GT(d, 0.0f);
      float lo = x[32 * b];
      for (size_t j = 32 * b; j < 32 * b + 32; ++j) lo = std::min(lo, x[j]);
      EXPECT_NEAR(m, lo, std::fabs(lo) / 1024) << b;  // m is the block minimum
      for (size_t j = 32 * b; j < 32 * b + 32; ++j) {
        EXPECT_LE(std::fabs(double{x[j]} - y[j]), 0.52 * d + std::fabs(m) / 1024)
            << GgmlTypeInfoOf(type).name << " element " << j;
      }
    }
  }
}

TEST(GgmlTypesTest, ErrorShrinksWithBitsOnGaussianData) {
  const std::vector<float> x = Gaussian(256 * 64, 9);
  auto rmse = [&](GgmlType type) { return Rmse(x, Decode(type, Encode(type, x))); };
  const double q2k = rmse(GgmlType::kQ2_K), q3k = rmse(GgmlType::kQ3_K);
  const double q4k = rmse(GgmlType::kQ4_K), q5k = rmse(GgmlType::kQ5_K);
  const double q6k = rmse(GgmlType::kQ6_K), q8 = rmse(GgmlType::kQ8_0);
  EXPECT_GT(q2k, q3k);
  EXPECT_GT(q3k, q4k);
  EXPECT_GT(q4k, q5k);
  EXPECT_GT(q5k, q6k);
  EXPECT_GT(q6k, q8);
  EXPECT_GT(rmse(GgmlType::kQ4_0), rmse(GgmlType::kQ5_0));
  EXPECT_GT(rmse(GgmlType::kQ5_0), q8);
  EXPECT_GT(rmse(GgmlType::kQ4_1), rmse(GgmlType::kQ5_1));
  // Each extra bit roughly halves the error; these bounds are loose versions of that (unit
  // variance data), and catch a codec that decodes garbage.
  EXPECT_LT(q2k, 0.45);
  EXPECT_LT(q3k, 0.25);
  EXPECT_LT(q4k, 0.12);
  EXPECT_LT(q5k, 0.06);
  EXPECT_LT(q6k, 0.03);
  EXPECT_LT(q8, 0.01);
  EXPECT_LT(q4k, rmse(GgmlType::kQ4_0));  // the searched scales and mins beat plain rounding
}

TEST(GgmlTypesTest, ZeroRowsDecodeToZero) {
  for (const GgmlType type : kQuantTypes) {
    const std::vector<float> zeros(512, 0.0f);
    const Bytes bytes = Encode(type, zeros);
    const std::vector<float> y = Decode(type, bytes);
    for (float v : y) ASSERT_EQ(v, 0.0f) << GgmlTypeInfoOf(type).name;
  }
  // Q6_K writes an all-zero block for a zero super-block (d included).
  const Bytes q6 = Encode(GgmlType::kQ6_K, std::vector<float>(256, 0.0f));
  for (uint8_t b : q6) EXPECT_EQ(b, 0);
}

TEST(GgmlTypesTest, ConstantAndSparseRowsStayClose) {
  for (const GgmlType type : kQuantTypes) {
    const char* name = GgmlTypeInfoOf(type).name;
    const std::vector<float> constant(256, 0.75f);
    const std::vector<float> y = Decode(type, Encode(type, constant));
    for (float v : y) ASSERT_NEAR(v, 0.75f, 0.75f / 64) << name;

    std::vector<float> sparse(256, 0.0f);
    sparse[17] = 2.0f;
    sparse[200] = -1.0f;
    const std::vector<float> z = Decode(type, Encode(type, sparse));
    for (size_t i = 0; i < sparse.size(); ++i)
      ASSERT_NEAR(z[i], sparse[i], 0.1) << name << " " << i;
  }
}

TEST(GgmlTypesTest, RowsQuantizeBlockByBlock) {
  const std::vector<float> x = Gaussian(512, 13);
  for (const GgmlType type : kQuantTypes) {
    const GgmlTypeInfo& info = GgmlTypeInfoOf(type);
    const Bytes whole = Encode(type, x);
    for (size_t b = 0; b < x.size() / info.block_size; ++b) {
      const std::vector<float> part(x.begin() + b * info.block_size,
                                    x.begin() + (b + 1) * info.block_size);
      const Bytes block = Encode(type, part);
      ASSERT_TRUE(std::equal(block.begin(), block.end(), whole.begin() + b * info.block_bytes))
          << info.name << " block " << b;
    }
  }
}

TEST(GgmlTypesTest, Q8_0AndQ4_0RequantizeTheirOwnGrid) {
  std::mt19937 random(17);
  for (int trial = 0; trial < 100; ++trial) {
    // Q8_0: with one code at ±127 the block's amax is 127·d, so d comes back exactly.
    const float d = HalfBitsToFloat(static_cast<uint16_t>(0x1000 + random() % 0x4000));
    std::array<uint8_t, 32> codes;
    for (uint8_t& c : codes) c = static_cast<uint8_t>(1 + random() % 255);
    codes[random() % 32] = (random() & 1) ? 255 : 1;
    Bytes q8(34);
    PackQ8_0Block(d, codes, q8.data());
    EXPECT_EQ(Encode(GgmlType::kQ8_0, Decode(GgmlType::kQ8_0, q8)), q8);

    // Q4_0: code 0 (−8·d) is the unique extreme when d > 0.
    std::array<uint8_t, 32> nibbles;
    for (uint8_t& c : nibbles) c = static_cast<uint8_t>(1 + random() % 15);
    nibbles[random() % 32] = 0;
    Bytes q4(18);
    PackQ4_0Block(d, nibbles, q4.data());
    EXPECT_EQ(Encode(GgmlType::kQ4_0, Decode(GgmlType::kQ4_0, q4)), q4);
  }
}

// ---------------------------------------------------------------------------------------------
// Pack*Block.

TEST(GgmlTypesTest, PackedBlocksDecodeToScaledCodes) {
  std::mt19937 random(21);
  struct Case {
    GgmlType type;
    int offset;
    int levels;
    void (*pack)(float, std::span<const uint8_t, 32>, uint8_t*);
  };
  for (const Case c :
       {Case{GgmlType::kQ4_0, 8, 16, PackQ4_0Block}, Case{GgmlType::kQ5_0, 16, 32, PackQ5_0Block},
        Case{GgmlType::kQ8_0, 128, 256, PackQ8_0Block}}) {
    for (int trial = 0; trial < 100; ++trial) {
      const float d = (random() & 1 ? -1.0f : 1.0f) * RandomHalf(random);
      std::array<uint8_t, 32> codes;
      for (uint8_t& code : codes) code = static_cast<uint8_t>(random() % c.levels);
      Bytes block(GgmlTypeInfoOf(c.type).block_bytes);
      c.pack(d, codes, block.data());
      EXPECT_EQ(GetHalf(block.data()), d);
      const std::vector<float> y = Decode(c.type, block);
      for (int j = 0; j < 32; ++j) {
        ASSERT_EQ(y[j], static_cast<float>(codes[j] - c.offset) * d)
            << GgmlTypeInfoOf(c.type).name << " element " << j;
      }
    }
  }
}

TEST(GgmlTypesTest, PackQ4_0BlockUsesLlamaCppNibbleOrder) {
  std::array<uint8_t, 32> codes;
  for (int j = 0; j < 32; ++j) codes[j] = static_cast<uint8_t>(j % 16);
  uint8_t block[18];
  PackQ4_0Block(1.0f, codes, block);
  EXPECT_EQ(block[0], 0x00);  // fp16 1.0 = 0x3c00, little-endian
  EXPECT_EQ(block[1], 0x3c);
  for (int j = 0; j < 16; ++j) EXPECT_EQ(block[2 + j], j | j << 4) << j;
}

// ---------------------------------------------------------------------------------------------
// Block fields: what the solver works with.

constexpr GgmlType kFieldTypes[] = {GgmlType::kQ4_1, GgmlType::kQ5_1, GgmlType::kQ2_K,
                                    GgmlType::kQ3_K, GgmlType::kQ4_K, GgmlType::kQ5_K,
                                    GgmlType::kQ6_K};

// The value of element e from a block's fields, by the formulas of ggml_types.h written out
// per type (float operations in llama.cpp's order).
float ValueFromFields(GgmlType type, const GgmlBlockFields& f, int e) {
  const float d = HalfBitsToFloat(f.d), dmin = HalfBitsToFloat(f.dmin);
  const int code = f.codes[e];
  switch (type) {
    case GgmlType::kQ4_1:
    case GgmlType::kQ5_1:
      return static_cast<float>(code) * d + dmin;
    case GgmlType::kQ2_K:
      return d * static_cast<float>(f.sub_scales[e / 16]) * static_cast<float>(code) -
             dmin * static_cast<float>(f.sub_mins[e / 16]);
    case GgmlType::kQ4_K:
    case GgmlType::kQ5_K:
      return d * static_cast<float>(f.sub_scales[e / 32]) * static_cast<float>(code) -
             dmin * static_cast<float>(f.sub_mins[e / 32]);
    case GgmlType::kQ3_K:
      return d * static_cast<float>(f.sub_scales[e / 16]) * static_cast<float>(code - 4);
    case GgmlType::kQ6_K:
      return d * static_cast<float>(f.sub_scales[e / 16]) * static_cast<float>(code - 32);
    default:
      return NAN;
  }
}

TEST(GgmlTypesTest, BlockFieldsRoundTripAndDecodeLikeTheDequantizer) {
  std::mt19937 random(21);
  for (GgmlType type : kFieldTypes) {
    SCOPED_TRACE(GgmlTypeInfoOf(type).name);
    ASSERT_TRUE(HasGgmlBlockFields(type));
    const GgmlTypeInfo& info = GgmlTypeInfoOf(type);
    // Blocks llama.cpp's quantizer writes, and blocks of arbitrary bits (every bit of these
    // layouts is meaningful, so those must round-trip too).
    std::vector<Bytes> blocks;
    const Bytes golden = Encode(type, GoldenInput(1280));
    for (size_t at = 0; at < golden.size(); at += info.block_bytes)
      blocks.emplace_back(golden.begin() + at, golden.begin() + at + info.block_bytes);
    for (int trial = 0; trial < 50; ++trial) {
      Bytes block(info.block_bytes);
      for (uint8_t& b : block) b = static_cast<uint8_t>(random());
      // Keep the fp16 fields finite so the decoded values can be compared.
      const bool k_quant = info.block_size == 256;
      const size_t d_at = type == GgmlType::kQ2_K   ? 80
                          : type == GgmlType::kQ3_K ? 108
                          : type == GgmlType::kQ6_K ? 208
                                                    : 0;
      PutHalf(block, d_at, RandomHalf(random));
      if (!k_quant || type == GgmlType::kQ2_K || type == GgmlType::kQ4_K || type == GgmlType::kQ5_K)
        PutHalf(block, type == GgmlType::kQ2_K ? 82 : 2, RandomHalf(random));
      blocks.push_back(block);
    }
    for (const Bytes& block : blocks) {
      GgmlBlockFields fields;
      UnpackGgmlBlock(type, block.data(), fields);
      Bytes packed(info.block_bytes);
      PackGgmlBlock(type, fields, packed.data());
      ASSERT_EQ(packed, block);
      std::vector<float> want(info.block_size);
      for (int e = 0; e < info.block_size; ++e) want[e] = ValueFromFields(type, fields, e);
      ExpectSameBits(Decode(type, block), want);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Plain float types.

TEST(GgmlTypesTest, FloatRowsAreLittleEndianAndRoundToNearestEven) {
  const std::vector<float> x = {1.0f, -2.5f};
  EXPECT_EQ(Encode(GgmlType::kF32, x), (Bytes{0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x20, 0xc0}));
  EXPECT_EQ(Encode(GgmlType::kF16, x), (Bytes{0x00, 0x3c, 0x00, 0xc1}));
  EXPECT_EQ(Encode(GgmlType::kBF16, x), (Bytes{0x80, 0x3f, 0x20, 0xc0}));

  // bf16 ties go to even; NaN stays NaN and becomes quiet.
  const std::vector<float> ties = {
      std::bit_cast<float>(0x3f808000u), std::bit_cast<float>(0x3f818000u),
      std::bit_cast<float>(0x3f808001u), std::bit_cast<float>(0x7f800001u)};
  EXPECT_EQ(Encode(GgmlType::kBF16, ties), (Bytes{0x80, 0x3f, 0x82, 0x3f, 0x81, 0x3f, 0xc0, 0x7f}));
  // fp16 tie: 1 + 2^-11 is halfway between 1 and 1 + 2^-10.
  EXPECT_EQ(Encode(GgmlType::kF16, {1.0f + std::ldexp(1.0f, -11)}), (Bytes{0x00, 0x3c}));

  const std::vector<float> values = Gaussian(64, 2);
  for (const GgmlType type : {GgmlType::kF32, GgmlType::kF16, GgmlType::kBF16}) {
    const std::vector<float> y = Decode(type, Encode(type, values));
    for (size_t i = 0; i < values.size(); ++i) {
      const float tolerance = type == GgmlType::kF32   ? 0.0f
                              : type == GgmlType::kF16 ? std::fabs(values[i]) / 2048
                                                       : std::fabs(values[i]) / 256;
      EXPECT_NEAR(y[i], values[i], tolerance) << GgmlTypeInfoOf(type).name << " " << i;
    }
  }
}

}  // namespace
}  // namespace quench
