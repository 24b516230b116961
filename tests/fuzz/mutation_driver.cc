// Runs a fuzz target on its seeds and on many deterministic random mutations of them (byte
// flips, digit changes, truncations, insertions, deletions), plus any files named on the
// command line as extra seeds. A crash or sanitizer report fails the test; the target decides
// nothing else. Usage: TARGET [--iterations N] [seed files...]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "tests/fuzz/fuzz_target.h"

namespace {

std::string Mutate(std::string input, std::mt19937& random) {
  const int edits = 1 + static_cast<int>(random() % 4);
  for (int e = 0; e < edits; ++e) {
    // Most of what a parser reads is near the start (headers); aim there more often.
    const size_t limit =
        input.empty() ? 1 : (random() % 4 ? std::min<size_t>(input.size(), 4096) : input.size());
    const size_t at = random() % limit;
    switch (random() % 6) {
      case 0:
        if (!input.empty()) input[at % input.size()] ^= static_cast<char>(1u << (random() % 8));
        break;
      case 1:
        if (!input.empty()) input[at % input.size()] = "0123456789-.e\"{}[],:"[random() % 21];
        break;
      case 2:
        input.resize(at);
        break;
      case 3:
        input.insert(std::min(at, input.size()),
                     std::string(1 + random() % 8, static_cast<char>(random())));
        break;
      case 4:
        if (!input.empty()) input.erase(at % input.size(), 1 + random() % 16);
        break;
      case 5:
        if (!input.empty()) input[at % input.size()] = static_cast<char>(random());
        break;
    }
  }
  return input;
}

}  // namespace

int main(int argc, char** argv) {
  long iterations = 20000;
  std::vector<std::string> seeds = FuzzSeeds();
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--iterations") == 0 && i + 1 < argc) {
      iterations = std::atol(argv[++i]);
      continue;
    }
    std::ifstream in(argv[i], std::ios::binary);
    if (!in) continue;  // optional seeds (../shared may be absent)
    std::ostringstream contents;
    contents << in.rdbuf();
    seeds.push_back(contents.str());
  }
  std::mt19937 random(20261125);
  for (const auto& seed : seeds) {
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(seed.data()), seed.size());
  }
  for (long i = 0; i < iterations; ++i) {
    const std::string input = Mutate(seeds[i % seeds.size()], random);
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
  }
  std::printf("%ld mutated inputs from %zu seeds: no crash\n", iterations, seeds.size());
  return 0;
}
