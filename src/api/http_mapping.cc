#include "api/http_mapping.h"

#include <algorithm>
#include <charconv>

#include "api/request_guard.h"
#include "common/nesting.h"

#include "placement/placement_json.h"

namespace corepin {

using nlohmann::json;

void ReplyJson(httplib::Response& res, int status, const json& body) {
  res.status = status;
  // replace: a stray invalid UTF-8 byte in a libvirt message must not turn a reply into a throw.
  res.set_content(body.dump(2, ' ', false, json::error_handler_t::replace) + "\n", "application/json");
}

void ReplyError(httplib::Response& res, const Error& error) {
  // A message may quote what the client sent: never echo more than a few KiB of it back.
  std::string message = error.message;
  if (message.size() > kMaxErrorBytes) message = message.substr(0, kMaxErrorBytes) + "... (message cut)";
  ReplyJson(res, static_cast<int>(error.code), json{{"error", message}});
}

void ReplyCreateError(httplib::Response& res, const Error& error, const NoFit& no_fit) {
  const bool placement_refused = !no_fit.rejections.empty() || no_fit.explanation.is_object();
  if (error.code != ErrorCode::kUnprocessable || !placement_refused) return ReplyError(res, error);
  json rejections = json::array();
  for (const auto& r : no_fit.rejections) rejections.push_back(RejectionToJson(r));
  // The controller's message is the no-fit summary (NoFit::Summary), with the refusal first.
  std::string message = error.message.empty() ? no_fit.Summary() : error.message;
  ReplyJson(res, 422, json{{"error", message},
                           {"rejections", rejections},
                           {"explanation", no_fit.explanation.is_object() ? no_fit.explanation : json::object()}});
}

Result<json> ParseJsonObject(const std::string& body) {
  if (body.empty()) return Invalid("request body is empty; expected a JSON object");
  // Checked before parsing: nesting thousands deep would exhaust a thread's stack later on.
  if (NestingDepth(body, NestingSyntax::kJson) > kMaxJsonDepth)
    return Invalid("request body is nested deeper than " + std::to_string(kMaxJsonDepth) + " levels; no corepin request needs that");
  json j;
  try {
    j = json::parse(body);
  } catch (const json::parse_error& e) {
    // Says where and why; cut, since the parser quotes the bad token, which may be long.
    return Invalid("request body is not valid JSON: " + Printable(e.what(), 300));
  }
  if (!j.is_object()) return Invalid(std::string("request body must be a JSON object, got ") + j.type_name());
  return j;
}

Result<int64_t> QueryInt(const httplib::Request& req, const std::string& name, int64_t fallback, int64_t min,
                         int64_t max) {
  if (!req.has_param(name.c_str())) return fallback;
  const std::string text = req.get_param_value(name.c_str());
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size())
    return Invalid("query parameter " + name + "=\"" + text + "\" is not an integer");
  if (v < min || v > max)
    return Invalid("query parameter " + name + "=" + text + " is out of range " + std::to_string(min) + ".." +
                   std::to_string(max));
  return v;
}

}  // namespace corepin
