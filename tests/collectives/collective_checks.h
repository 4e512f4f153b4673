#pragma once
// The checks every model::Collective backend must pass, run by each rank of a group on its own
// endpoint: by threads (in-process), by MPI ranks (collectives_mpi_check under mpirun) and by
// the NCCL backend on a GPU. Values are small integers, exact in every dtype, so "equal" means
// bit-equal. Each check throws std::runtime_error naming what differed.
#include <stdexcept>
#include <string>

#include <ATen/ATen.h>

#include "model/collective.h"

namespace csweep::testing {

inline void expect_equal(const at::Tensor& got, const at::Tensor& want, const std::string& what) {
  if (!got.sizes().equals(want.sizes()) || got.scalar_type() != want.scalar_type() ||
      !at::equal(got.cpu(), want.cpu()))
    throw std::runtime_error(what + ": rank's result differs from the expected one");
}

// What rank r contributes: distinct per rank, exact in bfloat16 (integers < 256).
inline at::Tensor contribution(int r, at::ScalarType dtype, at::Device device) {
  return (at::arange(12, at::kDouble).view({3, 4}) + 10 * r).to(dtype).to(device);
}

inline void check_all_reduce(model::Collective& group, at::ScalarType dtype, at::Device device) {
  at::Tensor t = contribution(group.rank(), dtype, device);
  group.all_reduce_sum(t);
  at::Tensor want = at::zeros({3, 4}, at::kDouble);
  for (int r = 0; r < group.size(); ++r) want += contribution(r, at::kDouble, at::kCPU);
  expect_equal(t, want.to(dtype).to(device), "all_reduce_sum " + std::string(c10::toString(dtype)));
}

inline void check_all_gather(model::Collective& group, int64_t dim, at::Device device) {
  at::Tensor got = group.all_gather(contribution(group.rank(), at::kFloat, device), dim);
  std::vector<at::Tensor> parts;
  for (int r = 0; r < group.size(); ++r) parts.push_back(contribution(r, at::kFloat, at::kCPU));
  expect_equal(got, at::cat(parts, dim).to(device), "all_gather dim " + std::to_string(dim));
}

inline void check_broadcast(model::Collective& group, int root, at::Device device) {
  at::Tensor t = contribution(group.rank(), at::kFloat, device);
  group.broadcast(t, root);
  expect_equal(t, contribution(root, at::kFloat, device), "broadcast from " + std::to_string(root));
}

// Every collective of one group, in the same order on every rank (as the interface requires).
inline void check_collective(model::Collective& group, at::Device device) {
  for (auto dtype : {at::kFloat, at::kDouble, at::kBFloat16, at::kLong})
    check_all_reduce(group, dtype, device);
  for (int64_t dim : {0, 1, -1}) check_all_gather(group, dim, device);
  for (int root = 0; root < group.size(); ++root) check_broadcast(group, root, device);
  // Refusals are local: no rank enters a collective with a bad argument.
  at::Tensor strided = contribution(group.rank(), at::kFloat, device).t();
  bool refused = false;
  try {
    group.all_reduce_sum(strided);
  } catch (const std::exception&) {
    refused = true;
  }
  if (!refused) throw std::runtime_error("a non-contiguous tensor was accepted");
}

}  // namespace csweep::testing
