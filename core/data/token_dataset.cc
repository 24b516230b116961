#include "core/data/token_dataset.h"
#include "absl/strings/string_view.h"

#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "core/util/atomic_file.h"
#include "core/util/status_macros.h"
#include "nlohmann/json.hpp"

namespace quench {
namespace {

void AppendDocument(const Tokenizer& tokenizer, absl::string_view document, bool add_bos,
                    std::vector<TokenId>& stream) {
  if (add_bos && tokenizer.bos_id()) stream.push_back(*tokenizer.bos_id());
  const auto ids = tokenizer.Encode(std::string_view(document.data(), document.size()));
  stream.insert(stream.end(), ids.begin(), ids.end());
}

void Truncate(TokenSequences& sequences, int64_t max_sequences) {
  if (max_sequences > 0 && static_cast<int64_t>(sequences.size()) > max_sequences) {
    sequences.resize(max_sequences);
  }
}

absl::Status CheckContext(const std::filesystem::path& path, int64_t context) {
  if (context < 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        path.string(), ": text data needs a context (window length) of at least 2 tokens"));
  }
  return absl::OkStatus();
}

}  // namespace

std::vector<std::string> SplitDocuments(absl::string_view text) {
  std::vector<std::string> documents;
  std::string current;
  size_t start = 0;
  auto flush = [&] {
    const auto trimmed = absl::StripAsciiWhitespace(current);
    if (!trimmed.empty()) documents.emplace_back(trimmed);
    current.clear();
  };
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == absl::string_view::npos) end = text.size();
    const absl::string_view line = text.substr(start, end - start);
    if (absl::StripAsciiWhitespace(line).empty()) {
      flush();
    } else {
      if (!current.empty()) current += '\n';
      current.append(line.data(), line.size());
    }
    start = end + 1;
  }
  flush();
  return documents;
}

TokenSequences CutIntoWindows(const std::vector<TokenId>& stream, int64_t context) {
  TokenSequences windows;
  for (size_t begin = 0; begin < stream.size(); begin += static_cast<size_t>(context)) {
    const size_t end = std::min(stream.size(), begin + static_cast<size_t>(context));
    if (end - begin < 2) break;
    windows.emplace_back(stream.begin() + begin, stream.begin() + end);
  }
  return windows;
}

absl::StatusOr<TokenSequences> LoadJsonlSequences(const std::filesystem::path& path,
                                                  const Tokenizer* tokenizer,
                                                  const DatasetOptions& options) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path.string(), ": cannot open"));
  TokenSequences sequences;
  std::vector<TokenId> text_stream;
  bool saw_text = false;
  std::string line;
  int64_t line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    const auto where = absl::StrCat(path.string(), ":", line_number, ": ");
    const auto record = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (record.is_discarded() || !record.is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, "not a JSON object (JSONL expected; give a plain text file with --text)"));
    }
    if (const auto ids = record.find("input_ids"); ids != record.end()) {
      if (!ids->is_array()) {
        return absl::InvalidArgumentError(absl::StrCat(where, "\"input_ids\" is not an array"));
      }
      std::vector<TokenId> sequence;
      for (const auto& id : *ids) {
        if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX) {
          return absl::InvalidArgumentError(
              absl::StrCat(where, "\"input_ids\" holds ", id.dump(), ", not a token id"));
        }
        sequence.push_back(static_cast<TokenId>(id.get<int64_t>()));
      }
      if (options.context > 0 && static_cast<int64_t>(sequence.size()) > options.context) {
        for (auto& window : CutIntoWindows(sequence, options.context)) {
          sequences.push_back(std::move(window));
        }
      } else if (sequence.size() >= 2) {
        sequences.push_back(std::move(sequence));
      }
    } else if (const auto text = record.find("text"); text != record.end() && text->is_string()) {
      if (tokenizer == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, "a \"text\" record needs a tokenizer (the model's)"));
      }
      saw_text = true;
      AppendDocument(*tokenizer, text->get<std::string>(), options.add_bos, text_stream);
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "expected {\"input_ids\": [...]} or {\"text\": \"...\"}"));
    }
    if (options.max_sequences > 0 &&
        static_cast<int64_t>(sequences.size()) >= options.max_sequences)
      break;
  }
  if (saw_text) {
    QUENCH_RETURN_IF_ERROR(CheckContext(path, options.context));
    for (auto& window : CutIntoWindows(text_stream, options.context)) {
      sequences.push_back(std::move(window));
    }
  }
  Truncate(sequences, options.max_sequences);
  if (sequences.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path.string(), ": no sequence of at least 2 tokens"));
  }
  return sequences;
}

absl::StatusOr<TokenSequences> LoadTextSequences(const std::filesystem::path& path,
                                                 const Tokenizer& tokenizer,
                                                 const DatasetOptions& options) {
  QUENCH_RETURN_IF_ERROR(CheckContext(path, options.context));
  QUENCH_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  std::vector<TokenId> stream;
  const int64_t wanted_tokens =
      options.max_sequences > 0 ? options.max_sequences * options.context : INT64_MAX;
  for (const auto& document : SplitDocuments(text)) {
    AppendDocument(tokenizer, document, options.add_bos, stream);
    if (static_cast<int64_t>(stream.size()) >= wanted_tokens) break;  // enough: stop tokenizing
  }
  TokenSequences sequences = CutIntoWindows(stream, options.context);
  Truncate(sequences, options.max_sequences);
  if (sequences.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path.string(), ": no text to evaluate"));
  }
  return sequences;
}

}  // namespace quench
