// The `quench` CLI's subcommands. Each Register* adds one subcommand to the app and returns
// the exit code through `exit_code` when it runs.
#pragma once

#include <CLI/CLI.hpp>
#include <string_view>

#include "absl/status/status.h"

namespace quench::cli {

void RegisterEvalCommand(CLI::App& app, int& exit_code);
void RegisterInspectCommand(CLI::App& app, int& exit_code);
void RegisterTokenizeCommand(CLI::App& app, int& exit_code);
void RegisterLocalCommand(CLI::App& app, int& exit_code);
void RegisterRecipeCommand(CLI::App& app, int& exit_code);
void RegisterTestgenCommand(CLI::App& app, int& exit_code);
void RegisterExportCommand(CLI::App& app, int& exit_code);
// The commands that talk to quenchd (client/service_commands.cc); their exit codes are
// ExitCode in client/service_client.h.
void RegisterSubmitCommand(CLI::App& app, int& exit_code);
void RegisterWatchCommand(CLI::App& app, int& exit_code);
void RegisterStatusCommand(CLI::App& app, int& exit_code);
void RegisterListCommand(CLI::App& app, int& exit_code);
void RegisterCancelCommand(CLI::App& app, int& exit_code);
void RegisterDownloadCommand(CLI::App& app, int& exit_code);

// Prints "quench <command>: error: <message>" to stderr and returns `exit_code`: 1 for the
// local commands, ExitCodeFor(status) for the service commands.
int ReportError(std::string_view command, const absl::Status& status, int exit_code = 1);

// The exit code for a CLI11 parse error (a usage error) whose own code is `cli11_exit_code`: 2
// in a service command, as its documented table says; CLI11's code elsewhere.
int UsageErrorExitCode(const CLI::App& app, int cli11_exit_code);

}  // namespace quench::cli
