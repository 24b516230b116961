#include <iostream>

#include "client/commands.h"

namespace quench::cli {

int ReportError(std::string_view command, const absl::Status& status) {
  std::cerr << "quench " << command << ": error: " << status.message() << "\n";
  return 1;
}

}  // namespace quench::cli
