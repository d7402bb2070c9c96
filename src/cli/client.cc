#include "cli/client.h"

#include "cli/views.h"

namespace corepin {

using nlohmann::json;

ApiClient::ApiClient(std::string url) : url_(std::move(url)) {
  while (!url_.empty() && url_.back() == '/') url_.pop_back();
  http_ = std::make_unique<httplib::Client>(url_);
  http_->set_connection_timeout(5, 0);
  // A VM create starts QEMU and reads its pinning back; give it time.
  http_->set_read_timeout(300, 0);
}

Result<json> ApiClient::Get(const std::string& path) { return Finish(http_->Get(path.c_str())); }
Result<json> ApiClient::Post(const std::string& path, const json& body) {
  return Finish(http_->Post(path.c_str(), body.dump(), "application/json"));
}
Result<json> ApiClient::Delete(const std::string& path) { return Finish(http_->Delete(path.c_str())); }

Result<json> ApiClient::Finish(const httplib::Result& r) {
  error_body_ = nullptr;
  if (!r) {
    if (r.error() == httplib::Error::Connection || r.error() == httplib::Error::ConnectionTimeout)
      return Unavailable("cannot connect to corepind at " + url_ +
                         ": is corepind running? Start it (corepind --listen HOST:PORT), or point --server or "
                         "COREPIN_URL at it");
    return Unavailable("request to corepind at " + url_ + " failed: " + httplib::to_string(r.error()));
  }
  json body = json::parse(r->body, nullptr, false);
  if (r->status >= 400) {
    if (!body.is_discarded()) error_body_ = body;
    // The Error code is only for the exit path; the message is what the user reads.
    return Error{static_cast<ErrorCode>(r->status), RenderApiError(r->status, body.is_discarded() ? json(r->body) : body)};
  }
  if (body.is_discarded()) return Internal("corepind at " + url_ + " replied with something that is not JSON: " + r->body.substr(0, 200));
  return body;
}

std::string PathSegment(const std::string& name) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : name) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') out += static_cast<char>(c);
    else out += std::string("%") + kHex[c >> 4] + kHex[c & 15];
  }
  return out;
}

}  // namespace corepin
