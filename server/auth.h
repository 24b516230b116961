// Bearer-token authentication for both daemons' gRPC services and the coordinator's report pages:
// with a token file configured, every call carries "authorization: Bearer <token>" or is refused
// UNAUTHENTICATED.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/grpcpp.h"

namespace quench::server {

class TokenAuth {
 public:
  // No token: every call is allowed (loopback and trusted networks).
  explicit TokenAuth(std::optional<std::string> token) : token_(std::move(token)) {}

  // OK, or UNAUTHENTICATED saying what was missing or wrong.
  grpc::Status Check(const grpc::ServerContext& context) const;
  // The same for an "Authorization" header's value (HTTP requests); nullopt: no header.
  absl::Status CheckHeader(std::optional<absl::string_view> authorization) const;

 private:
  std::optional<std::string> token_;
};

// Server credentials: TLS from PEM files when both are given, else insecure.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const std::string& cert_file, const std::string& key_file);

// absl::Status → grpc::Status, code and message kept.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace quench::server
