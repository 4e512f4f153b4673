// The cells functions that registry-added analysis kinds register from their own files.
#include <map>
#include <string>

#include "analyses/sweep.h"

namespace csweep::analyses {
namespace {

// A function-local map: registrations run during static initialisation, in any file order.
std::map<std::string, KindCells>& registered() {
  static std::map<std::string, KindCells> cells;
  return cells;
}

}  // namespace

KindCellsRegistration::KindCellsRegistration(const char* kind, KindCells cells) {
  registered()[kind] = cells;
}

KindCells find_kind_cells(const std::string& kind) {
  const auto it = registered().find(kind);
  return it == registered().end() ? nullptr : it->second;
}

}  // namespace csweep::analyses
