#include "client/service_client.h"

#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "client/commands.h"
#include "core/util/atomic_file.h"
#include "core/util/status_macros.h"
#include "core/util/token_file.h"

namespace quench::cli {
namespace {

constexpr char kDefaultServer[] = "localhost:7070";
// Artifact chunks are the largest messages; gRPC's 4 MiB default would cap the server's choice.
constexpr int kMaxReceiveBytes = 64 << 20;

std::string EnvOr(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::string(value) : fallback;
}

}  // namespace

const char kExitCodesHelp[] =
    "Exit codes: 0 done (the job SUCCEEDED); 1 other error; 2 bad input (invalid argument, "
    "failed precondition, out of range, usage error); 3 the job FAILED; 4 the job was CANCELLED; "
    "5 quenchd unreachable or too slow (UNAVAILABLE, DEADLINE_EXCEEDED); 6 not authenticated or "
    "permission denied; 7 not found.\n\n"
    "Connection: --server or QUENCH_SERVER (default localhost:7070); --token-file or "
    "QUENCH_TOKEN_FILE when quenchd requires a token; --tls-ca for TLS.";

int ExitCodeFor(const absl::Status& status) {
  ExitCode code = ExitCode::kError;
  switch (status.code()) {
    case absl::StatusCode::kOk:
      code = ExitCode::kOk;
      break;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
      code = ExitCode::kBadInput;
      break;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
      code = ExitCode::kUnreachable;
      break;
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kPermissionDenied:
      code = ExitCode::kNotAuthorized;
      break;
    case absl::StatusCode::kNotFound:
      code = ExitCode::kNotFound;
      break;
    default:
      break;
  }
  return static_cast<int>(code);
}

int ExitCodeFor(v1::JobState state) {
  switch (state) {
    case v1::JOB_STATE_FAILED:
      return static_cast<int>(ExitCode::kJobFailed);
    case v1::JOB_STATE_CANCELLED:
      return static_cast<int>(ExitCode::kJobCancelled);
    default:
      return static_cast<int>(ExitCode::kOk);
  }
}

int UsageErrorExitCode(const CLI::App& app, int cli11_exit_code) {
  if (cli11_exit_code == 0) return 0;  // --help, --version
  for (const CLI::App* sub : app.get_subcommands()) {
    if (sub->get_group() == kServiceGroup) return static_cast<int>(ExitCode::kBadInput);
  }
  return cli11_exit_code;
}

ServiceConnection ServiceConnection::FromEnvironment() {
  ServiceConnection connection;
  connection.server = EnvOr("QUENCH_SERVER", kDefaultServer);
  connection.token_file = EnvOr("QUENCH_TOKEN_FILE", "");
  return connection;
}

void AddConnectionOptions(CLI::App& cmd, ServiceConnection& connection) {
  cmd.add_option("--server", connection.server,
                 "quenchd's HOST:PORT (default: $QUENCH_SERVER, else localhost:7070)")
      ->capture_default_str();
  cmd.add_option("--token-file", connection.token_file,
                 "File holding the bearer token (default: $QUENCH_TOKEN_FILE)");
  cmd.add_option("--tls-ca", connection.tls_ca,
                 "PEM root certificate to verify quenchd with; connects over TLS");
  cmd.add_option("--tls-server-name", connection.tls_server_name,
                 "Name quenchd's certificate carries, when it differs from HOST (with --tls-ca)");
}

absl::StatusOr<std::unique_ptr<v1::JobService::Stub>> MakeJobServiceStub(
    const ServiceConnection& connection) {
  if (connection.server.empty()) return absl::InvalidArgumentError("--server is empty");
  grpc::ChannelArguments arguments;
  arguments.SetMaxReceiveMessageSize(kMaxReceiveBytes);
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (!connection.tls_ca.empty()) {
    grpc::SslCredentialsOptions ssl;
    QUENCH_ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadInputFile(connection.tls_ca, "--tls-ca"));
    credentials = grpc::SslCredentials(ssl);
    if (!connection.tls_server_name.empty()) {
      arguments.SetSslTargetNameOverride(connection.tls_server_name);
    }
  } else {
    if (!connection.tls_server_name.empty()) {
      return absl::InvalidArgumentError("--tls-server-name needs --tls-ca");
    }
    credentials = grpc::InsecureChannelCredentials();
  }
  return v1::JobService::NewStub(
      grpc::CreateCustomChannel(connection.server, credentials, arguments));
}

absl::Status PrepareContext(const ServiceConnection& connection, grpc::ClientContext& context,
                            std::optional<std::chrono::seconds> timeout) {
  // Read on every call: small, and a rotated token is picked up by the next call.
  if (!connection.token_file.empty()) {
    QUENCH_ASSIGN_OR_RETURN(const std::string token, ReadTokenFile(connection.token_file));
    context.AddMetadata("authorization", absl::StrCat("Bearer ", token));
  }
  if (timeout) context.set_deadline(std::chrono::system_clock::now() + *timeout);
  return absl::OkStatus();
}

absl::Status FromGrpcStatus(const grpc::Status& status, const ServiceConnection& connection) {
  if (status.ok()) return absl::OkStatus();
  // gRPC's and absl's codes share their numbers.
  const auto code = static_cast<absl::StatusCode>(status.error_code());
  std::string message = status.error_message();
  switch (code) {
    case absl::StatusCode::kUnavailable:
      message = absl::StrCat("cannot reach quenchd at ", connection.server, ": ", message);
      break;
    case absl::StatusCode::kDeadlineExceeded:
      message =
          absl::StrCat("quenchd at ", connection.server, " did not answer in time: ", message);
      break;
    default:
      break;
  }
  return absl::Status(code, message);
}

absl::StatusOr<std::string> ReadInputFile(const std::string& path, absl::string_view flag) {
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) {
    return absl::InvalidArgumentError(absl::StrCat(flag, " ", path, ": no such file"));
  }
  absl::StatusOr<std::string> content = ReadFileToString(path);
  if (!content.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(flag, " ", content.status().message()));
  }
  return content;
}

}  // namespace quench::cli
