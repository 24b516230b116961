// A small HTTP/1.1 server for the coordinator's operational endpoints (/metrics, /healthz,
// /readyz) and job reports (/jobs/<id>/report): GET only, one connection at a time, each closed
// after its response. Scrapes and probes are small and rare; this keeps a web framework out of the
// daemon.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace quench::server {

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

struct HttpRequest {
  std::string path;                          // query string removed
  std::optional<std::string> authorization;  // the Authorization header's value, if sent
};

class HttpServer {
 public:
  // Called for every GET (and HEAD).
  using Handler = std::function<HttpResponse(const HttpRequest& request)>;

  // Listens on HOST:PORT (port 0: any free port) and serves on a thread of its own.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const std::string& host_port,
                                                           Handler handler);
  ~HttpServer();  // stops serving

  int port() const { return port_; }

 private:
  HttpServer(int listen_fd, int wake_read, int wake_write, int port, Handler handler);
  void Serve();
  void Answer(int connection);

  int listen_fd_;
  int wake_read_, wake_write_;  // a pipe that ends the poll on shutdown
  int port_;
  Handler handler_;
  std::thread thread_;
};

// Splits "HOST:PORT" ("[::1]:80" for IPv6); INVALID_ARGUMENT naming the flag's expected form.
absl::Status SplitHostPort(const std::string& host_port, std::string& host, int& port);

}  // namespace quench::server
