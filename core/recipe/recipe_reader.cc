// Text → Recipe: parses YAML or JSON (working around yaml-cpp's multi-document quirks), picks
// Quench's schema or torchchat's dialect, and validates the result.
#include "core/recipe/recipe.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <exception>
#include <filesystem>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "core/recipe/quench_schema_reader.h"
#include "core/recipe/recipe_names.h"
#include "core/recipe/torchchat_config_reader.h"
#include "core/recipe/yaml_map_reader.h"
#include "core/util/atomic_file.h"
#include "core/util/status_macros.h"

namespace quench {
namespace {

using recipe_internal::IsTorchchatConfig;
using recipe_internal::JoinNames;
using recipe_internal::kTopLevelKeys;
using recipe_internal::ReadQuenchRecipe;
using recipe_internal::ReadTorchchatRecipe;
using recipe_internal::Source;

// Watches documents go by without building them: where each starts and what its root is.
class DocumentProbe : public YAML::EventHandler {
 public:
  struct Document {
    YAML::Mark start;
    YAML::Mark root;
    bool has_root = false;
    bool null_root = false;
  };

  const std::vector<Document>& documents() const { return documents_; }

  void OnDocumentStart(const YAML::Mark& mark) override {
    documents_.emplace_back();
    documents_.back().start = mark;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { Node(mark, /*null=*/true); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { Node(mark, false); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                const std::string&) override {
    Node(mark, false);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    Node(mark, false);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    Node(mark, false);
  }
  void OnMapEnd() override {}

 private:
  void Node(const YAML::Mark& mark, bool null) {
    if (documents_.empty() || documents_.back().has_root) return;
    documents_.back().root = mark;
    documents_.back().has_root = true;
    documents_.back().null_root = null;
  }

  std::vector<Document> documents_;
};

// Checks that the text holds one document. yaml-cpp 0.7 never gets past a stray ',' outside
// brackets: it reports the same empty document forever (jbeder/yaml-cpp#1040), and LoadAll
// fills memory. So the probe stops after three documents and refuses one that starts where
// the previous one did.
absl::Status CheckSingleDocument(const Source& source, const std::string& text) {
  std::istringstream stream(text);
  YAML::Parser parser(stream);
  DocumentProbe probe;
  constexpr int kDocumentsLooked = 3;
  for (int i = 0; i < kDocumentsLooked && parser.HandleNextDocument(probe); ++i) {
  }
  const std::vector<DocumentProbe::Document>& documents = probe.documents();
  for (size_t i = 1; i < documents.size(); ++i) {
    const YAML::Mark& start = documents[i].start;
    if (start.pos != documents[i - 1].start.pos) continue;
    const bool in_text = start.pos >= 0 && static_cast<size_t>(start.pos) < text.size();
    return source.Error(start, absl::StrCat("invalid YAML: unexpected '",
                                            in_text ? text.substr(start.pos, 1) : "", "'"));
  }
  if (documents.size() > 1 && documents[1].has_root && !documents[1].null_root) {
    return source.Error(documents[1].root,
                        "a second YAML document starts here; a recipe is a single mapping");
  }
  return absl::OkStatus();
}

absl::StatusOr<Recipe> ReadRecipeText(const Source& source, const std::string& text) {
  QUENCH_RETURN_IF_ERROR(CheckSingleDocument(source, text));
  const YAML::Node root = YAML::Load(text);
  if (!root.IsDefined() || root.IsNull()) {
    return source.Error(YAML::Mark::null_mark(),
                        absl::StrCat("the recipe is empty (expected a mapping with keys ",
                                     JoinNames(kTopLevelKeys), ")"));
  }
  if (IsTorchchatConfig(root)) return ReadTorchchatRecipe(source, root);
  return ReadQuenchRecipe(source, root);
}

}  // namespace

absl::StatusOr<Recipe> ParseRecipe(absl::string_view text, absl::string_view source) {
  const Source where(source.empty() ? std::string("recipe") : std::string(source));
  absl::StatusOr<Recipe> recipe;
  // yaml-cpp reports malformed text by throwing; nothing may escape to the caller.
  try {
    recipe = ReadRecipeText(where, std::string(text));
  } catch (const YAML::Exception& error) {
    return where.Error(error.mark, absl::StrCat("invalid YAML: ", error.msg));
  } catch (const std::exception& error) {
    return where.Error(YAML::Mark::null_mark(), error.what());
  }
  if (!recipe.ok()) return recipe.status();
  const absl::Status valid = recipe->Validate();
  if (!valid.ok()) {
    return absl::Status(valid.code(), absl::StrCat(where.name(), ": ", valid.message()));
  }
  return recipe;
}

absl::StatusOr<Recipe> LoadRecipe(const std::filesystem::path& path) {
  std::error_code error;
  if (std::filesystem::is_directory(path, error)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path.string(), ": is a directory, not a recipe file"));
  }
  QUENCH_ASSIGN_OR_RETURN(const std::string text, ReadFileToString(path));
  QUENCH_ASSIGN_OR_RETURN(Recipe recipe, ParseRecipe(text, path.string()));
  if (recipe.name.empty()) recipe.name = path.stem().string();
  return recipe;
}

}  // namespace quench
