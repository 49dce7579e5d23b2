// A fixed pool of threads running posted tasks in FIFO order.
//
// Thread-safety: thread-safe. Tasks posted after stop() are dropped.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace samsa_server {

class WorkPool {
 public:
  WorkPool(std::string name, int threads);
  ~WorkPool();  // stop()
  WorkPool(const WorkPool&) = delete;
  WorkPool& operator=(const WorkPool&) = delete;

  // Returns false (and drops the task) once stopping.
  bool post(std::function<void()> task);
  // Runs the tasks already queued, then joins the threads. Idempotent.
  void stop();

 private:
  void loop();

  std::string name_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace samsa_server
