// `corepin events -f`: follows GET /v1/events/stream and hands each event (the JSON of
// GET /v1/events) to `on_event`. When the connection drops after it was open, it reconnects
// every second from the last id it saw (after=ID), so no event is lost or repeated; corepind
// restarting is such a drop. It ends when on_event returns false, or with an error when the
// first connection fails or corepind refuses the request (4xx).
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "common/status.h"

namespace corepin {

struct FollowOptions {
  std::string url;               // "http://HOST:PORT"
  std::optional<int64_t> after;  // stored events after this id first; none: only new ones
  // Told once per drop (e.g. to print "connection lost; reconnecting"); may be empty.
  std::function<void(const std::string&)> on_drop;
};

Status FollowEvents(const FollowOptions& options, const std::function<bool(const nlohmann::json&)>& on_event);

}  // namespace corepin
