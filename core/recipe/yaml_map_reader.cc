// MapReader and Source: typed, key-checked reads of YAML mappings with located messages.
#include "core/recipe/yaml_map_reader.h"

#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "core/recipe/recipe_names.h"
#include "core/util/absl_view.h"
#include "core/util/status_macros.h"

namespace quench::recipe_internal {
namespace {

// Scalars. Numbers and booleans must be plain (unquoted) scalars, so that `bits: "4"` is refused
// like any other wrong type; strings may be written either way.

bool IsPlainScalar(const YAML::Node& node) { return node.IsScalar() && node.Tag() != "!"; }

template <typename T>
std::optional<T> ParseInteger(std::string_view text) {
  const bool plus = !text.empty() && text.front() == '+';  // from_chars takes only '-'
  if (plus) text.remove_prefix(1);
  if (text.empty() || (plus && text.front() == '-')) return std::nullopt;
  T value{};
  const char* end = text.data() + text.size();
  const auto [stop, error] = std::from_chars(text.data(), end, value);
  if (error != std::errc() || stop != end) return std::nullopt;
  return value;
}

std::optional<double> ParseDouble(std::string_view text) {
  if (text == ".inf" || text == ".Inf" || text == ".INF" || text == "+.inf" || text == "+.Inf" ||
      text == "+.INF") {
    return HUGE_VAL;
  }
  if (text == "-.inf" || text == "-.Inf" || text == "-.INF") return -HUGE_VAL;
  if (text == ".nan" || text == ".NaN" || text == ".NAN") return std::nan("");
  const bool plus = !text.empty() && text.front() == '+';
  if (plus) text.remove_prefix(1);
  if (text.empty() || (plus && text.front() == '-')) return std::nullopt;
  double value = 0;
  const char* end = text.data() + text.size();
  const auto [stop, error] = std::from_chars(text.data(), end, value);
  if (error != std::errc() || stop != end) return std::nullopt;
  return value;
}

std::optional<bool> ParseBool(std::string_view text) {
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  return std::nullopt;
}

}  // namespace

std::string Describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
      return "null";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Scalar: {
      constexpr size_t kMaxShown = 60;
      std::string text = node.Scalar();
      if (text.size() > kMaxShown) text = text.substr(0, kMaxShown) + "...";
      return absl::StrCat(node.Tag() == "!" ? "the string '" : "'", text, "'");
    }
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

absl::Status Source::Error(const YAML::Mark& mark, std::string_view message) const {
  if (mark.is_null()) {
    return absl::InvalidArgumentError(absl::StrCat(name_, ": ", AbslView(message)));
  }
  return absl::InvalidArgumentError(
      absl::StrCat(name_, ":", mark.line + 1, ":", mark.column + 1, ": ", AbslView(message)));
}

absl::StatusOr<MapReader> MapReader::Open(const Source& source, const YAML::Node& node,
                                          std::string path,
                                          std::span<const std::string_view> allowed) {
  const std::string what = path.empty() ? "a recipe" : absl::StrCat("'", path, "'");
  if (!node.IsMap()) {
    return source.Error(node.Mark(), absl::StrCat(what, " must be a mapping with keys ",
                                                  JoinNames(allowed), ", found ", Describe(node)));
  }
  MapReader reader(source, std::move(path), node.Mark());
  for (const auto& entry : node) {
    QUENCH_RETURN_IF_ERROR(reader.AddEntry(entry.first, entry.second, allowed));
  }
  return reader;
}

const YAML::Node* MapReader::Value(std::string_view key) const {
  const Entry* entry = Find(key);
  if (entry == nullptr || entry->value.IsNull()) return nullptr;
  return &entry->value;
}

absl::Status MapReader::Error(std::string_view key, std::string_view message) const {
  const Entry* entry = Find(key);
  return source_->Error(entry != nullptr ? entry->key.Mark() : YAML::Mark::null_mark(), message);
}

absl::StatusOr<std::optional<MapReader>> MapReader::Child(
    std::string_view key, std::span<const std::string_view> allowed) const {
  const YAML::Node* value = Value(key);
  if (value == nullptr) return std::nullopt;
  QUENCH_ASSIGN_OR_RETURN(MapReader child, Open(*source_, *value, PathOf(key), allowed));
  return child;
}

template <typename T, typename ParseFn>
absl::Status MapReader::ReadScalar(std::string_view key, std::string_view expected, ParseFn parse,
                                   T* out) const {
  const Entry* entry = Find(key);
  if (entry == nullptr) return absl::OkStatus();
  std::optional<T> value;
  if (IsPlainScalar(entry->value)) value = parse(entry->value.Scalar());
  if (!value) return TypeError(*entry, expected);
  *out = *value;
  return absl::OkStatus();
}

absl::Status MapReader::Read(std::string_view key, bool* out) const {
  return ReadScalar(key, "true or false", ParseBool, out);
}
absl::Status MapReader::Read(std::string_view key, int* out) const {
  return ReadScalar(key, "an integer", ParseInteger<int>, out);
}
absl::Status MapReader::Read(std::string_view key, int64_t* out) const {
  return ReadScalar(key, "an integer", ParseInteger<int64_t>, out);
}
absl::Status MapReader::Read(std::string_view key, uint64_t* out) const {
  return ReadScalar(key, "a non-negative integer", ParseInteger<uint64_t>, out);
}
absl::Status MapReader::Read(std::string_view key, double* out) const {
  return ReadScalar(key, "a number", ParseDouble, out);
}

absl::Status MapReader::Read(std::string_view key, std::string* out) const {
  const Entry* entry = Find(key);
  if (entry == nullptr) return absl::OkStatus();
  if (entry->value.IsNull()) {  // `path:` with nothing after it: not set
    out->clear();
    return absl::OkStatus();
  }
  if (!entry->value.IsScalar()) return TypeError(*entry, "a string");
  *out = entry->value.Scalar();
  return absl::OkStatus();
}

absl::Status MapReader::Read(std::string_view key, std::vector<std::string>* out) const {
  const Entry* entry = Find(key);
  if (entry == nullptr) return absl::OkStatus();
  std::vector<std::string> items;
  if (!entry->value.IsNull()) {
    if (!entry->value.IsSequence()) return TypeError(*entry, "a list of strings");
    for (size_t i = 0; i < entry->value.size(); ++i) {
      const YAML::Node item = entry->value[i];
      if (!item.IsScalar()) {
        return source_->Error(
            item.Mark(),
            absl::StrCat("'", PathOf(key), "[", i, "]' must be a string, found ", Describe(item)));
      }
      items.push_back(item.Scalar());
    }
  }
  *out = std::move(items);
  return absl::OkStatus();
}

absl::Status MapReader::AddEntry(const YAML::Node& key, const YAML::Node& value,
                                 std::span<const std::string_view> allowed) {
  if (!key.IsScalar()) {
    return source_->Error(key.Mark(), absl::StrCat("keys must be strings, found ", Describe(key),
                                                   " in ", path_.empty() ? "the recipe" : path_));
  }
  const std::string& name = key.Scalar();
  bool known = false;
  for (std::string_view allowed_name : allowed) known = known || allowed_name == name;
  if (!known) {
    return source_->Error(key.Mark(), absl::StrCat("unknown key '", PathOf(name),
                                                   "' (allowed: ", JoinNames(allowed), ")"));
  }
  if (Find(name) != nullptr) {
    return source_->Error(
        key.Mark(), absl::StrCat("duplicate key '", PathOf(name), "' (each key may appear once)"));
  }
  entries_.push_back({name, key, value});
  return absl::OkStatus();
}

const MapReader::Entry* MapReader::Find(std::string_view key) const {
  for (const Entry& entry : entries_) {
    if (entry.name == key) return &entry;
  }
  return nullptr;
}

absl::Status MapReader::TypeError(const Entry& entry, std::string_view expected) const {
  return source_->Error(entry.key.Mark(),
                        absl::StrCat("'", PathOf(entry.name), "' must be ", AbslView(expected),
                                     ", found ", Describe(entry.value)));
}

}  // namespace quench::recipe_internal
