// OvsdbClient: one JSON-RPC 1.0 connection to ovsdb-server (RFC 7047), over a unix socket or
// TCP, with plain POSIX sockets.
//
// OVSDB frames nothing: messages are JSON values back to back on the stream, so the reader
// finds where each value ends. While waiting for a reply the client answers the server's
// "echo" requests (its liveness probe) and queues notifications (monitor "update"s) for
// NextNotification. Not thread-safe: one user at a time.
#pragma once

#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace corepin::ovsdb {

using Json = nlohmann::json;
using Millis = std::chrono::milliseconds;

class OvsdbClient {
 public:
  // endpoint: "unix:/path/db.sock" or "tcp:HOST:PORT" (as in ovsdb-server --remote, without
  // the leading 'p'). Unreachable: Unavailable naming the endpoint and errno's text.
  static Result<std::unique_ptr<OvsdbClient>> Connect(const std::string& endpoint, Millis timeout);
  ~OvsdbClient();
  OvsdbClient(const OvsdbClient&) = delete;
  OvsdbClient& operator=(const OvsdbClient&) = delete;

  // Sends {method, params, id} and returns the reply's "result". A JSON-RPC "error" reply, a
  // timeout or a lost connection is an Unavailable error; after a timeout or a lost
  // connection the client is closed (ok() is false) and must be replaced.
  Result<Json> Call(const std::string& method, Json params, Millis timeout);

  // The next notification (a request with a null id, e.g. "update"), or nullopt after
  // timeout. Echo requests that arrive meanwhile are answered.
  Result<std::optional<Json>> NextNotification(Millis timeout);

  bool ok() const { return fd_ >= 0; }
  const std::string& endpoint() const { return endpoint_; }

 private:
  OvsdbClient(int fd, std::string endpoint) : fd_(fd), endpoint_(std::move(endpoint)) {}
  using Clock = std::chrono::steady_clock;
  Status Send(const Json& message, Clock::time_point deadline);
  // One complete message, or nullopt at the deadline. Answers echo requests itself.
  Result<std::optional<Json>> Receive(Clock::time_point deadline);
  std::optional<Json> TakeBufferedMessage();  // a complete JSON value from buf_, if there is one
  Error Fail(const std::string& what);        // closes the connection, returns Unavailable
  void Close();

  int fd_ = -1;
  std::string endpoint_;
  std::string buf_;       // bytes received, not yet parsed
  size_t scan_ = 0;       // framing state over buf_: how far scanned,
  int depth_ = 0;         // nesting depth of {} and [],
  bool in_string_ = false, escape_ = false;  // and whether inside a string literal
  uint64_t next_id_ = 1;
  std::deque<Json> notifications_;
};

}  // namespace corepin::ovsdb
