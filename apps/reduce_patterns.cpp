#include "apps/reduce_patterns.h"

#include <algorithm>

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include "common/error.h"
#include "common/log.h"
#include "jobs/job_spec.h"
#include "model/hooks.h"
#include "model/model.h"
#include "model/tensor_io.h"
#include "model/weight_dtype.h"
#include "report/store_input.h"

namespace csweep::apps {
namespace {

std::vector<std::vector<float>> run_patterns(const jobs::ModelSpec& spec,
                                             const std::vector<int64_t>& ids,
                                             const std::vector<report::HeadRef>& heads) {
  model::LoadOptions load;
  load.dtype = model::scalar_type(model::weight_dtype(spec.dtype, "model.dtype"));
  load.device = c10::Device(spec.device);
  if (load.device.is_cuda() && !at::hasCUDA()) load.device = at::kCPU;  // a login node
  const auto model = model::Model::load(spec.path, load);
  const auto& config = model->config();
  model::Hooks hooks;
  int64_t last_layer = 0;
  for (const auto& h : heads) {
    if (h.layer >= config.n_layers || h.head >= config.n_heads)
      throw Error(spec.path.string() + ": no head L" + std::to_string(h.layer) + "H" +
                  std::to_string(h.head) + " in this model");
    hooks.cache({model::HookPoint::AttnPattern, h.layer});
    last_layer = std::max(last_layer, h.layer);
  }
  at::NoGradGuard no_grad;
  model::ForwardOptions options;
  options.stop_layer = last_layer + 1;  // nothing after the last head's block is needed
  model->forward(at::tensor(ids, at::kLong).unsqueeze(0).to(load.device), &hooks, options);
  std::vector<std::vector<float>> out;
  for (const auto& h : heads) {
    const at::Tensor p = hooks.cache()
                             .at({model::HookPoint::AttnPattern, h.layer})
                             .select(0, 0)
                             .select(0, h.head)
                             .to(at::kCPU, at::kFloat)
                             .contiguous();
    out.emplace_back(p.data_ptr<float>(), p.data_ptr<float>() + p.numel());
  }
  return out;
}

}  // namespace

report::PatternSource model_pattern_source(const std::filesystem::path& store_dir,
                                           const report::ReduceInput& input) {
  const std::string spec_yaml = input.spec_yaml;
  const nlohmann::json provenance = input.provenance;
  return [store_dir, spec_yaml, provenance](const std::vector<int64_t>& ids,
                                            const std::vector<report::HeadRef>& heads) {
    try {
      const jobs::JobSpec spec = report::parse_stored_spec(store_dir, spec_yaml, provenance);
      return run_patterns(spec.model, ids, heads);
    } catch (const std::exception& e) {
      log::get("report")->warn("attention patterns not shown: {}", e.what());
      return std::vector<std::vector<float>>{};
    }
  };
}

}  // namespace csweep::apps
