#include "controller/event_feed.h"

#include <algorithm>

namespace corepin {

void EventFeed::Published(int64_t id) {
  {
    std::lock_guard lock(mu_);
    latest_ = std::max(latest_, id);
  }
  cv_.notify_all();
}

int64_t EventFeed::latest() const {
  std::lock_guard lock(mu_);
  return latest_;
}

int64_t EventFeed::WaitNewer(int64_t after_id, std::chrono::milliseconds timeout, const std::function<bool()>& stop) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return latest_ > after_id || (stop && stop()); });
  return latest_;
}

void EventFeed::Interrupt() {
  // Taking the lock orders the caller's stop flag before the waiters' predicate check.
  { std::lock_guard lock(mu_); }
  cv_.notify_all();
}

}  // namespace corepin
