#include "worker/rank_device.h"

namespace csweep::worker {

std::string rank_device(const std::string& job_device, int local_index, long visible_gpus) {
  const std::string prefix = "cuda:";
  if (job_device.rfind(prefix, 0) != 0 || local_index <= 0 || visible_gpus <= 0) return job_device;
  const long first = std::stol(job_device.substr(prefix.size()));
  return prefix + std::to_string((first + local_index) % visible_gpus);
}

int local_worker_index(const std::vector<std::string>& hosts, int rank) {
  int index = 0;
  for (int r = 1; r < rank && r < static_cast<int>(hosts.size()); ++r)
    index += hosts[r] == hosts[rank] ? 1 : 0;
  return index;
}

}  // namespace csweep::worker
