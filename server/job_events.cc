#include "server/job_events.h"

#include "server/job_store.h"

namespace quench::server {

void JobEvents::Publish(const v1::WatchJobResponse& event) {
  {
    std::lock_guard lock(mutex_);
    const std::string& job_id = event.job().job_id();
    history_[job_id].push_back(event);
    if (IsTerminal(event.job().state())) {
      ended_.push_back(job_id);
      while (ended_.size() > kept_ended_jobs_) {
        history_.erase(ended_.front());
        ended_.pop_front();
      }
    }
  }
  changed_.notify_all();
}

std::vector<v1::WatchJobResponse> JobEvents::WaitFrom(const std::string& job_id, size_t next,
                                                      std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  const auto available = [&] {
    auto it = history_.find(job_id);
    return it != history_.end() && it->second.size() > next;
  };
  changed_.wait_for(lock, timeout, [&] { return closed_ || available(); });
  if (!available()) return {};
  const auto& events = history_[job_id];
  return {events.begin() + static_cast<std::ptrdiff_t>(next), events.end()};
}

void JobEvents::Close() {
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }
  changed_.notify_all();
}

bool JobEvents::closed() {
  std::lock_guard lock(mutex_);
  return closed_;
}

}  // namespace quench::server
