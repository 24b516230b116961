#include "core/report/html_report.h"

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/report/layer_error_chart.h"
#include "core/util/format_bytes.h"

namespace quench {
namespace {

using Json = nlohmann::ordered_json;

constexpr char kStyle[] = R"css(
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 72em; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
h2 { font-size: 1.15em; margin-top: 1.8em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
p.subtitle { color: #555; margin-top: 0; }
table { border-collapse: collapse; font-size: 0.92em; }
th, td { padding: 0.3em 0.8em; border-bottom: 1px solid #e4e4e4; text-align: right; }
th { background: #f6f6f6; }
td:first-child, th:first-child { text-align: left; }
tr.original td { color: #555; }
.note { color: #666; font-size: 0.88em; }
.chart-box { overflow-x: auto; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.88em; }
)css";

const Json* Field(const Json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  const auto found = object.find(key);
  return found == object.end() || found->is_null() ? nullptr : &*found;
}

std::string Text(const Json& object, const char* key) {
  const Json* field = Field(object, key);
  if (field == nullptr) return "";
  return field->is_string() ? field->get<std::string>() : field->dump();
}

double Number(const Json& object, const char* key, double absent = -1) {
  const Json* field = Field(object, key);
  return field != nullptr && field->is_number() ? field->get<double>() : absent;
}

std::string Bytes(double bytes) { return bytes < 0 ? "—" : FormatBytes(bytes, 2); }

std::string Seconds(double seconds) {
  if (seconds < 0) return "—";
  if (seconds < 120) return absl::StrFormat("%.2f s", seconds);
  const int64_t whole = std::llround(seconds);
  return absl::StrFormat("%d min %d s", whole / 60, whole % 60);
}

// One row of the summary table: a model (the original or one output) and its accuracy.
struct SummaryRow {
  std::string name;
  const Json* evaluation = nullptr;  // the solve's figures against the original
  double bytes = -1;
  std::string note;
  bool original = false;
};

std::string SummaryTable(const Json& report) {
  const Json* evaluation = Field(report, "evaluation");
  const Json* gguf_evaluation = Field(report, "gguf_evaluation");
  const Json* original = Field(report, "original");
  const double parameters = original ? Number(*original, "parameters") : -1;

  std::vector<SummaryRow> rows;
  rows.push_back({"original", evaluation, original ? Number(*original, "bytes") : -1,
                  original ? Text(*original, "dtype") : "", true});
  if (const Json* outputs = Field(report, "outputs"); outputs && outputs->is_array()) {
    for (const Json& output : *outputs) {
      const bool second_solve = Number(output, "solve", 0) >= 1;
      rows.push_back({Text(output, "name"), second_solve ? gguf_evaluation : evaluation,
                      Number(output, "bytes"), Text(output, "note")});
    }
  }

  std::string html =
      "<table id=\"summary\">\n<tr><th>Model</th><th>Perplexity</th><th>Δ perplexity</th>"
      "<th>KL divergence (nats/token)</th><th>Top-1 agreement</th><th>Size</th>"
      "<th>Bits per weight</th></tr>\n";
  for (const SummaryRow& row : rows) {
    std::string ppl = "—", delta = "—", kld = "—", top1 = "—";
    if (row.evaluation != nullptr) {
      const double reference = Number(*row.evaluation, "reference_perplexity");
      if (row.original) {
        ppl = absl::StrFormat("%.4f", reference);
      } else {
        const double candidate = Number(*row.evaluation, "perplexity");
        ppl = absl::StrFormat("%.4f", candidate);
        delta = absl::StrFormat("%+.2f%%", 100 * (candidate / reference - 1));
        kld = absl::StrFormat("%.5f", Number(*row.evaluation, "kl_divergence"));
        top1 = absl::StrFormat("%.2f%%", 100 * Number(*row.evaluation, "top1_agreement"));
      }
    }
    const std::string bits = row.bytes >= 0 && parameters > 0
                                 ? absl::StrFormat("%.2f", 8 * row.bytes / parameters)
                                 : "—";
    std::string name = HtmlEscape(row.name);
    if (!row.note.empty())
      absl::StrAppend(&name, " <span class=\"note\">(", HtmlEscape(row.note), ")</span>");
    absl::StrAppend(&html, row.original ? "<tr class=\"original\">" : "<tr>", "<td>", name,
                    "</td><td>", ppl, "</td><td>", delta, "</td><td>", kld, "</td><td>", top1,
                    "</td><td>", Bytes(row.bytes), "</td><td>", bits, "</td></tr>\n");
  }
  html += "</table>\n";
  if (evaluation != nullptr) {
    absl::StrAppend(&html, "<p class=\"note\">Evaluated on ",
                    HtmlEscape(Text(*evaluation, "tokens")),
                    " held-out tokens against the original model.");
  } else {
    html +=
        "<p class=\"note\">Not evaluated: the job had no evaluation data (recipe "
        "<code>evaluation.path</code>, or <code>--eval</code>).";
  }
  if (parameters > 0) {
    const double quantized = Number(*original, "quantized_parameters", 0);
    absl::StrAppendFormat(&html,
                          " Bits per weight: the weight files' size × 8 ÷ the original's %.0f "
                          "parameters, of which %.0f (%.1f%%) are in the quantized linears; the "
                          "rest (embeddings, norms, layers left out) keep their dtype.",
                          parameters, quantized, 100 * quantized / parameters);
  }
  return html + "</p>\n";
}

std::vector<LayerErrorPoint> ChartPoints(const Json& layers, bool& output_error) {
  output_error = !layers.empty();
  for (const Json& layer : layers) output_error &= Number(layer, "relative_output_error") >= 0;
  std::vector<LayerErrorPoint> points;
  for (const Json& layer : layers) {
    points.push_back(
        {Text(layer, "name"),
         Number(layer, output_error ? "relative_output_error" : "relative_weight_error", 0)});
  }
  return points;
}

std::string LayerSection(const Json& layers, const std::string& title, const std::string& id) {
  bool output_error = false;
  const std::vector<LayerErrorPoint> points = ChartPoints(layers, output_error);
  const char* measure = output_error ? "relative output error ‖X(Ŵ−W)ᵀ‖²/‖XWᵀ‖²"
                                     : "relative weight error ‖Ŵ−W‖²/‖W‖²";
  std::string html = absl::StrCat(
      "<h2>", HtmlEscape(title),
      "</h2>\n<p class=\"note\">Each bar "
      "is one linear, in model order: its ",
      measure,
      output_error ? " on the calibration inputs that reached it"
                   : " (the job had no calibration data)",
      ". Hover a bar for its name.</p>\n<div class=\"chart-box\" id=\"", id, "-chart\">\n",
      LayerErrorChartSvg(points, output_error ? "relative output error" : "relative weight error"),
      "</div>\n");
  absl::StrAppend(&html, "<details><summary>Every layer (", layers.size(),
                  ")</summary>\n<table id=\"", id,
                  "-table\">\n<tr><th>Linear</th><th>Grid</th><th>Output error</th>"
                  "<th>Weight error</th><th>GPTQ loss</th><th>Seconds</th></tr>\n");
  for (const Json& layer : layers) {
    const double output = Number(layer, "relative_output_error");
    absl::StrAppend(&html, "<tr><td>", HtmlEscape(Text(layer, "name")), "</td><td>",
                    HtmlEscape(Text(layer, "grid")), "</td><td>",
                    output >= 0 ? absl::StrFormat("%.4g", output) : "—", "</td><td>",
                    absl::StrFormat("%.4g", Number(layer, "relative_weight_error", 0)), "</td><td>",
                    absl::StrFormat("%.4g", Number(layer, "gptq_loss", 0)), "</td><td>",
                    absl::StrFormat("%.3f", Number(layer, "seconds", 0)), "</td></tr>\n");
  }
  html += "</table>\n</details>\n";
  return html;
}

std::string RunTable(const Json& report) {
  std::vector<std::pair<std::string, std::string>> rows;
  if (const Json* versions = Field(report, "versions")) {
    for (const auto& [name, value] : versions->items()) {
      rows.emplace_back(absl::StrCat(name, " version"),
                        value.is_string() ? value.get<std::string>() : value.dump());
    }
  }
  if (const std::string created = Text(report, "created_utc"); !created.empty()) {
    rows.emplace_back("finished (UTC)", created);
  }
  rows.emplace_back("model", Text(report, "model"));
  if (const Json* calibration = Field(report, "calibration")) {
    rows.emplace_back("calibration", absl::StrCat(Text(*calibration, "sequences"), " sequences, ",
                                                  Text(*calibration, "tokens"), " tokens in ",
                                                  Text(*calibration, "shards"), " shards"));
  }
  rows.emplace_back("quantization time", Seconds(Number(report, "quantize_seconds")));
  if (Field(report, "evaluate_seconds") != nullptr) {
    rows.emplace_back("evaluation time", Seconds(Number(report, "evaluate_seconds")));
  }
  rows.emplace_back("total time", Seconds(Number(report, "total_seconds")));
  rows.emplace_back("peak memory (resident)", Bytes(Number(report, "peak_rss_bytes")));
  std::string html = "<table id=\"run\">\n";
  for (const auto& [name, value] : rows) {
    absl::StrAppend(&html, "<tr><td>", HtmlEscape(name), "</td><td>", HtmlEscape(value),
                    "</td></tr>\n");
  }
  return html + "</table>\n";
}

}  // namespace

std::string HtmlEscape(std::string_view text) {
  std::string escaped;
  escaped.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&':
        escaped += "&amp;";
        break;
      case '<':
        escaped += "&lt;";
        break;
      case '>':
        escaped += "&gt;";
        break;
      case '"':
        escaped += "&quot;";
        break;
      case '\'':
        escaped += "&#39;";
        break;
      default:
        escaped += c;
    }
  }
  return escaped;
}

std::string RenderHtmlReport(const Json& report, std::string_view recipe_yaml) {
  const std::string recipe = Text(report, "recipe");
  std::filesystem::path model_path(Text(report, "model"));
  if (!model_path.has_filename()) model_path = model_path.parent_path();  // "/models/llama/"
  const std::string model = model_path.filename().string();
  std::string html = absl::StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>Quench "
      "report: ",
      HtmlEscape(recipe), " on ", HtmlEscape(model), "</title>\n<style>", kStyle,
      "</style>\n</head>\n<body>\n<h1>", HtmlEscape(recipe), " on ", HtmlEscape(model),
      "</h1>\n<p class=\"subtitle\">", HtmlEscape(Text(report, "method")), " · ",
      HtmlEscape(Text(report, "weights")), "</p>\n<h2>Summary</h2>\n", SummaryTable(report));
  if (const Json* layers = Field(report, "layers"); layers && layers->is_array()) {
    html += LayerSection(*layers, "Error per layer", "layers");
  }
  if (const Json* layers = Field(report, "gguf_layers"); layers && layers->is_array()) {
    html += LayerSection(*layers, "Error per layer of the GGUF solve", "gguf-layers");
  }
  absl::StrAppend(&html, "<h2>Recipe</h2>\n<pre id=\"recipe\">", HtmlEscape(recipe_yaml),
                  "</pre>\n<h2>Run</h2>\n", RunTable(report),
                  "<p class=\"note\">Written by Quench; report.json holds the same figures for "
                  "programs.</p>\n</body>\n</html>\n");
  return html;
}

}  // namespace quench
