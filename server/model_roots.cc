#include "server/model_roots.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace quench::server {
namespace {

bool IsUnder(const std::filesystem::path& path, const std::filesystem::path& root) {
  auto p = path.begin();
  for (auto r = root.begin(); r != root.end(); ++r, ++p) {
    if (p == path.end() || *p != *r) return false;
  }
  return true;
}

std::string RootList(const std::vector<std::filesystem::path>& roots) {
  return absl::StrJoin(roots, ", ", [](std::string* out, const std::filesystem::path& root) {
    out->append(root.string());
  });
}

}  // namespace

absl::StatusOr<ModelRoots> ModelRoots::Create(const std::vector<std::filesystem::path>& roots) {
  std::vector<std::filesystem::path> canonical, given;
  for (const auto& root : roots) {
    auto absolute = std::filesystem::absolute(root).lexically_normal();
    if (!absolute.has_filename()) absolute = absolute.parent_path();  // "/models/" → "/models"
    given.push_back(absolute);
    std::error_code error;
    auto resolved = std::filesystem::canonical(root, error);
    if (error || !std::filesystem::is_directory(resolved)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--model-root ", root.string(), " is not a directory",
                       error ? absl::StrCat(" (", error.message(), ")") : ""));
    }
    canonical.push_back(resolved);
  }
  return ModelRoots(std::move(canonical), std::move(given));
}

absl::StatusOr<std::filesystem::path> ModelRoots::Resolve(const std::string& requested) const {
  if (requested.empty()) return absl::InvalidArgumentError("the path is empty");
  const std::filesystem::path path(requested);
  for (const auto& part : path) {
    if (part == "..") {
      return absl::InvalidArgumentError(
          absl::StrCat("'", requested, "' contains '..'; name a path under a model root (",
                       RootList(roots_), ")"));
    }
  }
  if (roots_.empty()) {
    return absl::PermissionDeniedError(
        "this coordinator has no --model-root, so it reads no client paths");
  }
  std::vector<std::filesystem::path> candidates;
  if (path.is_absolute()) {
    // Refused before touching the file system, so the answer says nothing about what exists
    // outside the roots.
    const auto normal = path.lexically_normal();
    bool lexically_under = false;
    for (const auto& root : roots_) lexically_under = lexically_under || IsUnder(normal, root);
    for (const auto& root : given_roots_)
      lexically_under = lexically_under || IsUnder(normal, root);
    if (!lexically_under) {
      return absl::PermissionDeniedError(
          absl::StrCat("'", requested, "' is outside the model roots (", RootList(roots_), ")"));
    }
    candidates.push_back(path);
  } else {
    for (const auto& root : roots_) candidates.push_back(root / path);
  }
  bool outside = false;
  for (const auto& candidate : candidates) {
    std::error_code error;
    const auto resolved = std::filesystem::canonical(candidate, error);
    if (error) continue;
    for (const auto& root : roots_) {
      if (IsUnder(resolved, root)) return resolved;
    }
    outside = true;
  }
  if (outside) {
    return absl::PermissionDeniedError(
        absl::StrCat("'", requested, "' is outside the model roots (", RootList(roots_),
                     "); a symlink out of a root counts as outside"));
  }
  return absl::NotFoundError(absl::StrCat(
      "'", requested, "' does not exist under the model roots (", RootList(roots_), ")"));
}

}  // namespace quench::server
