// Calibration and evaluation data: token sequences read from
//  - JSONL with {"input_ids": [...]} per line: each line is one sequence (cut into windows of
//    `context` tokens when longer), as the files in ../shared/data are made;
//  - JSONL with {"text": "..."} per line, or a plain text file whose documents are separated by
//    blank lines: each document is tokenized with BOS first, the documents are concatenated
//    and the stream is cut into consecutive windows of `context` tokens.
#pragma once

#include <filesystem>
#include <vector>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "core/tokenizer/tokenizer.h"

namespace quench {

struct DatasetOptions {
  int64_t context = 0;        // window length; 0 keeps JSONL id lines whole (text needs > 0)
  int64_t max_sequences = 0;  // 0: all
  bool add_bos = true;        // put BOS before each text document (when the tokenizer has one)
};

using TokenSequences = std::vector<std::vector<TokenId>>;

// Reads a JSONL file of input_ids or text records. `tokenizer` may be null when every record
// has input_ids.
absl::StatusOr<TokenSequences> LoadJsonlSequences(const std::filesystem::path& path,
                                                  const Tokenizer* tokenizer,
                                                  const DatasetOptions& options);

// Reads a plain text file (documents separated by blank lines) and tokenizes it.
absl::StatusOr<TokenSequences> LoadTextSequences(const std::filesystem::path& path,
                                                 const Tokenizer& tokenizer,
                                                 const DatasetOptions& options);

// Splits text into documents at blank lines; each document keeps its inner line breaks and
// loses the surrounding whitespace-only lines.
std::vector<std::string> SplitDocuments(absl::string_view text);

// Concatenates documents' ids and cuts the stream into windows of `context` tokens (the last,
// shorter window is kept when it has at least two tokens).
TokenSequences CutIntoWindows(const std::vector<TokenId>& stream, int64_t context);

}  // namespace quench
