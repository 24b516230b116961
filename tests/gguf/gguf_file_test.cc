// The GGUF container: what the writer puts down is read back key by key and byte by byte, the
// bytes follow the published layout (checked by hand-decoding the header here), and damaged
// files are refused with a message instead of being trusted.
#include "core/gguf/gguf_file.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "core/util/atomic_file.h"
#include "tests/core/test_paths.h"

namespace quench {
namespace {

using testing::TempDir;

GgufWriter::Producer Bytes(std::vector<uint8_t> bytes) {
  return [bytes]() -> absl::StatusOr<std::vector<uint8_t>> { return bytes; };
}

std::vector<uint8_t> FloatBytes(const std::vector<float>& values) {
  std::vector<uint8_t> bytes(values.size() * 4);
  std::memcpy(bytes.data(), values.data(), bytes.size());
  return bytes;
}

std::string ReadAll(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

TEST(GgufFileTest, WritesAndReadsEveryValueTypeAndTensor) {
  TempDir dir;
  GgufWriter writer;
  writer.Add("general.architecture", GgufValue::String("llama"));
  writer.Add("general.alignment", GgufValue::U32(32));
  writer.Add("llama.block_count", GgufValue::U32(5));
  writer.Add("llama.attention.layer_norm_rms_epsilon", GgufValue::F32(1e-5f));
  writer.Add("some.signed", GgufValue::I32(-7));
  writer.Add("tokenizer.ggml.add_bos_token", GgufValue::Bool(true));
  writer.Add("tokenizer.ggml.tokens", GgufValue::StringArray({"<unk>", "<s>", "a b"}));
  writer.Add("tokenizer.ggml.scores", GgufValue::F32Array({0.f, -1.5f, 2.25f}));
  writer.Add("tokenizer.ggml.token_type", GgufValue::I32Array({2, 3, 1}));
  const std::vector<float> norm = {1, 2, 3, 4, 5};
  ASSERT_TRUE(
      writer.AddTensor("output_norm.weight", {5}, GgmlType::kF32, Bytes(FloatBytes(norm))).ok());
  std::vector<float> matrix(64 * 2);
  for (size_t i = 0; i < matrix.size(); ++i) matrix[i] = 0.25f * static_cast<float>(i);
  ASSERT_TRUE(
      writer.AddTensor("m.weight", {64, 2}, GgmlType::kF32, Bytes(FloatBytes(matrix))).ok());
  ASSERT_TRUE(writer.Write(dir / "a.gguf").ok());

  // The header by hand: magic, version 3, tensor count, key count, first key.
  const std::string raw = ReadAll(dir / "a.gguf");
  ASSERT_GT(raw.size(), 64u);
  EXPECT_EQ(raw.substr(0, 4), "GGUF");
  uint32_t version;
  uint64_t tensors, keys, key_length;
  std::memcpy(&version, raw.data() + 4, 4);
  std::memcpy(&tensors, raw.data() + 8, 8);
  std::memcpy(&keys, raw.data() + 16, 8);
  std::memcpy(&key_length, raw.data() + 24, 8);
  EXPECT_EQ(version, 3u);
  EXPECT_EQ(tensors, 2u);
  EXPECT_EQ(keys, 9u);
  EXPECT_EQ(raw.substr(32, key_length), "general.architecture");

  auto file = GgufFile::Open(dir / "a.gguf");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->GetString("general.architecture").value_or(""), "llama");
  EXPECT_EQ(file->Find("llama.block_count")->type, GgufValueType::kU32);
  EXPECT_EQ(file->GetUnsigned("llama.block_count").value_or(0), 5u);
  EXPECT_EQ(file->Find("llama.attention.layer_norm_rms_epsilon")->type, GgufValueType::kF32);
  EXPECT_FLOAT_EQ(static_cast<float>(*file->GetFloat("llama.attention.layer_norm_rms_epsilon")),
                  1e-5f);
  EXPECT_EQ(file->Find("some.signed")->signed_value, -7);
  EXPECT_TRUE(file->Find("tokenizer.ggml.add_bos_token")->bool_value);
  EXPECT_EQ(file->Find("tokenizer.ggml.tokens")->strings,
            (std::vector<std::string>{"<unk>", "<s>", "a b"}));
  EXPECT_EQ(file->Find("tokenizer.ggml.scores")->element_type, GgufValueType::kF32);
  EXPECT_EQ(file->Find("tokenizer.ggml.scores")->numbers, (std::vector<double>{0, -1.5, 2.25}));
  EXPECT_EQ(file->Find("tokenizer.ggml.token_type")->element_type, GgufValueType::kI32);
  // A string where a number is wanted says which key and which types.
  const auto wrong = file->GetUnsigned("general.architecture");
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("string"), std::string::npos) << wrong.status();

  const GgufTensorInfo* m = file->FindTensor("m.weight");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->ne, (std::vector<int64_t>{64, 2}));
  EXPECT_EQ(m->offset % 32, 0u);
  EXPECT_EQ(*file->DequantizeTensor(*m), matrix);
  EXPECT_EQ(*file->DequantizeTensor(*file->FindTensor("output_norm.weight")), norm);
}

TEST(GgufFileTest, RefusesABlockTypeTheWidthCannotHold) {
  GgufWriter writer;
  const auto status = writer.AddTensor("x.weight", {48, 2}, GgmlType::kQ4_0, Bytes({}));
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("Q4_0"), std::string::npos) << status;
}

TEST(GgufFileTest, DamagedFilesAreRefusedWithAMessage) {
  TempDir dir;
  GgufWriter writer;
  writer.Add("general.architecture", GgufValue::String("llama"));
  writer.Add("tokenizer.ggml.tokens", GgufValue::StringArray({"a", "b"}));
  ASSERT_TRUE(
      writer
          .AddTensor("t.weight", {32, 1}, GgmlType::kF32, Bytes(FloatBytes(std::vector<float>(32))))
          .ok());
  ASSERT_TRUE(writer.Write(dir / "good.gguf").ok());
  const std::string good = ReadAll(dir / "good.gguf");

  struct Damage {
    std::string what;
    std::string bytes;
    std::string message;  // a piece of the expected error
  };
  std::vector<Damage> cases;
  cases.push_back({"empty", "", "truncated"});
  cases.push_back({"bad magic", "GGUX" + good.substr(4), "does not start with GGUF"});
  std::string version = good;
  version[4] = 9;
  cases.push_back({"unknown version", version, "version 9"});
  for (size_t cut : {size_t{10}, size_t{40}, good.size() / 2, good.size() - 1})
    cases.push_back({"truncated at " + std::to_string(cut), good.substr(0, cut), ""});
  std::string huge_count = good;
  const uint64_t many = uint64_t{1} << 60;
  std::memcpy(huge_count.data() + 16, &many, 8);
  cases.push_back({"huge key count", huge_count, "cannot fit"});
  std::string long_string = good;
  std::memcpy(long_string.data() + 24, &many, 8);  // the first key's length
  cases.push_back({"string past the end", long_string, "runs past the end"});
  for (const Damage& damage : cases) {
    const auto path = dir / "bad.gguf";
    ASSERT_TRUE(WriteFileAtomically(path, damage.bytes).ok());
    const auto file = GgufFile::Open(path);
    ASSERT_FALSE(file.ok()) << damage.what;
    EXPECT_NE(file.status().message().find(damage.message), std::string::npos)
        << damage.what << ": " << file.status();
  }
}

}  // namespace
}  // namespace quench
