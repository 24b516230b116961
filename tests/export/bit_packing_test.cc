// Dense bitstream packing against a bit-by-bit reference, and GPTQ's 3-bit word layout as
// FORMATS.md §2a spells it out.
#include "core/export/bit_packing.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace quench {
namespace {

// The obvious implementation: copy each bit of each value to its place in the stream.
std::vector<int32_t> ReferencePack(const std::vector<uint8_t>& values, int bits) {
  std::vector<uint32_t> words((values.size() * bits + 31) / 32, 0);
  for (size_t i = 0; i < values.size(); ++i) {
    for (int b = 0; b < bits; ++b) {
      const size_t bit = i * bits + b;
      if ((values[i] >> b) & 1) words[bit / 32] |= 1u << (bit % 32);
    }
  }
  return std::vector<int32_t>(words.begin(), words.end());
}

TEST(BitPackingTest, MatchesBitByBitReferenceAndUnpacks) {
  std::mt19937 random(7);
  for (int bits = 1; bits <= 8; ++bits) {
    for (int count : {1, 7, 32, 33, 96, 250}) {
      std::vector<uint8_t> values(count);
      for (auto& v : values) v = static_cast<uint8_t>(random() & ((1 << bits) - 1));
      std::vector<int32_t> words(PackedWords(count, bits));
      PackBits(values, bits, words);
      EXPECT_EQ(words, ReferencePack(values, bits)) << bits << " bits, " << count;
      std::vector<uint8_t> back(count);
      UnpackBits(words, bits, back);
      EXPECT_EQ(back, values) << bits << " bits, " << count;
    }
  }
}

TEST(BitPackingTest, ThreeBitsFollowGptqWordScheme) {
  // Word 0 holds v0..v9 and the low two bits of v10; word 1 the top bit of v10, v11..v20 and
  // the low bit of v21; word 2 the top two bits of v21 and v22..v31.
  std::vector<uint8_t> values(32);
  for (int i = 0; i < 32; ++i) values[i] = static_cast<uint8_t>((i * 5 + 3) & 7);
  std::vector<int32_t> words(3);
  PackBits(values, 3, words);
  uint32_t expected[3] = {0, 0, 0};
  for (int j = 0; j < 10; ++j) expected[0] |= uint32_t{values[j]} << (3 * j);
  expected[0] |= uint32_t{values[10] & 3u} << 30;
  expected[1] |= values[10] >> 2;
  for (int j = 0; j < 10; ++j) expected[1] |= uint32_t{values[11 + j]} << (3 * j + 1);
  expected[1] |= uint32_t{values[21] & 1u} << 31;
  expected[2] |= values[21] >> 1;
  for (int j = 0; j < 10; ++j) expected[2] |= uint32_t{values[22 + j]} << (3 * j + 2);
  for (int w = 0; w < 3; ++w) EXPECT_EQ(static_cast<uint32_t>(words[w]), expected[w]) << w;
}

TEST(BitPackingTest, SymmetricFourBitZeroOfEightIsTheV1Constant) {
  // GPTQ v1 stores zero − 1 = 7 in every nibble: 0x77777777.
  std::vector<uint8_t> zeros(8, 7);
  std::vector<int32_t> words(1);
  PackBits(zeros, 4, words);
  EXPECT_EQ(words[0], 2004318071);
}

}  // namespace
}  // namespace quench
