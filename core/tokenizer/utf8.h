// Small UTF-8 helpers for the tokenizers. Tokenizer pipelines assume valid UTF-8 (the regex
// engine and the normalizers need it), so text is made valid once on the way in.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace quench::utf8 {

inline constexpr std::string_view kReplacementCharacter = "\xEF\xBF\xBD";  // U+FFFD

// Length in bytes of the character whose lead byte is `lead`, for valid UTF-8.
inline size_t CharLength(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead < 0xE0) return 2;
  if (lead < 0xF0) return 3;
  return 4;
}

bool IsValid(std::string_view text);

// Replaces every maximal invalid subsequence with U+FFFD, as Rust's `from_utf8_lossy` and
// Python's `errors="replace"` do.
std::string ToValidLossy(std::string_view text);

// Decodes the character starting at `text[pos]` of valid UTF-8.
char32_t DecodeAt(std::string_view text, size_t pos);

void Append(char32_t code_point, std::string& out);

// Unicode White_Space (what Rust's `char::is_whitespace` tests).
bool IsWhitespace(char32_t code_point);

}  // namespace quench::utf8
