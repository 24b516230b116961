// Packing of low-bit codes into 32-bit words as the GPTQ and compressed-tensors layouts store
// them: one dense little-endian bitstream, value i at bits [i·b, i·b + b). For 2, 4 and 8 bits
// that is 32/b values per word, lowest first; for 3 bits 32 values fill exactly 3 words
// (GPTQ's "10 | 1 | 10 | 1 | 10" scheme is this same stream).
#pragma once

#include <cstdint>
#include <span>

namespace quench {

// Words needed for `count` values of `bits` bits.
int64_t PackedWords(int64_t count, int bits);

// `words` must hold PackedWords(values.size(), bits) words; bits above `bits` in a value are
// ignored.
void PackBits(std::span<const uint8_t> values, int bits, std::span<int32_t> words);
void UnpackBits(std::span<const int32_t> words, int bits, std::span<uint8_t> values);

}  // namespace quench
