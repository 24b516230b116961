// Element types of checkpoints, with the exact scalar conversions between them and fp32.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include "absl/strings/string_view.h"

namespace quench {

enum class DType : uint8_t {
  kF32,
  kF16,
  kBF16,
  kF8E4M3,  // OCP e4m3 "fn": no infinities, 0x7f/0xff are NaN, max finite 448
  kF64,
  kI8,
  kU8,
  kI16,
  kI32,
  kI64,
  kBool,
};

// Bytes per element.
size_t DTypeSize(DType dtype);

// The safetensors spelling ("F32", "BF16", "F8_E4M3", ...).
absl::string_view DTypeName(DType dtype);

// Parses a safetensors dtype string; nullopt for an unknown one.
std::optional<DType> ParseDType(absl::string_view name);

bool IsFloatingPoint(DType dtype);

// Scalar conversions. fp32 → narrower floats round to nearest, ties to even, keep subnormals,
// infinities and NaN (NaN stays NaN, quiet).
uint16_t FloatToHalfBits(float value);
float HalfBitsToFloat(uint16_t bits);
uint16_t FloatToBFloat16Bits(float value);
float BFloat16BitsToFloat(uint16_t bits);
// e4m3 has no infinity: finite values beyond ±448 and ±inf saturate to ±448 (the "satfinite"
// conversion quantizers want, since a scale is chosen so that |x| <= 448); NaN → 0x7f.
uint8_t FloatToE4M3Bits(float value);
float E4M3BitsToFloat(uint8_t bits);

// Converts `count` elements of `src` (of type `dtype`) to fp32. Integer types convert by
// value; bool to 0/1.
void ConvertToFloat(DType dtype, const void* src, float* dst, size_t count);

// Converts fp32 values to a floating-point dtype (F32, F16, BF16, F8E4M3, F64).
void ConvertFromFloat(const float* src, DType dtype, void* dst, size_t count);

}  // namespace quench
