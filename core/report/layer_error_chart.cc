#include "core/report/layer_error_chart.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "core/report/html_report.h"
#include "core/util/absl_view.h"

namespace quench {
namespace {

constexpr int kLeftMargin = 72;  // room for the tick labels
constexpr int kTopMargin = 16;
constexpr int kPlotHeight = 240;
constexpr int kBottomMargin = 64;  // block labels and the legend
constexpr int kRightMargin = 16;
constexpr int kTicks = 4;

// Colour-blind-safe (Okabe–Ito) colours for the usual projections; others share grey.
const char* ColourOf(std::string_view projection) {
  static const std::map<std::string_view, const char*> kColours = {
      {"q_proj", "#0072B2"},    {"k_proj", "#56B4E9"},    {"v_proj", "#009E73"},
      {"o_proj", "#F0E442"},    {"gate_proj", "#E69F00"}, {"up_proj", "#D55E00"},
      {"down_proj", "#CC79A7"}, {"fc1", "#E69F00"},       {"fc2", "#CC79A7"},
      {"out_proj", "#F0E442"}};
  const auto found = kColours.find(projection);
  return found == kColours.end() ? "#999999" : found->second;
}

// The smallest of 1, 2, 2.5, 5 × 10^k at or above `value`.
double RoundUp(double value) {
  if (!(value > 0)) return 1;
  const double decade = std::pow(10.0, std::floor(std::log10(value)));
  for (const double step : {1.0, 2.0, 2.5, 5.0, 10.0}) {
    if (step * decade >= value * (1 - 1e-12)) return step * decade;
  }
  return 10 * decade;
}

std::string Number(double value) { return absl::StrFormat("%.3g", value); }

}  // namespace

std::string ProjectionOf(std::string_view layer_name) {
  const size_t dot = layer_name.rfind('.');
  return std::string(dot == std::string_view::npos ? layer_name : layer_name.substr(dot + 1));
}

int BlockOf(std::string_view layer_name) {
  const std::vector<absl::string_view> parts = absl::StrSplit(AbslView(layer_name), '.');
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    if (parts[i] != "layers" && parts[i] != "h" && parts[i] != "blocks") continue;
    int block = 0;
    if (absl::SimpleAtoi(parts[i + 1], &block)) return block;
  }
  return -1;
}

LayerErrorChartLayout LayoutLayerErrorChart(const std::vector<LayerErrorPoint>& points) {
  LayerErrorChartLayout layout;
  const int n = std::max<int>(1, static_cast<int>(points.size()));
  const int bar_pitch = std::clamp(720 / n, 3, 24);
  layout.plot_left = kLeftMargin;
  layout.plot_top = kTopMargin;
  layout.plot_width = std::max(560, n * bar_pitch);
  layout.plot_height = kPlotHeight;
  layout.width = kLeftMargin + layout.plot_width + kRightMargin;
  layout.height = kTopMargin + kPlotHeight + kBottomMargin;
  double largest = 0;
  for (const auto& point : points) largest = std::max(largest, point.value);
  layout.axis_max = RoundUp(largest);
  return layout;
}

std::string LayerErrorChartSvg(const std::vector<LayerErrorPoint>& points,
                               std::string_view axis_label) {
  const LayerErrorChartLayout layout = LayoutLayerErrorChart(points);
  const double pitch = static_cast<double>(layout.plot_width) / std::max<size_t>(1, points.size());
  const double bottom = layout.plot_top + layout.plot_height;
  std::string svg = absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" width=\"%d\" height=\"%d\" "
      "viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"%s per layer\">\n",
      layout.width, layout.height, layout.width, layout.height, HtmlEscape(axis_label));

  // Every other transformer block shaded, its number below the axis.
  for (size_t begin = 0; begin < points.size();) {
    const int block = BlockOf(points[begin].name);
    size_t end = begin + 1;
    while (end < points.size() && BlockOf(points[end].name) == block) ++end;
    const double x = layout.plot_left + pitch * static_cast<double>(begin);
    const double w = pitch * static_cast<double>(end - begin);
    if (block >= 0 && block % 2 == 1) {
      absl::StrAppendFormat(
          &svg,
          "<rect class=\"block\" x=\"%.2f\" y=\"%d\" width=\"%.2f\" height=\"%d\" "
          "fill=\"#f2f2f2\"/>\n",
          x, layout.plot_top, w, layout.plot_height);
    }
    if (block >= 0 && w >= 14) {
      absl::StrAppendFormat(&svg,
                            "<text x=\"%.2f\" y=\"%.0f\" font-size=\"10\" text-anchor=\"middle\" "
                            "fill=\"#555\">%d</text>\n",
                            x + w / 2, bottom + 13, block);
    }
    begin = end;
  }

  // Horizontal grid lines and tick labels.
  for (int tick = 0; tick <= kTicks; ++tick) {
    const double value = layout.axis_max * tick / kTicks;
    const double y = bottom - layout.plot_height * static_cast<double>(tick) / kTicks;
    absl::StrAppendFormat(&svg,
                          "<line x1=\"%d\" x2=\"%d\" y1=\"%.2f\" y2=\"%.2f\" stroke=\"#ccc\"/>\n"
                          "<text x=\"%d\" y=\"%.2f\" font-size=\"11\" text-anchor=\"end\" "
                          "fill=\"#333\">%s</text>\n",
                          layout.plot_left, layout.plot_left + layout.plot_width, y, y,
                          layout.plot_left - 6, y + 4, Number(value));
  }
  absl::StrAppendFormat(&svg,
                        "<text transform=\"translate(14 %.0f) rotate(-90)\" font-size=\"11\" "
                        "text-anchor=\"middle\" fill=\"#333\">%s</text>\n",
                        layout.plot_top + layout.plot_height / 2.0, HtmlEscape(axis_label));

  // The bars.
  const double bar_width = std::max(1.0, pitch * 0.8);
  for (size_t i = 0; i < points.size(); ++i) {
    const double value = std::max(0.0, points[i].value);
    const double h = layout.plot_height * value / layout.axis_max;
    absl::StrAppendFormat(
        &svg,
        "<rect class=\"bar\" data-value=\"%.6g\" x=\"%.2f\" y=\"%.2f\" "
        "width=\"%.2f\" height=\"%.2f\" fill=\"%s\"><title>%s: %s</title></rect>\n",
        value, layout.plot_left + pitch * static_cast<double>(i) + (pitch - bar_width) / 2,
        bottom - h, bar_width, h, ColourOf(ProjectionOf(points[i].name)),
        HtmlEscape(points[i].name), absl::StrFormat("%.4g", value));
  }
  absl::StrAppendFormat(&svg,
                        "<line x1=\"%d\" x2=\"%d\" y1=\"%.0f\" y2=\"%.0f\" stroke=\"#333\"/>\n",
                        layout.plot_left, layout.plot_left + layout.plot_width, bottom, bottom);
  absl::StrAppendFormat(&svg,
                        "<text x=\"%d\" y=\"%.0f\" font-size=\"10\" fill=\"#555\">block</text>\n",
                        layout.plot_left - 40, bottom + 13);

  // The legend: the projections present, in order of first appearance.
  std::vector<std::string> projections;
  for (const auto& point : points) {
    std::string projection = ProjectionOf(point.name);
    if (std::find(projections.begin(), projections.end(), projection) == projections.end()) {
      projections.push_back(std::move(projection));
    }
  }
  double x = layout.plot_left;
  const double y = bottom + 34;
  for (const std::string& projection : projections) {
    absl::StrAppendFormat(&svg,
                          "<rect class=\"legend\" x=\"%.0f\" y=\"%.0f\" width=\"10\" height=\"10\" "
                          "fill=\"%s\"/><text x=\"%.0f\" y=\"%.0f\" font-size=\"11\" "
                          "fill=\"#333\">%s</text>\n",
                          x, y, ColourOf(projection), x + 14, y + 9, HtmlEscape(projection));
    x += 24 + 7 * static_cast<double>(projection.size());
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace quench
