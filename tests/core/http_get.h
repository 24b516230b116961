// A minimal HTTP GET against 127.0.0.1 for tests of quenchd's /metrics, /healthz, /readyz and
// report pages.
#pragma once

#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <utility>

namespace quench::testing {

// The status code (0 when nothing answered) and the body. `headers`: extra lines, each ending
// in "\r\n".
inline std::pair<int, std::string> HttpGet(int port, const std::string& path,
                                           const std::string& headers = "") {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    ::close(fd);
    return {0, ""};
  }
  const std::string request = "GET " + path + " HTTP/1.1\r\nHost: localhost\r\n" + headers + "\r\n";
  (void)!::write(fd, request.data(), request.size());
  std::string response;
  char buffer[4096];
  for (ssize_t n; (n = ::read(fd, buffer, sizeof(buffer))) > 0;) response.append(buffer, n);
  ::close(fd);
  const size_t body = response.find("\r\n\r\n");
  if (response.size() < 12 || body == std::string::npos) return {0, response};
  return {std::stoi(response.substr(9, 3)), response.substr(body + 4)};
}

// The value of the sample `name` (labels included, e.g. quench_jobs{state="succeeded"}) in a
// Prometheus text exposition; -1 when absent.
inline double MetricValue(const std::string& metrics, const std::string& name) {
  const size_t at = metrics.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::stod(metrics.substr(at + name.size() + 2));
}

}  // namespace quench::testing
