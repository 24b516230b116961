// The `quench` CLI's subcommands. Each Register* adds one subcommand to the app and returns
// the exit code through `exit_code` when it runs.
#pragma once

#include <CLI/CLI.hpp>

#include "absl/status/status.h"

namespace quench::cli {

void RegisterEvalCommand(CLI::App& app, int& exit_code);
void RegisterInspectCommand(CLI::App& app, int& exit_code);
void RegisterTokenizeCommand(CLI::App& app, int& exit_code);
void RegisterLocalCommand(CLI::App& app, int& exit_code);
void RegisterRecipeCommand(CLI::App& app, int& exit_code);
void RegisterTestgenCommand(CLI::App& app, int& exit_code);
void RegisterExportCommand(CLI::App& app, int& exit_code);

// Prints "quench <command>: error: <message>" to stderr and returns the exit code for it.
int ReportError(std::string_view command, const absl::Status& status);

}  // namespace quench::cli
