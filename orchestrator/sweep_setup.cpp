#include "orchestrator/sweep_setup.h"

#include "common/error.h"
#include "store/provenance.h"
#include "store/store.h"

namespace csweep::orchestrator {

SweepSetup load_sweep(const std::filesystem::path& job_file) {
  SweepSetup s;
  s.spec_text = store::read_text_file(job_file);
  s.spec = jobs::load_job_spec(job_file);
  s.config = model::load_model_config(s.spec.model.path);
  s.plan = sharding::make_plan(s.spec, s.config);
  s.layout = layout_from_plan(s.spec, s.plan);
  s.model_files = store::hash_model_files(s.spec.model.path);
  s.spec_hash = jobs::canonical_hash(s.spec, store::model_content_hash(s.model_files));
  return s;
}

store::Layout layout_from_plan(const jobs::JobSpec& spec, const sharding::Plan& plan) {
  store::Layout l;
  for (const auto& g : plan.grids) {
    store::AnalysisInfo a;
    a.name = g.name;
    a.kind = jobs::kind_name(g.kind);
    for (const auto& x : g.axes) a.axes.push_back({x.name, x.size, x.labels});
    l.analyses.push_back(std::move(a));
  }
  for (const auto& p : spec.prompts) l.prompt_ids.push_back(p.id);
  for (const auto& s : plan.shards) l.shards.push_back(shard_info(s));
  return l;
}

store::ShardInfo shard_info(const sharding::Shard& s) {
  return store::ShardInfo{s.id, s.analysis, s.prompt, s.cell_begin, s.cell_end};
}

}  // namespace csweep::orchestrator
