#include "sharding/grid.h"

#include "model/hook_site.h"

namespace csweep::sharding {
namespace {

Axis index_axis(const std::string& name, const std::vector<int64_t>& values) {
  Axis a{name, static_cast<int64_t>(values.size()), {}, values};
  for (int64_t v : values) a.labels.push_back(std::to_string(v));
  return a;
}

Axis named_axis(const std::string& name, const std::vector<std::string>& labels) {
  return Axis{name, static_cast<int64_t>(labels.size()), labels, std::vector<int64_t>(labels.size(), -1)};
}

}  // namespace

int64_t AnalysisGrid::cells() const {
  int64_t n = 1;
  for (const auto& a : axes) n *= a.size;
  return n;
}

int AnalysisGrid::layer_axis_index() const {
  for (size_t i = 0; i < axes.size(); ++i)
    if (axes[i].name == "layer") return static_cast<int>(i);
  return -1;
}

int64_t AnalysisGrid::start_layer(int64_t cell) const {
  if (!per_cell_forward) return 0;
  int li = layer_axis_index();
  if (li < 0) return 0;
  int64_t stride = 1;
  for (size_t i = li + 1; i < axes.size(); ++i) stride *= axes[i].size;
  int64_t layer = axes[li].values[(cell / stride) % axes[li].size];
  return std::max<int64_t>(0, layer - start_layer_back);
}

AnalysisGrid make_grid(const jobs::AnalysisSpec& a, uint32_t index, const model::ModelConfig& config) {
  using jobs::AnalysisKind;
  (void)config;
  AnalysisGrid g;
  g.analysis = index;
  g.name = a.name;
  g.kind = a.kind;
  const auto& o = a.options;
  switch (a.kind) {
    case AnalysisKind::ActivationPatching:
    case AnalysisKind::AttributionPatching: {
      if (a.sites.size() > 1) {
        std::vector<std::string> names;
        for (auto s : a.sites) names.push_back(model::point_suffix(s));
        g.axes.push_back(named_axis("site", names));
      }
      g.axes.push_back(index_axis("layer", a.layers));
      bool heads = !a.sites.empty() && model::is_head_point(a.sites[0]);
      if (o.value("per_position", true)) g.axes.push_back(index_axis("pos", a.positions));
      if (heads) g.axes.push_back(index_axis("head", a.heads));
      g.per_cell_forward = a.kind == AnalysisKind::ActivationPatching;
      break;
    }
    case AnalysisKind::Ablation: {
      g.axes.push_back(index_axis("layer", a.layers));
      std::string target = o.value("target", "heads");
      if (target == "heads") g.axes.push_back(index_axis("head", a.heads));
      if (target == "neuron") g.axes.push_back(index_axis("neuron", o.at("neurons").get<std::vector<int64_t>>()));
      g.per_cell_forward = true;
      break;
    }
    case AnalysisKind::CausalTracing:
      g.axes.push_back(index_axis("layer", a.layers));
      g.axes.push_back(index_axis("pos", a.positions));
      g.per_cell_forward = true;
      g.rows_per_cell = o.value("samples", int64_t{10});
      g.start_layer_back = o.value("window", int64_t{1}) / 2;
      break;
    case AnalysisKind::LogitLens:
      g.axes.push_back(index_axis("layer", a.layers));
      g.axes.push_back(named_axis("quantity", o.at("quantities").get<std::vector<std::string>>()));
      break;
    case AnalysisKind::DirectLogitAttribution:
      g.axes.push_back(index_axis("layer", a.layers));
      if (o.value("components", "heads") == "heads") g.axes.push_back(index_axis("head", a.heads));
      break;
    case AnalysisKind::AttentionScores:
      g.axes.push_back(named_axis("score", o.at("scores").get<std::vector<std::string>>()));
      g.axes.push_back(index_axis("layer", a.layers));
      g.axes.push_back(index_axis("head", a.heads));
      break;
  }
  return g;
}

}  // namespace csweep::sharding
