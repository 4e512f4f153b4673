#pragma once
// The requests TensorParallelKinds.* runs on a tensor-parallel group and on one process, shared by
// the in-process test (tensor_parallel_kinds_test.cpp) and the MPI one (tp_kinds_mpi_check.cpp).
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tests/analyses/request_grid.h"

namespace csweep::analyses {

struct TpKindCase {
  std::string name;
  SweepRequest request;
  std::vector<GridAxis> axes;  // empty: grid_axes(request)
};

// One request per kind and variant: several sites, query and KV heads, neurons, every ablation
// mode, both directions, the weight kinds' processing variants, steering's two directions.
std::vector<TpKindCase> tp_kind_cases(const model::ModelConfig& c,
                                      const std::vector<int64_t>& clean);

// Every case's cells (and baselines, for the kinds that record them) on one model; every rank
// of a group calls this together, in the same order.
std::map<std::string, at::Tensor> tp_kind_outputs(const model::Model& m,
                                                  const std::vector<TpKindCase>& all);

// The fixture loaded on `group` (null: one process) with TransformerLens's weight processing
// (collective under tensor parallelism: b_V's fold).
std::shared_ptr<model::Model> tp_kind_model(const std::filesystem::path& dir,
                                            model::Collective* group);

// The fixture's first reference prompt.
std::vector<int64_t> tp_kind_prompt(const std::filesystem::path& dir);

}  // namespace csweep::analyses
