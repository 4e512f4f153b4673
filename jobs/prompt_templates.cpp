#include "jobs/prompt_templates.h"

#include <random>

namespace csweep::jobs {
namespace {

// Single GPT-2 tokens with their leading space, as in the IOI paper's name list.
const std::vector<std::string> kNames = {
    "Mary", "John",  "Tom",   "James", "Dan",     "Sid",  "Martin", "Amy",   "Kate", "Paul",
    "Mark", "Laura", "Sarah", "David", "Michael", "Lisa", "Anna",   "Peter", "Rose", "Alex"};
const std::vector<std::string> kPlaces = {"store",    "garden", "restaurant", "school",
                                          "hospital", "office", "house",      "station"};
const std::vector<std::string> kObjects = {"ring",     "kiss",     "bone",  "basketball",
                                           "computer", "necklace", "drink", "snack"};
const std::vector<Fact> kFacts = {
    {"The Eiffel Tower", "{S} is located in the city of", " Paris", ""},
    {"The Colosseum", "{S} is located in the city of", " Rome", ""},
    {"The Brandenburg Gate", "{S} is located in the city of", " Berlin", ""},
    {"Big Ben", "{S} is located in the city of", " London", ""},
    {"The Space Needle", "{S} is located in the city of", " Seattle", ""},
    {"The Kremlin", "{S} is located in the city of", " Moscow", ""},
    {"Michael Jordan", "{S} is a professional", " basketball", ""},
    {"Lionel Messi", "{S} is a professional", " soccer", ""},
    {"Tiger Woods", "{S} is a professional", " golf", ""},
    {"Roger Federer", "{S} is a professional", " tennis", ""},
};

size_t draw(std::mt19937_64& rng, size_t n) { return static_cast<size_t>(rng() % n); }

// k distinct indices from [0, n).
std::vector<size_t> distinct(std::mt19937_64& rng, size_t n, size_t k) {
  std::vector<size_t> out;
  while (out.size() < k) {
    size_t i = draw(rng, n);
    bool seen = false;
    for (size_t j : out) seen = seen || j == i;
    if (!seen) out.push_back(i);
  }
  return out;
}

std::string ioi_text(const std::string& first, const std::string& second, const std::string& place,
                     const std::string& subject, const std::string& object) {
  return "When " + first + " and " + second + " went to the " + place + ", " + subject +
         " gave a " + object + " to";
}

}  // namespace

const std::vector<std::string>& default_ioi_names() { return kNames; }
const std::vector<std::string>& default_ioi_places() { return kPlaces; }
const std::vector<std::string>& default_ioi_objects() { return kObjects; }
const std::vector<Fact>& default_facts() { return kFacts; }

std::vector<TextPrompt> ioi_prompts(const std::string& id_prefix, int64_t n, uint64_t seed,
                                    const std::vector<std::string>& patterns,
                                    const std::string& corruption,
                                    const std::vector<std::string>& names,
                                    const std::vector<std::string>& places,
                                    const std::vector<std::string>& objects) {
  std::mt19937_64 rng(seed);
  std::vector<TextPrompt> out;
  for (int64_t i = 0; i < n; ++i) {
    const std::string& pattern = patterns[static_cast<size_t>(i) % patterns.size()];
    auto who = distinct(rng, names.size(), corruption == "abc" ? 5 : 2);
    const std::string& a = names[who[0]];
    const std::string& b = names[who[1]];
    const std::string& place = places[draw(rng, places.size())];
    const std::string& object = objects[draw(rng, objects.size())];
    bool abba = pattern == "ABBA";
    TextPrompt p;
    p.id = id_prefix + "-" + std::to_string(i);
    p.clean = abba ? ioi_text(a, b, place, b, object) : ioi_text(b, a, place, b, object);
    if (corruption == "abc") {
      p.corrupted = ioi_text(names[who[2]], names[who[3]], place, names[who[4]], object);
    } else {
      p.corrupted = abba ? ioi_text(a, b, place, a, object) : ioi_text(b, a, place, a, object);
    }
    p.answers = {" " + a};
    p.wrongs = {" " + b};
    out.push_back(std::move(p));
  }
  return out;
}

std::vector<TextPrompt> factual_prompts(const std::string& id_prefix, int64_t n,
                                        const std::vector<Fact>& facts) {
  std::vector<TextPrompt> out;
  for (int64_t i = 0; i < n; ++i) {
    const Fact& f = facts[static_cast<size_t>(i) % facts.size()];
    TextPrompt p;
    p.id = id_prefix + "-" + std::to_string(i);
    std::string text = f.prompt;
    size_t at = text.find("{S}");
    if (at != std::string::npos) text.replace(at, 3, f.subject);
    p.clean = text;
    p.corrupted = text;
    p.subject = f.subject;
    p.answers = {f.answer};
    std::string wrong = f.wrong;
    for (size_t k = 1; wrong.empty() && k < facts.size(); ++k) {
      const Fact& other = facts[(static_cast<size_t>(i) + k) % facts.size()];
      if (other.answer != f.answer) wrong = other.answer;
    }
    p.wrongs = {wrong};
    out.push_back(std::move(p));
  }
  return out;
}

std::vector<PromptPair> repeated_token_prompts(const std::string& id_prefix, int64_t n,
                                               uint64_t seed, int64_t length, int64_t repeats,
                                               int64_t low, int64_t high, bool corrupt_first) {
  std::mt19937_64 rng(seed);
  auto random_sequence = [&] {
    std::vector<int64_t> s(static_cast<size_t>(length));
    for (auto& t : s) t = low + static_cast<int64_t>(rng() % static_cast<uint64_t>(high - low));
    return s;
  };
  std::vector<PromptPair> out;
  for (int64_t i = 0; i < n; ++i) {
    auto r = random_sequence();
    auto s = random_sequence();
    PromptPair p;
    p.id = id_prefix + "-" + std::to_string(i);
    for (int64_t k = 0; k < repeats; ++k) {
      p.clean.insert(p.clean.end(), r.begin(), r.end());
      const auto& copy = (k == 0) == corrupt_first ? s : r;
      p.corrupted.insert(p.corrupted.end(), copy.begin(), copy.end());
    }
    p.answers = {p.clean.back()};
    p.wrongs = {corrupt_first ? s.back() : p.corrupted.back()};
    p.clean.pop_back();
    p.corrupted.pop_back();
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace csweep::jobs
