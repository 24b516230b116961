// What WatchJob streams: each job's events (state changes, finished blocks, evaluation
// progress) since this coordinator began tracking it, kept in memory so a watcher that attaches
// late still sees every block; and a wait for the next event.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "quench/v1/jobs.pb.h"

namespace quench::server {

class JobEvents {
 public:
  // Histories of at most this many ended jobs are kept (the oldest are forgotten first).
  explicit JobEvents(size_t kept_ended_jobs = 256) : kept_ended_jobs_(kept_ended_jobs) {}

  void Publish(const v1::WatchJobResponse& event);

  // The job's events from index `next` on; waits up to `timeout` while there are none.
  std::vector<v1::WatchJobResponse> WaitFrom(const std::string& job_id, size_t next,
                                             std::chrono::milliseconds timeout);

  // Shutdown: wakes every waiter, and no wait blocks after this.
  void Close();
  bool closed();

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::string, std::vector<v1::WatchJobResponse>> history_;
  std::deque<std::string> ended_;  // job ids in the order they ended
  size_t kept_ended_jobs_;
  bool closed_ = false;
};

}  // namespace quench::server
