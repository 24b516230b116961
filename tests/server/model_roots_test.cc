// Client paths stay under the configured roots: "..", absolute paths elsewhere and symlinks
// out of a root are refused before anything is read.
#include "server/model_roots.h"

#include <gtest/gtest.h>

#include <fstream>

#include "tests/core/test_paths.h"

namespace quench::server {
namespace {

using testing::TempDir;

class ModelRootsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(dir_ / "root/model");
    std::filesystem::create_directories(dir_ / "outside/secret");
    std::ofstream(dir_ / "outside/secret/config.json") << "{}";
    std::filesystem::create_directory_symlink(dir_ / "outside/secret", dir_ / "root/escape");
    std::filesystem::create_directory_symlink(dir_ / "root/model", dir_ / "root/alias");
    auto roots = ModelRoots::Create({dir_ / "root"});
    ASSERT_TRUE(roots.ok()) << roots.status();
    roots_.emplace(std::move(*roots));
  }
  TempDir dir_;
  std::optional<ModelRoots> roots_;
};

TEST_F(ModelRootsTest, RelativeAndAbsolutePathsUnderARootResolve) {
  const auto canonical = std::filesystem::canonical(dir_ / "root/model");
  EXPECT_EQ(roots_->Resolve("model").value(), canonical);
  EXPECT_EQ(roots_->Resolve((dir_ / "root/model").string()).value(), canonical);
  // A symlink that stays inside the root is fine.
  EXPECT_EQ(roots_->Resolve("alias").value(), canonical);
}

TEST_F(ModelRootsTest, EscapesAreRefused) {
  EXPECT_EQ(roots_->Resolve("../outside/secret").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(roots_->Resolve("model/../../outside").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(roots_->Resolve((dir_ / "outside/secret").string()).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(roots_->Resolve("/etc").status().code(), absl::StatusCode::kPermissionDenied);
  // An absolute path outside the roots is refused whether or not it exists.
  EXPECT_EQ(roots_->Resolve("/no/such/dir").status().code(), absl::StatusCode::kPermissionDenied);
  auto escape = roots_->Resolve("escape");
  EXPECT_EQ(escape.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(escape.status().message().find("symlink"), std::string::npos) << escape.status();
}

TEST_F(ModelRootsTest, MissingAndEmptyPathsAreClearErrors) {
  EXPECT_EQ(roots_->Resolve("nothing").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(roots_->Resolve("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(ModelRoots::Create({dir_ / "absent"}).ok());
  auto none = ModelRoots::Create({});
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->Resolve("model").status().code(), absl::StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace quench::server
