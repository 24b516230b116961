// Runs a shell command for the CLI tests and collects its exit code and output.
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

#include "nlohmann/json.hpp"

namespace quench::testing {

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

inline CommandResult RunCommand(const std::string& command) {
  CommandResult result;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> buffer{};
  while (size_t n = std::fread(buffer.data(), 1, buffer.size(), pipe)) {
    result.output.append(buffer.data(), n);
  }
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// The last line of `output`, parsed (null when it is not JSON): what `--json` commands end with.
inline nlohmann::json LastJsonLine(const std::string& output) {
  std::string text = output;
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return nlohmann::json::parse(text.substr(text.rfind('\n') + 1), nullptr, false);
}

// The quench binary built beside the tests.
inline const std::string& QuenchBinary() {
  static const std::string binary = std::string(QUENCH_BIN_DIR) + "/quench";
  return binary;
}
inline const std::string& QuenchdBinary() {
  static const std::string binary = std::string(QUENCH_BIN_DIR) + "/quenchd";
  return binary;
}
inline const std::string& WorkerBinary() {
  static const std::string binary = std::string(QUENCH_BIN_DIR) + "/quench-worker";
  return binary;
}

}  // namespace quench::testing
