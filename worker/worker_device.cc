#include "worker/worker_device.h"

#include <unistd.h>

#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "core/util/cpu_quota.h"
#include "kernels/cpu/cpu_backend.h"

#if QUENCH_WITH_GPU
#include <map>
#include "kernels/cuda/cuda_devices.h"

#include "kernels/cuda/device_buffer.h"
#include "kernels/cuda/gptq_gpu_updater.h"
#include "kernels/cuda/gpu_hessian.h"
#include "kernels/cuda/host_staged_backend.h"
#endif

namespace quench::worker {
namespace {

// The GPU kind this build drives: the same kernels/cuda sources, compiled by nvcc or hipcc.
#if QUENCH_WITH_HIP
constexpr v1::DeviceKind kBuiltGpuKind = v1::DEVICE_KIND_HIP;
#elif QUENCH_WITH_CUDA
constexpr v1::DeviceKind kBuiltGpuKind = v1::DEVICE_KIND_CUDA;
#else
constexpr v1::DeviceKind kBuiltGpuKind = v1::DEVICE_KIND_UNSPECIFIED;
#endif

}  // namespace

absl::StatusOr<WorkerDevice> ParseWorkerDevice(const std::string& spec) {
  WorkerDevice device;
  if (spec == "cpu") {
    device.description = absl::StrCat(AvailableCpus(), " cores");
    device.memory_bytes = static_cast<uint64_t>(sysconf(_SC_PHYS_PAGES)) *
                          static_cast<uint64_t>(sysconf(_SC_PAGE_SIZE));
    return device;
  }
  absl::string_view rest = spec;
  int index = -1;
  v1::DeviceKind kind = v1::DEVICE_KIND_UNSPECIFIED;
  if (absl::ConsumePrefix(&rest, "cuda:")) {
    kind = v1::DEVICE_KIND_CUDA;
  } else if (absl::ConsumePrefix(&rest, "hip:")) {
    kind = v1::DEVICE_KIND_HIP;
  }
  if (kind == v1::DEVICE_KIND_UNSPECIFIED || !absl::SimpleAtoi(rest, &index) || index < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--device ", spec, ": expected cpu, cuda:N or hip:N"));
  }
  if (kind != kBuiltGpuKind) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--device ", spec, ": this build has no ", kind == v1::DEVICE_KIND_CUDA ? "CUDA" : "HIP",
        " backend (build with -DQUENCH_GPU=", kind == v1::DEVICE_KIND_CUDA ? "cuda" : "hip", ")"));
  }
#if QUENCH_WITH_GPU
  const int count = kernels::cuda::DeviceCount();
  if (index >= count) {
    return absl::InvalidArgumentError(absl::StrCat("--device ", spec, ": this machine has ", count,
                                                   " GPU device", count == 1 ? "" : "s"));
  }
  device.kind = kind;
  device.index = index;
  device.name = spec;
  device.description = kernels::cuda::DeviceName(index);
  device.memory_bytes = kernels::cuda::DeviceTotalMemory(index);
  return device;
#else
  return absl::InternalError("unreachable: no GPU backend");
#endif
}

std::unique_ptr<kernels::Backend> MakeForwardBackend(const WorkerDevice& device) {
#if QUENCH_WITH_GPU
  if (device.kind == kBuiltGpuKind) {
    if (auto backend = kernels::MakeHostStagedCudaBackend(device.index)) return backend;
  }
#endif
  (void)device;
  return kernels::MakeCpuBackend();
}

HessianSums MakeHessianSums(const WorkerDevice& device) {
#if QUENCH_WITH_GPU
  if (device.kind == kBuiltGpuKind) {
    // One accumulator per input width, kept across calls (cuBLAS handles are slow to make).
    struct State {
      std::map<int64_t, std::unique_ptr<kernels::GpuHessianAccumulator>> by_dim;
      kernels::gpu::DeviceBuffer<float> input;
    };
    auto state = std::make_shared<State>();
    const int index = device.index;
    return [state, index](const Tensor& input) {
      const int64_t tokens = input.dim(0), dim = input.dim(1);
      auto& accumulator = state->by_dim[dim];
      if (accumulator == nullptr) accumulator = kernels::GpuHessianAccumulator::Create(dim, index);
      accumulator->Reset();
      const size_t count = static_cast<size_t>(tokens * dim);
      if (state->input.size() < count) state->input = kernels::gpu::DeviceBuffer<float>(count);
      QUENCH_GPU_CHECK(gpuMemcpy(state->input.data(), input.data<float>(), count * sizeof(float),
                                 gpuMemcpyHostToDevice));
      accumulator->Accumulate(state->input.data(), tokens);
      return HessianAccumulator::FromSums(dim, tokens, accumulator->Sums());
    };
  }
#endif
  (void)device;
  return {};
}

std::unique_ptr<GptqUpdater> MakeSolveUpdater(const WorkerDevice& device) {
#if QUENCH_WITH_GPU
  if (device.kind == kBuiltGpuKind) return kernels::MakeGptqGpuUpdater(device.index);
#endif
  (void)device;
  return nullptr;
}

}  // namespace quench::worker
