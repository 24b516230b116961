// The device a quench-worker offers (--device cpu | cuda:N | hip:N): what it registers with the
// coordinator (kind, name, memory) and where its GPTQ solves run. On a CUDA device the solves'
// lazy updates run on the GPU (kernels/cuda/gptq_gpu_updater) and shard forwards run through
// the host-staged CUDA backend until the activations live on the device.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "core/job/shard_worker.h"
#include "core/quant/gptq.h"
#include "kernels/backend.h"
#include "quench/v1/worker.pb.h"

namespace quench::worker {

struct WorkerDevice {
  v1::DeviceKind kind = v1::DEVICE_KIND_CPU;
  int index = 0;
  std::string name = "cpu";  // "cpu", "cuda:0"
  std::string description;   // "NVIDIA H200", "16 cores"
  uint64_t memory_bytes = 0;
};

// "cpu", "cuda:N" or "hip:N"; INVALID_ARGUMENT naming what is wrong or missing (no such
// device, a build without CUDA, HIP not built).
absl::StatusOr<WorkerDevice> ParseWorkerDevice(const std::string& spec);

// The backend the device's shard forwards run on: the CPU backend, or on a CUDA device the
// host-staged CUDA backend (tensors stay in host memory; each kernel call copies through).
std::unique_ptr<kernels::Backend> MakeForwardBackend(const WorkerDevice& device);

// Where a shard holder on the device computes Σxᵀx: unset for the CPU (the host accumulator),
// the GPU accumulator on a CUDA device (its input copied up once per call).
HessianSums MakeHessianSums(const WorkerDevice& device);

// The GPTQ updater for the device: null for the CPU (the host default).
std::unique_ptr<GptqUpdater> MakeSolveUpdater(const WorkerDevice& device);

}  // namespace quench::worker
