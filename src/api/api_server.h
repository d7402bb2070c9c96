// ApiServer: corepind's REST API (routes.h) served over HTTP by cpp-httplib.
//
// Borrows the Controller (the caller keeps it alive longer than the server). Requests are
// served on httplib's thread pool; the Controller serialises operations itself.
//
//   ApiServer api(controller, [](const std::string& line) { std::cerr << line << "\n"; });
//   auto port = api.Bind("127.0.0.1", 7480);   // 0 picks a free port
//   std::thread t([&] { api.Serve(); });
//   ...
//   api.Stop(); t.join();
#pragma once

#include <httplib.h>

#include <atomic>
#include <functional>
#include <string>

#include "api/event_stream.h"
#include "common/status.h"
#include "controller/controller.h"

namespace corepin {

class ApiServer {
 public:
  // `log` receives one line per request ("POST /v1/vms -> 201"); may be empty.
  explicit ApiServer(Controller& controller, std::function<void(const std::string&)> log = {});

  // Binds the listening socket. Returns the port (the chosen one when `port` is 0).
  Result<int> Bind(const std::string& host, int port);

  // Serves until Stop(). Call after Bind.
  Status Serve();

  // Makes Serve return; safe from any thread, before or during Serve.
  void Stop();

 private:
  httplib::Server server_;
  EventStreams streams_;  // GET /v1/events/stream
  std::atomic<bool> serving_{false};
  std::atomic<bool> stop_requested_{false};
};

}  // namespace corepin
