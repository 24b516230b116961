// GPTQ's heavy parts on a GPU (the GptqUpdater of core/quant/gptq.h): the damped Hessian's
// Cholesky factor and its inverse (cuSOLVER potrf, cuBLAS trsm), and the lazy block updates —
// the permuted weight matrix lives on the device in double, each block's errors go up and
// W[:, i2:] −= E·U[i1:i2, i2:] runs as one DGEMM; the host fetches the next block's columns
// before quantizing them.
// Double keeps GPTQ's arithmetic as on the CPU; DGEMM sums in its own order, so a code can
// differ from the CPU's where a value sits on a rounding boundary (tests/gpu bounds how often).
#pragma once

#include <memory>

#include "core/quant/gptq.h"

namespace quench::kernels {

// An updater on CUDA device `device`; null when there is no such device.
std::unique_ptr<GptqUpdater> MakeGptqGpuUpdater(int device = 0);

}  // namespace quench::kernels
