// The safetensors reader and writer: round trips, and a table of malformed files each of which
// must be refused with a message saying what is wrong.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "core/io/safetensors_reader.h"
#include "core/io/safetensors_writer.h"
#include "core/io/spooled_safetensors_writer.h"
#include "tests/core/test_paths.h"

namespace quench {
namespace {

using testing::TempDir;

std::string LittleEndian64(uint64_t value) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((value >> (8 * i)) & 0xff);
  return bytes;
}

// A safetensors file made by hand: length prefix, header text, data bytes.
std::string MakeFile(const std::string& header, size_t data_bytes) {
  return LittleEndian64(header.size()) + header + std::string(data_bytes, '\x01');
}

void WriteBytes(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

TEST(SafetensorsTest, WriterRoundTripsEveryDtypeWithMetadata) {
  TempDir dir;
  std::vector<std::pair<std::string, Tensor>> tensors;
  int fill = 0;
  for (DType dtype :
       {DType::kF32, DType::kF16, DType::kBF16, DType::kF8E4M3, DType::kI8, DType::kU8, DType::kI16,
        DType::kI32, DType::kI64, DType::kBool, DType::kF64}) {
    Tensor tensor = Tensor::Zeros(dtype, {3, 5});
    auto* bytes = tensor.mutable_data<uint8_t>();
    for (size_t i = 0; i < tensor.num_bytes(); ++i) bytes[i] = static_cast<uint8_t>(fill++ * 7);
    tensors.emplace_back(absl::StrCat("t.", DTypeName(dtype)), tensor);
  }
  tensors.emplace_back("empty", Tensor::Zeros(DType::kF32, {0, 4}));
  const auto path = dir / "out.safetensors";
  ASSERT_TRUE(WriteSafetensors(path, tensors, {{"format", "pt"}, {"quench", "yes"}}).ok());

  auto file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->metadata().at("quench"), "yes");
  EXPECT_EQ((8 + file->header_bytes()) % 8, 0u) << "data section must start 8-byte aligned";
  ASSERT_EQ(file->entries().size(), tensors.size());
  for (const auto& [name, tensor] : tensors) {
    const SafetensorsEntry* entry = file->Find(name);
    ASSERT_NE(entry, nullptr) << name;
    EXPECT_EQ(entry->dtype, tensor.dtype());
    EXPECT_EQ(entry->shape, tensor.shape());
    const Tensor read = file->View(*entry);
    ASSERT_EQ(read.num_bytes(), tensor.num_bytes());
    EXPECT_EQ(std::memcmp(read.raw_data(), tensor.raw_data(), tensor.num_bytes()), 0) << name;
  }
  // Nothing but the final file is left in the directory.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 1);
}

TEST(SafetensorsTest, StreamingWriterTakesPiecesAndRefusesOverflow) {
  TempDir dir;
  const auto path = dir / "stream.safetensors";
  auto writer =
      SafetensorsWriter::Create(path, {{"a", DType::kF32, {4}}, {"b", DType::kU8, {3}}}, {});
  ASSERT_TRUE(writer.ok());
  const float a[4] = {1, 2, 3, 4};
  const auto a_bytes = std::as_bytes(std::span(a));
  ASSERT_TRUE(writer->Append(a_bytes.first(6)).ok());
  ASSERT_TRUE(writer->Append(a_bytes.subspan(6)).ok());
  const uint8_t b[4] = {9, 8, 7, 6};
  EXPECT_FALSE(writer->Append(std::as_bytes(std::span(b))).ok()) << "4 bytes into a 3-byte tensor";
  ASSERT_TRUE(writer->Append(std::as_bytes(std::span(b)).first(3)).ok());
  ASSERT_TRUE(writer->Finish().ok());
  auto file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->View(*file->Find("a")).data<float>()[3], 4.0f);
}

TEST(SafetensorsTest, IncompleteWriteLeavesNoFile) {
  TempDir dir;
  const auto path = dir / "partial.safetensors";
  {
    auto writer = SafetensorsWriter::Create(path, {{"a", DType::kF32, {4}}}, {});
    ASSERT_TRUE(writer.ok());
    const float a[2] = {1, 2};
    ASSERT_TRUE(writer->Append(std::as_bytes(std::span(a))).ok());
    EXPECT_FALSE(writer->Finish().ok());
  }
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 0);
}

TEST(SafetensorsTest, SpooledWriterRoundTripsAndLeavesOnlyTheFile) {
  TempDir dir;
  const auto path = dir / "spooled.safetensors";
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (int i = 0; i < 5; ++i) {
    Tensor t = Tensor::Zeros(i % 2 ? DType::kI32 : DType::kF32, {i + 1, 3});
    for (int64_t j = 0; j < t.num_elements(); ++j) {
      if (i % 2)
        t.mutable_data<int32_t>()[j] = static_cast<int32_t>(100 * i + j);
      else
        t.mutable_data<float>()[j] = 0.5f * static_cast<float>(i * 7 + j);
    }
    tensors.emplace_back("t" + std::to_string(4 - i), t);  // names not in order of arrival
  }
  {
    auto writer = SpooledSafetensorsWriter::Create(path);
    ASSERT_TRUE(writer.ok()) << writer.status();
    for (const auto& [name, tensor] : tensors) ASSERT_TRUE(writer->Add(name, tensor).ok());
    EXPECT_FALSE(std::filesystem::exists(path)) << "nothing under the final name before Finish";
    ASSERT_TRUE(writer->Finish({{"k", "v"}}).ok());
  }
  auto file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->metadata().at("k"), "v");
  for (const auto& [name, tensor] : tensors) {
    const auto* entry = file->Find(name);
    ASSERT_NE(entry, nullptr) << name;
    EXPECT_EQ(entry->shape, tensor.shape());
    const Tensor read = file->View(*entry);
    ASSERT_EQ(read.num_bytes(), tensor.num_bytes());
    EXPECT_EQ(std::memcmp(read.raw_data(), tensor.raw_data(), tensor.num_bytes()), 0) << name;
  }
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 1);
}

TEST(SafetensorsTest, SpooledWriterAbandonedOrRepeatedNameLeavesNothing) {
  TempDir dir;
  const Tensor t = Tensor::Zeros(DType::kF32, {2});
  {
    auto writer = SpooledSafetensorsWriter::Create(dir / "abandoned.safetensors");
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE(writer->Add("a", t).ok());
  }
  {
    auto writer = SpooledSafetensorsWriter::Create(dir / "repeated.safetensors");
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE(writer->Add("a", t).ok());
    ASSERT_TRUE(writer->Add("a", t).ok());
    const auto finished = writer->Finish({});
    EXPECT_FALSE(finished.ok());
    EXPECT_NE(finished.message().find("repeated"), std::string::npos) << finished;
  }
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 0);
}

struct MalformedCase {
  const char* name;
  std::string bytes;
  const char* expected_message;  // a substring of the error
  friend void PrintTo(const MalformedCase& c, std::ostream* os) { *os << c.name; }
};

std::vector<MalformedCase> MalformedSafetensors() {
  const std::string good_entry = R"("w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  std::string invalid_utf8 = "{\"w\xff\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
  return {
      {"EmptyFile", "", "too short"},
      {"SevenBytes", std::string(7, '\0'), "too short"},
      {"HugeHeaderLength", LittleEndian64(200'000'000) + "{}", "exceeds"},
      {"HeaderPastEnd", LittleEndian64(64) + "{}", "runs past the end"},
      {"HeaderNotJson", MakeFile("{not json}", 0), "not valid JSON"},
      {"HeaderIsArray", MakeFile("[1,2]", 0), "does not start with '{'"},
      {"HeaderIsJsonScalarInBraces", MakeFile("{\"a\":1} trailing", 0), "not valid JSON"},
      {"TensorNotObject", MakeFile(R"({"w":[1,2]})", 0), "not a JSON object"},
      {"UnknownDtype", MakeFile(R"({"w":{"dtype":"F12","shape":[2],"data_offsets":[0,8]}})", 8),
       "unknown dtype 'F12'"},
      {"MissingDtype", MakeFile(R"({"w":{"shape":[2],"data_offsets":[0,8]}})", 8), "\"dtype\""},
      {"ShapeNotArray", MakeFile(R"({"w":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})", 8),
       "\"shape\""},
      {"NegativeDimension",
       MakeFile(R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8), "non-negative"},
      {"FractionalDimension",
       MakeFile(R"({"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", 8), "non-negative"},
      {"ShapeOverflow",
       MakeFile(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", 8),
       "overflows"},
      {"MissingOffsets", MakeFile(R"({"w":{"dtype":"F32","shape":[2]}})", 8), "data_offsets"},
      {"ThreeOffsets", MakeFile(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4,8]}})", 8),
       "data_offsets"},
      {"EndBeforeBegin", MakeFile(R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})", 8),
       "before it begins"},
      {"SizeMismatch", MakeFile(R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}})", 12),
       "needs 16 bytes"},
      {"PastTheData", MakeFile(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8),
       "past the data"},
      {"Overlap",
       MakeFile(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                12),
       "overlaps"},
      {"Hole",
       MakeFile(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                12),
       "unused bytes"},
      {"TrailingBytes", MakeFile("{" + good_entry + "}", 12), "trailing bytes"},
      {"DuplicateTensor", MakeFile("{" + good_entry + "," + good_entry + "}", 8), "twice"},
      {"MetadataNotObject", MakeFile(R"({"__metadata__":"x"})", 0), "__metadata__"},
      {"MetadataValueNotString", MakeFile(R"({"__metadata__":{"format":1}})", 0), "not a string"},
      {"InvalidUtf8InHeader", MakeFile(invalid_utf8, 8), "not valid JSON"},
      {"TorchZipPickle", std::string("PK\x03\x04", 4) + std::string(64, 'x'), "pickle"},
      {"RawPickle", std::string("\x80\x02}q\x00", 5) + std::string(16, 'x'), "pickle"},
  };
}

class MalformedSafetensorsTest : public ::testing::TestWithParam<MalformedCase> {};

TEST_P(MalformedSafetensorsTest, IsRefusedWithAClearMessage) {
  TempDir dir;
  const auto path = dir / "bad.safetensors";
  WriteBytes(path, GetParam().bytes);
  const auto file = SafetensorsFile::Open(path);
  ASSERT_FALSE(file.ok()) << GetParam().name << " was accepted";
  EXPECT_NE(file.status().message().find(GetParam().expected_message), std::string::npos)
      << "message: " << file.status().message();
  EXPECT_NE(file.status().message().find("bad.safetensors"), std::string::npos)
      << "the message must name the file: " << file.status().message();
}

INSTANTIATE_TEST_SUITE_P(Table, MalformedSafetensorsTest,
                         ::testing::ValuesIn(MalformedSafetensors()),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(SafetensorsTest, ReadsTheSharedModelsHeaders) {
  const auto path = testing::SharedPath("models/stories260K/model.safetensors");
  QUENCH_REQUIRE_SHARED(path);
  auto file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  const auto* embedding = file->Find("model.embed_tokens.weight");
  ASSERT_NE(embedding, nullptr);
  EXPECT_EQ(embedding->shape, (Shape{512, 64}));
  EXPECT_EQ(embedding->dtype, DType::kF32);
}

}  // namespace
}  // namespace quench
