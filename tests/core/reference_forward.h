// A slow, obvious forward pass for tests: plain loops in double precision over the checkpoint's
// tensors read by name, one sequence at a time. Independent of core/model/forward.cc on
// purpose: it shares only the parsed config (ModelSpec) and the tensor names.
#pragma once

#include <vector>

#include "core/io/checkpoint.h"
#include "core/model/model_spec.h"
#include "core/tokenizer/tokenizer.h"

namespace quench::testing {

// Logits [tokens.size()][vocab] for one sequence.
std::vector<std::vector<double>> ReferenceLogits(const ModelSpec& spec,
                                                 const Checkpoint& checkpoint,
                                                 const std::vector<TokenId>& tokens);

}  // namespace quench::testing
