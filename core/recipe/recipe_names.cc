// Spelling helpers shared by the recipe reader, validation and YAML writer, and the public
// QuantMethodName.
#include "core/recipe/recipe_names.h"

#include <charconv>
#include <string>
#include <string_view>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "core/util/absl_view.h"

namespace quench {
namespace recipe_internal {

std::string JoinPath(std::string_view parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  return absl::StrCat(AbslView(parent), ".", AbslView(key));
}

std::string FormatNumber(double value) {
  char buffer[64];
  const auto [end, error] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return error == std::errc() ? std::string(buffer, end) : std::string("?");
}

}  // namespace recipe_internal

absl::string_view QuantMethodName(QuantMethod method) {
  return AbslView(recipe_internal::NameOf(recipe_internal::kMethods, method));
}

}  // namespace quench
