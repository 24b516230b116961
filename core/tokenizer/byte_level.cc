#include "core/tokenizer/byte_level.h"

#include <array>
#include <cstdint>

#include "core/tokenizer/utf8.h"

namespace quench::byte_level {
namespace {

struct Tables {
  std::array<std::string, 256> byte_to_text;
  // Mapped characters are all below U+0200; -1 marks characters outside the mapping.
  std::array<int16_t, 0x200> char_to_byte;
};

// Printable Latin-1 bytes map to themselves; the others (control bytes, space, 0x7F-0xA0, 0xAD)
// are moved, in byte order, to U+0100 onwards.
Tables BuildTables() {
  Tables tables;
  tables.char_to_byte.fill(-1);
  char32_t next_moved = 0x100;
  for (int b = 0; b < 256; ++b) {
    const bool keeps_itself =
        (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    const char32_t mapped = keeps_itself ? static_cast<char32_t>(b) : next_moved++;
    utf8::Append(mapped, tables.byte_to_text[b]);
    tables.char_to_byte[mapped] = static_cast<int16_t>(b);
  }
  return tables;
}

const Tables& GetTables() {
  static const Tables* const tables = new Tables(BuildTables());
  return *tables;
}

}  // namespace

void AppendEncoded(std::string_view bytes, std::string& out) {
  const Tables& tables = GetTables();
  for (const char c : bytes) out += tables.byte_to_text[static_cast<unsigned char>(c)];
}

std::optional<unsigned char> ByteOf(char32_t mapped) {
  const Tables& tables = GetTables();
  if (mapped >= tables.char_to_byte.size() || tables.char_to_byte[mapped] < 0) return std::nullopt;
  return static_cast<unsigned char>(tables.char_to_byte[mapped]);
}

void AppendDecoded(std::string_view token, std::string& out) {
  const size_t original_size = out.size();
  for (size_t pos = 0; pos < token.size(); pos += utf8::CharLength(token[pos])) {
    const bool truncated = pos + utf8::CharLength(token[pos]) > token.size();
    const std::optional<unsigned char> byte =
        truncated ? std::nullopt : ByteOf(utf8::DecodeAt(token, pos));
    if (!byte) {
      out.resize(original_size);
      out += token;
      return;
    }
    out += static_cast<char>(*byte);
  }
}

}  // namespace quench::byte_level
