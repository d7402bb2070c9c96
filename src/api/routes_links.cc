// Routes of linking and defragmentation (docs/api.md): GET /v1/vms/{name}/links,
// GET /v1/depends?..., POST /v1/defrag.
#include "api/http_mapping.h"
#include "api/routes.h"

namespace corepin {

using nlohmann::json;
using httplib::Request;
using httplib::Response;

namespace {

void Reply(Response& res, const Result<json>& r) {
  if (r.ok()) return ReplyJson(res, 200, *r);
  ReplyError(res, r.error());
}

// The query parameters, each at most once.
Result<std::map<std::string, std::string>> QueryMap(const Request& req) {
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : req.params)
    if (!out.emplace(k, v).second) return Invalid("parameter " + k + " is given twice; give it once");
  return out;
}

}  // namespace

void RegisterLinkRoutes(Router& server, Controller& c) {
  server.Get("/v1/vms/([^/]+)/links", [&c](const Request& req, Response& res) { Reply(res, c.VmLinks(req.matches[1])); });
  server.Get("/v1/depends", [&c](const Request& req, Response& res) {
    auto q = QueryMap(req);
    if (!q) return ReplyError(res, q.error());
    Reply(res, c.Depends(*q));
  });
  server.Post("/v1/defrag", [&c](const Request& req, Response& res) {
    auto body = req.body.empty() ? Result<json>(json::object()) : ParseJsonObject(req.body);
    if (!body) return ReplyError(res, body.error());
    Reply(res, c.Defrag(*body));
  });
}

}  // namespace corepin
