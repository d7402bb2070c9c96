// A reader of server-sent events (text/event-stream), for `corepin events -f`: bytes in, whole
// messages out. Follows the SSE rules corepind relies on: "field: value" lines, a blank line
// ends a message, ':' starts a comment (the heartbeat), an "id" field sets the last event id even
// in a message without data (corepind opens each stream with one, its cursor). Pure.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace corepin {

struct SseMessage {
  std::string id;
  std::string event;  // "message" when the server named none
  std::string data;   // data lines joined by '\n'
};

class SseParser {
 public:
  // Called for each message that has data. Return false to stop (Feed then returns false too).
  using OnMessage = std::function<bool(const SseMessage&)>;
  explicit SseParser(OnMessage on_message) : on_message_(std::move(on_message)) {}

  bool Feed(std::string_view bytes);
  // The id of the last whole message received (with data or not); empty before any. A message
  // cut by a dropped connection does not count, so resuming after this id loses nothing.
  const std::string& last_id() const { return last_id_; }
  // Starts afresh after a reconnect (a half message is dropped; last_id is kept).
  void Reset() { line_.clear(), pending_ = {}, has_data_ = false; }

 private:
  bool Line(std::string_view line);
  OnMessage on_message_;
  std::string line_;  // a line not yet ended
  SseMessage pending_;
  bool has_data_ = false;
  std::string last_id_;
};

}  // namespace corepin
