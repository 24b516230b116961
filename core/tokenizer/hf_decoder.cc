#include "core/tokenizer/hf_decoder.h"

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "core/tokenizer/byte_level.h"
#include "core/tokenizer/json_fields.h"
#include "core/tokenizer/text_pattern.h"
#include "core/tokenizer/utf8.h"
#include "core/util/status_macros.h"

namespace quench {
namespace {

using json_fields::Json;

class SequenceDecoder final : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> steps)
      : steps_(std::move(steps)) {}
  void DecodeChain(std::vector<std::string>& tokens) const override {
    for (const auto& step : steps_) step->DecodeChain(tokens);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> steps_;
};

// Maps GPT-2 byte characters back to bytes, joined into one string: a character may be split
// across tokens, so bytes only make text once joined. Invalid UTF-8 becomes U+FFFD.
class ByteLevelDecoder final : public Decoder {
 public:
  void DecodeChain(std::vector<std::string>& tokens) const override {
    std::string bytes;
    for (const std::string& token : tokens) byte_level::AppendDecoded(token, bytes);
    tokens.assign(1, utf8::IsValid(bytes) ? std::move(bytes) : utf8::ToValidLossy(bytes));
  }
};

// The byte value of a "<0xAB>" token.
std::optional<char> ByteTokenValue(std::string_view token) {
  if (token.size() != 6 || !token.starts_with("<0x") || token[5] != '>') return std::nullopt;
  const auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  const int high = hex(token[3]);
  const int low = hex(token[4]);
  if (high < 0 || low < 0) return std::nullopt;
  return static_cast<char>(high * 16 + low);
}

// Runs of "<0xAB>" tokens become the text they spell; a run that is not valid UTF-8 becomes one
// U+FFFD per byte.
class ByteFallbackDecoder final : public Decoder {
 public:
  void DecodeChain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    out.reserve(tokens.size());
    std::string pending_bytes;
    size_t pending_count = 0;
    const auto flush = [&] {
      if (pending_count == 0) return;
      if (utf8::IsValid(pending_bytes)) {
        out.push_back(std::move(pending_bytes));
      } else {
        for (size_t i = 0; i < pending_count; ++i) out.emplace_back(utf8::kReplacementCharacter);
      }
      pending_bytes.clear();
      pending_count = 0;
    };
    for (std::string& token : tokens) {
      if (const std::optional<char> byte = ByteTokenValue(token)) {
        pending_bytes += *byte;
        ++pending_count;
      } else {
        flush();
        out.push_back(std::move(token));
      }
    }
    flush();
    tokens = std::move(out);
  }
};

class FuseDecoder final : public Decoder {
 public:
  void DecodeChain(std::vector<std::string>& tokens) const override {
    tokens.assign(1, absl::StrJoin(tokens, ""));
  }
};

class ReplaceDecoder final : public Decoder {
 public:
  ReplaceDecoder(TextPattern pattern, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void DecodeChain(std::vector<std::string>& tokens) const override {
    for (std::string& token : tokens) token = pattern_.ReplaceAll(token, content_);
  }

 private:
  TextPattern pattern_;
  std::string content_;
};

// Removes up to `start` leading and `stop` trailing copies of one character from each token.
class StripDecoder final : public Decoder {
 public:
  StripDecoder(std::string content, size_t start, size_t stop)
      : content_(std::move(content)), start_(start), stop_(stop) {}
  void DecodeChain(std::vector<std::string>& tokens) const override {
    for (std::string& token : tokens) {
      std::string_view rest = token;
      for (size_t i = 0; i < start_ && rest.starts_with(content_); ++i) {
        rest.remove_prefix(content_.size());
      }
      for (size_t i = 0; i < stop_ && rest.ends_with(content_); ++i) {
        rest.remove_suffix(content_.size());
      }
      token = std::string(rest);
    }
  }

 private:
  std::string content_;
  size_t start_;
  size_t stop_;
};

// The replacement character becomes a space, except in the first token where it marks the
// start of the text (unless nothing was ever prepended).
class MetaspaceDecoder final : public Decoder {
 public:
  MetaspaceDecoder(std::string replacement, bool drop_in_first_token)
      : replacement_(std::move(replacement)), drop_in_first_token_(drop_in_first_token) {}
  void DecodeChain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      const bool drop = i == 0 && drop_in_first_token_;
      tokens[i] = absl::StrReplaceAll(tokens[i], {{replacement_, drop ? "" : " "}});
    }
  }

 private:
  std::string replacement_;
  bool drop_in_first_token_;
};

absl::StatusOr<std::unique_ptr<Decoder>> ParseReplace(const Json& config,
                                                      const std::string& where) {
  QUENCH_ASSIGN_OR_RETURN(const Json* pattern_json,
                          json_fields::Required(config, "pattern", where));
  QUENCH_ASSIGN_OR_RETURN(
      TextPattern pattern,
      TextPattern::FromJson(*pattern_json, json_fields::Child(where, "pattern")));
  QUENCH_ASSIGN_OR_RETURN(std::string content,
                          json_fields::RequiredString(config, "content", where));
  return std::make_unique<ReplaceDecoder>(std::move(pattern), std::move(content));
}

absl::StatusOr<std::unique_ptr<Decoder>> ParseStrip(const Json& config, const std::string& where) {
  QUENCH_ASSIGN_OR_RETURN(std::string content,
                          json_fields::OptionalChar(config, "content", where, " "));
  QUENCH_ASSIGN_OR_RETURN(const int64_t start, json_fields::OptionalInt(config, "start", where, 0));
  QUENCH_ASSIGN_OR_RETURN(const int64_t stop, json_fields::OptionalInt(config, "stop", where, 0));
  if (start < 0 || stop < 0) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": start and stop must be >= 0"));
  }
  return std::make_unique<StripDecoder>(std::move(content), static_cast<size_t>(start),
                                        static_cast<size_t>(stop));
}

absl::StatusOr<std::unique_ptr<Decoder>> ParseMetaspace(const Json& config,
                                                        const std::string& where) {
  QUENCH_ASSIGN_OR_RETURN(std::string replacement,
                          json_fields::OptionalChar(config, "replacement", where, "\u2581"));
  QUENCH_ASSIGN_OR_RETURN(const bool add_prefix_space,
                          json_fields::OptionalBool(config, "add_prefix_space", where, true));
  QUENCH_ASSIGN_OR_RETURN(const std::string scheme,
                          json_fields::OptionalString(config, "prepend_scheme", where,
                                                      add_prefix_space ? "always" : "never"));
  if (scheme != "always" && scheme != "first" && scheme != "never") {
    return absl::InvalidArgumentError(absl::StrCat(json_fields::Child(where, "prepend_scheme"),
                                                   ": unknown scheme \"", scheme, "\""));
  }
  return std::make_unique<MetaspaceDecoder>(std::move(replacement), scheme != "never");
}

}  // namespace

absl::StatusOr<std::unique_ptr<Decoder>> ParseDecoder(const Json& config,
                                                      const std::string& where) {
  if (config.is_null()) return nullptr;
  QUENCH_ASSIGN_OR_RETURN(const std::string type,
                          json_fields::RequiredString(config, "type", where));
  if (type == "Sequence") {
    const std::string list_where = json_fields::Child(where, "decoders");
    QUENCH_ASSIGN_OR_RETURN(const Json* list, json_fields::Required(config, "decoders", where));
    if (!list->is_array()) {
      return absl::InvalidArgumentError(absl::StrCat(list_where, ": expected an array"));
    }
    std::vector<std::unique_ptr<Decoder>> steps;
    for (size_t i = 0; i < list->size(); ++i) {
      QUENCH_ASSIGN_OR_RETURN(std::unique_ptr<Decoder> step,
                              ParseDecoder((*list)[i], json_fields::Element(list_where, i)));
      if (step != nullptr) steps.push_back(std::move(step));
    }
    return std::make_unique<SequenceDecoder>(std::move(steps));
  }
  if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
  if (type == "Fuse") return std::make_unique<FuseDecoder>();
  if (type == "Replace") return ParseReplace(config, where);
  if (type == "Strip") return ParseStrip(config, where);
  if (type == "Metaspace") return ParseMetaspace(config, where);
  return absl::UnimplementedError(absl::StrCat(
      json_fields::Child(where, "type"), ": unsupported decoder \"", type,
      "\" (supported: Sequence, ByteLevel, ByteFallback, Fuse, Replace, Strip, Metaspace)"));
}

}  // namespace quench
