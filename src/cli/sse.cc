#include "cli/sse.h"

namespace corepin {

bool SseParser::Feed(std::string_view bytes) {
  for (char c : bytes) {
    if (c != '\n') {
      line_ += c;
      continue;
    }
    if (!line_.empty() && line_.back() == '\r') line_.pop_back();
    std::string line;
    line.swap(line_);
    if (!Line(line)) return false;
  }
  return true;
}

bool SseParser::Line(std::string_view line) {
  if (line.empty()) {  // end of a message: only now is its id the last one seen
    SseMessage m = std::move(pending_);
    const bool dispatch = has_data_;
    pending_ = {};
    has_data_ = false;
    if (!m.id.empty()) last_id_ = m.id;
    if (!dispatch) return true;
    if (m.event.empty()) m.event = "message";
    return on_message_(m);
  }
  if (line[0] == ':') return true;  // a comment: the heartbeat
  const size_t colon = line.find(':');
  std::string_view field = line.substr(0, colon), value;
  if (colon != std::string_view::npos) {
    value = line.substr(colon + 1);
    if (!value.empty() && value[0] == ' ') value.remove_prefix(1);
  }
  if (field == "id") {
    pending_.id = value;
  } else if (field == "event") {
    pending_.event = value;
  } else if (field == "data") {
    if (has_data_) pending_.data += '\n';
    pending_.data += value;
    has_data_ = true;
  }
  return true;
}

}  // namespace corepin
