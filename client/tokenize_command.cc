// `quench tokenize`: the ids a tokenizer gives a text.
#include <iostream>

#include "absl/strings/str_join.h"
#include "client/commands.h"
#include "core/tokenizer/tokenizer.h"
#include "core/util/atomic_file.h"
#include "core/util/status_macros.h"
#include "nlohmann/json.hpp"

namespace quench::cli {
namespace {

struct TokenizeFlags {
  std::string tokenizer;
  std::string text;
  std::string file;
  bool add_bos = false;
  bool json = false;
};

absl::Status Run(const TokenizeFlags& flags) {
  QUENCH_ASSIGN_OR_RETURN(auto tokenizer, LoadTokenizer(flags.tokenizer));
  std::string text = flags.text;
  if (!flags.file.empty()) {
    QUENCH_ASSIGN_OR_RETURN(text, ReadFileToString(flags.file));
  }
  std::vector<TokenId> ids;
  if (flags.add_bos && tokenizer->bos_id()) ids.push_back(*tokenizer->bos_id());
  const auto encoded = tokenizer->Encode(text);
  ids.insert(ids.end(), encoded.begin(), encoded.end());
  if (flags.json) {
    nlohmann::ordered_json out;
    out["tokenizer"] = std::string(tokenizer->kind());
    out["count"] = ids.size();
    out["ids"] = ids;
    std::cout << out.dump() << "\n";
  } else {
    std::cout << absl::StrJoin(ids, " ") << "\n";
  }
  return absl::OkStatus();
}

}  // namespace

void RegisterTokenizeCommand(CLI::App& app, int& exit_code) {
  auto flags = std::make_shared<TokenizeFlags>();
  CLI::App* cmd = app.add_subcommand("tokenize", "Print the token ids of a text");
  cmd->footer(
      "The tokenizer is a tokenizer.json (Hugging Face), a tokenizer.model (SentencePiece) or a "
      "model directory holding one.\n\nExample:\n  quench tokenize --tokenizer "
      "../shared/models/stories260K --text 'Once upon a time'");
  cmd->add_option("--tokenizer", flags->tokenizer, "tokenizer.json, tokenizer.model or model dir")
      ->required();
  auto* text = cmd->add_option("--text", flags->text, "The text to tokenize");
  auto* file = cmd->add_option("--file", flags->file, "A file whose whole content is tokenized");
  text->excludes(file);
  cmd->add_flag("--add-bos", flags->add_bos, "Put the BOS token first");
  cmd->add_flag("--json", flags->json, "Print {\"ids\": [...], \"count\": N} as JSON");
  cmd->callback([flags, &exit_code, text, file] {
    if (text->count() == 0 && file->count() == 0) {
      throw CLI::ValidationError("tokenize", "give --text S or --file F");
    }
    if (const auto status = Run(*flags); !status.ok()) exit_code = ReportError("tokenize", status);
  });
}

}  // namespace quench::cli
