// GPT-2's reversible byte ↔ character mapping used by "ByteLevel" tokenizers: every byte gets
// a printable character so that byte strings can be stored as vocabulary strings.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace quench::byte_level {

// Appends the mapped character of every byte of `bytes` to `out`.
void AppendEncoded(std::string_view bytes, std::string& out);

// The byte a mapped character stands for, or nullopt for a character outside the mapping.
std::optional<unsigned char> ByteOf(char32_t mapped);

// Maps a token back to bytes. A token holding any character outside the mapping (e.g. an added
// token such as "<|eot_id|>" written with unmapped characters) is taken verbatim.
void AppendDecoded(std::string_view token, std::string& out);

}  // namespace quench::byte_level
