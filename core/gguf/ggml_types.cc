#include "core/gguf/ggml_types.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cfloat>
#include <cmath>
#include <cstdlib>

#include "absl/strings/match.h"
#include "core/tensor/dtype.h"
#include "core/util/check.h"

// Everything here mirrors llama.cpp's ggml-quants.c value for value: the quantizers make the
// same choices (ties, clamps, integer truncations) and the dequantizers multiply and subtract
// in the same order, so files and decoded rows agree bit for bit with llama.cpp's.
namespace quench {
namespace {

constexpr int kBlock = 32;        // elements per block of the legacy types (Q4_0 ... Q8_0)
constexpr int kSuperBlock = 256;  // elements per K-quant super-block (QK_K)
// llama.cpp treats a group whose largest |x| is below this as all zeros.
constexpr float kGroupMaxEps = 1e-15f;

constexpr std::array<GgmlTypeInfo, 13> kTypes = {{
    {GgmlType::kF32, "F32", 1, 4},
    {GgmlType::kF16, "F16", 1, 2},
    {GgmlType::kQ4_0, "Q4_0", kBlock, 18},
    {GgmlType::kQ4_1, "Q4_1", kBlock, 20},
    {GgmlType::kQ5_0, "Q5_0", kBlock, 22},
    {GgmlType::kQ5_1, "Q5_1", kBlock, 24},
    {GgmlType::kQ8_0, "Q8_0", kBlock, 34},
    {GgmlType::kQ2_K, "Q2_K", kSuperBlock, 84},
    {GgmlType::kQ3_K, "Q3_K", kSuperBlock, 110},
    {GgmlType::kQ4_K, "Q4_K", kSuperBlock, 144},
    {GgmlType::kQ5_K, "Q5_K", kSuperBlock, 176},
    {GgmlType::kQ6_K, "Q6_K", kSuperBlock, 210},
    {GgmlType::kBF16, "BF16", 1, 2},
}};

// ---------------------------------------------------------------------------------------------
// Scalars and little-endian fields.

uint16_t Load16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

void Store16(uint16_t value, uint8_t* p) {
  p[0] = static_cast<uint8_t>(value & 0xff);
  p[1] = static_cast<uint8_t>(value >> 8);
}

uint32_t Load32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}

void Store32(uint32_t value, uint8_t* p) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(value >> (8 * i));
}

float LoadHalf(const uint8_t* p) { return HalfBitsToFloat(Load16(p)); }
void StoreHalf(float value, uint8_t* p) { Store16(FloatToHalfBits(value), p); }

// llama.cpp's nearest_int: adding 1.5·2^23 leaves round-half-even(x) in the low mantissa bits.
// Exact for |x| < 2^22; beyond that it yields the same wrapped value llama.cpp gets, which the
// callers then clamp, so even degenerate inputs produce the same codes.
int NearestInt(float x) {
  const float shifted = x + 12582912.0f;
  return static_cast<int>(std::bit_cast<uint32_t>(shifted) & 0x007fffffu) - 0x00400000;
}

int Clamp(int value, int lo, int hi) { return std::max(lo, std::min(hi, value)); }

// The value with the largest magnitude (the first one on ties), as a signed number.
float SignedAbsMax(const float* x, int n) {
  float amax = 0.0f;
  float max = 0.0f;
  for (int i = 0; i < n; ++i) {
    if (amax < std::fabs(x[i])) {
      amax = std::fabs(x[i]);
      max = x[i];
    }
  }
  return max;
}

// ---------------------------------------------------------------------------------------------
// Legacy 32-element blocks. Element j sits in the low nibble of qs[j], element j + 16 in the
// high nibble; the fifth bit of Q5_* element j is bit j of the little-endian word qh.

void PackNibbles(const uint8_t* codes, uint8_t* qs) {
  for (int j = 0; j < kBlock / 2; ++j) {
    qs[j] = static_cast<uint8_t>((codes[j] & 0x0f) | ((codes[j + kBlock / 2] & 0x0f) << 4));
  }
}

void PackFiveBitCodes(const uint8_t* codes, uint8_t* qh, uint8_t* qs) {
  PackNibbles(codes, qs);
  uint32_t high = 0;
  for (int j = 0; j < kBlock; ++j) high |= static_cast<uint32_t>((codes[j] >> 4) & 1) << j;
  Store32(high, qh);
}

uint8_t NibbleCode(const uint8_t* qs, int j) {
  return j < kBlock / 2 ? qs[j] & 0x0f : qs[j - kBlock / 2] >> 4;
}

uint8_t FiveBitCode(const uint8_t* qh, const uint8_t* qs, int j) {
  return static_cast<uint8_t>(NibbleCode(qs, j) | (((Load32(qh) >> j) & 1) << 4));
}

// Q4_0 and Q5_0: d = max/−offset for the signed extreme `max`, so it lands on code 0;
// code = trunc(x/d + offset + 0.5) capped at 2·offset − 1 (llama.cpp truncates after adding .5).
void SymmetricBlockCodes(const float* x, int offset, float* d, uint8_t* codes) {
  const float max = SignedAbsMax(x, kBlock);
  *d = max / static_cast<float>(-offset);
  const float id = *d != 0.0f ? 1.0f / *d : 0.0f;
  const float bias = static_cast<float>(offset) + 0.5f;
  for (int j = 0; j < kBlock; ++j) {
    codes[j] = static_cast<uint8_t>(std::min(2 * offset - 1, static_cast<int>(x[j] * id + bias)));
  }
}

// Q4_1 and Q5_1: d = (max − min)/levels, m = min, code = trunc((x − min)/d + .5); Q4_1 caps
// the code at 15, Q5_1 does not (llama.cpp's asymmetry, kept for identical bytes).
void AffineBlockCodes(const float* x, int levels, bool cap, float* d, float* min, uint8_t* codes) {
  float lo = FLT_MAX;
  float hi = -FLT_MAX;
  for (int j = 0; j < kBlock; ++j) {
    if (x[j] < lo) lo = x[j];
    if (x[j] > hi) hi = x[j];
  }
  *d = (hi - lo) / static_cast<float>(levels);
  *min = lo;
  const float id = *d != 0.0f ? 1.0f / *d : 0.0f;
  for (int j = 0; j < kBlock; ++j) {
    const int code = static_cast<int>((x[j] - lo) * id + 0.5f);
    codes[j] = static_cast<uint8_t>(cap ? std::min(levels, code) : code);
  }
}

void QuantizeQ4_0(const float* x, uint8_t* out) {
  float d;
  uint8_t codes[kBlock];
  SymmetricBlockCodes(x, 8, &d, codes);
  StoreHalf(d, out);
  PackNibbles(codes, out + 2);
}

void QuantizeQ4_1(const float* x, uint8_t* out) {
  float d, min;
  uint8_t codes[kBlock];
  AffineBlockCodes(x, 15, /*cap=*/true, &d, &min, codes);
  StoreHalf(d, out);
  StoreHalf(min, out + 2);
  PackNibbles(codes, out + 4);
}

void QuantizeQ5_0(const float* x, uint8_t* out) {
  float d;
  uint8_t codes[kBlock];
  SymmetricBlockCodes(x, 16, &d, codes);
  StoreHalf(d, out);
  PackFiveBitCodes(codes, out + 2, out + 6);
}

void QuantizeQ5_1(const float* x, uint8_t* out) {
  float d, min;
  uint8_t codes[kBlock];
  AffineBlockCodes(x, 31, /*cap=*/false, &d, &min, codes);
  StoreHalf(d, out);
  StoreHalf(min, out + 2);
  PackFiveBitCodes(codes, out + 4, out + 8);
}

void QuantizeQ8_0(const float* x, uint8_t* out) {
  float amax = 0.0f;
  for (int j = 0; j < kBlock; ++j) amax = amax > std::fabs(x[j]) ? amax : std::fabs(x[j]);
  const float d = amax / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  StoreHalf(d, out);
  for (int j = 0; j < kBlock; ++j) {
    out[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(std::round(x[j] * id)));
  }
}

void DequantizeQ4_0(const uint8_t* in, float* y) {
  const float d = LoadHalf(in);
  for (int j = 0; j < kBlock; ++j) y[j] = static_cast<float>(NibbleCode(in + 2, j) - 8) * d;
}

void DequantizeQ4_1(const uint8_t* in, float* y) {
  const float d = LoadHalf(in);
  const float m = LoadHalf(in + 2);
  for (int j = 0; j < kBlock; ++j) y[j] = static_cast<float>(NibbleCode(in + 4, j)) * d + m;
}

void DequantizeQ5_0(const uint8_t* in, float* y) {
  const float d = LoadHalf(in);
  for (int j = 0; j < kBlock; ++j) {
    y[j] = static_cast<float>(FiveBitCode(in + 2, in + 6, j) - 16) * d;
  }
}

void DequantizeQ5_1(const uint8_t* in, float* y) {
  const float d = LoadHalf(in);
  const float m = LoadHalf(in + 2);
  for (int j = 0; j < kBlock; ++j) {
    y[j] = static_cast<float>(FiveBitCode(in + 4, in + 8, j)) * d + m;
  }
}

void DequantizeQ8_0(const uint8_t* in, float* y) {
  const float d = LoadHalf(in);
  for (int j = 0; j < kBlock; ++j) y[j] = static_cast<float>(static_cast<int8_t>(in[2 + j])) * d;
}

// ---------------------------------------------------------------------------------------------
// Sub-block fitting shared by the K-quants (llama.cpp's make_qkx2_quants, make_qx_quants and
// make_q3_quants, for the arguments the reference quantizers pass).

// The inverse scales make_qkx2_quants tries: (nmax + rmin + rdelta·step)/(max − min).
struct AffineSearch {
  float rmin;
  float rdelta;
  int steps;
  bool abs_error;  // minimize Σw·|err| instead of Σw·err²
};

struct ScaleMin {
  float scale;
  float min;  // ≥ 0; x ≈ scale·code − min
};

uint8_t AffineCode(float iscale, float x, float offset, int nmax) {
  return static_cast<uint8_t>(Clamp(NearestInt(iscale * (x - offset)), 0, nmax));
}

// `offset` is the negated min here (≤ 0), as make_qkx2_quants carries it.
float WeightedError(float scale, float offset, const uint8_t* codes, const float* x, const float* w,
                    int n, bool abs_error) {
  float error = 0.0f;
  for (int i = 0; i < n; ++i) {
    float diff = scale * static_cast<float>(codes[i]) + offset - x[i];
    diff = abs_error ? std::fabs(diff) : diff * diff;
    error += w[i] * diff;
  }
  return error;
}

// Codes in [0, nmax] and the (scale, min) pair that minimizes the weighted error over a small
// grid of scales, each refined by weighted least squares; min is kept ≥ 0 (the offset ≤ 0).
ScaleMin FitAffineCodes(const float* x, const float* w, int n, int nmax, AffineSearch search,
                        uint8_t* codes) {
  float offset = x[0];
  float max = x[0];
  float sum_w = w[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < offset) offset = x[i];
    if (x[i] > max) max = x[i];
    sum_w += w[i];
    sum_x += w[i] * x[i];
  }
  if (offset > 0) offset = 0;
  if (max == offset) {
    std::fill(codes, codes + n, uint8_t{0});
    return {0.0f, -offset};
  }
  float iscale = static_cast<float>(nmax) / (max - offset);
  float scale = 1 / iscale;
  for (int i = 0; i < n; ++i) codes[i] = AffineCode(iscale, x[i], offset, nmax);
  float best_error = WeightedError(scale, offset, codes, x, w, n, search.abs_error);

  uint8_t trial[kBlock];
  for (int step = 0; step <= search.steps; ++step) {
    // The range (and the codes' origin) follow the best offset found so far, as in llama.cpp.
    iscale = (search.rmin + search.rdelta * static_cast<float>(step) + static_cast<float>(nmax)) /
             (max - offset);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      trial[i] = AffineCode(iscale, x[i], offset, nmax);
      const float l = trial[i];
      sum_l += w[i] * l;
      sum_l2 += w[i] * l * l;
      sum_xl += w[i] * l * x[i];
    }
    const float det = sum_w * sum_l2 - sum_l * sum_l;
    if (!(det > 0)) continue;
    float trial_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
    float trial_offset = (sum_l2 * sum_x - sum_l * sum_xl) / det;
    if (trial_offset > 0) {  // a positive offset would be a negative min: refit through zero
      trial_offset = 0;
      trial_scale = sum_xl / sum_l2;
    }
    const float error = WeightedError(trial_scale, trial_offset, trial, x, w, n, search.abs_error);
    if (error < best_error) {
      std::copy(trial, trial + n, codes);
      best_error = error;
      scale = trial_scale;
      offset = trial_offset;
    }
  }
  return {scale, -offset};
}

// Signed codes l ∈ [−nmax, nmax − 1] for x ≈ l/iscale, weights x² (make_qx_quants with
// rmse_type 1). Returns the residual sums the scale search compares.
struct SymmetricFit {
  float sumlx = 0;
  float suml2 = 0;
};

SymmetricFit FitSymmetricAt(const float* x, int n, int nmax, float iscale, uint8_t* codes) {
  SymmetricFit fit;
  for (int i = 0; i < n; ++i) {
    const int l = Clamp(NearestInt(iscale * x[i]), -nmax, nmax - 1);
    if (codes != nullptr) codes[i] = static_cast<uint8_t>(l + nmax);
    const float w = x[i] * x[i];
    fit.sumlx += w * x[i] * static_cast<float>(l);
    fit.suml2 += w * static_cast<float>(l) * static_cast<float>(l);
  }
  return fit;
}

// Q6_K's sub-block fit: codes in [0, 2·nmax) meaning code − nmax, scale tried around −nmax/max
// in steps of 0.1 and kept where the x²-weighted least-squares fit is best. A group of zeros
// gets codes 0 and scale 0.
float FitSymmetricCodes(const float* x, int n, int nmax, uint8_t* codes) {
  const float max = SignedAbsMax(x, n);
  if (std::fabs(max) < kGroupMaxEps) {
    std::fill(codes, codes + n, uint8_t{0});
    return 0.0f;
  }
  SymmetricFit fit = FitSymmetricAt(x, n, nmax, static_cast<float>(-nmax) / max, codes);
  float scale = fit.suml2 != 0 ? fit.sumlx / fit.suml2 : 0.0f;
  float best = scale * fit.sumlx;
  for (int step = -9; step <= 9; ++step) {
    if (step == 0) continue;
    const float iscale = -(static_cast<float>(nmax) + 0.1f * static_cast<float>(step)) / max;
    fit = FitSymmetricAt(x, n, nmax, iscale, nullptr);
    if (fit.suml2 > 0 && fit.sumlx * fit.sumlx > best * fit.suml2) {
      FitSymmetricAt(x, n, nmax, iscale, codes);
      scale = fit.sumlx / fit.suml2;
      best = scale * fit.sumlx;
    }
  }
  return scale;
}

// Q3_K's sub-block fit (make_q3_quants with do_rmse): start from rounding at −nmax/max, then
// up to five passes of coordinate descent that move one code at a time when that improves
// the x²-weighted least-squares fit. Codes in [0, 2·nmax) meaning code − nmax; a group of
// zeros gets codes 0 and scale 0.
float FitThreeBitCodes(const float* x, int n, int nmax, uint8_t* codes) {
  const float max = SignedAbsMax(x, n);
  if (std::fabs(max) < kGroupMaxEps) {
    std::fill(codes, codes + n, uint8_t{0});
    return 0.0f;
  }
  const float iscale = static_cast<float>(-nmax) / max;
  int levels[kBlock];
  float sumlx = 0;
  float suml2 = 0;
  for (int i = 0; i < n; ++i) {
    levels[i] = Clamp(NearestInt(iscale * x[i]), -nmax, nmax - 1);
    const float w = x[i] * x[i];
    sumlx += w * x[i] * static_cast<float>(levels[i]);
    suml2 += w * static_cast<float>(levels[i]) * static_cast<float>(levels[i]);
  }
  for (int pass = 0; pass < 5; ++pass) {
    int changed = 0;
    for (int i = 0; i < n; ++i) {
      const float w = x[i] * x[i];
      const float l = static_cast<float>(levels[i]);
      float slx = sumlx - w * x[i] * l;
      if (!(slx > 0)) continue;
      float sl2 = suml2 - w * l * l;
      const int new_level = Clamp(NearestInt(x[i] * sl2 / slx), -nmax, nmax - 1);
      if (new_level == levels[i]) continue;
      const float nl = static_cast<float>(new_level);
      slx += w * x[i] * nl;
      sl2 += w * nl * nl;
      if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
        levels[i] = new_level;
        sumlx = slx;
        suml2 = sl2;
        ++changed;
      }
    }
    if (changed == 0) break;
  }
  for (int i = 0; i < n; ++i) codes[i] = static_cast<uint8_t>(levels[i] + nmax);
  return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

// ---------------------------------------------------------------------------------------------
// 2-bit code planes of Q2_K and Q3_K: element e lives in byte 32·(e/128) + e%32 at bit
// 2·((e%128)/32). Q3_K's third bit of element e is bit e/32 of hmask[e%32].

int TwoBitByte(int e) { return 32 * (e / 128) + e % 32; }
int TwoBitShift(int e) { return 2 * ((e % 128) / 32); }

void PackTwoBitCodes(const uint8_t* codes, uint8_t* qs) {
  std::fill(qs, qs + kSuperBlock / 4, uint8_t{0});
  for (int e = 0; e < kSuperBlock; ++e) {
    qs[TwoBitByte(e)] |= static_cast<uint8_t>((codes[e] & 3) << TwoBitShift(e));
  }
}

uint8_t TwoBitCode(const uint8_t* qs, int e) { return (qs[TwoBitByte(e)] >> TwoBitShift(e)) & 3; }

// Q2_K block: scales[16] (low nibble scale, high nibble min), qs[64], f16 d, f16 dmin.
constexpr int kQ2Scales = 0, kQ2Qs = 16, kQ2D = 80, kQ2Dmin = 82;

void QuantizeQ2_K(const float* x, uint8_t* out) {
  constexpr float kLevels = 15.0f;  // 4-bit sub-block scales and mins
  uint8_t codes[kSuperBlock];
  float scales[16], mins[16], weights[16];
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < 16; ++j) {
    for (int l = 0; l < 16; ++l) weights[l] = std::fabs(x[16 * j + l]);
    const ScaleMin fit =
        FitAffineCodes(x + 16 * j, weights, 16, 3, {-0.5f, 0.1f, 15, true}, codes + 16 * j);
    scales[j] = fit.scale;
    mins[j] = fit.min;
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }

  uint8_t* packed = out + kQ2Scales;
  if (max_scale > 0) {
    const float iscale = kLevels / max_scale;
    for (int j = 0; j < 16; ++j) packed[j] = static_cast<uint8_t>(NearestInt(iscale * scales[j]));
    StoreHalf(max_scale / kLevels, out + kQ2D);
  } else {
    std::fill(packed, packed + 16, uint8_t{0});
    StoreHalf(0.0f, out + kQ2D);
  }
  if (max_min > 0) {
    const float iscale = kLevels / max_min;
    for (int j = 0; j < 16; ++j) {
      packed[j] |= static_cast<uint8_t>(NearestInt(iscale * mins[j]) << 4);
    }
    StoreHalf(max_min / kLevels, out + kQ2Dmin);
  } else {
    StoreHalf(0.0f, out + kQ2Dmin);
  }

  // Codes again against the stored (rounded) scales; sub-blocks with a zero scale keep theirs.
  for (int j = 0; j < 16; ++j) {
    const float d = LoadHalf(out + kQ2D) * static_cast<float>(packed[j] & 0xf);
    if (d == 0) continue;
    const float dm = LoadHalf(out + kQ2Dmin) * static_cast<float>(packed[j] >> 4);
    for (int l = 0; l < 16; ++l) {
      codes[16 * j + l] = static_cast<uint8_t>(Clamp(NearestInt((x[16 * j + l] + dm) / d), 0, 3));
    }
  }
  PackTwoBitCodes(codes, out + kQ2Qs);
}

void DequantizeQ2_K(const uint8_t* in, float* y) {
  const float d = LoadHalf(in + kQ2D);
  const float min = LoadHalf(in + kQ2Dmin);
  for (int g = 0; g < 16; ++g) {
    const uint8_t sc = in[kQ2Scales + g];
    const float dl = d * static_cast<float>(sc & 0xf);
    const float ml = min * static_cast<float>(sc >> 4);
    for (int l = 0; l < 16; ++l) {
      const int e = 16 * g + l;
      y[e] = dl * static_cast<float>(TwoBitCode(in + kQ2Qs, e)) - ml;
    }
  }
}

// Q3_K block: hmask[32], qs[64], scales[12], f16 d. Sixteen 6-bit scales (stored + 32): the low
// nibbles of scales 0-7 / 8-15 are the low / high nibbles of bytes 0-7; the top two bits of
// scale j are bits 2·(j/4) of byte 8 + j%4.
constexpr int kQ3Hmask = 0, kQ3Qs = 32, kQ3Scales = 96, kQ3D = 108;

void PackQ3Scales(const int* scales, uint8_t* packed) {
  std::fill(packed, packed + 12, uint8_t{0});
  for (int j = 0; j < 16; ++j) {
    const int s = scales[j];
    if (j < 8) {
      packed[j] |= static_cast<uint8_t>(s & 0xf);
    } else {
      packed[j - 8] |= static_cast<uint8_t>((s & 0xf) << 4);
    }
    packed[8 + j % 4] |= static_cast<uint8_t>((s >> 4) << (2 * (j / 4)));
  }
}

int UnpackQ3Scale(const uint8_t* packed, int j) {
  const int low = j < 8 ? packed[j] & 0xf : packed[j - 8] >> 4;
  const int high = (packed[8 + j % 4] >> (2 * (j / 4))) & 3;
  return (low | (high << 4)) - 32;
}

void QuantizeQ3_K(const float* x, uint8_t* out) {
  uint8_t codes[kSuperBlock];
  float scales[16];
  float max_scale = 0, amax = 0;
  for (int j = 0; j < 16; ++j) {
    scales[j] = FitThreeBitCodes(x + 16 * j, 16, 4, codes + 16 * j);
    if (std::fabs(scales[j]) > amax) {
      amax = std::fabs(scales[j]);
      max_scale = scales[j];
    }
  }

  uint8_t* packed = out + kQ3Scales;
  if (max_scale != 0) {
    const float iscale = -32.0f / max_scale;
    int stored[16];
    for (int j = 0; j < 16; ++j) {
      // llama.cpp narrows to int8 before clamping; harmless, since |iscale·scale| ≤ 32.
      const int8_t l = static_cast<int8_t>(NearestInt(iscale * scales[j]));
      stored[j] = Clamp(l, -32, 31) + 32;
    }
    PackQ3Scales(stored, packed);
    StoreHalf(1 / iscale, out + kQ3D);
  } else {
    std::fill(packed, packed + 12, uint8_t{0});
    StoreHalf(0.0f, out + kQ3D);
  }

  for (int j = 0; j < 16; ++j) {
    const float d = LoadHalf(out + kQ3D) * static_cast<float>(UnpackQ3Scale(packed, j));
    if (d == 0) continue;
    for (int l = 0; l < 16; ++l) {
      codes[16 * j + l] = static_cast<uint8_t>(Clamp(NearestInt(x[16 * j + l] / d), -4, 3) + 4);
    }
  }

  uint8_t* hmask = out + kQ3Hmask;
  std::fill(hmask, hmask + 32, uint8_t{0});
  for (int e = 0; e < kSuperBlock; ++e) {
    if (codes[e] > 3) {
      hmask[e % 32] |= static_cast<uint8_t>(1 << (e / 32));
      codes[e] -= 4;
    }
  }
  PackTwoBitCodes(codes, out + kQ3Qs);
}

void DequantizeQ3_K(const uint8_t* in, float* y) {
  const float d_all = LoadHalf(in + kQ3D);
  for (int g = 0; g < 16; ++g) {
    const float dl = d_all * static_cast<float>(UnpackQ3Scale(in + kQ3Scales, g));
    for (int l = 0; l < 16; ++l) {
      const int e = 16 * g + l;
      const bool high = (in[kQ3Hmask + e % 32] >> (e / 32)) & 1;
      const int q = TwoBitCode(in + kQ3Qs, e) - (high ? 0 : 4);
      y[e] = dl * static_cast<float>(q);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Q4_K and Q5_K: eight sub-blocks of 32 with 6-bit scales and mins in 12 bytes. Bytes 0-3 hold
// scales 0-3 and bytes 4-7 mins 0-3 (low six bits); byte 8 + (j−4) holds the low nibbles of
// scale j (low) and min j (high) for j = 4..7, whose top two bits ride in bits 6-7 of bytes
// j−4 (scale) and j (min).

void PackScalesMins(const uint8_t* scales, const uint8_t* mins, uint8_t* packed) {
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      packed[j] = scales[j];
      packed[j + 4] = mins[j];
    } else {
      packed[j + 4] = static_cast<uint8_t>((scales[j] & 0xf) | ((mins[j] & 0xf) << 4));
      packed[j - 4] |= static_cast<uint8_t>((scales[j] >> 4) << 6);
      packed[j] |= static_cast<uint8_t>((mins[j] >> 4) << 6);
    }
  }
}

void UnpackScaleMin(const uint8_t* packed, int j, uint8_t* scale, uint8_t* min) {
  if (j < 4) {
    *scale = packed[j] & 63;
    *min = packed[j + 4] & 63;
  } else {
    *scale = static_cast<uint8_t>((packed[j + 4] & 0xf) | ((packed[j - 4] >> 6) << 4));
    *min = static_cast<uint8_t>((packed[j + 4] >> 4) | ((packed[j] >> 6) << 4));
  }
}

// The part Q4_K and Q5_K share: fit each sub-block, store d, dmin and the packed 6-bit scales
// and mins at out[0..16), and return the codes (in [0, nmax]) against the stored values.
void QuantizeScaledMinSuperBlock(const float* x, int nmax, AffineSearch search, uint8_t* out,
                                 uint8_t* codes) {
  float scales[8], mins[8], weights[kBlock];
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < 8; ++j) {
    const float* xs = x + 32 * j;
    float sum_x2 = 0;
    for (int l = 0; l < 32; ++l) sum_x2 += xs[l] * xs[l];
    const float av_x = std::sqrt(sum_x2 / 32);
    for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(xs[l]);
    const ScaleMin fit = FitAffineCodes(xs, weights, 32, nmax, search, codes + 32 * j);
    scales[j] = fit.scale;
    mins[j] = fit.min;
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }

  const float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
  const float inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
  uint8_t ls[8], lm[8];
  for (int j = 0; j < 8; ++j) {
    // Narrowed to uint8 before the cap, as llama.cpp does.
    ls[j] = std::min<uint8_t>(63, static_cast<uint8_t>(NearestInt(inv_scale * scales[j])));
    lm[j] = std::min<uint8_t>(63, static_cast<uint8_t>(NearestInt(inv_min * mins[j])));
  }
  StoreHalf(max_scale / 63.0f, out);
  StoreHalf(max_min / 63.0f, out + 2);
  PackScalesMins(ls, lm, out + 4);

  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    UnpackScaleMin(out + 4, j, &sc, &m);
    const float d = LoadHalf(out) * static_cast<float>(sc);
    if (d == 0) continue;
    const float dm = LoadHalf(out + 2) * static_cast<float>(m);
    for (int l = 0; l < 32; ++l) {
      codes[32 * j + l] =
          static_cast<uint8_t>(Clamp(NearestInt((x[32 * j + l] + dm) / d), 0, nmax));
    }
  }
}

// Low nibbles: sub-blocks 2c and 2c+1 share qs[32c .. 32c+32) (low / high nibble).
void PackSubBlockNibbles(const uint8_t* codes, uint8_t* qs) {
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l) {
      qs[32 * c + l] =
          static_cast<uint8_t>((codes[64 * c + l] & 0xf) | ((codes[64 * c + 32 + l] & 0xf) << 4));
    }
  }
}

uint8_t SubBlockNibble(const uint8_t* qs, int j, int l) {
  return (qs[32 * (j / 2) + l] >> (4 * (j % 2))) & 0xf;
}

// Q4_K block: f16 d, f16 dmin, scales[12], qs[128].
void QuantizeQ4_K(const float* x, uint8_t* out) {
  uint8_t codes[kSuperBlock];
  QuantizeScaledMinSuperBlock(x, 15, {-1.0f, 0.1f, 20, false}, out, codes);
  PackSubBlockNibbles(codes, out + 16);
}

// Q5_K block: f16 d, f16 dmin, scales[12], qh[32], qs[128]; the fifth bit of sub-block j's
// element l is bit j of qh[l].
void QuantizeQ5_K(const float* x, uint8_t* out) {
  uint8_t codes[kSuperBlock];
  QuantizeScaledMinSuperBlock(x, 31, {-0.5f, 0.1f, 15, false}, out, codes);
  uint8_t* qh = out + 16;
  std::fill(qh, qh + 32, uint8_t{0});
  for (int j = 0; j < 8; ++j) {
    for (int l = 0; l < 32; ++l) {
      qh[l] |= static_cast<uint8_t>(((codes[32 * j + l] >> 4) & 1) << j);
    }
  }
  PackSubBlockNibbles(codes, out + 48);
}

void DequantizeScaledMin(const uint8_t* in, const uint8_t* qh, const uint8_t* qs, float* y) {
  const float d = LoadHalf(in);
  const float min = LoadHalf(in + 2);
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    UnpackScaleMin(in + 4, j, &sc, &m);
    const float dj = d * static_cast<float>(sc);
    const float mj = min * static_cast<float>(m);
    for (int l = 0; l < 32; ++l) {
      int q = SubBlockNibble(qs, j, l);
      if (qh != nullptr && ((qh[l] >> j) & 1)) q += 16;
      y[32 * j + l] = dj * static_cast<float>(q) - mj;
    }
  }
}

void DequantizeQ4_K(const uint8_t* in, float* y) { DequantizeScaledMin(in, nullptr, in + 16, y); }
void DequantizeQ5_K(const uint8_t* in, float* y) { DequantizeScaledMin(in, in + 16, in + 48, y); }

// ---------------------------------------------------------------------------------------------
// Q6_K block: ql[128], qh[64], int8 scales[16], f16 d (last). Element e = 128h + 32k + l
// (k = 0..3) keeps its low nibble in ql[64h + l + 32·(k%2)] (low nibble for k < 2, high
// otherwise) and its top two bits in qh[32h + l] at bit 2k.
constexpr int kQ6Ql = 0, kQ6Qh = 128, kQ6Scales = 192, kQ6D = 208;

struct Q6Position {
  int ql;
  int ql_shift;
  int qh;
  int qh_shift;
};

Q6Position Q6PositionOf(int e) {
  const int h = e / 128, k = (e % 128) / 32, l = e % 32;
  return {64 * h + l + 32 * (k % 2), 4 * (k / 2), 32 * h + l, 2 * k};
}

void QuantizeQ6_K(const float* x, uint8_t* out) {
  uint8_t codes[kSuperBlock];
  float scales[16];
  float max_scale = 0, max_abs_scale = 0;
  for (int j = 0; j < 16; ++j) {
    scales[j] = FitSymmetricCodes(x + 16 * j, 16, 32, codes + 16 * j);
    if (std::fabs(scales[j]) > max_abs_scale) {
      max_abs_scale = std::fabs(scales[j]);
      max_scale = scales[j];
    }
  }
  if (max_abs_scale < kGroupMaxEps) {
    std::fill(out, out + 210, uint8_t{0});
    return;
  }

  const float iscale = -128.0f / max_scale;
  StoreHalf(1 / iscale, out + kQ6D);
  auto* stored = reinterpret_cast<int8_t*>(out + kQ6Scales);
  for (int j = 0; j < 16; ++j) {
    stored[j] = static_cast<int8_t>(std::min(127, NearestInt(iscale * scales[j])));
  }

  for (int j = 0; j < 16; ++j) {
    const float d = LoadHalf(out + kQ6D) * static_cast<float>(stored[j]);
    if (d == 0) continue;
    for (int l = 0; l < 16; ++l) {
      codes[16 * j + l] = static_cast<uint8_t>(Clamp(NearestInt(x[16 * j + l] / d), -32, 31) + 32);
    }
  }

  std::fill(out + kQ6Ql, out + kQ6Scales, uint8_t{0});
  for (int e = 0; e < kSuperBlock; ++e) {
    const Q6Position p = Q6PositionOf(e);
    out[kQ6Ql + p.ql] |= static_cast<uint8_t>((codes[e] & 0xf) << p.ql_shift);
    out[kQ6Qh + p.qh] |= static_cast<uint8_t>((codes[e] >> 4) << p.qh_shift);
  }
}

void DequantizeQ6_K(const uint8_t* in, float* y) {
  const float d = LoadHalf(in + kQ6D);
  const auto* scales = reinterpret_cast<const int8_t*>(in + kQ6Scales);
  for (int e = 0; e < kSuperBlock; ++e) {
    const Q6Position p = Q6PositionOf(e);
    const int q =
        (((in[kQ6Ql + p.ql] >> p.ql_shift) & 0xf) | (((in[kQ6Qh + p.qh] >> p.qh_shift) & 3) << 4)) -
        32;
    y[e] = d * static_cast<float>(scales[e / 16]) * static_cast<float>(q);
  }
}

// ---------------------------------------------------------------------------------------------
// Dispatch.

struct BlockCodec {
  GgmlType type;
  void (*quantize)(const float* x, uint8_t* out);
  void (*dequantize)(const uint8_t* in, float* y);
};

constexpr BlockCodec kCodecs[] = {
    {GgmlType::kQ4_0, QuantizeQ4_0, DequantizeQ4_0},
    {GgmlType::kQ4_1, QuantizeQ4_1, DequantizeQ4_1},
    {GgmlType::kQ5_0, QuantizeQ5_0, DequantizeQ5_0},
    {GgmlType::kQ5_1, QuantizeQ5_1, DequantizeQ5_1},
    {GgmlType::kQ8_0, QuantizeQ8_0, DequantizeQ8_0},
    {GgmlType::kQ2_K, QuantizeQ2_K, DequantizeQ2_K},
    {GgmlType::kQ3_K, QuantizeQ3_K, DequantizeQ3_K},
    {GgmlType::kQ4_K, QuantizeQ4_K, DequantizeQ4_K},
    {GgmlType::kQ5_K, QuantizeQ5_K, DequantizeQ5_K},
    {GgmlType::kQ6_K, QuantizeQ6_K, DequantizeQ6_K},
};

// The block types only; the plain float types are converted element by element.
const BlockCodec& CodecOf(GgmlType type) {
  for (const BlockCodec& codec : kCodecs) {
    if (codec.type == type) return codec;
  }
  QUENCH_CHECK(false && "not a block type");
  std::abort();
}

}  // namespace

std::span<const GgmlTypeInfo> GgmlTypes() { return kTypes; }

const GgmlTypeInfo* FindGgmlType(uint32_t id) {
  for (const GgmlTypeInfo& info : kTypes) {
    if (static_cast<uint32_t>(info.type) == id) return &info;
  }
  return nullptr;
}

const GgmlTypeInfo& GgmlTypeInfoOf(GgmlType type) {
  const GgmlTypeInfo* info = FindGgmlType(static_cast<uint32_t>(type));
  QUENCH_CHECK(info != nullptr);
  return *info;
}

std::optional<GgmlType> ParseGgmlTypeName(absl::string_view name) {
  for (const GgmlTypeInfo& info : kTypes) {
    if (absl::EqualsIgnoreCase(name, info.name)) return info.type;
  }
  return std::nullopt;
}

int64_t GgmlRowBytes(GgmlType type, int64_t n) {
  const GgmlTypeInfo& info = GgmlTypeInfoOf(type);
  QUENCH_CHECK(n % info.block_size == 0);
  return n / info.block_size * info.block_bytes;
}

void QuantizeGgmlRow(GgmlType type, std::span<const float> x, std::span<uint8_t> out) {
  const int64_t n = static_cast<int64_t>(x.size());
  QUENCH_CHECK(static_cast<int64_t>(out.size()) == GgmlRowBytes(type, n));
  switch (type) {
    case GgmlType::kF32:
      for (int64_t i = 0; i < n; ++i) Store32(std::bit_cast<uint32_t>(x[i]), &out[4 * i]);
      return;
    case GgmlType::kF16:
      for (int64_t i = 0; i < n; ++i) Store16(FloatToHalfBits(x[i]), &out[2 * i]);
      return;
    case GgmlType::kBF16:
      // Same rounding as ggml_compute_fp32_to_bf16: nearest even, NaN forced quiet.
      for (int64_t i = 0; i < n; ++i) Store16(FloatToBFloat16Bits(x[i]), &out[2 * i]);
      return;
    default:
      break;
  }
  const GgmlTypeInfo& info = GgmlTypeInfoOf(type);
  const BlockCodec& codec = CodecOf(type);
  for (int64_t b = 0; b < n / info.block_size; ++b) {
    codec.quantize(x.data() + b * info.block_size, out.data() + b * info.block_bytes);
  }
}

void DequantizeGgmlRow(GgmlType type, std::span<const uint8_t> in, std::span<float> out) {
  const int64_t n = static_cast<int64_t>(out.size());
  QUENCH_CHECK(static_cast<int64_t>(in.size()) == GgmlRowBytes(type, n));
  switch (type) {
    case GgmlType::kF32:
      for (int64_t i = 0; i < n; ++i) out[i] = std::bit_cast<float>(Load32(&in[4 * i]));
      return;
    case GgmlType::kF16:
      for (int64_t i = 0; i < n; ++i) out[i] = HalfBitsToFloat(Load16(&in[2 * i]));
      return;
    case GgmlType::kBF16:
      for (int64_t i = 0; i < n; ++i) out[i] = BFloat16BitsToFloat(Load16(&in[2 * i]));
      return;
    default:
      break;
  }
  const GgmlTypeInfo& info = GgmlTypeInfoOf(type);
  const BlockCodec& codec = CodecOf(type);
  for (int64_t b = 0; b < n / info.block_size; ++b) {
    codec.dequantize(in.data() + b * info.block_bytes, out.data() + b * info.block_size);
  }
}

namespace {

// The packers store d as given; a d that fp16 would round means the solver's codes were chosen
// for another scale.
void StoreExactHalf(float d, uint8_t* out) {
  QUENCH_CHECK(HalfBitsToFloat(FloatToHalfBits(d)) == d);
  StoreHalf(d, out);
}

}  // namespace

void PackQ4_0Block(float d, std::span<const uint8_t, 32> codes, uint8_t* out) {
  StoreExactHalf(d, out);
  PackNibbles(codes.data(), out + 2);
}

void PackQ5_0Block(float d, std::span<const uint8_t, 32> codes, uint8_t* out) {
  StoreExactHalf(d, out);
  PackFiveBitCodes(codes.data(), out + 2, out + 6);
}

void PackQ8_0Block(float d, std::span<const uint8_t, 32> codes, uint8_t* out) {
  StoreExactHalf(d, out);
  for (int j = 0; j < kBlock; ++j) {
    out[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(static_cast<int>(codes[j]) - 128));
  }
}

bool HasGgmlBlockFields(GgmlType type) {
  switch (type) {
    case GgmlType::kQ4_1:
    case GgmlType::kQ5_1:
    case GgmlType::kQ2_K:
    case GgmlType::kQ3_K:
    case GgmlType::kQ4_K:
    case GgmlType::kQ5_K:
    case GgmlType::kQ6_K:
      return true;
    default:
      return false;
  }
}

int GgmlSubBlockSize(GgmlType type) {
  QUENCH_CHECK(HasGgmlBlockFields(type));
  return type == GgmlType::kQ2_K || type == GgmlType::kQ3_K || type == GgmlType::kQ6_K ? 16 : 32;
}

void UnpackGgmlBlock(GgmlType type, const uint8_t* in, GgmlBlockFields& out) {
  out = GgmlBlockFields{};
  switch (type) {
    case GgmlType::kQ4_1:
    case GgmlType::kQ5_1:
      out.d = Load16(in);
      out.dmin = Load16(in + 2);
      for (int j = 0; j < kBlock; ++j) {
        out.codes[j] =
            type == GgmlType::kQ4_1 ? NibbleCode(in + 4, j) : FiveBitCode(in + 4, in + 8, j);
      }
      return;
    case GgmlType::kQ2_K:
      out.d = Load16(in + kQ2D);
      out.dmin = Load16(in + kQ2Dmin);
      for (int g = 0; g < 16; ++g) {
        out.sub_scales[g] = in[kQ2Scales + g] & 0xf;
        out.sub_mins[g] = in[kQ2Scales + g] >> 4;
      }
      for (int e = 0; e < kSuperBlock; ++e) out.codes[e] = TwoBitCode(in + kQ2Qs, e);
      return;
    case GgmlType::kQ3_K:
      out.d = Load16(in + kQ3D);
      for (int g = 0; g < 16; ++g) out.sub_scales[g] = UnpackQ3Scale(in + kQ3Scales, g);
      for (int e = 0; e < kSuperBlock; ++e) {
        const bool high = (in[kQ3Hmask + e % 32] >> (e / 32)) & 1;
        out.codes[e] = static_cast<uint8_t>(TwoBitCode(in + kQ3Qs, e) + (high ? 4 : 0));
      }
      return;
    case GgmlType::kQ4_K:
    case GgmlType::kQ5_K: {
      out.d = Load16(in);
      out.dmin = Load16(in + 2);
      const uint8_t* qh = type == GgmlType::kQ5_K ? in + 16 : nullptr;
      const uint8_t* qs = type == GgmlType::kQ5_K ? in + 48 : in + 16;
      for (int j = 0; j < 8; ++j) {
        uint8_t sc, m;
        UnpackScaleMin(in + 4, j, &sc, &m);
        out.sub_scales[j] = sc;
        out.sub_mins[j] = m;
        for (int l = 0; l < 32; ++l) {
          int q = SubBlockNibble(qs, j, l);
          if (qh != nullptr && ((qh[l] >> j) & 1)) q += 16;
          out.codes[32 * j + l] = static_cast<uint8_t>(q);
        }
      }
      return;
    }
    case GgmlType::kQ6_K:
      out.d = Load16(in + kQ6D);
      for (int g = 0; g < 16; ++g) out.sub_scales[g] = static_cast<int8_t>(in[kQ6Scales + g]);
      for (int e = 0; e < kSuperBlock; ++e) {
        const Q6Position p = Q6PositionOf(e);
        out.codes[e] = static_cast<uint8_t>(((in[kQ6Ql + p.ql] >> p.ql_shift) & 0xf) |
                                            (((in[kQ6Qh + p.qh] >> p.qh_shift) & 3) << 4));
      }
      return;
    default:
      QUENCH_CHECK(false && "no block fields for this type");
  }
}

void PackGgmlBlock(GgmlType type, const GgmlBlockFields& in, uint8_t* out) {
  switch (type) {
    case GgmlType::kQ4_1:
      Store16(in.d, out);
      Store16(in.dmin, out + 2);
      PackNibbles(in.codes.data(), out + 4);
      return;
    case GgmlType::kQ5_1:
      Store16(in.d, out);
      Store16(in.dmin, out + 2);
      PackFiveBitCodes(in.codes.data(), out + 4, out + 8);
      return;
    case GgmlType::kQ2_K:
      for (int g = 0; g < 16; ++g) {
        out[kQ2Scales + g] = static_cast<uint8_t>((in.sub_scales[g] & 0xf) | (in.sub_mins[g] << 4));
      }
      PackTwoBitCodes(in.codes.data(), out + kQ2Qs);
      Store16(in.d, out + kQ2D);
      Store16(in.dmin, out + kQ2Dmin);
      return;
    case GgmlType::kQ3_K: {
      int stored[16];
      for (int g = 0; g < 16; ++g) stored[g] = in.sub_scales[g] + 32;
      PackQ3Scales(stored, out + kQ3Scales);
      uint8_t low[kSuperBlock];
      uint8_t* hmask = out + kQ3Hmask;
      std::fill(hmask, hmask + 32, uint8_t{0});
      for (int e = 0; e < kSuperBlock; ++e) {
        if (in.codes[e] > 3) hmask[e % 32] |= static_cast<uint8_t>(1 << (e / 32));
        low[e] = in.codes[e] & 3;
      }
      PackTwoBitCodes(low, out + kQ3Qs);
      Store16(in.d, out + kQ3D);
      return;
    }
    case GgmlType::kQ4_K:
    case GgmlType::kQ5_K: {
      Store16(in.d, out);
      Store16(in.dmin, out + 2);
      uint8_t scales[8], mins[8];
      for (int j = 0; j < 8; ++j) {
        scales[j] = static_cast<uint8_t>(in.sub_scales[j]);
        mins[j] = static_cast<uint8_t>(in.sub_mins[j]);
      }
      PackScalesMins(scales, mins, out + 4);
      if (type == GgmlType::kQ4_K) {
        PackSubBlockNibbles(in.codes.data(), out + 16);
        return;
      }
      uint8_t* qh = out + 16;
      std::fill(qh, qh + 32, uint8_t{0});
      for (int e = 0; e < kSuperBlock; ++e) {
        qh[e % 32] |= static_cast<uint8_t>(((in.codes[e] >> 4) & 1) << (e / 32));
      }
      PackSubBlockNibbles(in.codes.data(), out + 48);
      return;
    }
    case GgmlType::kQ6_K:
      std::fill(out + kQ6Ql, out + kQ6Scales, uint8_t{0});
      for (int e = 0; e < kSuperBlock; ++e) {
        const Q6Position p = Q6PositionOf(e);
        out[kQ6Ql + p.ql] |= static_cast<uint8_t>((in.codes[e] & 0xf) << p.ql_shift);
        out[kQ6Qh + p.qh] |= static_cast<uint8_t>((in.codes[e] >> 4) << p.qh_shift);
      }
      for (int g = 0; g < 16; ++g) out[kQ6Scales + g] = static_cast<uint8_t>(in.sub_scales[g]);
      Store16(in.d, out + kQ6D);
      return;
    default:
      QUENCH_CHECK(false && "no block fields for this type");
  }
}

}  // namespace quench
