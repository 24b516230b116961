#include "kernels/cuda/host_staged_backend.h"

#include <array>

#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/device_buffer.h"

namespace quench::kernels {
namespace {

class HostStagedBackend final : public Backend {
 public:
  explicit HostStagedBackend(std::unique_ptr<Backend> device) : device_(std::move(device)) {}

  std::string_view name() const override { return "cuda (host-staged)"; }

  void Linear(const float* x, int64_t rows, int64_t in, const float* w, const float* bias,
              int64_t out, float* y) override {
    float* dx = Up(0, x, rows * in);
    float* dw = Up(1, w, out * in);
    float* db = bias != nullptr ? Up(2, bias, out) : nullptr;
    float* dy = Scratch(3, rows * out);
    device_->Linear(dx, rows, in, dw, db, out, dy);
    Down(y, dy, rows * out);
  }

  void RmsNorm(const float* x, const float* weight, int64_t rows, int64_t dim, float eps,
               float* y) override {
    float* dx = Up(0, x, rows * dim);
    float* dweight = Up(1, weight, dim);
    float* dy = Scratch(2, rows * dim);
    device_->RmsNorm(dx, dweight, rows, dim, eps, dy);
    Down(y, dy, rows * dim);
  }

  void LayerNorm(const float* x, const float* weight, const float* bias, int64_t rows, int64_t dim,
                 float eps, float* y) override {
    float* dx = Up(0, x, rows * dim);
    float* dweight = Up(1, weight, dim);
    float* dbias = bias != nullptr ? Up(2, bias, dim) : nullptr;
    float* dy = Scratch(3, rows * dim);
    device_->LayerNorm(dx, dweight, dbias, rows, dim, eps, dy);
    Down(y, dy, rows * dim);
  }

  void RotaryEmbedding(float* x, int64_t rows, int64_t heads, int64_t head_dim,
                       const int64_t* positions, const float* inv_freq) override {
    float* dx = Up(0, x, rows * heads * head_dim);
    float* dfreq = Up(1, inv_freq, head_dim / 2);
    int64_t* dpositions = UpIndices(positions, rows);
    device_->RotaryEmbedding(dx, rows, heads, head_dim, dpositions, dfreq);
    Down(x, dx, rows * heads * head_dim);
  }

  void CausalAttention(const float* q, const float* k, const float* v, const int64_t* seq_offsets,
                       int64_t num_seqs, const AttentionShape& shape, float* out) override {
    const int64_t rows = seq_offsets[num_seqs];
    const int64_t q_count = rows * shape.num_heads * shape.head_dim;
    const int64_t kv_count = rows * shape.num_kv_heads * shape.head_dim;
    float* dq = Up(0, q, q_count);
    float* dk = Up(1, k, kv_count);
    float* dv = Up(2, v, kv_count);
    float* dout = Scratch(3, q_count);
    int64_t* doffsets = UpIndices(seq_offsets, num_seqs + 1);
    device_->CausalAttention(dq, dk, dv, doffsets, num_seqs, shape, dout);
    Down(out, dout, q_count);
  }

  void GatedActivation(const float* gate, const float* up, int64_t count, ActivationKind kind,
                       float* out) override {
    float* dgate = Up(0, gate, count);
    float* dup = Up(1, up, count);
    float* dout = Scratch(2, count);
    device_->GatedActivation(dgate, dup, count, kind, dout);
    Down(out, dout, count);
  }

  void Activation(float* x, int64_t count, ActivationKind kind) override {
    float* dx = Up(0, x, count);
    device_->Activation(dx, count, kind);
    Down(x, dx, count);
  }

  void Add(float* x, const float* y, int64_t count) override {
    float* dx = Up(0, x, count);
    float* dy = Up(1, y, count);
    device_->Add(dx, dy, count);
    Down(x, dx, count);
  }

 private:
  // Slot `slot`'s device buffer with room for `count` floats (grown, never shrunk).
  float* Scratch(size_t slot, int64_t count) {
    gpu::DeviceBuffer<float>& buffer = slots_[slot];
    if (buffer.size() < static_cast<size_t>(count)) {
      buffer = gpu::DeviceBuffer<float>(static_cast<size_t>(count));
    }
    return buffer.data();
  }
  float* Up(size_t slot, const float* host, int64_t count) {
    float* device = Scratch(slot, count);
    if (count > 0) {
      QUENCH_GPU_CHECK(gpuMemcpy(device, host, static_cast<size_t>(count) * sizeof(float),
                                 gpuMemcpyHostToDevice));
    }
    return device;
  }
  int64_t* UpIndices(const int64_t* host, int64_t count) {
    if (indices_.size() < static_cast<size_t>(count)) {
      indices_ = gpu::DeviceBuffer<int64_t>(static_cast<size_t>(count));
    }
    if (count > 0) {
      QUENCH_GPU_CHECK(gpuMemcpy(indices_.data(), host,
                                 static_cast<size_t>(count) * sizeof(int64_t),
                                 gpuMemcpyHostToDevice));
    }
    return indices_.data();
  }
  static void Down(float* host, const float* device, int64_t count) {
    if (count > 0) {
      QUENCH_GPU_CHECK(gpuMemcpy(host, device, static_cast<size_t>(count) * sizeof(float),
                                 gpuMemcpyDeviceToHost));
    }
  }

  std::unique_ptr<Backend> device_;
  std::array<gpu::DeviceBuffer<float>, 4> slots_;
  gpu::DeviceBuffer<int64_t> indices_;
};

}  // namespace

std::unique_ptr<Backend> MakeHostStagedCudaBackend(int device) {
  std::unique_ptr<Backend> on_device = MakeCudaBackend(device);
  if (on_device == nullptr) return nullptr;
  return std::make_unique<HostStagedBackend>(std::move(on_device));
}

}  // namespace quench::kernels
