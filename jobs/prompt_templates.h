#pragma once
// Seeded prompt-set generators. Each is a pure function of its arguments (the same seed gives
// the same prompts on every machine: std::mt19937_64 is fully specified by the standard and we
// never use the implementation-defined distributions).
#include <cstdint>
#include <string>
#include <vector>

#include "jobs/job_spec.h"

namespace csweep::jobs {

// A prompt pair as text, before tokenisation.
struct TextPrompt {
  std::string id;
  std::string clean;
  std::string corrupted;
  std::vector<std::string> answers;
  std::vector<std::string> wrongs;
  std::string subject;  // a substring of `clean` (factual recall), or empty
};

const std::vector<std::string>& default_ioi_names();
const std::vector<std::string>& default_ioi_places();
const std::vector<std::string>& default_ioi_objects();

// "When {A} and {B} went to the {PLACE}, {B} gave a {OBJECT} to" (ABBA) and its BABA twin,
// alternating through `patterns`; answer " A", wrong " B". corruption "flip": the second
// mention of B becomes A (the answer flips); "abc": three unrelated names.
std::vector<TextPrompt> ioi_prompts(const std::string& id_prefix, int64_t n, uint64_t seed,
                                    const std::vector<std::string>& patterns,
                                    const std::string& corruption,
                                    const std::vector<std::string>& names,
                                    const std::vector<std::string>& places,
                                    const std::vector<std::string>& objects);

struct Fact {
  std::string subject;  // "The Eiffel Tower"
  std::string prompt;   // "{S} is located in the city of" ({S} = subject)
  std::string answer;   // " Paris"
  std::string wrong;    // empty: the next fact's answer
};
const std::vector<Fact>& default_facts();
// Corrupted = clean (causal tracing corrupts by noising the subject's embeddings).
std::vector<TextPrompt> factual_prompts(const std::string& id_prefix, int64_t n,
                                        const std::vector<Fact>& facts);

// Induction data: clean = r repeated `repeats` times minus its last token, answer = that
// token; corrupted = r followed by a different random s for the later repeats, wrong = s's
// token at the same place, or (corrupt_first) s followed by r's later repeats, wrong = s's last
// token, so only what the first copy carries differs (the keys an induction head matches).
// Token ids drawn from [low, high).
std::vector<PromptPair> repeated_token_prompts(const std::string& id_prefix, int64_t n,
                                               uint64_t seed, int64_t length, int64_t repeats,
                                               int64_t low, int64_t high,
                                               bool corrupt_first = false);

}  // namespace csweep::jobs
