#include "model/in_process_collective.h"

#include <ATen/ATen.h>

#include "common/error.h"

namespace csweep::model {

class InProcessGroup::Endpoint final : public Collective {
 public:
  Endpoint(InProcessGroup& group, int rank) : group_(group), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return group_.size(); }
  std::string backend() const override { return "in-process"; }

  void all_reduce_sum(at::Tensor& tensor) override {
    check_collective_tensor(*this, "all_reduce_sum", tensor);
    tensor.copy_(group_.exchange(rank_, tensor, &sum, 0));
  }
  at::Tensor all_gather(const at::Tensor& tensor, int64_t dim) override {
    check_collective_tensor(*this, "all_gather", tensor);
    dim = check_collective_dim(*this, tensor, dim);
    return group_.exchange(rank_, tensor, &concatenate, dim).clone();
  }
  void broadcast(at::Tensor& tensor, int root) override {
    check_collective_tensor(*this, "broadcast", tensor);
    check_collective_root(*this, root);
    tensor.copy_(group_.exchange(rank_, tensor, &take, root));
  }

 private:
  static void check_same(const std::vector<at::Tensor>& all, bool same_shape) {
    for (const auto& t : all) {
      if (t.scalar_type() != all[0].scalar_type() ||
          (same_shape && !t.sizes().equals(all[0].sizes())))
        throw Error("collective (in-process): ranks passed tensors of different shapes or dtypes");
    }
  }
  // Rank order, so every rank gets the same bits whatever order the threads arrived in.
  static at::Tensor sum(const std::vector<at::Tensor>& all, int64_t) {
    check_same(all, true);
    at::Tensor acc = all[0].clone();
    for (size_t r = 1; r < all.size(); ++r) acc.add_(all[r]);
    return acc;
  }
  static at::Tensor concatenate(const std::vector<at::Tensor>& all, int64_t dim) {
    check_same(all, true);
    return at::cat(all, dim);
  }
  static at::Tensor take(const std::vector<at::Tensor>& all, int64_t root) {
    check_same(all, true);
    return all[root].clone();
  }

  InProcessGroup& group_;
  int rank_;
};

InProcessGroup::InProcessGroup(int size) : size_(size), deposited_(size) {
  if (size < 1) throw Error("collective (in-process): group size " + std::to_string(size) + " < 1");
  for (int r = 0; r < size; ++r) endpoints_.push_back(std::make_unique<Endpoint>(*this, r));
}

InProcessGroup::~InProcessGroup() = default;

Collective& InProcessGroup::rank(int r) {
  if (r < 0 || r >= size_)
    throw Error("collective (in-process): rank " + std::to_string(r) + " outside [0, " +
                std::to_string(size_) + ")");
  return *endpoints_[r];
}

at::Tensor InProcessGroup::exchange(int rank, const at::Tensor& mine,
                                    at::Tensor (*combine)(const std::vector<at::Tensor>&, int64_t),
                                    int64_t arg) {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [&] { return !leaving_; });  // the previous round has emptied
  deposited_[rank] = mine;
  if (++arrived_ == size_) {
    error_.clear();
    try {
      result_ = combine(deposited_, arg);
    } catch (const std::exception& e) {
      error_ = e.what();
    }
    leaving_ = true;
    changed_.notify_all();
  } else {
    changed_.wait(lock, [&] { return leaving_; });
  }
  at::Tensor out = result_;
  const std::string error = error_;
  if (++left_ == size_) {
    for (auto& t : deposited_) t = at::Tensor();
    result_ = at::Tensor();
    arrived_ = left_ = 0;
    leaving_ = false;
    changed_.notify_all();
  }
  if (!error.empty()) throw Error(error);
  return out;
}

}  // namespace csweep::model
