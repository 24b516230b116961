// Confines the paths clients name (models, calibration and evaluation data) to the directories
// the operator configured with --model-root: a client can read only what is under a root, never
// through "..", never through a symlink that leads out of it.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace quench::server {

class ModelRoots {
 public:
  // Each root must exist; it is kept in canonical form (symlinks resolved).
  static absl::StatusOr<ModelRoots> Create(const std::vector<std::filesystem::path>& roots);

  // The canonical path `requested` names, which must exist under a root. An absolute path must
  // lie under a root; a relative one is looked up under each root in order.
  // INVALID_ARGUMENT for ".." or an empty path; PERMISSION_DENIED for a path outside every root
  // (a symlink escaping included); NOT_FOUND when it names nothing under a root.
  absl::StatusOr<std::filesystem::path> Resolve(const std::string& requested) const;

  const std::vector<std::filesystem::path>& roots() const { return roots_; }

 private:
  ModelRoots(std::vector<std::filesystem::path> roots, std::vector<std::filesystem::path> given)
      : roots_(std::move(roots)), given_roots_(std::move(given)) {}
  std::vector<std::filesystem::path> roots_;        // canonical
  std::vector<std::filesystem::path> given_roots_;  // as configured, made absolute
};

}  // namespace quench::server
