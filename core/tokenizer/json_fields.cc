#include "core/tokenizer/json_fields.h"

#include "absl/strings/str_cat.h"
#include "core/tokenizer/utf8.h"
#include "core/util/absl_view.h"
#include "core/util/status_macros.h"

namespace quench::json_fields {

std::string Child(const std::string& where, std::string_view key) {
  return where.empty() ? std::string(key) : absl::StrCat(where, ".", AbslView(key));
}

std::string Element(const std::string& where, size_t index) {
  return absl::StrCat(where, "[", index, "]");
}

const char* TypeName(const Json& value) {
  switch (value.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::object:
      return "object";
    case Json::value_t::array:
      return "array";
    case Json::value_t::string:
      return "string";
    case Json::value_t::boolean:
      return "boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float:
      return "number";
    default:
      return "unknown";
  }
}

absl::StatusOr<const Json*> Optional(const Json& object, std::string_view key,
                                     const std::string& where) {
  if (!object.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(
        where.empty() ? "top level" : where, ": expected an object, found ", TypeName(object)));
  }
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

absl::StatusOr<const Json*> Required(const Json& object, std::string_view key,
                                     const std::string& where) {
  QUENCH_ASSIGN_OR_RETURN(const Json* value, Optional(object, key, where));
  if (value == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(Child(where, key), ": missing"));
  }
  return value;
}

absl::StatusOr<std::string> RequiredString(const Json& object, std::string_view key,
                                           const std::string& where) {
  QUENCH_ASSIGN_OR_RETURN(const Json* value, Required(object, key, where));
  if (!value->is_string()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Child(where, key), ": expected a string, found ", TypeName(*value)));
  }
  return value->get<std::string>();
}

absl::StatusOr<std::string> OptionalString(const Json& object, std::string_view key,
                                           const std::string& where, std::string fallback) {
  QUENCH_ASSIGN_OR_RETURN(const Json* value, Optional(object, key, where));
  if (value == nullptr) return fallback;
  return RequiredString(object, key, where);
}

absl::StatusOr<bool> OptionalBool(const Json& object, std::string_view key,
                                  const std::string& where, bool fallback) {
  QUENCH_ASSIGN_OR_RETURN(const Json* value, Optional(object, key, where));
  if (value == nullptr) return fallback;
  if (!value->is_boolean()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Child(where, key), ": expected true or false, found ", TypeName(*value)));
  }
  return value->get<bool>();
}

absl::StatusOr<int64_t> OptionalInt(const Json& object, std::string_view key,
                                    const std::string& where, int64_t fallback) {
  QUENCH_ASSIGN_OR_RETURN(const Json* value, Optional(object, key, where));
  if (value == nullptr) return fallback;
  if (value->is_number_unsigned() && value->get<uint64_t>() > INT64_MAX) {
    return absl::InvalidArgumentError(absl::StrCat(Child(where, key), ": number too large"));
  }
  if (!value->is_number_integer()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Child(where, key), ": expected an integer, found ", TypeName(*value)));
  }
  return value->get<int64_t>();
}

absl::StatusOr<std::string> OptionalChar(const Json& object, std::string_view key,
                                         const std::string& where, std::string fallback) {
  absl::StatusOr<std::string> text = OptionalString(object, key, where, std::move(fallback));
  if (!text.ok()) return text.status();
  if (text->empty() || utf8::CharLength(text->front()) != text->size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Child(where, key), ": expected a single character, found \"", *text, "\""));
  }
  return text;
}

}  // namespace quench::json_fields
