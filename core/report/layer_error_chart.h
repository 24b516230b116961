// The per-layer error chart of report.html: one bar per quantized linear, in model order, its
// height the layer's error on a linear axis from zero, coloured by projection (q, k, v, o, gate,
// up, down, …) and shaded by transformer block, so the layers that lose most stand out and a
// pattern across blocks (say, every down_proj) shows at a glance. Plain SVG, no script.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace quench {

struct LayerErrorPoint {
  std::string name;  // "model.layers.3.mlp.down_proj"
  double value = 0;  // ≥ 0
};

struct LayerErrorChartLayout {
  int width = 0, height = 0;
  int plot_left = 0, plot_top = 0, plot_width = 0, plot_height = 0;
  double axis_max = 0;  // the value at the top of the plot
};

// The geometry for `points`: the axis runs to a round number at or above the largest value.
LayerErrorChartLayout LayoutLayerErrorChart(const std::vector<LayerErrorPoint>& points);

// An <svg> element with one <rect class="bar"> per point (in order, each with a <title> naming
// the layer and its value), axis ticks and a legend of the projection colours.
std::string LayerErrorChartSvg(const std::vector<LayerErrorPoint>& points,
                               std::string_view axis_label);

// "down_proj" for "model.layers.3.mlp.down_proj"; the transformer block (3), or -1.
std::string ProjectionOf(std::string_view layer_name);
int BlockOf(std::string_view layer_name);

}  // namespace quench
