#include "core/tokenizer/hf_pre_tokenizer.h"

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "core/tokenizer/byte_level.h"
#include "core/tokenizer/json_fields.h"
#include "core/tokenizer/pcre2_regex.h"
#include "core/tokenizer/text_pattern.h"
#include "core/util/status_macros.h"

namespace quench {
namespace {

using json_fields::Json;

// GPT-2's word pattern, which ByteLevel applies when `use_regex` is set.
constexpr std::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// What happens to the matched delimiters when a piece is split.
enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

struct Segment {
  size_t begin;
  size_t end;
  bool is_match;
};

// Cuts [0, length) into alternating unmatched / matched segments.
std::vector<Segment> Segments(size_t length, const std::vector<Pcre2Regex::Match>& matches,
                              bool invert) {
  std::vector<Segment> segments;
  size_t previous_end = 0;
  for (const Pcre2Regex::Match& match : matches) {
    if (previous_end != match.begin) segments.push_back({previous_end, match.begin, invert});
    segments.push_back({match.begin, match.end, !invert});
    previous_end = match.end;
  }
  if (previous_end != length) segments.push_back({previous_end, length, invert});
  return segments;
}

// Applies `behavior` to the segments; the result's `is_match` is meaningless.
std::vector<Segment> ApplyBehavior(std::vector<Segment> segments, SplitBehavior behavior) {
  std::vector<Segment> pieces;
  bool previous_match = false;
  switch (behavior) {
    case SplitBehavior::kIsolated:
      return segments;
    case SplitBehavior::kRemoved:
      for (const Segment& segment : segments) {
        if (!segment.is_match) pieces.push_back(segment);
      }
      return pieces;
    case SplitBehavior::kMergedWithPrevious:
      for (const Segment& segment : segments) {
        if (segment.is_match && !previous_match && !pieces.empty()) {
          pieces.back().end = segment.end;
        } else {
          pieces.push_back(segment);
        }
        previous_match = segment.is_match;
      }
      return pieces;
    case SplitBehavior::kMergedWithNext:
      // Walks backwards so that a delimiter joins the piece after it.
      for (auto it = segments.rbegin(); it != segments.rend(); ++it) {
        if (it->is_match && !previous_match && !pieces.empty()) {
          pieces.back().begin = it->begin;
        } else {
          pieces.push_back(*it);
        }
        previous_match = it->is_match;
      }
      return {pieces.rbegin(), pieces.rend()};
    case SplitBehavior::kContiguous:
      for (const Segment& segment : segments) {
        if (segment.is_match == previous_match && !pieces.empty()) {
          pieces.back().end = segment.end;
        } else {
          pieces.push_back(segment);
        }
        previous_match = segment.is_match;
      }
      return pieces;
  }
  return segments;
}

// Splits every piece at the pattern's matches; empty pieces are dropped.
void SplitPieces(const TextPattern& pattern, SplitBehavior behavior, bool invert,
                 std::vector<PreToken>& pieces) {
  std::vector<PreToken> result;
  result.reserve(pieces.size());
  for (PreToken& piece : pieces) {
    const std::vector<Segment> parts =
        ApplyBehavior(Segments(piece.text.size(), pattern.FindAll(piece.text), invert), behavior);
    if (parts.size() == 1 && parts[0].begin == 0 && parts[0].end == piece.text.size()) {
      result.push_back(std::move(piece));
      continue;
    }
    for (const Segment& part : parts) {
      if (part.begin == part.end) continue;
      result.push_back({piece.text.substr(part.begin, part.end - part.begin),
                        piece.at_text_start && part.begin == 0});
    }
  }
  pieces = std::move(result);
}

class SequencePreTokenizer final : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> steps)
      : steps_(std::move(steps)) {}
  void PreTokenize(std::vector<PreToken>& pieces) const override {
    for (const auto& step : steps_) step->PreTokenize(pieces);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> steps_;
};

class SplitPreTokenizer final : public PreTokenizer {
 public:
  SplitPreTokenizer(TextPattern pattern, SplitBehavior behavior, bool invert)
      : pattern_(std::move(pattern)), behavior_(behavior), invert_(invert) {}
  void PreTokenize(std::vector<PreToken>& pieces) const override {
    SplitPieces(pattern_, behavior_, invert_, pieces);
  }

 private:
  TextPattern pattern_;
  SplitBehavior behavior_;
  bool invert_;
};

class ByteLevelPreTokenizer final : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, std::optional<TextPattern> gpt2_words)
      : add_prefix_space_(add_prefix_space), gpt2_words_(std::move(gpt2_words)) {}
  void PreTokenize(std::vector<PreToken>& pieces) const override {
    if (add_prefix_space_) {
      for (PreToken& piece : pieces) {
        if (!piece.text.starts_with(' ')) piece.text.insert(0, " ");
      }
    }
    if (gpt2_words_) SplitPieces(*gpt2_words_, SplitBehavior::kIsolated, false, pieces);
    for (PreToken& piece : pieces) {
      std::string mapped;
      byte_level::AppendEncoded(piece.text, mapped);
      piece.text = std::move(mapped);
    }
  }

 private:
  bool add_prefix_space_;
  std::optional<TextPattern> gpt2_words_;
};

enum class PrependScheme { kAlways, kFirst, kNever };

// SentencePiece-style: spaces become the replacement character ("▁"), which also marks the
// start of the text, and words begin at each replacement character.
class MetaspacePreTokenizer final : public PreTokenizer {
 public:
  MetaspacePreTokenizer(std::string replacement, PrependScheme scheme, bool split)
      : replacement_(std::move(replacement)),
        scheme_(scheme),
        split_(split),
        delimiter_(TextPattern::Literal(replacement_)) {}
  void PreTokenize(std::vector<PreToken>& pieces) const override {
    for (PreToken& piece : pieces) {
      piece.text = absl::StrReplaceAll(piece.text, {{" ", replacement_}});
      const bool prepend = scheme_ == PrependScheme::kAlways ||
                           (scheme_ == PrependScheme::kFirst && piece.at_text_start);
      if (prepend && !piece.text.starts_with(replacement_)) piece.text.insert(0, replacement_);
    }
    if (split_) SplitPieces(delimiter_, SplitBehavior::kMergedWithNext, false, pieces);
  }

 private:
  std::string replacement_;
  PrependScheme scheme_;
  bool split_;
  TextPattern delimiter_;
};

absl::StatusOr<SplitBehavior> ParseBehavior(const std::string& name, const std::string& where) {
  if (name == "Removed") return SplitBehavior::kRemoved;
  if (name == "Isolated") return SplitBehavior::kIsolated;
  if (name == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (name == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (name == "Contiguous") return SplitBehavior::kContiguous;
  return absl::InvalidArgumentError(absl::StrCat(where, ": unknown split behavior \"", name, "\""));
}

absl::StatusOr<std::unique_ptr<PreTokenizer>> ParseSplit(const Json& config,
                                                         const std::string& where) {
  QUENCH_ASSIGN_OR_RETURN(const Json* pattern_json,
                          json_fields::Required(config, "pattern", where));
  QUENCH_ASSIGN_OR_RETURN(
      TextPattern pattern,
      TextPattern::FromJson(*pattern_json, json_fields::Child(where, "pattern")));
  QUENCH_ASSIGN_OR_RETURN(const std::string behavior_name,
                          json_fields::RequiredString(config, "behavior", where));
  QUENCH_ASSIGN_OR_RETURN(const SplitBehavior behavior,
                          ParseBehavior(behavior_name, json_fields::Child(where, "behavior")));
  QUENCH_ASSIGN_OR_RETURN(const bool invert,
                          json_fields::OptionalBool(config, "invert", where, false));
  return std::make_unique<SplitPreTokenizer>(std::move(pattern), behavior, invert);
}

absl::StatusOr<std::unique_ptr<PreTokenizer>> ParseByteLevel(const Json& config,
                                                             const std::string& where) {
  QUENCH_ASSIGN_OR_RETURN(const bool add_prefix_space,
                          json_fields::OptionalBool(config, "add_prefix_space", where, true));
  QUENCH_ASSIGN_OR_RETURN(const bool use_regex,
                          json_fields::OptionalBool(config, "use_regex", where, true));
  std::optional<TextPattern> gpt2_words;
  if (use_regex) {
    QUENCH_ASSIGN_OR_RETURN(gpt2_words, TextPattern::Regex(kGpt2Pattern));
  }
  return std::make_unique<ByteLevelPreTokenizer>(add_prefix_space, std::move(gpt2_words));
}

absl::StatusOr<std::unique_ptr<PreTokenizer>> ParseMetaspace(const Json& config,
                                                             const std::string& where) {
  QUENCH_ASSIGN_OR_RETURN(std::string replacement,
                          json_fields::OptionalChar(config, "replacement", where, "\u2581"));
  // Older files say `add_prefix_space`; newer ones `prepend_scheme`.
  QUENCH_ASSIGN_OR_RETURN(const bool add_prefix_space,
                          json_fields::OptionalBool(config, "add_prefix_space", where, true));
  QUENCH_ASSIGN_OR_RETURN(const std::string scheme_name,
                          json_fields::OptionalString(config, "prepend_scheme", where,
                                                      add_prefix_space ? "always" : "never"));
  PrependScheme scheme;
  if (scheme_name == "always") {
    scheme = PrependScheme::kAlways;
  } else if (scheme_name == "first") {
    scheme = PrependScheme::kFirst;
  } else if (scheme_name == "never") {
    scheme = PrependScheme::kNever;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(json_fields::Child(where, "prepend_scheme"),
                                                   ": unknown scheme \"", scheme_name, "\""));
  }
  QUENCH_ASSIGN_OR_RETURN(const bool split,
                          json_fields::OptionalBool(config, "split", where, true));
  return std::make_unique<MetaspacePreTokenizer>(std::move(replacement), scheme, split);
}

}  // namespace

absl::StatusOr<std::unique_ptr<PreTokenizer>> ParsePreTokenizer(const Json& config,
                                                                const std::string& where) {
  if (config.is_null()) return nullptr;
  QUENCH_ASSIGN_OR_RETURN(const std::string type,
                          json_fields::RequiredString(config, "type", where));
  if (type == "Sequence") {
    const std::string list_where = json_fields::Child(where, "pretokenizers");
    QUENCH_ASSIGN_OR_RETURN(const Json* list,
                            json_fields::Required(config, "pretokenizers", where));
    if (!list->is_array()) {
      return absl::InvalidArgumentError(absl::StrCat(list_where, ": expected an array"));
    }
    std::vector<std::unique_ptr<PreTokenizer>> steps;
    for (size_t i = 0; i < list->size(); ++i) {
      QUENCH_ASSIGN_OR_RETURN(std::unique_ptr<PreTokenizer> step,
                              ParsePreTokenizer((*list)[i], json_fields::Element(list_where, i)));
      if (step != nullptr) steps.push_back(std::move(step));
    }
    return std::make_unique<SequencePreTokenizer>(std::move(steps));
  }
  if (type == "Split") return ParseSplit(config, where);
  if (type == "ByteLevel") return ParseByteLevel(config, where);
  if (type == "Metaspace") return ParseMetaspace(config, where);
  return absl::UnimplementedError(
      absl::StrCat(json_fields::Child(where, "type"), ": unsupported pre-tokenizer \"", type,
                   "\" (supported: Sequence, Split, ByteLevel, Metaspace)"));
}

}  // namespace quench
