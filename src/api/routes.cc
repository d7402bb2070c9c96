#include "api/routes.h"

#include "api/http_mapping.h"

namespace corepin {

using nlohmann::json;
using httplib::Request;
using httplib::Response;

namespace {

constexpr char kName[] = "([^/]+)";  // a path segment: a host or VM name

// Replies with the value (status `ok_status`) or the error.
void Reply(Response& res, const Result<json>& r, int ok_status = 200) {
  if (r.ok()) return ReplyJson(res, ok_status, *r);
  ReplyError(res, r.error());
}

void ReplyDeleted(Response& res, const Status& s, const std::string& name) {
  if (s.ok()) return ReplyJson(res, 200, json{{"deleted", name}});
  ReplyError(res, s.error());
}

}  // namespace

void RegisterRoutes(httplib::Server& server, Controller& c) {
  const std::string hosts = "/v1/hosts", vms = "/v1/vms";

  server.Post(hosts, [&c](const Request& req, Response& res) {
    auto body = ParseJsonObject(req.body);
    if (!body) return ReplyError(res, body.error());
    Reply(res, c.AddHost(*body), 201);
  });
  server.Get(hosts, [&c](const Request&, Response& res) { Reply(res, c.ListHosts()); });
  server.Get(hosts + "/" + kName, [&c](const Request& req, Response& res) { Reply(res, c.ShowHost(req.matches[1])); });
  server.Delete(hosts + "/" + kName, [&c](const Request& req, Response& res) {
    ReplyDeleted(res, c.RemoveHost(req.matches[1]), req.matches[1]);
  });

  server.Post(vms, [&c](const Request& req, Response& res) {
    auto body = ParseJsonObject(req.body);
    if (!body) return ReplyError(res, body.error());
    NoFit no_fit;
    auto r = c.CreateVm(*body, &no_fit);
    if (r.ok()) return ReplyJson(res, 201, *r);
    ReplyCreateError(res, r.error(), no_fit);
  });
  server.Get(vms, [&c](const Request&, Response& res) { Reply(res, c.ListVms()); });
  server.Get(vms + "/" + kName, [&c](const Request& req, Response& res) { Reply(res, c.ShowVm(req.matches[1])); });
  server.Delete(vms + "/" + kName, [&c](const Request& req, Response& res) {
    ReplyDeleted(res, c.DeleteVm(req.matches[1]), req.matches[1]);
  });

  server.Post("/v1/reconcile", [&c](const Request&, Response& res) { Reply(res, c.Reconcile()); });
  server.Get("/v1/events", [&c](const Request& req, Response& res) {
    auto after = QueryInt(req, "after", 0, 0, INT64_MAX);
    if (!after) return ReplyError(res, after.error());
    auto limit = QueryInt(req, "limit", 100, 1, 1000);
    if (!limit) return ReplyError(res, limit.error());
    Reply(res, c.Events(*after, static_cast<int>(*limit)));
  });
  server.Get("/v1/health", [](const Request&, Response& res) { ReplyJson(res, 200, json{{"status", "ok"}}); });
}

}  // namespace corepin
