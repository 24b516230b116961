// Reading YAML mappings into recipe fields, with messages that name the source, the line and
// column, and the key path. Unknown and duplicate keys and wrongly typed values are errors.
// Not for use outside core/recipe.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "core/recipe/recipe_names.h"

namespace quench::recipe_internal {

// What a node is, for "found ..." in messages.
std::string Describe(const YAML::Node& node);

// The text being read, by name, for messages.
class Source {
 public:
  explicit Source(std::string name) : name_(std::move(name)) {}

  const std::string& name() const { return name_; }

  // "name:line:column: message", or "name: message" when the mark is null.
  absl::Status Error(const YAML::Mark& mark, std::string_view message) const;

 private:
  std::string name_;
};

// One YAML mapping. Open() checks every key against the allowed ones; the typed reads leave
// the destination (a default) untouched when the key is absent.
class MapReader {
 public:
  static absl::StatusOr<MapReader> Open(const Source& source, const YAML::Node& node,
                                        std::string path,
                                        std::span<const std::string_view> allowed);

  const Source& source() const { return *source_; }
  std::string PathOf(std::string_view key) const { return JoinPath(path_, key); }

  // True when the key is given, even with a null value.
  bool Has(std::string_view key) const { return Find(key) != nullptr; }

  // The key's value, or nullptr when absent or null (null sections mean "not given").
  const YAML::Node* Value(std::string_view key) const;

  // An error about the mapping as a whole.
  absl::Status Error(std::string_view message) const { return source_->Error(mark_, message); }

  // An error about `key`, pointing at it.
  absl::Status Error(std::string_view key, std::string_view message) const;

  // The nested mapping under `key`, or nullopt when absent or null.
  absl::StatusOr<std::optional<MapReader>> Child(std::string_view key,
                                                 std::span<const std::string_view> allowed) const;

  // Numbers and booleans must be plain (unquoted) scalars, so that `bits: "4"` is refused like
  // any other wrong type.
  absl::Status Read(std::string_view key, bool* out) const;
  absl::Status Read(std::string_view key, int* out) const;
  absl::Status Read(std::string_view key, int64_t* out) const;
  absl::Status Read(std::string_view key, uint64_t* out) const;
  absl::Status Read(std::string_view key, double* out) const;

  // Any scalar, quoted or not; null means empty.
  absl::Status Read(std::string_view key, std::string* out) const;

  // A list of strings; null means an empty list.
  absl::Status Read(std::string_view key, std::vector<std::string>* out) const;

  // One of the names in `table`.
  template <typename E, size_t N>
  absl::Status Read(std::string_view key, const Named<E> (&table)[N], E* out) const {
    const Entry* entry = Find(key);
    if (entry == nullptr) return absl::OkStatus();
    const std::string expected = absl::StrCat("one of ", JoinNames(table));
    if (!entry->value.IsScalar()) return TypeError(*entry, expected);
    const std::optional<E> value = ValueOf(table, entry->value.Scalar());
    if (!value) {
      return source_->Error(entry->key.Mark(),
                            absl::StrCat("unknown value '", entry->value.Scalar(), "' for '",
                                         PathOf(key), "' (allowed: ", JoinNames(table), ")"));
    }
    *out = *value;
    return absl::OkStatus();
  }

 private:
  struct Entry {
    std::string name;
    YAML::Node key;
    YAML::Node value;
  };

  MapReader(const Source& source, std::string path, YAML::Mark mark)
      : source_(&source), path_(std::move(path)), mark_(mark) {}

  absl::Status AddEntry(const YAML::Node& key, const YAML::Node& value,
                        std::span<const std::string_view> allowed);
  const Entry* Find(std::string_view key) const;
  absl::Status TypeError(const Entry& entry, std::string_view expected) const;

  template <typename T, typename ParseFn>
  absl::Status ReadScalar(std::string_view key, std::string_view expected, ParseFn parse,
                          T* out) const;

  const Source* source_;
  std::string path_;
  YAML::Mark mark_;  // where the mapping starts
  std::vector<Entry> entries_;
};

}  // namespace quench::recipe_internal
