// Tensors cut into chunks come back whole and bit-identical; damaged, misplaced or mismatched
// chunks are refused; a block's changed tensors are found and put back by name.
#include "worker/tensor_wire.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>

namespace quench::worker {
namespace {

Tensor RandomTensor(DType dtype, Shape shape, unsigned seed) {
  Tensor tensor = Tensor::Zeros(dtype, std::move(shape));
  std::mt19937 random(seed);
  auto* bytes = tensor.mutable_data<unsigned char>();
  for (size_t i = 0; i < tensor.num_bytes(); ++i) bytes[i] = static_cast<unsigned char>(random());
  return tensor;
}

bool SameBytes(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() && a.num_bytes() == b.num_bytes() &&
         std::memcmp(a.raw_data(), b.raw_data(), a.num_bytes()) == 0;
}

TEST(TensorWireTest, LargeTensorTravelsInChunksAndComesBackIdentical) {
  // 3.5 chunks of F64.
  const Tensor sent = RandomTensor(DType::kF64, {7, kTensorChunkBytes / 16}, 1);
  const auto chunks = TensorToChunks("h", sent);
  ASSERT_EQ(chunks.size(), 4u);
  BlobAssembler assembler;
  for (size_t i = 0; i < chunks.size(); ++i) {
    EXPECT_EQ(assembler.Take("h").status().code(), absl::StatusCode::kNotFound) << "incomplete";
    ASSERT_TRUE(assembler.Add(chunks[i]).ok());
  }
  auto received = assembler.Take("h");
  ASSERT_TRUE(received.ok());
  EXPECT_TRUE(SameBytes(*received, sent));
  EXPECT_FALSE(assembler.Take("h").ok()) << "taken once";
}

TEST(TensorWireTest, DamagedOrMisplacedChunksAreRefused) {
  const Tensor sent = RandomTensor(DType::kF32, {3, kTensorChunkBytes / 4}, 2);
  auto chunks = TensorToChunks("w", sent);
  ASSERT_EQ(chunks.size(), 3u);
  BlobAssembler assembler;
  v1::TensorChunk flipped = chunks[0];
  (*flipped.mutable_data())[10] ^= 1;
  EXPECT_EQ(assembler.Add(flipped).code(), absl::StatusCode::kDataLoss);
  ASSERT_TRUE(assembler.Add(chunks[0]).ok());
  EXPECT_EQ(assembler.Add(chunks[2]).code(), absl::StatusCode::kInvalidArgument) << "a gap";
  v1::TensorChunk reshaped = chunks[1];
  reshaped.set_shape(0, 4);
  EXPECT_EQ(assembler.Add(reshaped).code(), absl::StatusCode::kInvalidArgument);
  v1::TensorChunk lying = TensorToChunks("x", RandomTensor(DType::kF32, {4}, 3))[0];
  lying.set_total_bytes(99);
  EXPECT_EQ(assembler.Add(lying).code(), absl::StatusCode::kInvalidArgument);
  v1::TensorChunk unknown = lying;
  unknown.set_blob_id("y");
  unknown.set_dtype("F128");
  EXPECT_EQ(assembler.Add(unknown).code(), absl::StatusCode::kInvalidArgument);
}

TEST(TensorWireTest, ChangedTensorsAreExactlyTheOnesThatDiffer) {
  LayerWeights original;
  original.index = 3;
  original.attention_norm_weight = RandomTensor(DType::kF32, {8}, 4);
  original.mlp_norm_weight = RandomTensor(DType::kF32, {8}, 5);
  for (LinearRole role : kAllLinearRoles) {
    original.linear(role).weight = RandomTensor(DType::kF32, {8, 8}, 6 + static_cast<int>(role));
  }
  LayerWeights current = original;
  EXPECT_TRUE(ChangedTensors(current, original).empty());
  // A copy with equal bytes in other storage is unchanged; different bytes are changed.
  Tensor copy = Tensor::Zeros(DType::kF32, {8});
  std::memcpy(copy.mutable_data<float>(), original.mlp_norm_weight.data<float>(), 32);
  current.mlp_norm_weight = copy;
  const LinearRole role = kAllLinearRoles[0];
  current.linear(role).weight = RandomTensor(DType::kF32, {8, 8}, 99);
  current.attention_norm_weight = RandomTensor(DType::kF32, {8}, 98);
  const auto changed = ChangedTensors(current, original);
  ASSERT_EQ(changed.size(), 2u);
  EXPECT_EQ(changed[0].first, "attention_norm_weight");
  EXPECT_EQ(changed[1].first, std::string(LinearRoleName(role)) + ".weight");

  // Put back by name on the original: the result equals `current`.
  LayerWeights rebuilt = original;
  for (const auto& [name, tensor] : changed) ASSERT_TRUE(SetTensor(rebuilt, name, tensor).ok());
  EXPECT_TRUE(ChangedTensors(rebuilt, current).empty());
  EXPECT_EQ(SetTensor(rebuilt, "lm_head", Tensor()).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace quench::worker
