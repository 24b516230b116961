#include "core/tokenizer/sentencepiece_engine.h"

#include <dlfcn.h>
#include <link.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <mutex>

namespace quench {
namespace {

// Where the module is looked for: $QUENCH_SENTENCEPIECE_MODULE, then beside the executable,
// then ../lib/quench/ from it (an installed layout).
std::vector<std::filesystem::path> ModuleCandidates() {
  std::vector<std::filesystem::path> candidates;
  if (const char* path = std::getenv("QUENCH_SENTENCEPIECE_MODULE"); path && *path) {
    candidates.emplace_back(path);
  }
  std::error_code error;
  const auto executable = std::filesystem::read_symlink("/proc/self/exe", error);
  if (!error) {
    candidates.push_back(executable.parent_path() / kSentencePieceModuleFile);
    candidates.push_back(executable.parent_path().parent_path() / "lib" / "quench" /
                         kSentencePieceModuleFile);
  }
  return candidates;
}

// Sanitizer runtimes refuse RTLD_DEEPBIND (it would bypass their malloc); those builds load
// the module without it, which is safe only where libprotobuf is not loaded too.
#if defined(__SANITIZE_ADDRESS__)
constexpr int kDeepBind = 0;
constexpr bool kSanitizerBuild = true;
#else
constexpr int kDeepBind = RTLD_DEEPBIND;
constexpr bool kSanitizerBuild = false;
#endif

bool LibprotobufLoaded() {
  bool found = false;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) {
        if (info->dlpi_name != nullptr && std::strstr(info->dlpi_name, "libprotobuf.so")) {
          *static_cast<bool*>(data) = true;
        }
        return 0;
      },
      &found);
  return found;
}

struct LoadedModule {
  SentencePieceLoadFunction load = nullptr;
  std::string error;
};

const LoadedModule& Module() {
  static const LoadedModule module = [] {
    LoadedModule loaded;
    if (kSanitizerBuild && LibprotobufLoaded()) {
      // Without RTLD_DEEPBIND libsentencepiece would bind to libprotobuf and abort the process.
      loaded.error =
          "SentencePiece cannot be loaded in a sanitizer build of a program that also uses "
          "libprotobuf (the sanitizer runtime refuses RTLD_DEEPBIND); the normal build can";
      return loaded;
    }
    std::string tried;
    for (const auto& candidate : ModuleCandidates()) {
      // RTLD_LOCAL: its symbols (protobuf-lite's among them) never interpose libprotobuf's;
      // RTLD_DEEPBIND: its own references bind inside it before the global scope.
      void* handle = dlopen(candidate.c_str(), RTLD_NOW | RTLD_LOCAL | kDeepBind);
      if (handle == nullptr) {
        tried += "\n  " + candidate.string() + ": " + dlerror();
        continue;
      }
      loaded.load =
          reinterpret_cast<SentencePieceLoadFunction>(dlsym(handle, kSentencePieceLoadSymbol));
      if (loaded.load != nullptr) return loaded;
      tried += "\n  " + candidate.string() + ": no " + kSentencePieceLoadSymbol;
    }
    loaded.error =
        std::string("cannot load the SentencePiece module ") + kSentencePieceModuleFile +
        " (install it beside the quench binaries, or set QUENCH_SENTENCEPIECE_MODULE):" + tried;
    return loaded;
  }();
  return module;
}

}  // namespace

std::unique_ptr<SentencePieceEngine> SentencePieceEngine::Load(std::string_view model_proto,
                                                               std::string* error) {
  const LoadedModule& module = Module();
  if (module.load == nullptr) {
    *error = module.error;
    return nullptr;
  }
  return std::unique_ptr<SentencePieceEngine>(
      module.load(model_proto.data(), model_proto.size(), error));
}

}  // namespace quench
