#include "core/tensor/dtype.h"
#include "absl/strings/string_view.h"

#include <bit>
#include <cmath>
#include <cstring>

#include "core/util/check.h"

namespace quench {
namespace {

struct DTypeInfo {
  DType dtype;
  absl::string_view name;
  size_t size;
  bool floating;
};

constexpr DTypeInfo kDTypes[] = {
    {DType::kF32, "F32", 4, true},    {DType::kF16, "F16", 2, true},
    {DType::kBF16, "BF16", 2, true},  {DType::kF8E4M3, "F8_E4M3", 1, true},
    {DType::kF64, "F64", 8, true},    {DType::kI8, "I8", 1, false},
    {DType::kU8, "U8", 1, false},     {DType::kI16, "I16", 2, false},
    {DType::kI32, "I32", 4, false},   {DType::kI64, "I64", 8, false},
    {DType::kBool, "BOOL", 1, false},
};

const DTypeInfo& Info(DType dtype) {
  for (const auto& info : kDTypes) {
    if (info.dtype == dtype) return info;
  }
  QUENCH_CHECK(false);
  std::abort();
}

// Rounds the 32-bit pattern `bits` right by `shift` bits, to nearest with ties to even.
uint32_t ShiftRightRoundEven(uint32_t bits, int shift) {
  if (shift <= 0) return bits;
  if (shift >= 32) return 0;
  const uint32_t kept = bits >> shift;
  const uint32_t remainder = bits & ((1u << shift) - 1);
  const uint32_t half = 1u << (shift - 1);
  if (remainder > half || (remainder == half && (kept & 1u))) return kept + 1;
  return kept;
}

// Encodes a finite, non-negative float magnitude into a small float format with
// `exp_bits`/`man_bits` and exponent bias `bias`, rounding to nearest even. Returns the
// unsigned code; the caller handles overflow (code above the largest finite).
uint32_t EncodeMagnitude(float magnitude, int man_bits, int bias) {
  const uint32_t bits = std::bit_cast<uint32_t>(magnitude);
  const int exponent = static_cast<int>(bits >> 23) - 127;  // unbiased, for normals
  const uint32_t mantissa = bits & 0x7fffffu;
  if ((bits >> 23) == 0) return 0;  // fp32 subnormals are far below every target's range
  const int target_exponent = exponent + bias;
  if (target_exponent >= 1) {
    // Normal in the target: round the 23-bit mantissa to man_bits. A carry out of the
    // mantissa correctly bumps the exponent.
    const uint32_t rounded = ShiftRightRoundEven(mantissa, 23 - man_bits);
    return (static_cast<uint32_t>(target_exponent) << man_bits) + rounded;
  }
  // Subnormal in the target: value = m * 2^(1 - bias - man_bits). Shift the full significand.
  const uint32_t significand = mantissa | 0x800000u;
  const int shift = 23 - man_bits + (1 - target_exponent);
  return ShiftRightRoundEven(significand, shift);
}

}  // namespace

size_t DTypeSize(DType dtype) { return Info(dtype).size; }
absl::string_view DTypeName(DType dtype) { return Info(dtype).name; }
bool IsFloatingPoint(DType dtype) { return Info(dtype).floating; }

std::optional<DType> ParseDType(absl::string_view name) {
  for (const auto& info : kDTypes) {
    if (info.name == name) return info.dtype;
  }
  return std::nullopt;
}

uint16_t FloatToHalfBits(float value) {
  const uint32_t bits = std::bit_cast<uint32_t>(value);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  if (std::isnan(value)) return sign | 0x7e00u | static_cast<uint16_t>((bits >> 13) & 0x3ffu);
  const float magnitude = std::fabs(value);
  if (std::isinf(magnitude)) return sign | 0x7c00u;
  const uint32_t code = EncodeMagnitude(magnitude, 10, 15);
  if (code >= 0x7c00u) return sign | 0x7c00u;  // overflow rounds to infinity
  return sign | static_cast<uint16_t>(code);
}

float HalfBitsToFloat(uint16_t bits) {
  const uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  const uint32_t exponent = (bits >> 10) & 0x1fu;
  const uint32_t mantissa = bits & 0x3ffu;
  if (exponent == 0x1f) {
    return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));
  }
  if (exponent == 0) {
    const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    return sign ? -magnitude : magnitude;
  }
  return std::bit_cast<float>(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

uint16_t FloatToBFloat16Bits(float value) {
  const uint32_t bits = std::bit_cast<uint32_t>(value);
  if (std::isnan(value)) return static_cast<uint16_t>((bits >> 16) | 0x0040u);  // stay quiet NaN
  // Rounding the low 16 bits to even; overflow carries into the exponent and yields inf.
  return static_cast<uint16_t>(ShiftRightRoundEven(bits, 16));
}

float BFloat16BitsToFloat(uint16_t bits) {
  return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16);
}

uint8_t FloatToE4M3Bits(float value) {
  if (std::isnan(value)) return 0x7f;
  const uint8_t sign = std::signbit(value) ? 0x80 : 0x00;
  const float magnitude = std::fabs(value);
  constexpr uint32_t kMaxFinite = 0x7e;  // 448
  if (std::isinf(magnitude) || magnitude >= 448.0f) return sign | kMaxFinite;
  const uint32_t code = EncodeMagnitude(magnitude, 3, 7);
  return sign | static_cast<uint8_t>(code > kMaxFinite ? kMaxFinite : code);
}

float E4M3BitsToFloat(uint8_t bits) {
  const bool negative = (bits & 0x80) != 0;
  const uint32_t exponent = (bits >> 3) & 0xfu;
  const uint32_t mantissa = bits & 0x7u;
  float magnitude;
  if (exponent == 0xf && mantissa == 0x7) {
    magnitude = std::numeric_limits<float>::quiet_NaN();
  } else if (exponent == 0) {
    magnitude = std::ldexp(static_cast<float>(mantissa), -9);
  } else {
    magnitude =
        std::ldexp(1.0f + static_cast<float>(mantissa) / 8.0f, static_cast<int>(exponent) - 7);
  }
  return negative ? -magnitude : magnitude;
}

namespace {
// Loads element i of an array that may not be aligned for T (checkpoint data mapped from a
// file need not be).
template <typename T>
T LoadUnaligned(const void* src, size_t i) {
  T value;
  std::memcpy(&value, static_cast<const std::byte*>(src) + i * sizeof(T), sizeof(T));
  return value;
}

template <typename T>
void ConvertIntegers(const void* src, float* dst, size_t count) {
  for (size_t i = 0; i < count; ++i) dst[i] = static_cast<float>(LoadUnaligned<T>(src, i));
}
}  // namespace

void ConvertToFloat(DType dtype, const void* src, float* dst, size_t count) {
  switch (dtype) {
    case DType::kF32:
      std::memcpy(dst, src, count * sizeof(float));
      return;
    case DType::kF16: {
      for (size_t i = 0; i < count; ++i) dst[i] = HalfBitsToFloat(LoadUnaligned<uint16_t>(src, i));
      return;
    }
    case DType::kBF16: {
      for (size_t i = 0; i < count; ++i) {
        dst[i] = BFloat16BitsToFloat(LoadUnaligned<uint16_t>(src, i));
      }
      return;
    }
    case DType::kF8E4M3: {
      const auto* fp8 = static_cast<const uint8_t*>(src);
      for (size_t i = 0; i < count; ++i) dst[i] = E4M3BitsToFloat(fp8[i]);
      return;
    }
    case DType::kF64:
      return ConvertIntegers<double>(src, dst, count);
    case DType::kI8:
      return ConvertIntegers<int8_t>(src, dst, count);
    case DType::kU8:
    case DType::kBool:
      return ConvertIntegers<uint8_t>(src, dst, count);
    case DType::kI16:
      return ConvertIntegers<int16_t>(src, dst, count);
    case DType::kI32:
      return ConvertIntegers<int32_t>(src, dst, count);
    case DType::kI64:
      return ConvertIntegers<int64_t>(src, dst, count);
  }
}

void ConvertFromFloat(const float* src, DType dtype, void* dst, size_t count) {
  switch (dtype) {
    case DType::kF32:
      std::memcpy(dst, src, count * sizeof(float));
      return;
    case DType::kF16: {
      auto* half = static_cast<uint16_t*>(dst);
      for (size_t i = 0; i < count; ++i) half[i] = FloatToHalfBits(src[i]);
      return;
    }
    case DType::kBF16: {
      auto* bf16 = static_cast<uint16_t*>(dst);
      for (size_t i = 0; i < count; ++i) bf16[i] = FloatToBFloat16Bits(src[i]);
      return;
    }
    case DType::kF8E4M3: {
      auto* fp8 = static_cast<uint8_t*>(dst);
      for (size_t i = 0; i < count; ++i) fp8[i] = FloatToE4M3Bits(src[i]);
      return;
    }
    case DType::kF64: {
      auto* f64 = static_cast<double*>(dst);
      for (size_t i = 0; i < count; ++i) f64[i] = src[i];
      return;
    }
    default:
      QUENCH_CHECK(false && "ConvertFromFloat takes a floating-point dtype");
  }
}

}  // namespace quench
