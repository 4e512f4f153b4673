#pragma once
// The message of the csweep::Error that `fn` throws ("" if it throws nothing): the one-line
// error contract, checked the same way by every suite.
#include <string>

#include "common/error.h"

namespace csweep::testing {

template <typename Fn>
std::string error_of(Fn fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace csweep::testing
