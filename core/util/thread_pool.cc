#include "core/util/thread_pool.h"

#include <algorithm>
#include <cstdlib>
#include <string>

#include "core/util/cpu_quota.h"

namespace quench {

ThreadPool::ThreadPool(int num_threads) {
  if (num_threads <= 0) num_threads = AvailableCpus();
  for (int i = 1; i < num_threads; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  work_ready_.notify_all();
  for (auto& worker : workers_) worker.join();
}

void ThreadPool::ParallelFor(int64_t n, int64_t chunk,
                             const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  chunk = std::max<int64_t>(1, chunk);
  const int64_t num_chunks = (n + chunk - 1) / chunk;
  if (num_chunks == 1 || workers_.empty()) {
    for (int64_t begin = 0; begin < n; begin += chunk) fn(begin, std::min(n, begin + chunk));
    return;
  }
  std::lock_guard<std::mutex> run_lock(run_mutex_);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    fn_ = &fn;
    n_ = n;
    chunk_ = chunk;
    next_chunk_ = 0;
    num_chunks_ = num_chunks;
    chunks_done_ = 0;
    ++generation_;
  }
  work_ready_.notify_all();
  RunChunks();
  std::unique_lock<std::mutex> lock(mutex_);
  work_done_.wait(lock, [this] { return chunks_done_ == num_chunks_; });
  fn_ = nullptr;
}

void ThreadPool::RunChunks() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (fn_ != nullptr && next_chunk_ < num_chunks_) {
    const int64_t index = next_chunk_++;
    const auto* fn = fn_;
    const int64_t begin = index * chunk_;
    const int64_t end = std::min(n_, begin + chunk_);
    lock.unlock();
    (*fn)(begin, end);
    lock.lock();
    if (++chunks_done_ == num_chunks_) work_done_.notify_all();
  }
}

void ThreadPool::WorkerLoop() {
  uint64_t seen_generation = 0;
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      work_ready_.wait(lock, [&] { return stopping_ || generation_ != seen_generation; });
      if (stopping_) return;
      seen_generation = generation_;
    }
    RunChunks();
  }
}

ThreadPool& DefaultThreadPool() {
  static ThreadPool* pool = [] {
    int threads = 0;
    if (const char* env = std::getenv("QUENCH_NUM_THREADS"); env != nullptr) {
      threads = std::atoi(env);
    }
    return new ThreadPool(threads);
  }();
  return *pool;
}

}  // namespace quench
