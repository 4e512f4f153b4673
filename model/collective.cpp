#include "model/collective.h"

#include "common/error.h"

namespace csweep::model {
namespace {

Error collective_error(const Collective& group, const std::string& op, const std::string& reason) {
  return Error("collective (" + group.backend() + "): " + op + ": " + reason);
}

}  // namespace

void check_collective_tensor(const Collective& group, const char* op, const at::Tensor& tensor) {
  if (!tensor.defined()) throw collective_error(group, op, "undefined tensor");
  // Backends read and write the storage as one flat buffer.
  if (!tensor.is_contiguous()) throw collective_error(group, op, "tensor is not contiguous");
}

void check_collective_root(const Collective& group, int root) {
  if (root < 0 || root >= group.size())
    throw collective_error(
        group, "broadcast",
        "root " + std::to_string(root) + " outside [0, " + std::to_string(group.size()) + ")");
}

int64_t check_collective_dim(const Collective& group, const at::Tensor& tensor, int64_t dim) {
  const int64_t rank = tensor.dim();
  if (dim < -rank || dim >= rank)
    throw collective_error(
        group, "all_gather",
        "dim " + std::to_string(dim) + " outside a " + std::to_string(rank) + "-d tensor");
  return dim < 0 ? dim + rank : dim;
}

void SingleRank::all_reduce_sum(at::Tensor& tensor) {
  check_collective_tensor(*this, "all_reduce_sum", tensor);
}

at::Tensor SingleRank::all_gather(const at::Tensor& tensor, int64_t dim) {
  check_collective_tensor(*this, "all_gather", tensor);
  check_collective_dim(*this, tensor, dim);
  return tensor;
}

void SingleRank::broadcast(at::Tensor& tensor, int root) {
  check_collective_tensor(*this, "broadcast", tensor);
  check_collective_root(*this, root);
}

}  // namespace csweep::model
