#include "cli/follow.h"

#include <httplib.h>

#include <chrono>
#include <thread>

#include "cli/sse.h"
#include "cli/views.h"

namespace corepin {

using nlohmann::json;

Status FollowEvents(const FollowOptions& o, const std::function<bool(const json&)>& on_event) {
  std::string url = o.url;
  while (!url.empty() && url.back() == '/') url.pop_back();
  bool stopped = false, ever_open = false, drop_told = false;
  std::string error_body;
  int status = 0;
  SseParser parser([&](const SseMessage& m) {
    json e = json::parse(m.data, nullptr, false);
    if (e.is_discarded()) return true;  // not an event of ours: skip it
    if (!on_event(e)) stopped = true;
    return !stopped;
  });
  std::optional<int64_t> after = o.after;
  for (;;) {
    httplib::Client http(url);
    http.set_connection_timeout(5, 0);
    http.set_read_timeout(45, 0);  // three heartbeats: a silent stream is a dead one
    const std::string path = "/v1/events/stream" + (after ? "?after=" + std::to_string(*after) : "");
    status = 0;
    error_body.clear();
    parser.Reset();
    auto r = http.Get(
        path.c_str(), httplib::Headers{},
        [&](const httplib::Response& res) {
          status = res.status;
          if (status == 200) {
            ever_open = true;
            drop_told = false;
          }
          return true;
        },
        [&](const char* data, size_t n) {
          if (status != 200) {
            error_body.append(data, n);
            return true;
          }
          return parser.Feed(std::string_view(data, n));
        });
    if (stopped) return Status::Ok();
    if (status >= 400 && status < 500) {
      json body = json::parse(error_body, nullptr, false);
      return Error{static_cast<ErrorCode>(status), RenderApiError(status, body.is_discarded() ? json(error_body) : body)};
    }
    if (!ever_open)
      return Unavailable("cannot follow events at " + url + ": " + (r ? "HTTP " + std::to_string(status) : httplib::to_string(r.error())) +
                         "; is corepind running? Point --server or COREPIN_URL at it");
    if (const std::string& id = parser.last_id(); !id.empty() && id.find_first_not_of("0123456789") == std::string::npos)
      after = std::stoll(id);
    if (o.on_drop && !drop_told) {  // once per drop, not once per failed reconnect
      drop_told = true;
      o.on_drop("event stream from " + url + " ended (" + (r ? "closed by corepind" : httplib::to_string(r.error())) +
                "); reconnecting from event " + (after ? std::to_string(*after) : "the newest"));
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

}  // namespace corepin
