#include "core/io/checkpoint.h"
#include "absl/strings/string_view.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/io/pickle_detect.h"
#include "core/util/atomic_file.h"
#include "core/util/status_macros.h"
#include "nlohmann/json.hpp"

namespace quench {
namespace {

namespace fs = std::filesystem;
constexpr char kIndexFileName[] = "model.safetensors.index.json";

// The shard files named by a model.safetensors.index.json, with each file's expected tensors.
absl::StatusOr<std::map<std::string, std::vector<std::string>>> ReadShardIndex(
    const fs::path& index_path) {
  QUENCH_ASSIGN_OR_RETURN(std::string text, ReadFileToString(index_path));
  const auto index = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (index.is_discarded() || !index.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(index_path.string(), ": not a JSON object"));
  }
  const auto weight_map = index.find("weight_map");
  if (weight_map == index.end() || !weight_map->is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(index_path.string(), ": no \"weight_map\" object (tensor name → file name)"));
  }
  if (weight_map->empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(index_path.string(), ": \"weight_map\" is empty"));
  }
  std::map<std::string, std::vector<std::string>> files;
  for (const auto& [tensor, file] : weight_map->items()) {
    if (!file.is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(index_path.string(), ": weight_map entry '",
                                                     tensor, "' is not a file name string"));
    }
    const std::string name = file.get<std::string>();
    // Shards must sit beside the index: no paths that could reach elsewhere on the host.
    if (name.empty() || name.find('/') != std::string::npos || name == "." || name == ".." ||
        name.find('\\') != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(index_path.string(), ": weight_map entry '",
                                                     tensor, "' names '", name,
                                                     "', which is not a plain file name"));
    }
    files[name].push_back(tensor);
  }
  return files;
}

bool HasExtension(const fs::path& path, std::initializer_list<absl::string_view> extensions) {
  const std::string ext = path.extension().string();
  return std::any_of(extensions.begin(), extensions.end(), [&](auto e) { return ext == e; });
}

}  // namespace

absl::StatusOr<Checkpoint> Checkpoint::Open(const fs::path& path) {
  Checkpoint checkpoint;
  checkpoint.path_ = path;
  std::error_code error;
  if (!fs::exists(path, error)) {
    return absl::NotFoundError(absl::StrCat(path.string(), ": no such file or directory"));
  }
  if (!fs::is_directory(path, error)) {
    QUENCH_ASSIGN_OR_RETURN(auto file, SafetensorsFile::Open(path));
    QUENCH_RETURN_IF_ERROR(checkpoint.AddFile(std::move(file)));
    QUENCH_RETURN_IF_ERROR(checkpoint.ResolveAliases());
    return checkpoint;
  }

  const fs::path index_path = path / kIndexFileName;
  if (fs::exists(index_path, error)) {
    QUENCH_ASSIGN_OR_RETURN(auto shards, ReadShardIndex(index_path));
    for (const auto& [file_name, expected] : shards) {
      const fs::path shard_path = path / file_name;
      if (!fs::exists(shard_path, error)) {
        return absl::NotFoundError(absl::StrCat(index_path.string(), " names shard '", file_name,
                                                "' (for tensor '", expected.front(),
                                                "'), which is missing from ", path.string()));
      }
      QUENCH_ASSIGN_OR_RETURN(auto file, SafetensorsFile::Open(shard_path));
      for (const auto& tensor : expected) {
        if (file.Find(tensor) == nullptr) {
          return absl::InvalidArgumentError(absl::StrCat(index_path.string(), " places tensor '",
                                                         tensor, "' in ", file_name,
                                                         ", which does not contain it"));
        }
      }
      QUENCH_RETURN_IF_ERROR(checkpoint.AddFile(std::move(file)));
    }
    QUENCH_RETURN_IF_ERROR(checkpoint.ResolveAliases());
    return checkpoint;
  }

  std::vector<fs::path> safetensors;
  std::vector<fs::path> others;
  for (const auto& item : fs::directory_iterator(path, error)) {
    if (!item.is_regular_file()) continue;
    if (HasExtension(item.path(), {".safetensors"})) {
      safetensors.push_back(item.path());
    } else if (HasExtension(item.path(), {".bin", ".pt", ".pth", ".ckpt"})) {
      others.push_back(item.path());
    }
  }
  std::sort(safetensors.begin(), safetensors.end());
  if (safetensors.empty()) {
    std::sort(others.begin(), others.end());
    for (const auto& other : others) {
      if (const auto pickle = DetectPickleCheckpointFile(other))
        return PickleRefusal(other, *pickle);
    }
    return absl::NotFoundError(absl::StrCat(path.string(), ": no weights found (looked for ",
                                            kIndexFileName, " and *.safetensors)"));
  }
  for (const auto& file_path : safetensors) {
    QUENCH_ASSIGN_OR_RETURN(auto file, SafetensorsFile::Open(file_path));
    QUENCH_RETURN_IF_ERROR(checkpoint.AddFile(std::move(file)));
  }
  QUENCH_RETURN_IF_ERROR(checkpoint.ResolveAliases());
  return checkpoint;
}

absl::Status Checkpoint::AddFile(SafetensorsFile file) {
  const size_t file_index = files_.size();
  const auto& entries = file.entries();
  for (size_t e = 0; e < entries.size(); ++e) {
    const auto [it, inserted] = tensors_.emplace(entries[e].name, Location{file_index, e});
    if (!inserted) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor '", entries[e].name, "' is stored twice: in ",
                       files_[it->second.file].path().string(), " and in ", file.path().string()));
    }
  }
  files_.push_back(std::move(file));
  return absl::OkStatus();
}

absl::Status Checkpoint::ResolveAliases() {
  for (const auto& file : files_) {
    for (const auto& [key, value] : file.metadata()) {
      if (tensors_.count(key) == 0 && tensors_.count(value) != 0) aliases_[key] = value;
    }
  }
  return absl::OkStatus();
}

const Checkpoint::Location* Checkpoint::Locate(absl::string_view name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) {
    const auto alias = aliases_.find(std::string(name));
    if (alias == aliases_.end()) return nullptr;
    it = tensors_.find(alias->second);
  }
  return it == tensors_.end() ? nullptr : &it->second;
}

std::vector<std::string> Checkpoint::TensorNames() const {
  std::vector<std::string> names;
  for (const auto& [name, location] : tensors_) names.push_back(name);
  for (const auto& [alias, target] : aliases_) names.push_back(alias);
  std::sort(names.begin(), names.end());
  return names;
}

bool Checkpoint::Contains(absl::string_view name) const { return Locate(name) != nullptr; }

const SafetensorsEntry* Checkpoint::FindEntry(absl::string_view name) const {
  const Location* location = Locate(name);
  return location == nullptr ? nullptr : &files_[location->file].entries()[location->entry];
}

absl::StatusOr<Tensor> Checkpoint::Get(absl::string_view name) const {
  const Location* location = Locate(name);
  if (location == nullptr) {
    return absl::NotFoundError(absl::StrCat(path_.string(), ": no tensor named '", name, "'"));
  }
  const auto& file = files_[location->file];
  return file.View(file.entries()[location->entry]);
}

}  // namespace quench
