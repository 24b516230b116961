// quench-worker's life: connect to the coordinator (retrying with backoff), register, send
// heartbeats, run the tasks that arrive one at a time and stream back their results; when the
// stream breaks, reconnect. Runs until `stop` is set (then it finishes its current task).
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "worker/worker_device.h"

namespace grpc {
class Channel;
}

namespace quench::worker {

struct WorkerOptions {
  std::string coordinator = "localhost:7070";  // HOST:PORT
  // When set, the worker talks through this channel instead of connecting to `coordinator`:
  // an in-process coordinator's (`quench local`).
  std::shared_ptr<grpc::Channel> channel;
  std::string name;        // empty: host name and process id
  WorkerDevice device;     // what it registers, and where its solves run
  std::string token;       // bearer token, empty for none
  std::string tls_ca_pem;  // root certificate: connect over TLS when set
  double heartbeat_s = 2.0;
  double max_backoff_s = 30.0;
};

// Returns when `stop` is set, or with an error the worker cannot recover from (a refused
// registration: wrong token, incompatible version).
absl::Status RunWorker(const WorkerOptions& options, const std::atomic<bool>& stop);

}  // namespace quench::worker
