// A fixed pool of worker threads with a blocking ParallelFor. Work is cut into chunks whose
// boundaries depend only on the problem size (never on the number of threads), so any
// computation that writes each output from one chunk gives bit-identical results for every
// thread count.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace quench {

class ThreadPool {
 public:
  // num_threads == 0 means one per CPU this process may use (AvailableCpus).
  explicit ThreadPool(int num_threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls fn(begin, end) for consecutive chunks [begin, end) of [0, n), each at most
  // `chunk` long, on the pool and the calling thread; returns when all are done.
  void ParallelFor(int64_t n, int64_t chunk, const std::function<void(int64_t, int64_t)>& fn);

 private:
  void WorkerLoop();
  void RunChunks();

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable work_ready_;
  std::condition_variable work_done_;
  std::mutex run_mutex_;  // one ParallelFor at a time

  // The current job, guarded by mutex_.
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
  int64_t n_ = 0;
  int64_t chunk_ = 1;
  int64_t next_chunk_ = 0;
  int64_t num_chunks_ = 0;
  int64_t chunks_done_ = 0;
  uint64_t generation_ = 0;
  bool stopping_ = false;
};

// The process-wide pool used by the CPU backend; its size is set once from
// QUENCH_NUM_THREADS, else the CPUs this process may use (a container's limit included).
ThreadPool& DefaultThreadPool();

}  // namespace quench
