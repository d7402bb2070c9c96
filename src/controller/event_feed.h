// EventFeed: wakes whoever follows the event log (the SSE stream, GET /v1/events/stream) when
// the controller appends an event, so that followers need not poll the store.
//
// The feed only knows the newest event id; the events themselves are read from the store.
// Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>

namespace corepin {

class EventFeed {
 public:
  // An event with this id was appended (ids only grow; an older id is ignored).
  void Published(int64_t id);

  // The newest id published so far (0 before any).
  int64_t latest() const;

  // Returns once an event newer than `after_id` was published, `stop()` is true, or `timeout`
  // passed; returns latest(). stop() is checked when Interrupt() is called.
  int64_t WaitNewer(int64_t after_id, std::chrono::milliseconds timeout, const std::function<bool()>& stop);

  // Wakes every waiter so that it checks its stop() (a server stopping).
  void Interrupt();

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  int64_t latest_ = 0;
};

}  // namespace corepin
