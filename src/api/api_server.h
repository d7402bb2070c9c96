// ApiServer: corepind's REST API (routes.h) served over HTTP by cpp-httplib.
//
// Borrows the Controller (the caller keeps it alive longer than the server). Requests are
// served on a bounded set of threads (guarded_server.h: deadlines, idle limits, eviction of
// clients that hold a connection without using it); the Controller serialises operations itself.
// Before a route sees a request: headers checked (request_guard.h), bodies at most
// ApiOptions::max_body_bytes and never decompressed, JSON nested at most kMaxJsonDepth deep.
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
#include <vector>

#include "api/event_stream.h"
#include "api/guarded_server.h"
#include "api/router.h"
#include "common/status.h"
#include "controller/controller.h"
#include "driver/host_uri.h"

namespace corepin {

struct ApiOptions {
  HostUriPolicy host_uris;               // which host URIs POST /v1/hosts takes
  size_t max_body_bytes = 1 << 20;       // larger bodies get 413 before they are read
  std::vector<std::string> host_names;   // Host header names accepted besides IP addresses and localhost
  ConnectionLimits connections;
};

class ApiServer {
 public:
  // `log` receives one line per request: client, method, path, status, duration and request id
  // ("req=7 127.0.0.1:51234 POST /v1/vms -> 201 12.3ms"); may be empty.
  explicit ApiServer(Controller& controller, std::function<void(const std::string&)> log = {}, ApiOptions options = {});

  // Binds the listening socket. Returns the port (the chosen one when `port` is 0).
  Result<int> Bind(const std::string& host, int port);

  // Serves until Stop(). Call after Bind.
  Status Serve();

  // Makes Serve return; safe from any thread, before or during Serve.
  void Stop();

  // Connections closed to make room for others, and requests cut off for arriving too slowly.
  uint64_t evicted_connections() const { return server_.evicted(); }
  uint64_t timed_out_requests() const { return server_.timed_out(); }

 private:
  void InstallChecks();
  void InstallLogger(std::function<void(const std::string&)> log);

  ApiOptions options_;
  GuardedServer server_;
  Router router_;
  EventStreams streams_;  // GET /v1/events/stream
  std::atomic<bool> serving_{false};
  std::atomic<bool> stop_requested_{false};
};

}  // namespace corepin
