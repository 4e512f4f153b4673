#include "cluster/shell_quote.h"

#include "common/error.h"

namespace csweep::cluster {

std::string shell_quote(std::string_view value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  out += "'";
  return out;
}

std::string sbatch_quote(std::string_view value, const std::string& what) {
  std::string out = "\"";
  for (char c : value) {
    if (c == '\n' || c == '\r' || c == '\0')
      throw Error(what +
                  ": contains a line break or NUL, which cannot be written into an #SBATCH line");
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += "\"";
  return out;
}

std::string slurm_filename_escape(std::string_view path) {
  std::string out;
  for (char c : path) {
    if (c == '%') out += '%';
    out += c;
  }
  return out;
}

std::string slurm_job_name(std::string_view name) {
  std::string out;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    out += ok ? c : '_';
  }
  if (out.empty()) out = "csweep";
  return out;
}

}  // namespace csweep::cluster
