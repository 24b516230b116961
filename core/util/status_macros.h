// Propagation helpers for absl::Status / absl::StatusOr, prefixed so they never collide.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define QUENCH_CONCAT_INNER(a, b) a##b
#define QUENCH_CONCAT(a, b) QUENCH_CONCAT_INNER(a, b)

// Returns from the current function when `expr` (an absl::Status) is not OK.
#define QUENCH_RETURN_IF_ERROR(expr)                 \
  do {                                               \
    ::absl::Status quench_status_ = (expr);          \
    if (!quench_status_.ok()) return quench_status_; \
  } while (0)

// `QUENCH_ASSIGN_OR_RETURN(auto x, MakeX());` declares x from an OK StatusOr or returns its error.
#define QUENCH_ASSIGN_OR_RETURN(lhs, expr) \
  QUENCH_ASSIGN_OR_RETURN_IMPL(QUENCH_CONCAT(quench_statusor_, __LINE__), lhs, expr)
#define QUENCH_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return std::move(tmp).status();     \
  lhs = std::move(tmp).value()
