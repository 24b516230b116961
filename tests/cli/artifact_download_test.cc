// `quench download` (client/artifact_download) against a coordinator that goes away in the
// middle of a file: the download reconnects, goes on from the last verified byte and ends with
// the right sha256, without being run again.
#include "client/artifact_download.h"

#include <gtest/gtest.h>

#include <atomic>
#include <random>

#include "core/util/atomic_file.h"
#include "core/util/crc32c.h"
#include "core/util/sha256.h"
#include "grpcpp/grpcpp.h"
#include "tests/core/test_paths.h"

namespace quench::cli {
namespace {

// Serves one artifact in 1000-byte chunks; its first stream breaks (UNAVAILABLE, as a
// coordinator shutting down) halfway through.
class FlakyArtifactService final : public v1::JobService::Service {
 public:
  explicit FlakyArtifactService(std::string data) : data_(std::move(data)) {}

  grpc::Status DownloadArtifact(grpc::ServerContext*, const v1::DownloadArtifactRequest* request,
                                grpc::ServerWriter<v1::DownloadArtifactResponse>* writer) override {
    const int call = ++calls_;
    offsets_.push_back(request->offset());
    for (uint64_t at = request->offset(); at < data_.size(); at += 1000) {
      if (call == 1 && at >= data_.size() / 2) {
        return grpc::Status(grpc::StatusCode::UNAVAILABLE, "quenchd is shutting down");
      }
      v1::DownloadArtifactResponse chunk;
      chunk.set_offset(at);
      chunk.set_data(data_.substr(at, 1000));
      chunk.set_crc32c(Crc32c(chunk.data().data(), chunk.data().size()));
      chunk.set_total_bytes(data_.size());
      chunk.set_sha256(Sha256Hex(data_));
      writer->Write(chunk);
    }
    return grpc::Status::OK;
  }

  int calls() const { return calls_; }
  std::vector<uint64_t> offsets_;

 private:
  std::string data_;
  std::atomic<int> calls_{0};
};

TEST(ArtifactDownloadTest, BrokenStreamReconnectsAndFinishesFromTheLastVerifiedByte) {
  std::mt19937 random(9);
  std::string data(25'500, '\0');
  for (char& byte : data) byte = static_cast<char>(random());
  FlakyArtifactService service(data);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(port, 0);
  ServiceConnection connection;
  connection.server = "127.0.0.1:" + std::to_string(port);
  auto stub = v1::JobService::NewStub(
      grpc::CreateChannel(connection.server, grpc::InsecureChannelCredentials()));

  testing::TempDir dir;
  v1::Artifact artifact;
  artifact.set_name("quench.safetensors");
  artifact.set_size_bytes(data.size());
  artifact.set_sha256(Sha256Hex(data));
  auto downloaded = DownloadArtifact(*stub, connection, "job-1", artifact, dir.path(), false);
  ASSERT_TRUE(downloaded.ok()) << downloaded.status();
  EXPECT_EQ(ReadFileToString(dir / "quench.safetensors").value_or(""), data);
  EXPECT_EQ(service.calls(), 2);
  ASSERT_EQ(service.offsets_.size(), 2u);
  EXPECT_EQ(service.offsets_[0], 0u);
  EXPECT_EQ(service.offsets_[1], 13'000u) << "the second stream starts after the verified bytes";
  EXPECT_FALSE(std::filesystem::exists(dir / "quench.safetensors.part"));
  server->Shutdown();
}

}  // namespace
}  // namespace quench::cli
