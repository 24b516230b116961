// Talking to quenchd: where it is (flags, environment), the channel and the per-call context,
// and how its answers become the service commands' exit codes.
#pragma once

#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "quench/v1/jobs.grpc.pb.h"

namespace quench::cli {

// The exit codes of submit, watch, status, list, cancel and download. Scripts branch on them:
// values never change meaning.
enum class ExitCode : int {
  kOk = 0,             // done; the job SUCCEEDED
  kError = 1,          // anything not below
  kBadInput = 2,       // INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE, a usage error
  kJobFailed = 3,      // the job ended FAILED
  kJobCancelled = 4,   // the job ended CANCELLED
  kUnreachable = 5,    // UNAVAILABLE, DEADLINE_EXCEEDED
  kNotAuthorized = 6,  // UNAUTHENTICATED, PERMISSION_DENIED
  kNotFound = 7,       // NOT_FOUND
};

// The exit code for a failed call (kOk for OK).
int ExitCodeFor(const absl::Status& status);
// The exit code a job in `state` stands for: FAILED 3, CANCELLED 4, any other state 0.
int ExitCodeFor(v1::JobState state);

// The table above for --help footers.
extern const char kExitCodesHelp[];

// The help group of the service commands.
inline constexpr char kServiceGroup[] = "Service commands (talk to quenchd)";

// UsageErrorExitCode (client/commands.h) maps a usage error in a command of this group to
// kBadInput.
struct ServiceConnection {
  // "HOST:PORT" (any gRPC target works).
  std::string server;
  // A file holding the bearer token; empty: calls carry no token.
  std::string token_file;
  // PEM root certificate(s): with it the channel is TLS, without it plaintext.
  std::string tls_ca;
  // The name the server's certificate must carry when it differs from HOST.
  std::string tls_server_name;

  // server from QUENCH_SERVER (else localhost:7070), token_file from QUENCH_TOKEN_FILE.
  static ServiceConnection FromEnvironment();
};

// --server, --token-file, --tls-ca and --tls-server-name, writing into `connection` (whose
// current values are the defaults).
void AddConnectionOptions(CLI::App& cmd, ServiceConnection& connection);

absl::StatusOr<std::unique_ptr<v1::JobService::Stub>> MakeJobServiceStub(
    const ServiceConnection& connection);

// Adds "authorization: Bearer <token>" when the connection has a token file (its content,
// whitespace trimmed) and, when given, a deadline `timeout` from now.
absl::Status PrepareContext(const ServiceConnection& connection, grpc::ClientContext& context,
                            std::optional<std::chrono::seconds> timeout);

// The same code; UNAVAILABLE and DEADLINE_EXCEEDED say which server could not be reached.
absl::Status FromGrpcStatus(const grpc::Status& status, const ServiceConnection& connection);

// How long a unary call may take: submissions wait for the store's fsync, nothing waits on a job.
inline constexpr std::chrono::seconds kUnaryCallTimeout{60};

// One unary JobService call: credentials, a deadline, the status mapped.
template <typename Request, typename Response>
absl::StatusOr<Response> CallJobService(
    v1::JobService::Stub& stub, const ServiceConnection& connection,
    grpc::Status (v1::JobService::Stub::*method)(grpc::ClientContext*, const Request&, Response*),
    const Request& request) {
  grpc::ClientContext context;
  if (absl::Status prepared = PrepareContext(connection, context, kUnaryCallTimeout);
      !prepared.ok()) {
    return prepared;
  }
  Response response;
  const grpc::Status status = (stub.*method)(&context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status, connection);
  return response;
}

// A local file the user named (a recipe, a token, a CA): any failure is bad input, not the
// NOT_FOUND / PERMISSION_DENIED that would read as the server's answer.
absl::StatusOr<std::string> ReadInputFile(const std::string& path, absl::string_view flag);

}  // namespace quench::cli
