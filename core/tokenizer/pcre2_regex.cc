#include "core/tokenizer/pcre2_regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "absl/strings/str_cat.h"
#include "core/util/absl_view.h"

namespace quench {
namespace {

pcre2_code* AsCode(void* code) { return static_cast<pcre2_code*>(code); }

struct MatchDataDeleter {
  void operator()(pcre2_match_data* data) const { pcre2_match_data_free(data); }
};

}  // namespace

void Pcre2Regex::CodeDeleter::operator()(void* code) const { pcre2_code_free(AsCode(code)); }

absl::StatusOr<Pcre2Regex> Pcre2Regex::Compile(std::string_view pattern) {
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  pcre2_code* code =
      pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                    PCRE2_UTF | PCRE2_UCP, &error_code, &error_offset, /*ccontext=*/nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error_code, message, sizeof(message));
    return absl::InvalidArgumentError(absl::StrCat("cannot compile regex \"", AbslView(pattern),
                                                   "\" at offset ", error_offset, ": ",
                                                   reinterpret_cast<const char*>(message)));
  }
  // JIT is only a speed-up: when unavailable the interpreter runs the same pattern.
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
  return Pcre2Regex(code);
}

std::vector<Pcre2Regex::Match> Pcre2Regex::FindAll(std::string_view text) const {
  std::vector<Match> matches;
  pcre2_code* code = AsCode(code_.get());
  std::unique_ptr<pcre2_match_data, MatchDataDeleter> data(
      pcre2_match_data_create_from_pattern(code, nullptr));
  if (data == nullptr) return matches;
  const auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t start = 0;
  uint32_t options = PCRE2_NO_UTF_CHECK;
  while (start <= text.size()) {
    int rc = pcre2_match(code, subject, text.size(), start, options, data.get(), nullptr);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {
      // The interpreter has no such limit on this kind of pattern; only this call pays for it.
      rc = pcre2_match(code, subject, text.size(), start, options | PCRE2_NO_JIT, data.get(),
                       nullptr);
    }
    if (rc < 0) {
      // After an empty match, retrying at the same place found nothing: step one character.
      if (rc == PCRE2_ERROR_NOMATCH && (options & PCRE2_NOTEMPTY_ATSTART) != 0 &&
          start < text.size()) {
        start += 1;
        while (start < text.size() && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) {
          ++start;
        }
        options = PCRE2_NO_UTF_CHECK;
        continue;
      }
      break;
    }
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(data.get());
    const Match match{ovector[0], ovector[1]};
    matches.push_back(match);
    start = match.end;
    options = PCRE2_NO_UTF_CHECK;
    if (match.begin == match.end) options |= PCRE2_NOTEMPTY_ATSTART | PCRE2_ANCHORED;
  }
  return matches;
}

}  // namespace quench
