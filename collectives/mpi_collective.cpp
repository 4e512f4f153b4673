#include "collectives/mpi_collective.h"

#include <ATen/ATen.h>

#include "collectives/gathered.h"
#include "common/error.h"

namespace csweep::collectives {
namespace {

// The MPI type that adds `type` exactly as the tensor's own arithmetic would; nullopt for the
// 16-bit floats, which MPI has no type for.
std::optional<MPI_Datatype> mpi_sum_type(at::ScalarType type) {
  switch (type) {
    case at::kFloat:
      return MPI_FLOAT;
    case at::kDouble:
      return MPI_DOUBLE;
    case at::kInt:
      return MPI_INT32_T;
    case at::kLong:
      return MPI_INT64_T;
    default:
      return std::nullopt;
  }
}

void check_mpi(int rc, const char* op) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(rc, text, &length);
  throw Error(std::string("collective (mpi): ") + op + ": " + std::string(text, length));
}

// MPI counts are ints: larger tensors go in pieces of at most this many bytes.
constexpr int64_t kMaxChunkBytes = int64_t{1} << 30;

}  // namespace

std::unique_ptr<MpiCollective> MpiCollective::split(MPI_Comm parent, int color, int key) {
  MPI_Comm comm;
  check_mpi(MPI_Comm_split(parent, color, key, &comm), "split");
  return std::unique_ptr<MpiCollective>(new MpiCollective(comm));
}

std::unique_ptr<MpiCollective> MpiCollective::of_ranks(MPI_Comm parent,
                                                       const std::vector<int>& ranks) {
  MPI_Group parent_group, group;
  check_mpi(MPI_Comm_group(parent, &parent_group), "of_ranks");
  check_mpi(MPI_Group_incl(parent_group, static_cast<int>(ranks.size()), ranks.data(), &group),
            "of_ranks");
  MPI_Comm comm;
  // Groups are disjoint, so one tag serves them all.
  const int rc = MPI_Comm_create_group(parent, group, /*tag=*/7302, &comm);
  MPI_Group_free(&group);
  MPI_Group_free(&parent_group);
  check_mpi(rc, "of_ranks");
  return std::unique_ptr<MpiCollective>(new MpiCollective(comm));
}

MpiCollective::MpiCollective(MPI_Comm comm) : comm_(comm) {
  MPI_Comm_rank(comm_, &rank_);
  MPI_Comm_size(comm_, &size_);
}

MpiCollective::~MpiCollective() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Comm_free(&comm_);
}

void MpiCollective::check_cpu(const char* op, const at::Tensor& tensor) const {
  model::check_collective_tensor(*this, op, tensor);
  if (!tensor.device().is_cpu())
    throw Error(std::string("collective (mpi): ") + op + ": tensor on " + tensor.device().str() +
                "; the MPI backend moves CPU tensors (CUDA tensors go through NCCL)");
}

void MpiCollective::all_reduce_sum(at::Tensor& tensor) {
  check_cpu("all_reduce_sum", tensor);
  if (size_ == 1) return;
  auto type = mpi_sum_type(tensor.scalar_type());
  at::Tensor buffer = type ? tensor : tensor.to(at::kFloat);
  if (!type) type = MPI_FLOAT;
  const int64_t element = static_cast<int64_t>(buffer.element_size());
  const int64_t step = kMaxChunkBytes / element;
  auto* data = static_cast<char*>(buffer.data_ptr());
  for (int64_t first = 0; first < buffer.numel(); first += step) {
    const int count = static_cast<int>(std::min(step, buffer.numel() - first));
    check_mpi(MPI_Allreduce(MPI_IN_PLACE, data + first * element, count, *type, MPI_SUM, comm_),
              "all_reduce_sum");
  }
  if (!buffer.is_same(tensor)) tensor.copy_(buffer);
}

at::Tensor MpiCollective::all_gather(const at::Tensor& tensor, int64_t dim) {
  check_cpu("all_gather", tensor);
  dim = model::check_collective_dim(*this, tensor, dim);
  at::Tensor stacked = empty_stacked(tensor, size_);
  const int64_t bytes = tensor.numel() * static_cast<int64_t>(tensor.element_size());
  if (bytes > kMaxChunkBytes)
    throw Error("collective (mpi): all_gather: " + std::to_string(bytes) +
                " bytes per rank; at most 1 GiB in one call");
  check_mpi(MPI_Allgather(tensor.data_ptr(), static_cast<int>(bytes), MPI_BYTE, stacked.data_ptr(),
                          static_cast<int>(bytes), MPI_BYTE, comm_),
            "all_gather");
  return concatenate_stacked(stacked, dim);
}

void MpiCollective::broadcast(at::Tensor& tensor, int root) {
  check_cpu("broadcast", tensor);
  model::check_collective_root(*this, root);
  const int64_t bytes = tensor.numel() * static_cast<int64_t>(tensor.element_size());
  auto* data = static_cast<char*>(tensor.data_ptr());
  for (int64_t first = 0; first < bytes; first += kMaxChunkBytes) {
    const int count = static_cast<int>(std::min(kMaxChunkBytes, bytes - first));
    check_mpi(MPI_Bcast(data + first, count, MPI_BYTE, root, comm_), "broadcast");
  }
}

}  // namespace csweep::collectives
