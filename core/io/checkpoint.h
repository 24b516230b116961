// A model's weights as one namespace of tensors, whatever the files: a single `*.safetensors`,
// a directory with `model.safetensors`, or a sharded checkpoint described by
// `model.safetensors.index.json`. Tied weights that safetensors' save_model stored once are
// reachable under both names (the `__metadata__` alias it records).
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "core/io/safetensors_reader.h"

namespace quench {

class Checkpoint {
 public:
  // `path`: a safetensors file or a model directory. Pickle checkpoints are refused.
  static absl::StatusOr<Checkpoint> Open(const std::filesystem::path& path);

  // All tensor names (aliases included), sorted.
  std::vector<std::string> TensorNames() const;
  bool Contains(absl::string_view name) const;

  // A zero-copy view of the named tensor (any dtype). NotFound names the checkpoint.
  absl::StatusOr<Tensor> Get(absl::string_view name) const;
  // Shape and dtype without touching the data; nullptr when absent.
  const SafetensorsEntry* FindEntry(absl::string_view name) const;

  const std::vector<SafetensorsFile>& files() const { return files_; }
  const std::map<std::string, std::string>& aliases() const { return aliases_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  struct Location {
    size_t file = 0;
    size_t entry = 0;
  };
  absl::Status AddFile(SafetensorsFile file);
  absl::Status ResolveAliases();
  const Location* Locate(absl::string_view name) const;

  std::filesystem::path path_;
  std::vector<SafetensorsFile> files_;
  std::map<std::string, Location, std::less<>> tensors_;
  std::map<std::string, std::string> aliases_;  // alias → stored name
};

}  // namespace quench
