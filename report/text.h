#pragma once
// Token strings come from byte-level BPE and may be partial UTF-8 sequences; HDF5 strings,
// cairo text and HTML all want valid UTF-8.
#include <string>

namespace csweep::report {

// Replaces every invalid UTF-8 byte with U+FFFD.
std::string valid_utf8(const std::string& text);

// A token as a reader should see it: valid UTF-8, with newline/tab/CR shown as \n \t \r so a
// label stays on one line (spaces are kept: ' Mary' vs 'Mary' matters).
std::string display_token(const std::string& token);

}  // namespace csweep::report
