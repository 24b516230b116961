#include "server/auth.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "core/util/atomic_file.h"

namespace quench::server {
namespace {

// Compares without an early exit, so the time taken does not reveal how much of a guess matched.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  unsigned char difference = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) {
    difference |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  }
  return difference == 0;
}

}  // namespace

absl::Status TokenAuth::CheckHeader(std::optional<absl::string_view> authorization) const {
  if (!token_) return absl::OkStatus();
  if (!authorization) {
    return absl::UnauthenticatedError("this coordinator needs a token: pass --token-file");
  }
  constexpr absl::string_view kBearer = "Bearer ";
  if (!absl::StartsWith(*authorization, kBearer) ||
      !ConstantTimeEquals(authorization->substr(kBearer.size()), *token_)) {
    return absl::UnauthenticatedError("the token is wrong: check --token-file");
  }
  return absl::OkStatus();
}

grpc::Status TokenAuth::Check(const grpc::ServerContext& context) const {
  const auto& metadata = context.client_metadata();
  const auto found = metadata.find("authorization");
  std::optional<absl::string_view> header;
  if (found != metadata.end()) header.emplace(found->second.data(), found->second.size());
  return ToGrpcStatus(CheckHeader(header));
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const std::string& cert_file, const std::string& key_file) {
  if (cert_file.empty() != key_file.empty()) {
    return absl::InvalidArgumentError("give both --tls-cert and --tls-key, or neither");
  }
  if (cert_file.empty()) return grpc::InsecureServerCredentials();
  auto cert = ReadFileToString(cert_file);
  if (!cert.ok())
    return absl::InvalidArgumentError(absl::StrCat("--tls-cert ", cert.status().message()));
  auto key = ReadFileToString(key_file);
  if (!key.ok())
    return absl::InvalidArgumentError(absl::StrCat("--tls-key ", key.status().message()));
  grpc::SslServerCredentialsOptions options;
  options.pem_key_cert_pairs.push_back({*key, *cert});
  return grpc::SslServerCredentials(options);
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

}  // namespace quench::server
