#include "core/export/bit_packing.h"

#include <algorithm>

namespace quench {

int64_t PackedWords(int64_t count, int bits) { return (count * bits + 31) / 32; }

void PackBits(std::span<const uint8_t> values, int bits, std::span<int32_t> words) {
  const uint64_t mask = (uint64_t{1} << bits) - 1;
  std::fill(words.begin(), words.end(), 0);
  for (size_t i = 0; i < values.size(); ++i) {
    const uint64_t bit = i * static_cast<uint64_t>(bits);
    const uint64_t value = (values[i] & mask) << (bit % 32);
    const size_t word = bit / 32;
    words[word] =
        static_cast<int32_t>(static_cast<uint32_t>(words[word]) | static_cast<uint32_t>(value));
    if (value >> 32) {  // the value straddles two words (3, 5, 6, 7 bits)
      words[word + 1] = static_cast<int32_t>(static_cast<uint32_t>(words[word + 1]) |
                                             static_cast<uint32_t>(value >> 32));
    }
  }
}

void UnpackBits(std::span<const int32_t> words, int bits, std::span<uint8_t> values) {
  const uint64_t mask = (uint64_t{1} << bits) - 1;
  for (size_t i = 0; i < values.size(); ++i) {
    const uint64_t bit = i * static_cast<uint64_t>(bits);
    const size_t word = bit / 32;
    uint64_t window = static_cast<uint32_t>(words[word]);
    if (word + 1 < words.size()) window |= uint64_t{static_cast<uint32_t>(words[word + 1])} << 32;
    values[i] = static_cast<uint8_t>((window >> (bit % 32)) & mask);
  }
}

}  // namespace quench
