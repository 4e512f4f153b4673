#pragma once
// Which device a worker rank computes on. A job names one device (model.device); on a node
// with several GPUs the worker ranks of that node must not all crowd onto it, so the k-th worker
// rank of a host (counting from 0, in rank order) takes GPU (N + k) mod visible_gpus for
// `cuda:N`. CPU jobs, one-process runs (k = 0) and hosts whose GPU count is unknown keep the
// job's device.
#include <string>
#include <vector>

namespace csweep::worker {

std::string rank_device(const std::string& job_device, int local_index, long visible_gpus);

// The index of world rank `rank` among the worker ranks (1..N-1) on its own host, from every
// rank's host name in rank order (Comm::all_hostnames).
int local_worker_index(const std::vector<std::string>& hosts, int rank);

}  // namespace csweep::worker
