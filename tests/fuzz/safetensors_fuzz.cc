// Fuzz target: the safetensors reader on arbitrary bytes. Whatever it accepts must be safe to
// read in full.
#include <cstring>

#include "core/io/safetensors_reader.h"
#include "tests/fuzz/fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto bytes = std::as_bytes(std::span(data, size));
  auto file = quench::SafetensorsFile::Parse(nullptr, bytes, "fuzz.safetensors");
  if (!file.ok()) return 0;
  for (const auto& entry : file->entries()) {
    const quench::Tensor tensor = file->View(entry);
    if (tensor.num_elements() > 0 && tensor.num_elements() < (1 << 20)) {
      volatile float sink = tensor.ToFloat32().data<float>()[tensor.num_elements() - 1];
      (void)sink;
    }
  }
  return 0;
}

std::vector<std::string> FuzzSeeds() {
  const std::string header =
      R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F16","shape":[2,3],"data_offsets":[0,12]},)"
      R"("b":{"dtype":"I64","shape":[1],"data_offsets":[12,20]}})";
  std::string file(8, '\0');
  for (int i = 0; i < 8; ++i) file[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  return {file + header + std::string(20, '\x3c')};
}
