#include "collectives/nccl_collective.h"

#include <dlfcn.h>

#include <cstring>
#include <mutex>

#include <ATen/ATen.h>
#include <c10/core/DeviceGuard.h>
#include <nccl.h>

#include "collectives/gathered.h"
#include "common/error.h"
#include "model/cuda_backend.h"

namespace csweep::collectives {
namespace {

// The NCCL entry points csweep calls, resolved from libnccl.so.2 once.
struct NcclApi {
  decltype(&ncclGetVersion) get_version = nullptr;
  decltype(&ncclGetUniqueId) get_unique_id = nullptr;
  decltype(&ncclCommInitRank) comm_init_rank = nullptr;
  decltype(&ncclCommDestroy) comm_destroy = nullptr;
  decltype(&ncclGetErrorString) error_string = nullptr;
  decltype(&ncclAllReduce) all_reduce = nullptr;
  decltype(&ncclAllGather) all_gather = nullptr;
  decltype(&ncclBroadcast) broadcast = nullptr;
};

template <typename F>
bool resolve(void* library, const char* name, F& out, std::string* why) {
  out = reinterpret_cast<F>(dlsym(library, name));
  if (!out && why) *why = std::string("libnccl.so.2 has no ") + name;
  return out != nullptr;
}

// nullptr (and why) when NCCL cannot be loaded.
const NcclApi* nccl_api(std::string* why) {
  static std::once_flag once;
  static NcclApi api;
  static bool ok = false;
  static std::string error;
  std::call_once(once, [] {
    // libtorch_cuda.so depends on the wheel's NCCL: with it loaded first, dlopen finds that
    // library by its soname instead of searching for another one.
    if (!model::load_cuda_backend(&error)) return;
    void* library = dlopen("libnccl.so.2", RTLD_NOW | RTLD_GLOBAL);
    if (!library) {
      const char* e = dlerror();
      error = std::string("cannot load libnccl.so.2: ") + (e ? e : "unknown dlopen error");
      return;
    }
    ok = resolve(library, "ncclGetVersion", api.get_version, &error) &&
         resolve(library, "ncclGetUniqueId", api.get_unique_id, &error) &&
         resolve(library, "ncclCommInitRank", api.comm_init_rank, &error) &&
         resolve(library, "ncclCommDestroy", api.comm_destroy, &error) &&
         resolve(library, "ncclGetErrorString", api.error_string, &error) &&
         resolve(library, "ncclAllReduce", api.all_reduce, &error) &&
         resolve(library, "ncclAllGather", api.all_gather, &error) &&
         resolve(library, "ncclBroadcast", api.broadcast, &error);
  });
  if (!ok && why) *why = error;
  return ok ? &api : nullptr;
}

void check_nccl(const NcclApi& api, ncclResult_t rc, const char* op) {
  if (rc != ncclSuccess)
    throw Error(std::string("collective (nccl): ") + op + ": " + api.error_string(rc));
}

ncclDataType_t nccl_type(at::ScalarType type, const char* op) {
  switch (type) {
    case at::kFloat:
      return ncclFloat32;
    case at::kDouble:
      return ncclFloat64;
    case at::kHalf:
      return ncclFloat16;
    case at::kBFloat16:
      return ncclBfloat16;
    case at::kInt:
      return ncclInt32;
    case at::kLong:
      return ncclInt64;
    case at::kByte:
      return ncclUint8;
    default:
      throw Error(std::string("collective (nccl): ") + op + ": dtype " +
                  std::string(c10::toString(type)) + " has no NCCL type");
  }
}

const NcclApi& api() { return *nccl_api(nullptr); }

}  // namespace

bool nccl_available(std::string* version_or_why) {
  const NcclApi* nccl = nccl_api(version_or_why);
  if (!nccl) return false;
  int code = 0;
  nccl->get_version(&code);
  // NCCL_VERSION(X,Y,Z) is X*10000 + Y*100 + Z from 2.9 on.
  if (version_or_why)
    *version_or_why = std::to_string(code / 10000) + "." + std::to_string(code / 100 % 100) + "." +
                      std::to_string(code % 100);
  return true;
}

std::unique_ptr<NcclCollective> NcclCollective::create(model::Collective& bootstrap, int device) {
  // Every rank checks the same things before the first collective, so a refusal is never a
  // rank waiting on the others' broadcast.
  std::string why;
  if (!model::load_cuda_backend(&why)) throw Error("collective (nccl): " + why);
  const int64_t gpus = model::cuda_device_count();
  if (device < 0 || device >= gpus)
    throw Error("collective (nccl): device cuda:" + std::to_string(device) +
                " but this machine has " + std::to_string(gpus) + " CUDA GPU(s)");
  const NcclApi* nccl = nccl_api(&why);
  if (!nccl) throw Error("collective (nccl): " + why);

  ncclUniqueId id{};
  if (bootstrap.rank() == 0) check_nccl(*nccl, nccl->get_unique_id(&id), "ncclGetUniqueId");
  at::Tensor bytes = at::from_blob(id.internal, {NCCL_UNIQUE_ID_BYTES}, at::kByte).clone();
  bootstrap.broadcast(bytes, 0);
  std::memcpy(id.internal, bytes.data_ptr(), NCCL_UNIQUE_ID_BYTES);

  c10::DeviceGuard guard(c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(device)));
  ncclComm_t comm = nullptr;
  check_nccl(*nccl, nccl->comm_init_rank(&comm, bootstrap.size(), id, bootstrap.rank()),
             "ncclCommInitRank");
  return std::unique_ptr<NcclCollective>(
      new NcclCollective(comm, bootstrap.rank(), bootstrap.size(), device));
}

NcclCollective::~NcclCollective() {
  if (comm_) api().comm_destroy(static_cast<ncclComm_t>(comm_));
}

void NcclCollective::check_cuda(const char* op, const at::Tensor& tensor) const {
  model::check_collective_tensor(*this, op, tensor);
  if (!tensor.is_cuda() || tensor.device().index() != device_)
    throw Error(std::string("collective (nccl): ") + op + ": tensor on " + tensor.device().str() +
                "; this rank's group lives on cuda:" + std::to_string(device_));
}

void NcclCollective::all_reduce_sum(at::Tensor& tensor) {
  check_cuda("all_reduce_sum", tensor);
  c10::DeviceGuard guard(tensor.device());
  check_nccl(api(),
             api().all_reduce(tensor.data_ptr(), tensor.data_ptr(), tensor.numel(),
                              nccl_type(tensor.scalar_type(), "all_reduce_sum"), ncclSum,
                              static_cast<ncclComm_t>(comm_), nullptr),
             "ncclAllReduce");
}

at::Tensor NcclCollective::all_gather(const at::Tensor& tensor, int64_t dim) {
  check_cuda("all_gather", tensor);
  dim = model::check_collective_dim(*this, tensor, dim);
  at::Tensor stacked = empty_stacked(tensor, size_);
  c10::DeviceGuard guard(tensor.device());
  check_nccl(api(),
             api().all_gather(tensor.data_ptr(), stacked.data_ptr(), tensor.numel(),
                              nccl_type(tensor.scalar_type(), "all_gather"),
                              static_cast<ncclComm_t>(comm_), nullptr),
             "ncclAllGather");
  return concatenate_stacked(stacked, dim);
}

void NcclCollective::broadcast(at::Tensor& tensor, int root) {
  check_cuda("broadcast", tensor);
  model::check_collective_root(*this, root);
  c10::DeviceGuard guard(tensor.device());
  check_nccl(api(),
             api().broadcast(tensor.data_ptr(), tensor.data_ptr(), tensor.numel(),
                             nccl_type(tensor.scalar_type(), "broadcast"), root,
                             static_cast<ncclComm_t>(comm_), nullptr),
             "ncclBroadcast");
}

}  // namespace csweep::collectives
