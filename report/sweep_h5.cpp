#include "report/sweep_h5.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <set>
#include <system_error>

#include "common/error.h"
#include "report/faithfulness.h"
#include "report/feature_search.h"
#include "report/h5_write.h"
#include "report/stage_summary.h"

namespace csweep::report {
namespace {

constexpr const char* kFormat = "csweep.sweep/1";
// Attributes live in the object header (64 KiB); long texts get a dataset and a short attr.
constexpr size_t kMaxAttrText = 32 * 1024;
const std::set<std::string> kReserved = {"prompt",
                                         "per_prompt",
                                         "done",
                                         "n_done",
                                         "mean",
                                         "std",
                                         "sem",
                                         "fraction_recovered",
                                         "fraction_recovered_per_prompt",
                                         "fraction_of_clean_removed",
                                         "fraction_of_clean_removed_per_prompt",
                                         "effect",
                                         "clean_baseline",
                                         "corrupted_baseline",
                                         "top_k",
                                         "position_tokens"};

std::string h5_name(const std::string& name) {
  std::string out = name;
  for (char& c : out)
    if (c == '/' || c == '.') c = '_';
  return out;
}

std::string scale_name(const AxisInfo& axis) {
  const std::string n = h5_name(axis.name);
  return kReserved.count(n) ? "axis_" + n : n;
}

// Integer axes (layer, head, pos: labels are their indices) get their model index as an
// int64 scale; named axes (site, quantity) get their labels.
bool is_numeric(const AxisInfo& axis) {
  for (int64_t i = 0; i < axis.size; ++i)
    if (axis.value(i) < 0) return false;
  for (int64_t i = 0; i < static_cast<int64_t>(axis.labels.size()); ++i)
    if (axis.labels[i] != std::to_string(axis.value(i))) return false;
  return true;
}

struct AnalysisWriter {
  const h5::Writer& w;
  const ReduceInput& input;
  const AnalysisInput& a;
  const Aggregates& g;
  const std::vector<TopComponent>& top;
  hid_t group;
  std::vector<h5::Handle> scales;  // [prompt, axis 0, axis 1, ...]
  std::vector<std::string> axis_names;

  void write() {
    const hsize_t n_prompts = input.prompts.size();
    h5::Writer::Dims cell_dims, prompt_dims{n_prompts};
    for (const auto& axis : a.axes) {
      cell_dims.push_back(static_cast<hsize_t>(axis.size));
      prompt_dims.push_back(static_cast<hsize_t>(axis.size));
      axis_names.push_back(axis.name);
    }
    write_attrs();
    write_scales();

    const size_t cells = static_cast<size_t>(a.cells());
    std::vector<float> per_prompt(n_prompts * cells);
    std::vector<uint8_t> done(n_prompts * cells);
    for (size_t p = 0; p < n_prompts; ++p)
      for (size_t c = 0; c < cells; ++c) {
        done[p * cells + c] = a.done[p][c] ? 1 : 0;
        per_prompt[p * cells + c] =
            a.done[p][c] ? a.values[p][c] : std::numeric_limits<float>::quiet_NaN();
      }
    with_axes(w.floats(group, "per_prompt", prompt_dims, per_prompt.data()), true);
    with_axes(w.uint8s(group, "done", prompt_dims, done.data()), true);
    with_axes(w.int32s(group, "n_done", cell_dims, g.n_done.data()), false);
    with_axes(w.floats(group, "mean", cell_dims, g.mean.data()), false);
    with_axes(w.floats(group, "std", cell_dims, g.std.data()), false);
    with_axes(w.floats(group, "sem", cell_dims, g.sem.data()), false);
    if (g.has_effect_baseline) {
      h5::Handle ds = w.floats(group, "effect", cell_dims, g.effect.data());
      w.attr(ds, "definition", effect_formula(a, g));
      with_axes(std::move(ds), false);
    }
    if (g.has_fraction) {
      const std::string name = fraction_name(a);
      h5::Handle ds = w.floats(group, name, cell_dims, g.fraction_recovered.data());
      w.attr(ds, "definition", fraction_formula(a));
      with_axes(std::move(ds), false);
      std::vector<float> fpp;
      for (const auto& row : g.fraction_per_prompt) fpp.insert(fpp.end(), row.begin(), row.end());
      with_axes(w.floats(group, name + "_per_prompt", prompt_dims, fpp.data()), true);
    }
    write_token_texts();
    write_baseline("clean_baseline", a.clean_baseline);
    write_baseline("corrupted_baseline", a.corrupted_baseline);
    write_position_tokens();
    write_top_k();
    if (is_circuit_analysis(a)) write_faithfulness_h5(w, group, a);
    if (is_stage(a)) write_stage_h5(w, group, a);
  }

  void write_attrs() {
    w.attr(group, "name", a.name);
    w.attr(group, "kind", a.kind);
    w.attr(group, "metric", a.metric);
    w.attr(group, "axes", axis_names);
    w.attr(group, "cells_done", g.cells_done);
    w.attr(group, "cells_total", g.cells_total);
    w.attr(group, "complete",
           g.cells_total ? static_cast<double>(g.cells_done) / g.cells_total : 0.0);
    w.attr(group, "has_fraction_recovered",
           static_cast<int64_t>(g.has_fraction && fraction_name(a) == "fraction_recovered"));
    w.attr(group, "fraction", std::string(g.has_fraction ? fraction_name(a) : ""));
    if (a.quantity_axis < 0) return;
    // Each entry of the quantity axis has its own units: "quantity_units"[i] labels entry i.
    std::vector<std::string> units;
    for (const auto& q : a.quantities) units.push_back(q.label);
    w.attr(group, "quantity_axis", a.axes[a.quantity_axis].name);
    w.attr(group, "quantity_units", units);
  }

  // A token-id quantity (logit lens's top_token) as text: "<entry>_text" [prompt, other axes]
  // per prompt and "<entry>_mode_text" [other axes], the most common token over prompts.
  void write_token_texts() {
    if (a.quantity_axis < 0) return;
    const AxisInfo& axis = a.axes[a.quantity_axis];
    auto text = [&](float id) -> std::string {
      if (!std::isfinite(id)) return "";
      const auto it = input.token_text.find(static_cast<int64_t>(id));
      return it != input.token_text.end() ? it->second : std::to_string(static_cast<int64_t>(id));
    };
    for (int64_t q = 0; q < axis.size && static_cast<size_t>(q) < a.quantities.size(); ++q) {
      if (!a.quantities[q].token_ids) continue;
      std::vector<std::string> per_prompt, mode, names{"prompt"};
      h5::Writer::Dims dims{input.prompts.size()};
      for (size_t i = 0; i < a.axes.size(); ++i)
        if (static_cast<int>(i) != a.quantity_axis)
          dims.push_back(static_cast<hsize_t>(a.axes[i].size)), names.push_back(a.axes[i].name);
      for (size_t p = 0; p <= input.prompts.size(); ++p)
        for (int64_t c = 0; c < a.cells(); ++c) {
          if (unravel(c, a.axes)[a.quantity_axis] != q) continue;
          if (p == input.prompts.size())
            mode.push_back(text(g.mean[c]));
          else
            per_prompt.push_back(a.done[p][c] ? text(a.values[p][c]) : "");
        }
      const std::string name = h5_name(axis_label(axis, q));
      w.attr(w.strings(group, name + "_text", dims, per_prompt), "axes", names);
      const h5::Writer::Dims rest(dims.begin() + 1, dims.end());
      w.attr(w.strings(group, name + "_mode_text", rest.empty() ? h5::Writer::Dims{1} : rest, mode),
             "axes", std::vector<std::string>(names.begin() + 1, names.end()));
    }
  }

  void write_scales() {
    std::vector<std::string> ids;
    for (const auto& p : input.prompts) ids.push_back(p.id);
    h5::Handle prompt = w.strings(group, "prompt", {ids.size()}, ids);
    w.make_scale(prompt, "prompt");
    scales.push_back(std::move(prompt));
    for (const auto& axis : a.axes) {
      const std::string name = scale_name(axis);
      h5::Handle s;
      if (is_numeric(axis)) {
        std::vector<int64_t> v;
        for (int64_t i = 0; i < axis.size; ++i) v.push_back(axis.value(i));
        s = w.int64s(group, name, {static_cast<hsize_t>(axis.size)}, v.data());
      } else {
        std::vector<std::string> labels;
        for (int64_t i = 0; i < axis.size; ++i) labels.push_back(axis_label(axis, i));
        s = w.strings(group, name, {static_cast<hsize_t>(axis.size)}, labels);
      }
      w.make_scale(s, axis.name);
      scales.push_back(std::move(s));
    }
  }

  // Labels every dimension and attaches its scale; `axes` attribute for readers without
  // dimension-scale support.
  void with_axes(h5::Handle ds, bool has_prompt_dim) {
    std::vector<std::string> names;
    if (has_prompt_dim) names.push_back("prompt");
    names.insert(names.end(), axis_names.begin(), axis_names.end());
    w.attr(ds, "axes", names);
    const size_t first = has_prompt_dim ? 0 : 1;
    for (size_t d = 0; d < names.size(); ++d)
      w.attach(ds, scales[first + d], static_cast<unsigned>(d), names[d]);
  }

  void write_baseline(const std::string& name, const std::vector<std::optional<double>>& b) {
    if (b.empty()) return;
    std::vector<double> v;
    for (const auto& x : b) v.push_back(x ? *x : std::numeric_limits<double>::quiet_NaN());
    h5::Handle ds = w.doubles(group, name, {v.size()}, v.data());
    w.attr(ds, "axes", std::vector<std::string>{"prompt"});
    w.attach(ds, scales[0], 0, "prompt");
  }

  // Each prompt's token string at each entry of the position axis ("" past its end).
  void write_position_tokens() {
    for (const auto& axis : a.axes) {
      if (!axis.is_position()) continue;
      std::vector<std::string> tokens;
      for (const auto& p : input.prompts)
        for (int64_t i = 0; i < axis.size; ++i) {
          const int64_t pos = axis.value(i);
          tokens.push_back(pos >= 0 && pos < static_cast<int64_t>(p.tokens.size()) ? p.tokens[pos]
                                                                                   : "");
        }
      h5::Handle ds = w.strings(group, "position_tokens",
                                {input.prompts.size(), static_cast<hsize_t>(axis.size)}, tokens);
      w.attr(ds, "axes", std::vector<std::string>{"prompt", axis.name});
      w.attach(ds, scales[0], 0, "prompt");
      w.attach(ds, scales[1 + (&axis - a.axes.data())], 1, axis.name);
      return;
    }
  }

  // Columns of one table, largest |effect| first: label, effect, mean, sem,
  // fraction_recovered, n_done, cell, and the index along every axis.
  void write_top_k() {
    h5::Handle t = w.group(group, "top_k");
    const hsize_t k = top.size();
    std::vector<std::string> label;
    std::vector<float> effect, mean, sem, fraction;
    std::vector<int32_t> n_done;
    std::vector<int64_t> cell;
    for (const auto& c : top) {
      label.push_back(c.label);
      effect.push_back(c.effect), mean.push_back(c.mean), sem.push_back(c.sem);
      fraction.push_back(c.fraction_recovered), n_done.push_back(c.n_done), cell.push_back(c.cell);
    }
    w.attr(t, "ranked_by", ranked_by(a, g));
    w.strings(t, "label", {k}, label);
    w.floats(t, "effect", {k}, effect.data());
    w.floats(t, "mean", {k}, mean.data());
    w.floats(t, "sem", {k}, sem.data());
    w.floats(t, fraction_name(a), {k}, fraction.data());
    w.int32s(t, "n_done", {k}, n_done.data());
    w.int64s(t, "cell", {k}, cell.data());
    for (size_t i = 0; i < a.axes.size(); ++i) {
      std::vector<int64_t> idx;
      for (const auto& c : top) idx.push_back(a.axes[i].value(c.index[i]));
      const std::string name = h5_name(a.axes[i].name);
      w.int64s(t, kReserved.count(name) || name == "label" ? "axis_" + name : name, {k},
               idx.data());
    }
  }
};

void write_text(const h5::Writer& w, hid_t root, const std::string& name, const std::string& text) {
  w.strings(root, name, {}, {text});
  if (text.size() <= kMaxAttrText) w.attr(root, name, text);
}

// One row per prompt, padded to the longest: "" for strings, -1 for ids. `axes` names the
// dimensions for readers without dimension scales.
template <class T>
std::vector<T> padded(const ReduceInput& input, std::vector<T> PromptInfo::*field, const T& pad,
                      size_t& width) {
  width = 0;
  for (const auto& p : input.prompts) width = std::max(width, (p.*field).size());
  std::vector<T> out;
  for (const auto& p : input.prompts)
    for (size_t i = 0; i < width; ++i) out.push_back(i < (p.*field).size() ? (p.*field)[i] : pad);
  return out;
}

void write_padded_strings(const h5::Writer& w, hid_t g, const ReduceInput& input,
                          const std::string& name, std::vector<std::string> PromptInfo::*field,
                          const std::string& axis) {
  size_t width = 0;
  const auto data = padded(input, field, std::string(), width);
  h5::Handle ds = w.strings(g, name, {input.prompts.size(), width}, data);
  w.attr(ds, "axes", std::vector<std::string>{"prompt", axis});
}

void write_padded_ids(const h5::Writer& w, hid_t g, const ReduceInput& input,
                      const std::string& name, std::vector<int64_t> PromptInfo::*field,
                      const std::string& axis) {
  size_t width = 0;
  const auto data = padded(input, field, int64_t{-1}, width);
  h5::Handle ds = w.int64s(g, name, {input.prompts.size(), width}, data.data());
  w.attr(ds, "axes", std::vector<std::string>{"prompt", axis});
  w.attr(ds, "padding", int64_t{-1});
}

void write_prompt_metric(const h5::Writer& w, hid_t g, const ReduceInput& input,
                         const std::string& name, std::optional<double> PromptInfo::*field) {
  std::vector<double> v;
  for (const auto& p : input.prompts)
    v.push_back((p.*field).value_or(std::numeric_limits<double>::quiet_NaN()));
  h5::Handle ds = w.doubles(g, name, {v.size()}, v.data());
  w.attr(ds, "axes", std::vector<std::string>{"prompt"});
  w.attr(ds, "metric", input.metric);
}

// Everything a reader needs to see what was run: both prompts as ids and token strings,
// the answer/wrong pairs, and the metric of the unpatched runs (NaN where not recorded).
void write_prompts(const h5::Writer& w, hid_t root, const ReduceInput& input) {
  h5::Handle g = w.group(root, "prompts");
  const hsize_t n = input.prompts.size();
  std::vector<std::string> ids, texts, corrupted_texts;
  std::vector<int64_t> lengths;
  for (const auto& p : input.prompts) {
    ids.push_back(p.id), texts.push_back(p.text), corrupted_texts.push_back(p.corrupted_text);
    lengths.push_back(static_cast<int64_t>(std::max(p.tokens.size(), p.clean_ids.size())));
  }
  w.strings(g, "id", {n}, ids);
  w.strings(g, "text", {n}, texts);
  w.strings(g, "corrupted_text", {n}, corrupted_texts);
  w.int64s(g, "n_tokens", {n}, lengths.data());
  write_padded_strings(w, g, input, "tokens", &PromptInfo::tokens, "pos");
  write_padded_strings(w, g, input, "corrupted_tokens", &PromptInfo::corrupted_tokens, "pos");
  write_padded_ids(w, g, input, "clean_ids", &PromptInfo::clean_ids, "pos");
  write_padded_ids(w, g, input, "corrupted_ids", &PromptInfo::corrupted_ids, "pos");
  write_padded_ids(w, g, input, "answer_ids", &PromptInfo::answer_ids, "pair");
  write_padded_ids(w, g, input, "wrong_ids", &PromptInfo::wrong_ids, "pair");
  write_padded_strings(w, g, input, "answer_tokens", &PromptInfo::answer_tokens, "pair");
  write_padded_strings(w, g, input, "wrong_tokens", &PromptInfo::wrong_tokens, "pair");
  write_prompt_metric(w, g, input, "clean_metric", &PromptInfo::clean_metric);
  write_prompt_metric(w, g, input, "corrupted_metric", &PromptInfo::corrupted_metric);
}

// /attention_patterns: the top heads' patterns on one prompt (report.html's pattern view).
void write_attention_patterns(const h5::Writer& w, hid_t root, const AttentionPatterns& p) {
  if (p.heads.empty()) return;
  h5::Handle g = w.group(root, "attention_patterns");
  w.attr(g, "prompt", p.prompt_id);
  w.attr(g, "description",
         std::string("pattern[h, q, k]: attention of query position q to key position k in "
                     "blocks.{layer[h]}.attn.hook_pattern, head head[h], on the clean prompt"));
  const hsize_t n = p.token_ids.size(), k = p.heads.size();
  std::vector<int64_t> layers, heads;
  std::vector<std::string> why;
  std::vector<float> pattern;
  for (const auto& h : p.heads) {
    layers.push_back(h.head.layer), heads.push_back(h.head.head), why.push_back(h.head.why);
    pattern.insert(pattern.end(), h.pattern.begin(), h.pattern.end());
  }
  std::vector<std::string> tokens = p.tokens;
  tokens.resize(n);
  w.strings(g, "tokens", {n}, tokens);
  w.int64s(g, "token_ids", {n}, p.token_ids.data());
  w.int64s(g, "layer", {k}, layers.data());
  w.int64s(g, "head", {k}, heads.data());
  w.strings(g, "ranked_by", {k}, why);
  h5::Handle ds = w.floats(g, "pattern", {k, n, n}, pattern.data());
  w.attr(ds, "axes", std::vector<std::string>{"head", "query_pos", "key_pos"});
}

}  // namespace

void write_sweep_h5(const std::filesystem::path& path, const ReduceInput& input,
                    const std::vector<Aggregates>& aggregates,
                    const std::vector<std::vector<TopComponent>>& top,
                    const AttentionPatterns& patterns) {
  const std::filesystem::path tmp = path.string() + ".tmp";
  const h5::Writer w(path.string());
  {
    h5::Handle file = w.create_file(tmp.string());
    h5::Handle root(H5Gopen2(file, "/", H5P_DEFAULT), H5Gclose);
    w.attr(root, "format", std::string(kFormat));
    w.attr(root, "job_name", input.job_name);
    w.attr(root, "model", input.model);
    w.attr(root, "spec_hash", input.spec_hash);
    std::vector<std::string> names;
    for (const auto& a : input.analyses) names.push_back(a.name);
    w.attr(root, "analyses", names);
    write_text(w, root, "job_spec", input.spec_yaml);
    write_text(w, root, "provenance",
               input.provenance.dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
    write_prompts(w, root, input);
    h5::Handle analyses = w.group(root, "analyses");
    for (size_t i = 0; i < input.analyses.size(); ++i) {
      h5::Handle g = w.group(analyses, h5_name(input.analyses[i].name));
      AnalysisWriter{w, input, input.analyses[i], aggregates[i], top[i], g, {}, {}}.write();
      if (input.analyses[i].kind == kFeatureSearchKind)
        write_feature_search_h5(w, g, input, feature_search(input, input.analyses[i], input.top_k));
    }
    write_attention_patterns(w, root, patterns);
    w.check(H5Fflush(file, H5F_SCOPE_GLOBAL), "", "flush the file");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw error_at(path.string(), "", "cannot rename " + tmp.string() + ": " + ec.message());
}

}  // namespace csweep::report
