// csweep cancel STORE: scancel every Slurm job recorded in STORE/slurm/jobs.jsonl that is
// still pending or running. The store itself is untouched: a later run resumes it.
#include <iostream>

#include <nlohmann/json.hpp>

#include "apps/command.h"
#include "cluster/job_record.h"
#include "cluster/submit.h"
#include "common/error.h"

namespace {

const csweep::apps::CommandRegistration cancel_command{
    "cancel", "cancel the Slurm jobs of a store (scancel)", [](CLI::App& sub) {
      auto store = std::make_shared<std::string>();
      auto json = std::make_shared<bool>(false);
      sub.add_option("store", *store, "store directory")->required();
      sub.add_flag("--json", *json, "print the cancelled job ids as JSON");
      return [store, json]() {
        if (!std::filesystem::is_directory(*store))
          throw csweep::error_at(*store, "", "no such store directory");
        if (csweep::cluster::read_job_records(*store).empty())
          throw csweep::error_at(
              csweep::cluster::job_records_path(*store).string(), "",
              "no Slurm jobs recorded for this store (was it submitted with `csweep submit`?)");
        const auto ids = csweep::cluster::cancel_store_jobs(*store);
        if (*json) {
          std::cout << nlohmann::json{{"cancelled", ids}}.dump() << "\n";
        } else if (ids.empty()) {
          std::cout << "no pending or running jobs\n";
        } else {
          for (const auto& id : ids) std::cout << "cancelled " << id << "\n";
        }
        return 0;
      };
    }};

}  // namespace
