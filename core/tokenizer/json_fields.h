// Checked access to fields of tokenizer JSON files: a wrong or missing field becomes a Status
// naming where it is (e.g. "pre_tokenizer.pretokenizers[1].pattern"), never an exception.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace quench::json_fields {

using Json = nlohmann::json;

// "where.key", or "key" at the top level.
std::string Child(const std::string& where, std::string_view key);
// "where[index]".
std::string Element(const std::string& where, size_t index);

// A short name of the JSON type of `value`, for messages ("string", "array", ...).
const char* TypeName(const Json& value);

// The member `key` of `object`; an error when `object` is not an object or has no such member.
absl::StatusOr<const Json*> Required(const Json& object, std::string_view key,
                                     const std::string& where);

// The member `key` of `object`, or nullptr when it is absent or null.
absl::StatusOr<const Json*> Optional(const Json& object, std::string_view key,
                                     const std::string& where);

absl::StatusOr<std::string> RequiredString(const Json& object, std::string_view key,
                                           const std::string& where);
absl::StatusOr<std::string> OptionalString(const Json& object, std::string_view key,
                                           const std::string& where, std::string fallback);
absl::StatusOr<bool> OptionalBool(const Json& object, std::string_view key,
                                  const std::string& where, bool fallback);
absl::StatusOr<int64_t> OptionalInt(const Json& object, std::string_view key,
                                    const std::string& where, int64_t fallback);

// A string holding exactly one character (as Metaspace's replacement or Strip's content).
absl::StatusOr<std::string> OptionalChar(const Json& object, std::string_view key,
                                         const std::string& where, std::string fallback);

}  // namespace quench::json_fields
