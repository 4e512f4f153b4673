#pragma once
// A group of N ranks that are threads of one process: what the tensor-parallel layers' unit
// tests run on, with no launcher. Rank r's endpoint is group.rank(r); each thread calls the
// collectives on its own endpoint. A call blocks until every rank has made it.
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "model/collective.h"

namespace csweep::model {

class InProcessGroup {
 public:
  explicit InProcessGroup(int size);
  ~InProcessGroup();  // Endpoint is complete only in the .cpp
  int size() const { return size_; }
  Collective& rank(int r);

 private:
  class Endpoint;
  friend class Endpoint;
  // One round of a collective: every rank deposits its tensor, the last to arrive combines
  // them, every rank takes the result, the last to leave opens the next round.
  at::Tensor exchange(int rank, const at::Tensor& mine,
                      at::Tensor (*combine)(const std::vector<at::Tensor>&, int64_t), int64_t arg);

  int size_;
  std::vector<std::unique_ptr<Endpoint>> endpoints_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<at::Tensor> deposited_;
  at::Tensor result_;
  std::string error_;  // the combine's failure, thrown on every rank
  int arrived_ = 0, left_ = 0;
  bool leaving_ = false;
};

}  // namespace csweep::model
