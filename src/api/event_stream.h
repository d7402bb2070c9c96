// GET /v1/events/stream: the event log as server-sent events (text/event-stream).
//
// The stream opens with "id: N" (the cursor: a browser's EventSource then reconnects with
// Last-Event-ID: N) and sends every stored event after the cursor, then each new one as the
// controller appends it (EventFeed wakes the stream):
//
//   id: 42
//   event: vm.created
//   data: {"id":42,"unix_ms":...,"kind":"vm.created","subject":"fw1","message":"..."}
//
// The cursor is ?after=ID, else the Last-Event-ID header, else the newest event (only new
// ones). A comment line (": heartbeat") goes out every kHeartbeat. A client that went away is
// noticed by its connection's socket hanging up, within a second (each stream looks whenever it
// wakes, at least once a second), and at once when a new stream finds every slot taken (it
// wakes them all to look). Each stream holds one of httplib's threads, so at most kMaxStreams
// are open at once (503 beyond, when every holder is alive). Stop() ends every stream at once.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>

#include "api/router.h"
#include "controller/controller.h"

namespace corepin {

class EventStreams {
 public:
  static constexpr std::chrono::seconds kHeartbeat{15};
  static constexpr int kMaxStreams = 32;

  explicit EventStreams(Controller& controller) : controller_(controller) {}
  void Register(Router& server);
  // Ends every open stream (cleanly: the chunked body is terminated) and refuses new ones;
  // returns when they have ended (at most ~2 s).
  void Stop();

 private:
  void Serve(const httplib::Request& req, httplib::Response& res);

  Controller& controller_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> open_{0};
};

// One event in SSE form: "id: N\nevent: KIND\ndata: JSON\n\n".
std::string SseEvent(const nlohmann::json& event);

}  // namespace corepin
