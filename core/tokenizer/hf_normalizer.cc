#include "core/tokenizer/hf_normalizer.h"

#include <unicode/bytestream.h>
#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/unistr.h>

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/tokenizer/json_fields.h"
#include "core/tokenizer/text_pattern.h"
#include "core/util/status_macros.h"

namespace quench {
namespace {

using json_fields::Json;

class SequenceNormalizer final : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> steps)
      : steps_(std::move(steps)) {}
  void Normalize(std::string& text) const override {
    for (const auto& step : steps_) step->Normalize(text);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> steps_;
};

class PrependNormalizer final : public Normalizer {
 public:
  explicit PrependNormalizer(std::string prefix) : prefix_(std::move(prefix)) {}
  // Empty text stays empty: there is nothing to mark the start of.
  void Normalize(std::string& text) const override {
    if (!text.empty()) text.insert(0, prefix_);
  }

 private:
  std::string prefix_;
};

class ReplaceNormalizer final : public Normalizer {
 public:
  ReplaceNormalizer(TextPattern pattern, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void Normalize(std::string& text) const override { text = pattern_.ReplaceAll(text, content_); }

 private:
  TextPattern pattern_;
  std::string content_;
};

// Unicode normalization forms, through ICU.
class UnicodeFormNormalizer final : public Normalizer {
 public:
  explicit UnicodeFormNormalizer(const icu::Normalizer2* form) : form_(form) {}
  void Normalize(std::string& text) const override {
    UErrorCode status = U_ZERO_ERROR;
    if (form_->isNormalizedUTF8(text, status) && U_SUCCESS(status)) return;
    std::string normalized;
    icu::StringByteSink<std::string> sink(&normalized);
    status = U_ZERO_ERROR;
    form_->normalizeUTF8(0, text, sink, /*edits=*/nullptr, status);
    if (U_SUCCESS(status)) text = std::move(normalized);
  }

 private:
  const icu::Normalizer2* form_;  // owned by ICU
};

// Locale-independent full lowercasing, as Rust's `str::to_lowercase`.
class LowercaseNormalizer final : public Normalizer {
 public:
  void Normalize(std::string& text) const override {
    std::string lowered;
    icu::UnicodeString::fromUTF8(text).toLower(icu::Locale::getRoot()).toUTF8String(lowered);
    text = std::move(lowered);
  }
};

absl::StatusOr<std::unique_ptr<Normalizer>> MakeUnicodeForm(const std::string& type,
                                                            const std::string& where) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* form = nullptr;
  if (type == "NFC") form = icu::Normalizer2::getNFCInstance(status);
  if (type == "NFD") form = icu::Normalizer2::getNFDInstance(status);
  if (type == "NFKC") form = icu::Normalizer2::getNFKCInstance(status);
  if (type == "NFKD") form = icu::Normalizer2::getNFKDInstance(status);
  if (form == nullptr || U_FAILURE(status)) {
    return absl::InternalError(
        absl::StrCat(where, ": ICU cannot provide ", type, ": ", u_errorName(status)));
  }
  return std::make_unique<UnicodeFormNormalizer>(form);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Normalizer>> ParseNormalizer(const Json& config,
                                                            const std::string& where) {
  if (config.is_null()) return nullptr;
  QUENCH_ASSIGN_OR_RETURN(const std::string type,
                          json_fields::RequiredString(config, "type", where));
  if (type == "Sequence") {
    const std::string list_where = json_fields::Child(where, "normalizers");
    QUENCH_ASSIGN_OR_RETURN(const Json* list, json_fields::Required(config, "normalizers", where));
    if (!list->is_array()) {
      return absl::InvalidArgumentError(absl::StrCat(list_where, ": expected an array"));
    }
    std::vector<std::unique_ptr<Normalizer>> steps;
    for (size_t i = 0; i < list->size(); ++i) {
      QUENCH_ASSIGN_OR_RETURN(std::unique_ptr<Normalizer> step,
                              ParseNormalizer((*list)[i], json_fields::Element(list_where, i)));
      if (step != nullptr) steps.push_back(std::move(step));
    }
    return std::make_unique<SequenceNormalizer>(std::move(steps));
  }
  if (type == "Prepend") {
    QUENCH_ASSIGN_OR_RETURN(std::string prefix,
                            json_fields::RequiredString(config, "prepend", where));
    return std::make_unique<PrependNormalizer>(std::move(prefix));
  }
  if (type == "Replace") {
    QUENCH_ASSIGN_OR_RETURN(const Json* pattern_json,
                            json_fields::Required(config, "pattern", where));
    QUENCH_ASSIGN_OR_RETURN(
        TextPattern pattern,
        TextPattern::FromJson(*pattern_json, json_fields::Child(where, "pattern")));
    QUENCH_ASSIGN_OR_RETURN(std::string content,
                            json_fields::RequiredString(config, "content", where));
    return std::make_unique<ReplaceNormalizer>(std::move(pattern), std::move(content));
  }
  if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD") {
    return MakeUnicodeForm(type, where);
  }
  if (type == "Lowercase") return std::make_unique<LowercaseNormalizer>();
  return absl::UnimplementedError(
      absl::StrCat(json_fields::Child(where, "type"), ": unsupported normalizer \"", type,
                   "\" (supported: Sequence, Prepend, Replace, NFC, NFD, NFKC, NFKD, Lowercase)"));
}

}  // namespace quench
