#pragma once
// The collectives tensor-parallel layers need, on one explicit group of ranks. model/ sees only
// this interface: the MPI backend (CPU tensors) and the NCCL backend (CUDA tensors) live in
// collectives/, the in-process one (threads of one process, for tests) in
// model/in_process_collective.h. Every call is collective: each rank of the group makes the same
// calls in the same order, with tensors of the same shape and dtype.
#include <cstdint>
#include <string>

#include <ATen/core/Tensor.h>

namespace csweep::model {

class Collective {
 public:
  virtual ~Collective() = default;
  virtual int rank() const = 0;  // this rank's index in the group, [0, size)
  virtual int size() const = 0;
  virtual std::string backend() const = 0;  // "in-process", "mpi", "nccl"

  // tensor <- the elementwise sum of every rank's `tensor`, in place. Every rank gets the same
  // bits: the sum is computed in one order (rank 0 + rank 1 + ...) whatever the backend.
  virtual void all_reduce_sum(at::Tensor& tensor) = 0;
  // Every rank's `tensor` concatenated along `dim` in rank order (shapes equal).
  virtual at::Tensor all_gather(const at::Tensor& tensor, int64_t dim) = 0;
  // tensor <- root's `tensor`, in place.
  virtual void broadcast(at::Tensor& tensor, int root) = 0;
};

// The one-rank group: every collective is the identity. A model loaded without tensor
// parallelism uses it, so the parallel layers have one code path.
class SingleRank final : public Collective {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string backend() const override { return "single"; }
  // The identities, after the same argument checks as every other backend.
  void all_reduce_sum(at::Tensor& tensor) override;
  at::Tensor all_gather(const at::Tensor& tensor, int64_t dim) override;
  void broadcast(at::Tensor& tensor, int root) override;
};

// Checks what every backend needs of a call's tensor (defined, contiguous) and of `root`/`dim`;
// throws csweep::Error "collective (BACKEND): OP: reason".
void check_collective_tensor(const Collective& group, const char* op, const at::Tensor& tensor);
void check_collective_root(const Collective& group, int root);
int64_t check_collective_dim(const Collective& group, const at::Tensor& tensor, int64_t dim);

}  // namespace csweep::model
