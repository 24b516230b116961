// The coordinator's Prometheus metrics (/metrics). Labels never carry job ids: a label value
// per job would grow the series without bound.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "quench/v1/jobs.pb.h"

namespace quench::server {

class ServerMetrics {
 public:
  // `job_counts` is asked at every scrape for the jobs per state (from the job store).
  using JobCounts = std::function<std::vector<std::pair<v1::JobState, int64_t>>()>;
  explicit ServerMetrics(JobCounts job_counts);

  void JobSubmitted() { submitted_->Increment(); }
  void JobEnded(v1::JobState state, double seconds);
  // A runner took a job that was submitted `seconds_queued` ago.
  void JobStarted(double seconds_queued);
  // One unit of scheduled work finished, e.g. kind "block" (a block solved) or "evaluate".
  void TaskDone(const std::string& kind, double seconds);
  void SetQueueDepth(int64_t depth) { queue_depth_->Set(static_cast<double>(depth)); }
  void SetWorkersConnected(const std::string& backend, int64_t count);
  void BytesStreamed(const std::string& direction, uint64_t bytes);

  // The Prometheus text exposition format.
  std::string Render();

 private:
  JobCounts job_counts_;
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Gauge>* jobs_ = nullptr;
  prometheus::Counter* submitted_ = nullptr;
  prometheus::Gauge* queue_depth_ = nullptr;
  prometheus::Family<prometheus::Histogram>* job_seconds_ = nullptr;
  prometheus::Family<prometheus::Histogram>* task_seconds_ = nullptr;
  prometheus::Family<prometheus::Gauge>* workers_ = nullptr;
  prometheus::Family<prometheus::Counter>* bytes_ = nullptr;
  prometheus::Histogram* queue_wait_ = nullptr;
};

}  // namespace quench::server
