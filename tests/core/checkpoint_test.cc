// Model directories: single-file and sharded checkpoints, tied-weight aliases, pickle refusal,
// and malformed index files.
#include "core/io/checkpoint.h"

#include <gtest/gtest.h>

#include <fstream>

#include "core/io/safetensors_writer.h"
#include "core/util/atomic_file.h"
#include "tests/core/test_paths.h"

namespace quench {
namespace {

using testing::TempDir;

Tensor Filled(Shape shape, float start) {
  Tensor tensor = Tensor::Zeros(DType::kF32, std::move(shape));
  for (int64_t i = 0; i < tensor.num_elements(); ++i) tensor.mutable_data<float>()[i] = start + i;
  return tensor;
}

void WriteText(const std::filesystem::path& path, const std::string& text) {
  ASSERT_TRUE(WriteFileAtomically(path, text).ok());
}

// Two shards and an index, as transformers' save_pretrained writes them.
void WriteShardedModel(const std::filesystem::path& dir) {
  ASSERT_TRUE(WriteSafetensors(dir / "model-00001-of-00002.safetensors",
                               {{"a", Filled({2, 2}, 0)}, {"b", Filled({3}, 10)}})
                  .ok());
  ASSERT_TRUE(
      WriteSafetensors(dir / "model-00002-of-00002.safetensors", {{"c", Filled({1}, 20)}}).ok());
  WriteText(dir / "model.safetensors.index.json",
            R"({"metadata":{"total_size":40},"weight_map":{"a":"model-00001-of-00002.safetensors",
                "b":"model-00001-of-00002.safetensors","c":"model-00002-of-00002.safetensors"}})");
}

TEST(CheckpointTest, ReadsShardedCheckpointThroughIndex) {
  TempDir dir;
  WriteShardedModel(dir.path());
  auto checkpoint = Checkpoint::Open(dir.path());
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  EXPECT_EQ(checkpoint->TensorNames(), (std::vector<std::string>{"a", "b", "c"}));
  auto c = checkpoint->Get("c");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->data<float>()[0], 20.0f);
  EXPECT_FALSE(checkpoint->Get("d").ok());
}

TEST(CheckpointTest, TiedWeightAliasFromMetadata) {
  const auto dir = testing::SharedPath("models/tinystories656K");
  QUENCH_REQUIRE_SHARED(dir / "model.safetensors");
  auto checkpoint = Checkpoint::Open(dir);
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  auto embed = checkpoint->Get("model.embed_tokens.weight");
  auto head = checkpoint->Get("lm_head.weight");
  ASSERT_TRUE(embed.ok()) << embed.status();
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(embed->raw_data(), head->raw_data());
}

TEST(CheckpointTest, RefusesPickleCheckpointsWithConversionAdvice) {
  TempDir dir;
  WriteText(dir / "pytorch_model.bin", std::string("PK\x03\x04", 4) + "archive/data.pkl");
  auto checkpoint = Checkpoint::Open(dir.path());
  ASSERT_FALSE(checkpoint.ok());
  EXPECT_NE(checkpoint.status().message().find("pickle"), std::string::npos);
  EXPECT_NE(checkpoint.status().message().find("safe_serialization=True"), std::string::npos);
}

struct BadDirectory {
  const char* name;
  std::function<void(const std::filesystem::path&)> make;
  const char* expected_message;
  friend void PrintTo(const BadDirectory& c, std::ostream* os) { *os << c.name; }
};

class MalformedDirectoryTest : public ::testing::TestWithParam<BadDirectory> {};

TEST_P(MalformedDirectoryTest, IsRefusedWithAClearMessage) {
  TempDir dir;
  GetParam().make(dir.path());
  const auto checkpoint = Checkpoint::Open(dir.path());
  ASSERT_FALSE(checkpoint.ok()) << GetParam().name;
  EXPECT_NE(checkpoint.status().message().find(GetParam().expected_message), std::string::npos)
      << checkpoint.status().message();
}

INSTANTIATE_TEST_SUITE_P(
    Table, MalformedDirectoryTest,
    ::testing::Values(
        BadDirectory{"EmptyDirectory", [](const auto&) {}, "no weights found"},
        BadDirectory{"IndexNotJson",
                     [](const auto& d) { WriteText(d / "model.safetensors.index.json", "{oops"); },
                     "not a JSON object"},
        BadDirectory{"IndexWithoutWeightMap",
                     [](const auto& d) {
                       WriteText(d / "model.safetensors.index.json", R"({"metadata":{}})");
                     },
                     "no \"weight_map\""},
        BadDirectory{"IndexNamesMissingShard",
                     [](const auto& d) {
                       WriteText(d / "model.safetensors.index.json",
                                 R"({"weight_map":{"a":"model-00009.safetensors"}})");
                     },
                     "which is missing"},
        BadDirectory{"IndexEscapesDirectory",
                     [](const auto& d) {
                       WriteText(d / "model.safetensors.index.json",
                                 R"({"weight_map":{"a":"../../etc/passwd"}})");
                     },
                     "not a plain file name"},
        BadDirectory{"IndexValueNotString",
                     [](const auto& d) {
                       WriteText(d / "model.safetensors.index.json", R"({"weight_map":{"a":7}})");
                     },
                     "not a file name string"},
        BadDirectory{"IndexPlacesTensorInWrongShard",
                     [](const auto& d) {
                       WriteShardedModel(d);
                       WriteText(d / "model.safetensors.index.json",
                                 R"({"weight_map":{"c":"model-00001-of-00002.safetensors"}})");
                     },
                     "does not contain it"},
        BadDirectory{
            "TensorInTwoFiles",
            [](const auto& d) {
              ASSERT_TRUE(WriteSafetensors(d / "x.safetensors", {{"a", Filled({1}, 0)}}).ok());
              ASSERT_TRUE(WriteSafetensors(d / "y.safetensors", {{"a", Filled({1}, 0)}}).ok());
            },
            "stored twice"},
        BadDirectory{"CorruptShard",
                     [](const auto& d) {
                       WriteShardedModel(d);
                       WriteText(d / "model-00002-of-00002.safetensors", "garbage");
                     },
                     "too short"}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace quench
