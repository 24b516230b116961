// Paths for tests: the shared fixtures beside the repo, and a fresh temporary directory.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <string>

namespace quench::testing {

inline std::filesystem::path SharedPath(const std::string& relative) {
  return std::filesystem::path(QUENCH_SHARED_DIR) / relative;
}

// Skips the current test, naming the path, when a shared fixture is absent.
#define QUENCH_REQUIRE_SHARED(path)                                                   \
  do {                                                                                \
    if (!std::filesystem::exists(path)) GTEST_SKIP() << "missing fixture " << (path); \
  } while (0)

// Skips the current test in sanitizer builds, saying why: for the few tests whose subject the
// sanitizer runtime itself rules out there (the normal build runs them).
#if defined(__SANITIZE_ADDRESS__)
#define QUENCH_SKIP_IN_SANITIZER_BUILD(why) GTEST_SKIP() << "sanitizer build: " << (why)
#else
#define QUENCH_SKIP_IN_SANITIZER_BUILD(why) \
  do {                                      \
  } while (0)
#endif

// A directory under the system temp dir, removed with everything in it at scope exit.
class TempDir {
 public:
  TempDir() {
    std::random_device random;
    path_ = std::filesystem::temp_directory_path() /
            ("quench-test-" + std::to_string(random()) + std::to_string(random()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

}  // namespace quench::testing
