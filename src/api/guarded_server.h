// GuardedServer: httplib's server with the limits a daemon on a network needs, so that slow,
// idle or many clients never delay the others.
//
// httplib gives each connection a thread and waits on a socket as long as bytes trickle in. Here:
//  - every request must arrive whole (request line, headers, body) within `request_read_ms` of
//    its first byte, however slowly it trickles (a "slowloris" client is cut off);
//  - a kept-alive connection may sit idle between requests for at most `idle_ms`;
//  - at most `max_connections` connections are served at once: when all threads are busy, the
//    connection that has waited longest for its client (idle, or still sending its request) is
//    closed to make room, never one whose request is being handled;
//  - the listen backlog is 128 (httplib's build has 5).
// The thread running a connection also knows its request (id, start, client), for the log.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>

namespace corepin {

struct ConnectionLimits {
  int max_connections = 128;    // served at once; one thread each
  int extra_threads = 0;        // for long-lived responses (event streams) on top
  int request_read_ms = 10000;  // a whole request, from its first byte
  int idle_ms = 5000;           // between requests on a kept-alive connection
  int write_timeout_ms = 10000; // one write to a client that does not read
  int listen_backlog = 128;
};

// What the thread serving a request knows about it (see CurrentRequest()).
struct RequestContext {
  uint64_t id = 0;
  int fd = -1;  // the connection's socket (valid while its request is served)
  std::chrono::steady_clock::time_point start;
  bool close_after = false;  // close the connection after this response (its body may be unread)
};

// The request being served on this thread, or nullptr outside a connection.
RequestContext* CurrentRequest();

// Called by every route before its handler (Router does): a connection whose request is being
// handled is never evicted, however long the handler takes.
void MarkRequestHandling();

class GuardedServer : public httplib::Server {
 public:
  explicit GuardedServer(ConnectionLimits limits);
  ~GuardedServer() override;

  // Sets the listen backlog on the bound socket (call after bind_to_port).
  void ApplyBacklog();

  // stop(), and every connection waiting for its client is closed at once (those in a handler
  // finish their response).
  void StopServing();

  // Connections closed to make room, and requests cut off for arriving too slowly (for tests
  // and the log).
  uint64_t evicted() const { return evicted_; }
  uint64_t timed_out() const { return timed_out_; }

 private:
  struct Connection;
  class Table;
  class Pool;
  class DeadlineStream;

  bool process_and_close_socket(socket_t sock) override;
  bool WaitForRequest(Connection& conn);

  ConnectionLimits limits_;
  std::unique_ptr<Table> table_;
  std::atomic<uint64_t> next_request_id_{1};
  std::atomic<uint64_t> evicted_{0};
  std::atomic<uint64_t> timed_out_{0};
};

}  // namespace corepin
