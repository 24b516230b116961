#include <iostream>

#include "client/commands.h"

namespace quench::cli {

int ReportError(std::string_view command, const absl::Status& status, int exit_code) {
  std::cerr << "quench " << command << ": error: " << status.message() << "\n";
  return exit_code;
}

}  // namespace quench::cli
