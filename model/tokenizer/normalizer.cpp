#include "model/tokenizer/normalizer.h"

#include <algorithm>

#include "common/error.h"

#ifdef CSWEEP_HAVE_ICU
#include <unicode/unorm2.h>
#include <unicode/ustring.h>
#endif

namespace csweep::model::tokenizer {

#ifdef CSWEEP_HAVE_ICU
bool Normalizer::available() { return true; }

namespace {

const UNormalizer2* instance(NormalForm form, UErrorCode* status) {
  switch (form) {
    case NormalForm::NFC:
      return unorm2_getNFCInstance(status);
    case NormalForm::NFD:
      return unorm2_getNFDInstance(status);
    case NormalForm::NFKC:
      return unorm2_getNFKCInstance(status);
    case NormalForm::NFKD:
      return unorm2_getNFKDInstance(status);
  }
  return nullptr;
}

void check(UErrorCode status, const char* what) {
  if (U_FAILURE(status))
    throw Error(std::string("unicode normalisation: ") + what + ": " + u_errorName(status));
}

}  // namespace

std::string Normalizer::normal_form(std::string_view text, NormalForm form) {
  // ASCII is invariant under all four forms: most prompts never reach ICU.
  if (std::all_of(text.begin(), text.end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x80; }))
    return std::string(text);
  UErrorCode status = U_ZERO_ERROR;
  int32_t length = 0;
  u_strFromUTF8(nullptr, 0, &length, text.data(), static_cast<int32_t>(text.size()), &status);
  status = U_ZERO_ERROR;
  std::u16string utf16(length, u'\0');
  u_strFromUTF8(reinterpret_cast<UChar*>(utf16.data()), length, &length, text.data(),
                static_cast<int32_t>(text.size()), &status);
  check(status, "decode");
  const UNormalizer2* norm = instance(form, &status);
  check(status, "instance");
  if (unorm2_isNormalized(norm, reinterpret_cast<const UChar*>(utf16.data()), length, &status))
    return std::string(text);
  status = U_ZERO_ERROR;
  int32_t needed = unorm2_normalize(norm, reinterpret_cast<const UChar*>(utf16.data()), length,
                                    nullptr, 0, &status);
  status = U_ZERO_ERROR;
  std::u16string normalized(needed, u'\0');
  unorm2_normalize(norm, reinterpret_cast<const UChar*>(utf16.data()), length,
                   reinterpret_cast<UChar*>(normalized.data()), needed, &status);
  check(status, "normalize");
  int32_t bytes = 0;
  u_strToUTF8(nullptr, 0, &bytes, reinterpret_cast<const UChar*>(normalized.data()), needed,
              &status);
  status = U_ZERO_ERROR;
  std::string out(bytes, '\0');
  u_strToUTF8(out.data(), bytes, &bytes, reinterpret_cast<const UChar*>(normalized.data()), needed,
              &status);
  check(status, "encode");
  return out;
}
#else
bool Normalizer::available() { return false; }
std::string Normalizer::normal_form(std::string_view, NormalForm) {
  throw Error("unicode normalisation needs ICU: rebuild circuitsweep with libicu-dev installed");
}
#endif

std::string Normalizer::apply(std::string_view text) const {
  std::string out(text);
  for (const Step& step : steps_) {
    if (!step.replace) {
      out = normal_form(out, step.form);
      continue;
    }
    if (step.pattern.empty()) continue;
    std::string replaced;
    replaced.reserve(out.size());
    size_t from = 0;
    for (size_t at; (at = out.find(step.pattern, from)) != std::string::npos;
         from = at + step.pattern.size()) {
      replaced.append(out, from, at - from);
      replaced += step.content;
    }
    replaced.append(out, from, std::string::npos);
    out.swap(replaced);
  }
  return out;
}

}  // namespace csweep::model::tokenizer
