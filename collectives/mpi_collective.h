#pragma once
// The MPI backend of model::Collective: CPU tensors, on a private communicator of the ranks of
// one tensor-parallel group (its own context, so its messages never meet the coordinator's).
#include <memory>
#include <vector>

#include <mpi.h>

#include "model/collective.h"

namespace csweep::collectives {

class MpiCollective final : public model::Collective {
 public:
  // The ranks of `parent` that pass the same `color` form one group, ordered by `key`
  // (collective over `parent`). MPI must be initialised.
  static std::unique_ptr<MpiCollective> split(MPI_Comm parent, int color, int key);
  // The group of `ranks` of `parent` (in that order): collective over those ranks only, so
  // the ranks outside (csweep run's coordinator) need not join. MPI must be initialised.
  static std::unique_ptr<MpiCollective> of_ranks(MPI_Comm parent, const std::vector<int>& ranks);
  ~MpiCollective() override;
  MpiCollective(const MpiCollective&) = delete;
  MpiCollective& operator=(const MpiCollective&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend() const override { return "mpi"; }
  // float32/float64/integers reduce in their own type; bfloat16/float16 (which MPI cannot add)
  // reduce in float32 and round once.
  void all_reduce_sum(at::Tensor& tensor) override;
  at::Tensor all_gather(const at::Tensor& tensor, int64_t dim) override;
  void broadcast(at::Tensor& tensor, int root) override;

 private:
  explicit MpiCollective(MPI_Comm comm);
  void check_cpu(const char* op, const at::Tensor& tensor) const;
  MPI_Comm comm_;
  int rank_ = 0, size_ = 1;
};

}  // namespace csweep::collectives
