// `csweep run`'s two sides on one in-process world: rank 0 the real set-up and coordinator
// (orchestrator/run_rank0), rank 1 the real worker loop with the synthetic executor, on a
// thread. One worker only: this HDF5 build is not thread-safe, and the protocol keeps rank 0
// off HDF5 while its one worker writes.
#include <gtest/gtest.h>

#include <thread>

#include "orchestrator/in_process_comm.h"
#include "process.h"
#include "store/reader.h"
#include "synthetic_store.h"
#include "worker/run_sweep.h"

namespace fs = std::filesystem;
using namespace csweep;
using namespace csweep::testing;

TEST(InProcessRun, CoordinatorAndRealWorkerLoopFillTheStore) {
  const fs::path store = fresh_test_dir("orchestrator_in_process_run", "store");
  orchestrator::RunOptions opt;
  opt.job = sweep_job();
  opt.store = store;
  opt.executor = "synthetic";
  opt.coordinator.progress_interval_s = 0;
  orchestrator::InProcessWorld world(2);
  int worker_code = -1;
  std::thread worker([&] { worker_code = worker::run_rank(world.endpoint(1), opt); });
  const int code = worker::run_rank(world.endpoint(0), opt);
  worker.join();
  EXPECT_EQ(code, 0);
  EXPECT_EQ(worker_code, 0);
  expect_synthetic_store(store, /*allow_duplicates=*/false);
  const auto contents = store::read_store(store);
  EXPECT_EQ(contents.fragments.size(), 1u);
  ASSERT_EQ(contents.provenance["runs"].size(), 1u);
  EXPECT_EQ(contents.provenance["runs"][0]["ranks"], 2);
  EXPECT_EQ(contents.provenance["runs"][0]["exit_code"], 0);
}

TEST(InProcessRun, BadJobAbortsTheWorkersWithTwo) {
  const fs::path store = fresh_test_dir("orchestrator_in_process_run", "bad_job");
  orchestrator::RunOptions opt;
  opt.job = source_path("tests/orchestrator/data/does_not_exist.yaml");
  opt.store = store;
  opt.executor = "synthetic";
  orchestrator::InProcessWorld world(2);
  int worker_code = -1;
  std::thread worker([&] { worker_code = worker::run_rank(world.endpoint(1), opt); });
  EXPECT_THROW(worker::run_rank(world.endpoint(0), opt), Error);
  worker.join();
  EXPECT_EQ(worker_code, 2);
  EXPECT_FALSE(fs::exists(store));
}
