#pragma once
// Reads a store directory (store/reader.h) into a ReduceInput. Read-only: works on a running
// or interrupted store and never opens a fragment for writing.
#include <filesystem>

#include "report/reduce_input.h"

namespace csweep::report {

ReduceInput load_reduce_input(const std::filesystem::path& store_dir);

}  // namespace csweep::report
