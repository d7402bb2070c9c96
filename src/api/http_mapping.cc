#include "api/http_mapping.h"

#include <charconv>

#include "placement/placement_json.h"

namespace corepin {

using nlohmann::json;

void ReplyJson(httplib::Response& res, int status, const json& body) {
  res.status = status;
  // replace: a stray invalid UTF-8 byte in a libvirt message must not turn a reply into a throw.
  res.set_content(body.dump(2, ' ', false, json::error_handler_t::replace) + "\n", "application/json");
}

void ReplyError(httplib::Response& res, const Error& error) {
  ReplyJson(res, static_cast<int>(error.code), json{{"error", error.message}});
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
  json j;
  try {
    j = json::parse(body);
  } catch (const json::parse_error& e) {
    return Invalid(std::string("request body is not valid JSON: ") + e.what());  // says where and why
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
