#include "core/tokenizer/utf8.h"

namespace quench::utf8 {
namespace {

// Length of the valid sequence at text[pos], or 0 when it is invalid; then `*invalid_length`
// is the length of the maximal invalid subpart starting there (at least 1).
size_t ValidSequenceLength(std::string_view text, size_t pos, size_t* invalid_length) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(pos);
  *invalid_length = 1;
  if (lead < 0x80) return 1;
  size_t length = 0;
  unsigned char low = 0x80;
  unsigned char high = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;   // overlong
    if (lead == 0xED) high = 0x9F;  // surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;   // overlong
    if (lead == 0xF4) high = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  for (size_t i = 1; i < length; ++i) {
    if (pos + i >= text.size()) {
      *invalid_length = i;
      return 0;
    }
    const unsigned char b = byte(pos + i);
    const unsigned char lo = i == 1 ? low : 0x80;
    const unsigned char hi = i == 1 ? high : 0xBF;
    if (b < lo || b > hi) {
      *invalid_length = i;
      return 0;
    }
  }
  return length;
}

}  // namespace

bool IsValid(std::string_view text) {
  size_t invalid_length = 0;
  for (size_t pos = 0; pos < text.size();) {
    const size_t length = ValidSequenceLength(text, pos, &invalid_length);
    if (length == 0) return false;
    pos += length;
  }
  return true;
}

std::string ToValidLossy(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t invalid_length = 0;
  for (size_t pos = 0; pos < text.size();) {
    const size_t length = ValidSequenceLength(text, pos, &invalid_length);
    if (length == 0) {
      out += kReplacementCharacter;
      pos += invalid_length;
    } else {
      out.append(text, pos, length);
      pos += length;
    }
  }
  return out;
}

char32_t DecodeAt(std::string_view text, size_t pos) {
  const auto byte = [&](size_t i) {
    return static_cast<char32_t>(static_cast<unsigned char>(text[i]));
  };
  const char32_t lead = byte(pos);
  switch (CharLength(static_cast<unsigned char>(lead))) {
    case 1:
      return lead;
    case 2:
      return ((lead & 0x1F) << 6) | (byte(pos + 1) & 0x3F);
    case 3:
      return ((lead & 0x0F) << 12) | ((byte(pos + 1) & 0x3F) << 6) | (byte(pos + 2) & 0x3F);
    default:
      return ((lead & 0x07) << 18) | ((byte(pos + 1) & 0x3F) << 12) |
             ((byte(pos + 2) & 0x3F) << 6) | (byte(pos + 3) & 0x3F);
  }
}

void Append(char32_t code_point, std::string& out) {
  if (code_point < 0x80) {
    out += static_cast<char>(code_point);
  } else if (code_point < 0x800) {
    out += static_cast<char>(0xC0 | (code_point >> 6));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else if (code_point < 0x10000) {
    out += static_cast<char>(0xE0 | (code_point >> 12));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (code_point >> 18));
    out += static_cast<char>(0x80 | ((code_point >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  }
}

bool IsWhitespace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

}  // namespace quench::utf8
