// The artifact store: copies with size and sha256 (checked against the one-shot digest), reads
// at offsets, refuses names that could leave the store, and leaves nothing under the final
// name when the disk fills up.
#include "server/artifact_store.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <csignal>
#include <random>

#include "core/util/atomic_file.h"
#include "core/util/sha256.h"
#include "tests/core/test_paths.h"

namespace quench::server {
namespace {

using testing::TempDir;

std::string RandomBytes(size_t n, unsigned seed) {
  std::mt19937 random(seed);
  std::string data(n, '\0');
  for (char& c : data) c = static_cast<char>(random());
  return data;
}

TEST(ArtifactStoreTest, ImportsWithSizeAndDigestAndReadsAtOffsets) {
  TempDir dir;
  auto store = ArtifactStore::Open(dir / "artifacts");
  ASSERT_TRUE(store.ok()) << store.status();
  const std::string data = RandomBytes(3 * (1 << 20) + 17, 1);  // spans several copy chunks
  ASSERT_TRUE(WriteFileAtomically(dir / "src", data).ok());
  auto record = store->Import("job-1", "gptq/model.safetensors", dir / "src");
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_EQ(record->size_bytes, data.size());
  EXPECT_EQ(record->sha256, Sha256Hex(data));
  EXPECT_TRUE(std::filesystem::exists(dir / "artifacts" / "job-1" / "gptq" / "model.safetensors"));
  EXPECT_EQ(*store->Read("job-1", "gptq/model.safetensors", 0, 10), data.substr(0, 10));
  EXPECT_EQ(*store->Read("job-1", "gptq/model.safetensors", data.size() - 5, 100),
            data.substr(data.size() - 5));
  EXPECT_EQ(*store->Read("job-1", "gptq/model.safetensors", data.size(), 100), "");
  EXPECT_EQ(store->Read("job-1", "missing", 0, 1).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store->Import("job-1", "x", dir / "no-such-source").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(ArtifactStoreTest, RemoveJobRemovesItsFilesOnly) {
  TempDir dir;
  auto store = ArtifactStore::Open(dir / "artifacts");
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE(WriteFileAtomically(dir / "src", "bytes").ok());
  ASSERT_TRUE(store->Import("job-1", "a/b.safetensors", dir / "src").ok());
  ASSERT_TRUE(store->Import("job-2", "c.json", dir / "src").ok());
  ASSERT_TRUE(store->RemoveJob("job-1").ok());
  EXPECT_FALSE(std::filesystem::exists(dir / "artifacts" / "job-1"));
  EXPECT_EQ(*store->Read("job-2", "c.json", 0, 10), "bytes");
  EXPECT_TRUE(store->RemoveJob("job-never").ok());
  EXPECT_EQ(store->RemoveJob("..").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->RemoveJob("a/b").code(), absl::StatusCode::kInvalidArgument);
}

TEST(ArtifactStoreTest, NamesThatCouldEscapeAreRefused) {
  for (const char* bad :
       {"", "..", "../x", "a/../../x", "/etc/passwd", "a//b", "a/./b", "a b", "a\\b", "dir/"}) {
    EXPECT_FALSE(IsSafeArtifactPath(bad)) << bad;
  }
  for (const char* good : {"model.gguf", "gptq/model.safetensors", "report.json", "a-b_c.d"}) {
    EXPECT_TRUE(IsSafeArtifactPath(good)) << good;
  }
  TempDir dir;
  auto store = ArtifactStore::Open(dir / "artifacts");
  ASSERT_TRUE(store.ok());
  EXPECT_FALSE(store->PathOf("..", "x").ok());
  EXPECT_FALSE(store->PathOf("job/evil", "x").ok());
  EXPECT_FALSE(store->Read("job-1", "../../secret", 0, 1).ok());
}

// A full disk, simulated with RLIMIT_FSIZE (writes past the limit fail with EFBIG): the import
// fails cleanly, nothing appears under the final name, no temporary file is left behind, and
// the store keeps working once space is back.
TEST(ArtifactStoreTest, FullDiskLeavesNoPartialArtifact) {
  TempDir dir;
  auto store = ArtifactStore::Open(dir / "artifacts");
  ASSERT_TRUE(store.ok());
  const std::string data = RandomBytes(4 << 20, 2);
  ASSERT_TRUE(WriteFileAtomically(dir / "src", data).ok());
  rlimit old_limit;
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  // Without this, exceeding the limit kills the process with SIGXFSZ.
  const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit small = old_limit;
  small.rlim_cur = 1 << 20;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  auto failed = store->Import("job-2", "model.gguf", dir / "src");
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &old_limit), 0);
  std::signal(SIGXFSZ, old_handler);
  ASSERT_FALSE(failed.ok());
  EXPECT_FALSE(std::filesystem::exists(dir / "artifacts" / "job-2" / "model.gguf"));
  for (const auto& entry : std::filesystem::directory_iterator(dir / "artifacts" / "job-2")) {
    ADD_FAILURE() << "left behind: " << entry.path();
  }
  auto retried = store->Import("job-2", "model.gguf", dir / "src");
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_EQ(retried->sha256, Sha256Hex(data));
}

}  // namespace
}  // namespace quench::server
