// report.html from a report.json: the summary's figures are the report's (bits per weight worked
// out here again), the chart has one bar per layer with heights in proportion to the errors, text
// is escaped, and nothing is fetched from the network.
#include "core/report/html_report.h"

#include <gtest/gtest.h>

#include <regex>

#include "core/report/layer_error_chart.h"

namespace quench {
namespace {

using Json = nlohmann::ordered_json;

Json Layer(const std::string& name, double output_error) {
  return {{"name", name},
          {"grid", "int4 sym g32"},
          {"relative_output_error", output_error},
          {"relative_weight_error", output_error * 3},
          {"gptq_loss", 1.5},
          {"seconds", 0.01}};
}

Json SampleReport() {
  Json report;
  report["model"] = "/models/tiny-llama";
  report["recipe"] = "gptq-w4g32";
  report["method"] = "gptq";
  report["weights"] = "int4 sym g32";
  report["calibration"] = {{"sequences", 16}, {"tokens", 4096}, {"shards", 4}};
  report["original"] = {{"bytes", 4000000},
                        {"parameters", 1000000},
                        {"quantized_parameters", 800000},
                        {"dtype", "F32"}};
  report["outputs"] = Json::array({{{"name", "gptq"}, {"solve", 0}, {"bytes", 700000}},
                                   {{"name", "gguf"}, {"solve", 1}, {"bytes", 600000}}});
  report["layers"] = Json::array({Layer("model.layers.0.self_attn.q_proj", 0.002),
                                  Layer("model.layers.0.mlp.down_proj", 0.008),
                                  Layer("model.layers.1.self_attn.q_proj", 0.004)});
  report["gguf_layers"] = Json::array({Layer("model.layers.0.self_attn.q_proj", 0.001)});
  report["evaluation"] = {{"tokens", 1000},
                          {"reference_perplexity", 10.0},
                          {"perplexity", 10.5},
                          {"kl_divergence", 0.0123},
                          {"top1_agreement", 0.9}};
  report["gguf_evaluation"] = {{"tokens", 1000},
                               {"reference_perplexity", 10.0},
                               {"perplexity", 11.0},
                               {"kl_divergence", 0.05},
                               {"top1_agreement", 0.8}};
  report["quantize_seconds"] = 1.5;
  report["total_seconds"] = 2.5;
  report["peak_rss_bytes"] = 1 << 20;
  report["versions"] = {{"quench", "9.9.9"}};
  return report;
}

// The text of every element matching `pattern`'s first group, in order.
std::vector<std::string> All(const std::string& html, const std::string& pattern) {
  std::vector<std::string> found;
  const std::regex regex(pattern);
  for (auto it = std::sregex_iterator(html.begin(), html.end(), regex);
       it != std::sregex_iterator(); ++it) {
    found.push_back((*it)[1].str());
  }
  return found;
}

std::string Between(const std::string& html, const std::string& from, const std::string& to) {
  const size_t begin = html.find(from);
  if (begin == std::string::npos) return "";
  const size_t end = html.find(to, begin);
  return html.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
}

TEST(HtmlReportTest, SummaryHasARowPerOutputWithItsSolvesFigures) {
  const std::string html = RenderHtmlReport(SampleReport(), "name: gptq-w4g32\n");
  const std::string summary = Between(html, "<table id=\"summary\">", "</table>");
  ASSERT_FALSE(summary.empty());
  const std::vector<std::string> rows = All(summary, "<tr[^>]*><td>([^<]*)");
  ASSERT_EQ(rows, (std::vector<std::string>{"original ", "gptq", "gguf"}));
  // gptq is the first solve: +5.00% perplexity, its KL and top-1; gguf the second's.
  const std::string gptq_row = Between(summary, "<td>gptq", "</tr>");
  EXPECT_NE(gptq_row.find("10.5000"), std::string::npos) << gptq_row;
  EXPECT_NE(gptq_row.find("+5.00%"), std::string::npos);
  EXPECT_NE(gptq_row.find("0.01230"), std::string::npos);
  EXPECT_NE(gptq_row.find("90.00%"), std::string::npos);
  // Bits per weight = bytes · 8 / parameters: 700000·8/1e6 = 5.60; 600000·8/1e6 = 4.80.
  EXPECT_NE(gptq_row.find("<td>5.60</td>"), std::string::npos) << gptq_row;
  const std::string gguf_row = Between(summary, "<td>gguf", "</tr>");
  EXPECT_NE(gguf_row.find("+10.00%"), std::string::npos) << gguf_row;
  EXPECT_NE(gguf_row.find("80.00%"), std::string::npos);
  EXPECT_NE(gguf_row.find("<td>4.80</td>"), std::string::npos);
  const std::string original_row = Between(summary, "<tr class=\"original\">", "</tr>");
  EXPECT_NE(original_row.find("10.0000"), std::string::npos);
  EXPECT_NE(original_row.find("<td>32.00</td>"), std::string::npos);
  EXPECT_NE(html.find("800000 (80.0%)"), std::string::npos);
}

TEST(HtmlReportTest, ChartHasOneBarPerLayerInProportionToItsError) {
  const Json report = SampleReport();
  const std::string html = RenderHtmlReport(report, "");
  const std::string chart =
      Between(html, "<div class=\"chart-box\" id=\"layers-chart\">", "</svg>");
  const std::vector<std::string> titles = All(chart, "<rect class=\"bar\"[^>]*><title>([^<]*)<");
  ASSERT_EQ(titles.size(), 3u);
  for (size_t i = 0; i < titles.size(); ++i) {
    EXPECT_EQ(titles[i].substr(0, titles[i].find(':')), report["layers"][i]["name"]);
  }
  std::vector<double> heights;
  for (const std::string& h : All(chart, "<rect class=\"bar\"[^>]* height=\"([0-9.]+)\"")) {
    heights.push_back(std::stod(h));
  }
  ASSERT_EQ(heights.size(), 3u);
  // Errors 0.002 : 0.008 : 0.004 — the bars stand in the same ratio; the tallest fills at
  // least half the plot and no bar leaves it.
  EXPECT_NEAR(heights[1] / heights[0], 4.0, 0.01);
  EXPECT_NEAR(heights[2] / heights[0], 2.0, 0.01);
  const LayerErrorChartLayout layout = LayoutLayerErrorChart({{"a", 0.008}});
  EXPECT_LE(heights[1], layout.plot_height + 1e-9);
  EXPECT_GE(heights[1], layout.plot_height / 2.0);
  // The second solve has a chart of its own.
  EXPECT_NE(html.find("id=\"gguf-layers-chart\""), std::string::npos);
  // Every layer's figures are in the table too.
  const std::string table = Between(html, "<table id=\"layers-table\">", "</table>");
  EXPECT_EQ(All(table, "<tr><td>(model[^<]*)</td>").size(), 3u);
}

TEST(HtmlReportTest, WithoutCalibrationTheChartShowsWeightErrors) {
  Json report = SampleReport();
  for (Json& layer : report["layers"]) layer["relative_output_error"] = -1.0;
  const std::string html = RenderHtmlReport(report, "");
  EXPECT_NE(html.find("relative weight error"), std::string::npos);
  const std::string chart = Between(html, "id=\"layers-chart\"", "</svg>");
  EXPECT_NE(chart.find("data-value=\"0.012\""), std::string::npos) << "3 × 0.004";
}

TEST(HtmlReportTest, TitleAndTimesReadWell) {
  Json report = SampleReport();
  report["model"] = "/models/tiny-llama/";
  report["total_seconds"] = 179.7;
  const std::string html = RenderHtmlReport(report, "");
  EXPECT_NE(html.find("<h1>gptq-w4g32 on tiny-llama</h1>"), std::string::npos);
  EXPECT_NE(html.find("3 min 0 s"), std::string::npos);
}

TEST(HtmlReportTest, WithoutEvaluationTheSummarySaysSo) {
  Json report = SampleReport();
  report.erase("evaluation");
  report.erase("gguf_evaluation");
  const std::string html = RenderHtmlReport(report, "");
  EXPECT_NE(html.find("Not evaluated"), std::string::npos);
  EXPECT_EQ(html.find("+5.00%"), std::string::npos);
}

TEST(HtmlReportTest, TextIsEscapedAndThePageIsSelfContained) {
  Json report = SampleReport();
  report["recipe"] = "<script>alert(1)</script>";
  report["layers"][0]["name"] = "model.layers.0.a&b\"<x>";
  const std::string html = RenderHtmlReport(report, "ignore: ['<lm_head>']\n");
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(html.find("a&amp;b&quot;&lt;x&gt;"), std::string::npos);
  EXPECT_NE(html.find("ignore: [&#39;&lt;lm_head&gt;&#39;]"), std::string::npos);
  // Nothing to fetch: no external links, sources or style sheets (the SVG namespace is a name).
  EXPECT_EQ(html.find("src="), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_EQ(html.find("@import"), std::string::npos);
  size_t urls = 0;
  for (size_t at = html.find("http"); at != std::string::npos; at = html.find("http", at + 1)) {
    ++urls;
    EXPECT_EQ(html.compare(at, 26, "http://www.w3.org/2000/svg"), 0) << html.substr(at, 40);
  }
  EXPECT_EQ(urls, 2u) << "one xmlns per chart";
}

TEST(LayerErrorChartTest, BlocksAndProjectionsComeFromTheNames) {
  EXPECT_EQ(BlockOf("model.layers.12.mlp.down_proj"), 12);
  EXPECT_EQ(BlockOf("transformer.h.3.attn.c_attn"), 3);
  EXPECT_EQ(BlockOf("lm_head"), -1);
  EXPECT_EQ(ProjectionOf("model.layers.12.mlp.down_proj"), "down_proj");
  EXPECT_EQ(ProjectionOf("lm_head"), "lm_head");
}

TEST(LayerErrorChartTest, AxisEndsAtARoundNumberAtOrAboveTheLargestError) {
  for (const auto& [largest, axis] : std::vector<std::pair<double, double>>{
           {0.0093, 0.01}, {0.011, 0.02}, {0.02, 0.02}, {0.021, 0.025}, {0.3, 0.5}, {0, 1}}) {
    EXPECT_DOUBLE_EQ(LayoutLayerErrorChart({{"x", largest}}).axis_max, axis) << largest;
  }
}

}  // namespace
}  // namespace quench
