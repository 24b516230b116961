#include "core/export/hf_directory_writer.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "core/util/atomic_file.h"
#include "core/util/status_macros.h"

namespace quench {
namespace {

namespace fs = std::filesystem;

constexpr const char* kCopiedFiles[] = {"generation_config.json", "tokenizer.json",
                                        "tokenizer.model", "tokenizer_config.json",
                                        "special_tokens_map.json"};

absl::StatusOr<std::string> ConfigWithQuantization(const fs::path& source_dir,
                                                   const nlohmann::ordered_json& quantization) {
  QUENCH_ASSIGN_OR_RETURN(const std::string text, ReadFileToString(source_dir / "config.json"));
  nlohmann::ordered_json config = nlohmann::ordered_json::parse(text, nullptr, false);
  if (!config.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat((source_dir / "config.json").string(), ": not a JSON object"));
  }
  config["quantization_config"] = quantization;
  return config.dump(2) + "\n";
}

}  // namespace

absl::Status CopyRuntimeFiles(const fs::path& source_dir, const fs::path& out_dir) {
  for (const char* name : kCopiedFiles) {
    if (!fs::exists(source_dir / name)) continue;
    QUENCH_ASSIGN_OR_RETURN(const std::string contents, ReadFileToString(source_dir / name));
    QUENCH_RETURN_IF_ERROR(WriteFileAtomically(out_dir / name, contents));
  }
  return absl::OkStatus();
}

absl::Status WriteHfDirectory(const fs::path& source_dir, const fs::path& out_dir,
                              const HfDirectory& directory) {
  std::error_code error;
  fs::create_directories(out_dir, error);
  if (error) {
    return absl::PermissionDeniedError(
        absl::StrCat(out_dir.string(), ": cannot create: ", error.message()));
  }
  std::vector<SafetensorsTensorSpec> specs;
  for (const auto& tensor : directory.tensors) specs.push_back(tensor.spec);
  QUENCH_ASSIGN_OR_RETURN(auto writer, SafetensorsWriter::Create(out_dir / "model.safetensors",
                                                                 specs, directory.metadata));
  for (const auto& tensor : directory.tensors) {
    QUENCH_ASSIGN_OR_RETURN(const Tensor produced, tensor.produce());
    if (produced.dtype() != tensor.spec.dtype || produced.shape() != tensor.spec.shape) {
      return absl::InternalError(absl::StrCat("export: tensor '", tensor.spec.name,
                                              "' was produced as ", DTypeName(produced.dtype()),
                                              " ", ShapeToString(produced.shape())));
    }
    QUENCH_RETURN_IF_ERROR(writer.Append(produced.bytes()));
  }
  QUENCH_RETURN_IF_ERROR(writer.Finish());
  QUENCH_ASSIGN_OR_RETURN(const std::string config,
                          ConfigWithQuantization(source_dir, directory.quantization_config));
  QUENCH_RETURN_IF_ERROR(WriteFileAtomically(out_dir / "config.json", config));
  QUENCH_RETURN_IF_ERROR(CopyRuntimeFiles(source_dir, out_dir));
  for (const auto& [name, contents] : directory.extra_files)
    QUENCH_RETURN_IF_ERROR(WriteFileAtomically(out_dir / name, contents));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<OutputTensor>> ModelOutputTensors(const QuenchArtifactReader& artifact,
                                                             const Checkpoint& source,
                                                             const QuantizedEmitter& quantized) {
  std::vector<OutputTensor> out;
  for (const auto& file : source.files()) {
    for (const auto& entry : file.entries()) {
      const std::string module(absl::StripSuffix(entry.name, ".weight"));
      const auto* info =
          absl::EndsWith(entry.name, ".weight") ? artifact.FindQuantized(module) : nullptr;
      if (info != nullptr) {
        QUENCH_RETURN_IF_ERROR(quantized(module, *info, out));
        continue;
      }
      const SafetensorsTensorSpec spec{entry.name, entry.dtype, entry.shape};
      const bool replaced = !artifact.ReadPlain(entry.name).empty() && IsFloatingPoint(entry.dtype);
      const SafetensorsFile* source_file = &file;
      const SafetensorsEntry* source_entry = &entry;
      out.push_back(
          {spec,
           [&artifact, spec, replaced, source_file, source_entry]() -> absl::StatusOr<Tensor> {
             if (!replaced) return source_file->View(*source_entry);
             // The artifact's fp32 values are converted straight from the mapping.
             const Tensor stored = artifact.ReadPlain(spec.name);
             const bool usable =
                 stored.dtype() == DType::kF32 &&
                 reinterpret_cast<uintptr_t>(stored.raw_data()) % alignof(float) == 0;
             const Tensor value = usable ? stored : stored.ToFloat32();
             if (value.shape() != spec.shape) {
               return absl::InvalidArgumentError(absl::StrCat(
                   "quench artifact: '", spec.name, "' has shape ", ShapeToString(value.shape()),
                   ", the source ", ShapeToString(spec.shape)));
             }
             Tensor converted = Tensor::Zeros(spec.dtype, spec.shape);
             ConvertFromFloat(value.data<float>(), spec.dtype, converted.mutable_data<uint8_t>(),
                              static_cast<size_t>(converted.num_elements()));
             return converted;
           }});
    }
  }
  return out;
}

}  // namespace quench
