// Each fuzz target defines LLVMFuzzerTestOneInput (libFuzzer's entry point) and FuzzSeeds(),
// small valid inputs to mutate. Built with clang and -DQUENCH_FUZZ=ON a target is a libFuzzer
// binary; otherwise it links mutation_driver.cc and runs as a deterministic ctest smoke test.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
std::vector<std::string> FuzzSeeds();
