// quench: the Quench command-line client.
#include <CLI/CLI.hpp>
#include <iostream>

#include "client/commands.h"

int main(int argc, char** argv) {
  CLI::App app{
      "Quench quantizes large language models (RTN, GPTQ, AWQ) and measures what the "
      "quantization costs.\n\nRun `quench <command> --help` for a command's options."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "quench 0.1.0");
  int exit_code = 0;
  quench::cli::RegisterLocalCommand(app, exit_code);
  quench::cli::RegisterEvalCommand(app, exit_code);
  quench::cli::RegisterExportCommand(app, exit_code);
  quench::cli::RegisterInspectCommand(app, exit_code);
  quench::cli::RegisterTokenizeCommand(app, exit_code);
  quench::cli::RegisterRecipeCommand(app, exit_code);
  quench::cli::RegisterTestgenCommand(app, exit_code);
  quench::cli::RegisterSubmitCommand(app, exit_code);
  quench::cli::RegisterWatchCommand(app, exit_code);
  quench::cli::RegisterStatusCommand(app, exit_code);
  quench::cli::RegisterListCommand(app, exit_code);
  quench::cli::RegisterCancelCommand(app, exit_code);
  quench::cli::RegisterDownloadCommand(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return quench::cli::UsageErrorExitCode(app, app.exit(error));
  }
  return exit_code;
}
