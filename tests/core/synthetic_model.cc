#include "tests/core/synthetic_model.h"

#include <gtest/gtest.h>

#include "core/model/testgen.h"

namespace quench::testing {

void WriteSyntheticModel(const std::filesystem::path& dir, const std::string& config_json,
                         unsigned seed, DType storage) {
  TestgenOptions options;
  options.seed = seed;
  options.dtype = storage;
  options.outlier_channels = 2;
  options.outlier_scale = 3.0f;
  const auto status = quench::WriteSyntheticModel(dir, config_json, options);
  ASSERT_TRUE(status.ok()) << status;
}

}  // namespace quench::testing
