#include "api/event_stream.h"

#include <poll.h>

#include <algorithm>
#include <memory>
#include <thread>

#include "api/guarded_server.h"
#include "api/http_mapping.h"

namespace corepin {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

std::string SseEvent(const json& e) {
  // dump() escapes newlines inside strings, so the data is one line.
  return "id: " + std::to_string(e.value("id", int64_t{0})) + "\nevent: " + e.value("kind", "") + "\ndata: " + e.dump() + "\n\n";
}

namespace {

// The client closed its end or reset the connection (a killed client): nothing to wait for.
bool PeerGone(int fd) {
  if (fd < 0) return false;
  pollfd p{.fd = fd, .events = POLLRDHUP, .revents = 0};
  return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

}  // namespace

void EventStreams::Register(Router& server) {
  server.Get("/v1/events/stream", [this](const httplib::Request& req, httplib::Response& res) { Serve(req, res); });
}

void EventStreams::Stop() {
  stopping_ = true;
  controller_.event_feed().Interrupt();
  // Give the streams a moment to send their last chunk: once httplib itself is stopping it no
  // longer calls them, and a client would see a cut instead of an end.
  const auto deadline = Clock::now() + std::chrono::seconds(2);
  while (open_ > 0 && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

void EventStreams::Serve(const httplib::Request& req, httplib::Response& res) {
  const bool has_after = req.has_param("after");
  auto after = QueryInt(req, "after", 0, 0, INT64_MAX);
  if (!after) return ReplyError(res, after.error());
  int64_t cursor = *after;
  if (!has_after) {
    cursor = controller_.event_feed().latest();
    if (req.has_header("Last-Event-ID")) {
      const std::string last = req.get_header_value("Last-Event-ID");
      char* end = nullptr;
      const long long v = std::strtoll(last.c_str(), &end, 10);
      if (last.empty() || *end != '\0' || v < 0)
        return ReplyError(res, Invalid("header Last-Event-ID: \"" + last + "\" is not an event id (a whole number >= 0)"));
      cursor = v;
    }
  }
  if (stopping_) return ReplyError(res, Unavailable("corepind is stopping"));
  if (open_ >= kMaxStreams) {
    // Holders whose client died keep their slot until they notice: wake them to look now, and
    // give them a moment to end (each checks its own socket, at once).
    controller_.event_feed().Interrupt();
    const auto deadline = Clock::now() + std::chrono::seconds(2);
    while (open_ >= kMaxStreams && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (++open_ > kMaxStreams) {
    --open_;
    return ReplyError(res, Unavailable("too many event streams open (" + std::to_string(kMaxStreams) +
                                       "); close one, or page through GET /v1/events?after=ID"));
  }

  // Shared by the provider's copies; the last one gone closes the stream's slot.
  struct State {
    std::atomic<int>* open;
    int64_t cursor;
    int socket = -1;  // the connection's, to notice a client gone without writing to it
    bool opened = false;
    Clock::time_point last_write = Clock::now();
    ~State() { --*open; }
  };
  // The connection's socket, to notice a client that went away (guarded_server.h knows it).
  const RequestContext* request = CurrentRequest();
  auto state = std::make_shared<State>(&open_, cursor, request ? request->fd : -1);
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");  // tell a proxy in front not to buffer the stream
  res.set_chunked_content_provider(
      "text/event-stream",
      [this, state](size_t, httplib::DataSink& sink) {
        auto write = [&](const std::string& text) {
          state->last_write = Clock::now();
          return sink.write(text.data(), text.size());
        };
        if (stopping_) {
          sink.done();  // the terminating chunk: a clean end of the response
          return true;
        }
        if (PeerGone(state->socket)) return false;  // its slot is freed now, not at the next heartbeat
        if (!state->opened) {
          state->opened = true;
          if (!write("id: " + std::to_string(state->cursor) + "\n\n")) return false;
        }
        constexpr int kPage = 500;
        auto events = controller_.Events(state->cursor, kPage);
        if (!events) return false;
        for (const auto& e : *events) {
          if (!write(SseEvent(e))) return false;
          state->cursor = e["id"].get<int64_t>();
        }
        if (events->size() == static_cast<size_t>(kPage)) return true;  // more stored: next call
        const auto since = Clock::now() - state->last_write;
        if (since >= kHeartbeat) {
          if (!write(": heartbeat\n\n")) return false;
        }
        // Wake on a new event or Stop(); at least once a second re-read the store, which
        // also catches events appended without the controller's Event().
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(kHeartbeat - (Clock::now() - state->last_write));
        controller_.event_feed().WaitNewer(state->cursor, std::clamp(left, std::chrono::milliseconds(1), std::chrono::milliseconds(1000)),
                                           [this, state] { return stopping_.load() || PeerGone(state->socket); });
        return true;
      });
}

}  // namespace corepin
