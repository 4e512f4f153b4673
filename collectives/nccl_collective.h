#pragma once
// The NCCL backend of model::Collective: CUDA tensors, one GPU per rank. libnccl.so.2 is
// dlopen()ed when the first group is made (csweep links no NVIDIA library, see
// model/cuda_backend.h): the torch wheel's NCCL, found through the same run path as
// libtorch_cuda, so that one process never loads two NCCLs. Collectives run on the device's
// legacy default stream, the stream LibTorch's kernels use unless a caller sets another, so
// they are ordered with the surrounding tensor code without extra synchronisation.
#include <memory>

#include "model/collective.h"

namespace csweep::collectives {

class NcclCollective final : public model::Collective {
 public:
  // Makes the NCCL communicator of the ranks of `bootstrap` (any backend over the same ranks,
  // e.g. MPI): rank 0's unique id travels by bootstrap.broadcast. This rank uses GPU `device`.
  // Throws csweep::Error when NCCL or a GPU is missing (on every rank alike).
  static std::unique_ptr<NcclCollective> create(model::Collective& bootstrap, int device);
  ~NcclCollective() override;
  NcclCollective(const NcclCollective&) = delete;
  NcclCollective& operator=(const NcclCollective&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend() const override { return "nccl"; }
  void all_reduce_sum(at::Tensor& tensor) override;
  at::Tensor all_gather(const at::Tensor& tensor, int64_t dim) override;
  void broadcast(at::Tensor& tensor, int root) override;

 private:
  NcclCollective(void* comm, int rank, int size, int device)
      : comm_(comm), rank_(rank), size_(size), device_(device) {}
  void check_cuda(const char* op, const at::Tensor& tensor) const;
  void* comm_;  // ncclComm_t
  int rank_, size_, device_;
};

// Whether libnccl.so.2 can be loaded here, and its version ("2.30.7"), or why not.
bool nccl_available(std::string* version_or_why);

}  // namespace csweep::collectives
