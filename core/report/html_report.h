// report.html: a job's report.json as a page people read — the summary table (original vs each
// output: perplexity, KL divergence, top-1 agreement, size, bits per weight), a per-layer error
// chart as inline SVG, every layer's figures, the recipe, versions and timings. The page is
// self-contained: no scripts, fonts, images or styles from the network, so it opens offline and
// can be attached to a ticket or an MLOps run as one file.
#pragma once

#include <string>
#include <string_view>

#include "nlohmann/json.hpp"

namespace quench {

// The artifacts whose bytes depend on the run (timings, paths), not only on the job's inputs.
inline constexpr char kReportJsonName[] = "report.json";
inline constexpr char kReportHtmlName[] = "report.html";
inline bool IsRunReport(std::string_view artifact_name) {
  return artifact_name == kReportJsonName || artifact_name == kReportHtmlName;
}

// `report`: the fields RunLocalJob writes to report.json (missing ones are shown as absent);
// `recipe_yaml`: the recipe as run.
std::string RenderHtmlReport(const nlohmann::ordered_json& report, std::string_view recipe_yaml);

// Text made safe for HTML element content and attribute values.
std::string HtmlEscape(std::string_view text);

}  // namespace quench
