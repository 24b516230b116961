// SHA-256 against FIPS 180-4 / NIST example digests, CRC-32C against its published check value
// and RFC 3720's test vectors, and incremental updates against one-shot ones.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "core/util/atomic_file.h"
#include "core/util/crc32c.h"
#include "core/util/sha256.h"
#include "tests/core/test_paths.h"

namespace quench {
namespace {

TEST(Sha256Test, NistVectors) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(Sha256Hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256Test, IncrementalEqualsOneShotAtEverySplit) {
  std::mt19937 random(1);
  std::string data(300, '\0');
  for (char& c : data) c = static_cast<char>(random());
  const std::string whole = Sha256Hex(data);
  for (size_t split = 0; split <= data.size(); split += 7) {
    Sha256 hash;
    hash.Update(absl::string_view(data).substr(0, split));
    hash.Update(absl::string_view(data).substr(split));
    EXPECT_EQ(hash.FinishHex(), whole) << split;
  }
}

TEST(Sha256Test, FileDigestAndMissingFile) {
  testing::TempDir dir;
  ASSERT_TRUE(WriteFileAtomically(dir / "f", "abc").ok());
  EXPECT_EQ(*Sha256FileHex(dir / "f"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_FALSE(Sha256FileHex(dir / "missing").ok());
}

TEST(Crc32cTest, CheckValueAndRfc3720Vectors) {
  EXPECT_EQ(Crc32c("123456789", 9), 0xE3069283u);
  const std::string zeros(32, '\0'), ones(32, '\xff');
  EXPECT_EQ(Crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);
  EXPECT_EQ(Crc32c(ones.data(), ones.size()), 0x62A8AB43u);
  std::string ascending(32, '\0');
  for (int i = 0; i < 32; ++i) ascending[i] = static_cast<char>(i);
  EXPECT_EQ(Crc32c(ascending.data(), ascending.size()), 0x46DD794Eu);
}

TEST(Crc32cTest, PortableVersionAgreesOnTheVectors) {
  EXPECT_EQ(Crc32cPortable("123456789", 9), 0xE3069283u);
  const std::string ones(32, '\xff');
  EXPECT_EQ(Crc32cPortable(ones.data(), ones.size()), 0x62A8AB43u);
}

// The CPU instruction path (where there is one) against the byte-at-a-time table, on every
// length around the 8-byte steps and at unaligned starts.
TEST(Crc32cTest, FastPathEqualsPortableOnAnyLengthAndAlignment) {
  std::mt19937 random(7);
  std::string bytes(4099, '\0');
  for (char& byte : bytes) byte = static_cast<char>(random());
  for (size_t start = 0; start < 9; ++start) {
    for (size_t size : {size_t{0}, size_t{1}, size_t{7}, size_t{8}, size_t{9}, size_t{63},
                        size_t{64}, size_t{1000}, size_t{4090}}) {
      EXPECT_EQ(Crc32c(bytes.data() + start, size, 0x1234u),
                Crc32cPortable(bytes.data() + start, size, 0x1234u))
          << "start " << start << " size " << size;
    }
  }
}

TEST(Crc32cTest, ExtendsAcrossChunks) {
  const std::string text = "the quick brown fox jumps over the lazy dog";
  const uint32_t whole = Crc32c(text.data(), text.size());
  EXPECT_EQ(Crc32c(text.data() + 10, text.size() - 10, Crc32c(text.data(), 10)), whole);
}

}  // namespace
}  // namespace quench
