// QUENCH_CHECK: aborts on a broken internal invariant (never on bad input: that is a Status).
#pragma once

#include <cstdio>
#include <cstdlib>

#define QUENCH_CHECK(cond)                                                                       \
  do {                                                                                           \
    if (!(cond)) {                                                                               \
      std::fprintf(stderr, "%s:%d: internal invariant broken: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                              \
    }                                                                                            \
  } while (0)
