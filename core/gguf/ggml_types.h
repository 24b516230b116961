// ggml tensor types as GGUF files store them: the type table (ids pinned to upstream ggml),
// and per type a row quantizer (llama.cpp's reference algorithm, no importance matrix) and a
// row dequantizer whose float arithmetic follows llama.cpp's dequantize_row_* so a row decodes
// to the same bits as in llama.cpp. Block layouts: FORMATS.md §2d.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace quench {

enum class GgmlType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kBF16 = 30,
};

struct GgmlTypeInfo {
  GgmlType type;
  const char* name;     // "F32", "Q4_0", "Q4_K", ... as llama.cpp prints them
  int64_t block_size;   // elements per block (1 for F32/F16/BF16)
  int64_t block_bytes;  // bytes per block
};

// Every type above, in id order.
std::span<const GgmlTypeInfo> GgmlTypes();
// nullptr for an id Quench does not read or write.
const GgmlTypeInfo* FindGgmlType(uint32_t id);
const GgmlTypeInfo& GgmlTypeInfoOf(GgmlType type);
// "q4_0", "Q4_K", "bf16", ... (case-insensitive).
std::optional<GgmlType> ParseGgmlTypeName(absl::string_view name);

// Bytes of a row of n elements; n must be a multiple of the block size.
int64_t GgmlRowBytes(GgmlType type, int64_t n);

// Quantizes one row of x.size() elements (a multiple of the block size) into out
// (GgmlRowBytes bytes), as llama.cpp's quantize_row_*_ref does.
void QuantizeGgmlRow(GgmlType type, std::span<const float> x, std::span<uint8_t> out);

// Decodes one row; out.size() elements from GgmlRowBytes(type, out.size()) bytes.
void DequantizeGgmlRow(GgmlType type, std::span<const uint8_t> in, std::span<float> out);

// Blocks of 32 from codes a solver already chose (no rounding happens here). `d` must be
// exactly representable in fp16; codes are the unsigned block codes (Q4_0: 0..15 meaning
// d·(code − 8); Q5_0: 0..31 meaning d·(code − 16); Q8_0: 0..255 meaning d·(code − 128)).
void PackQ4_0Block(float d, std::span<const uint8_t, 32> codes, uint8_t* out);
void PackQ5_0Block(float d, std::span<const uint8_t, 32> codes, uint8_t* out);
void PackQ8_0Block(float d, std::span<const uint8_t, 32> codes, uint8_t* out);

// A block of one of the types below taken apart into what a solver chooses: every element's
// unsigned code and the stored factors of each sub-block's scale and minimum.
//   Q4_1, Q5_1  1 sub-block of 32    x = code·fp16(d) + fp16(dmin)          (dmin holds m)
//   Q4_K, Q5_K  8 sub-blocks of 32   x = fp16(d)·scale_j·code − fp16(dmin)·min_j (6-bit j-factors)
//   Q2_K        16 sub-blocks of 16  the same with 4-bit factors, 2-bit codes
//   Q3_K        16 sub-blocks of 16  x = fp16(d)·scale_j·(code − 4), scale_j in −32..31
//   Q6_K        16 sub-blocks of 16  x = fp16(d)·scale_j·(code − 32), scale_j an int8
struct GgmlBlockFields {
  uint16_t d = 0;                    // fp16 bits
  uint16_t dmin = 0;                 // fp16 bits
  std::array<int, 16> sub_scales{};  // per sub-block; unused entries 0
  std::array<int, 16> sub_mins{};
  std::array<uint8_t, 256> codes{};  // block_size entries used
};

// True for the types GgmlBlockFields describes (Q4_1, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K).
bool HasGgmlBlockFields(GgmlType type);
// Elements per sub-block (32 or 16) of those types.
int GgmlSubBlockSize(GgmlType type);
void UnpackGgmlBlock(GgmlType type, const uint8_t* in, GgmlBlockFields& out);
// The inverse of UnpackGgmlBlock: Pack(Unpack(b)) == b for every block llama.cpp writes.
void PackGgmlBlock(GgmlType type, const GgmlBlockFields& in, uint8_t* out);

}  // namespace quench
