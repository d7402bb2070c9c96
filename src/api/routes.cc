#include "api/routes.h"

#include "api/http_mapping.h"
#include "api/metrics_text.h"

namespace corepin {

using nlohmann::json;
using httplib::Request;
using httplib::Response;

namespace {

constexpr char kName[] = "([^/]+)";  // a path segment: a host, VM or group name

// Replies with the value (status `ok_status`) or the error.
void Reply(Response& res, const Result<json>& r, int ok_status = 200) {
  if (r.ok()) return ReplyJson(res, ok_status, *r);
  ReplyError(res, r.error());
}

void ReplyDeleted(Response& res, const Status& s, const std::string& name) {
  if (s.ok()) return ReplyJson(res, 200, json{{"deleted", name}});
  ReplyError(res, s.error());
}

// The body of POST /v1/whatif: {"failed": ["h1", ...]}, at least one host name.
Result<std::vector<std::string>> FailedHosts(const json& body) {
  constexpr char kExample[] = "; e.g. {\"failed\": [\"h1\"]}";
  for (const auto& [k, v] : body.items())
    if (k != "failed") return Invalid("unknown field \"" + k + "\"; the what-if field is failed" + kExample);
  if (!body.contains("failed")) return Invalid(std::string("failed: missing; name the hosts that fail") + kExample);
  const json& failed = body["failed"];
  if (!failed.is_array()) return Invalid("failed: must be a list of host names, got " + std::string(failed.type_name()) + kExample);
  if (failed.empty()) return Invalid(std::string("failed: empty; name at least one host that fails") + kExample);
  std::vector<std::string> out;
  for (const auto& h : failed) {
    if (!h.is_string() || h.get<std::string>().empty())
      return Invalid("failed: each entry must be a host name string, got " + h.dump() + kExample);
    out.push_back(h.get<std::string>());
  }
  return out;
}

// The body of POST /v1/alarms/clear: {"kind": "alarm.NAME", "subject": "..."}.
Result<std::pair<std::string, std::string>> AlarmToClear(const json& body) {
  constexpr char kExample[] = "; e.g. {\"kind\": \"alarm.vm-crash-loop\", \"subject\": \"fw1\"}";
  for (const auto& [k, v] : body.items())
    if (k != "kind" && k != "subject") return Invalid("unknown field \"" + k + "\"; an alarm is named by kind and subject" + kExample);
  for (const char* field : {"kind", "subject"}) {
    if (!body.contains(field)) return Invalid(std::string(field) + ": missing; name the alarm to clear" + kExample);
    if (!body[field].is_string()) return Invalid(std::string(field) + ": must be a string, got " + body[field].dump() + kExample);
  }
  return std::pair{body["kind"].get<std::string>(), body["subject"].get<std::string>()};
}

}  // namespace

void RegisterRoutes(Router& server, Controller& c, const HostUriPolicy& host_uris) {
  const std::string hosts = "/v1/hosts", vms = "/v1/vms";

  server.Post(hosts, [&c, host_uris](const Request& req, Response& res) {
    auto body = ParseJsonObject(req.body);
    if (!body) return ReplyError(res, body.error());
    // Before any driver sees it: a libvirt URI can run programs and read files.
    if (body->contains("uri") && (*body)["uri"].is_string())
      if (Status s = CheckHostUri((*body)["uri"].get<std::string>(), host_uris); !s.ok()) return ReplyError(res, s.error());
    Reply(res, c.AddHost(*body), 201);
  });
  server.Get(hosts, [&c](const Request&, Response& res) { Reply(res, c.ListHosts()); });
  server.Get(hosts + "/" + kName, [&c](const Request& req, Response& res) { Reply(res, c.ShowHost(req.matches[1])); });
  server.Get(hosts + "/" + kName + "/power", [&c](const Request& req, Response& res) { Reply(res, c.PowerStatus(req.matches[1])); });
  server.Post(hosts + "/" + kName + "/fenced", [&c](const Request& req, Response& res) { Reply(res, c.ConfirmFenced(req.matches[1])); });
  server.Post(hosts + "/" + kName + "/return", [&c](const Request& req, Response& res) { Reply(res, c.ReturnHost(req.matches[1])); });
  server.Get("/v1/healings", [&c](const Request&, Response& res) { Reply(res, c.Healings()); });
  server.Post(hosts + "/" + kName + "/drain", [&c](const Request& req, Response& res) {
    auto body = req.body.empty() ? Result<json>(json::object()) : ParseJsonObject(req.body);
    if (!body) return ReplyError(res, body.error());
    auto r = c.Drain(req.matches[1], *body);
    Reply(res, r, r.ok() && !r->contains("dry_run") ? 202 : 200);
  });
  server.Post(hosts + "/" + kName + "/undrain", [&c](const Request& req, Response& res) { Reply(res, c.Undrain(req.matches[1])); });
  server.Get("/v1/operations", [&c](const Request&, Response& res) { Reply(res, c.Operations()); });
  server.Get("/v1/operations/" + std::string(kName), [&c](const Request& req, Response& res) { Reply(res, c.ShowOperation(req.matches[1])); });
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
  server.Post(vms + "/" + kName + "/adopt", [&c](const Request& req, Response& res) {
    auto body = ParseJsonObject(req.body);
    if (!body) return ReplyError(res, body.error());
    Reply(res, c.AdoptVm(req.matches[1], *body), 201);
  });
  server.Delete(vms + "/" + kName, [&c](const Request& req, Response& res) {
    ReplyDeleted(res, c.DeleteVm(req.matches[1]), req.matches[1]);
  });
  // Re-pin, resize and move: a refusal by placement is 422 with the rejections, like a create's.
  using VmChange = Result<json> (Controller::*)(const std::string&, const json&, NoFit*);
  for (auto [path, change] : {std::pair<const char*, VmChange>{"/repin", &Controller::RepinVm}, {"/resize", &Controller::ResizeVm}, {"/move", &Controller::MoveVm}}) {
    server.Post(vms + "/" + kName + path, [&c, change](const Request& req, Response& res) {
      auto body = ParseJsonObject(req.body);
      if (!body) return ReplyError(res, body.error());
      NoFit no_fit;
      auto r = (c.*change)(req.matches[1], *body, &no_fit);
      if (r.ok()) return ReplyJson(res, 200, *r);
      ReplyCreateError(res, r.error(), no_fit);
    });
  }

  const std::string groups = "/v1/groups";
  server.Post(groups, [&c](const Request& req, Response& res) {
    auto body = ParseJsonObject(req.body);
    if (!body) return ReplyError(res, body.error());
    NoFit no_fit;
    auto r = c.CreateGroup(*body, &no_fit);
    if (r.ok()) return ReplyJson(res, 201, *r);
    ReplyCreateError(res, r.error(), no_fit);
  });
  server.Get(groups, [&c](const Request&, Response& res) { Reply(res, c.ListGroups()); });
  server.Get(groups + "/" + kName, [&c](const Request& req, Response& res) { Reply(res, c.ShowGroup(req.matches[1])); });
  server.Delete(groups + "/" + kName, [&c](const Request& req, Response& res) {
    ReplyDeleted(res, c.DeleteGroup(req.matches[1]), req.matches[1]);
  });
  server.Post(groups + "/" + kName + "/switchover", [&c](const Request& req, Response& res) {
    // No body means the defaults, as {} does: the first SBY takes over from the only ACT.
    auto body = req.body.empty() ? Result<json>(json::object()) : ParseJsonObject(req.body);
    if (!body) return ReplyError(res, body.error());
    for (const char* field : {"to", "from"})
      if (body->contains(field) && !(*body)[field].is_string())
        return ReplyError(res, Invalid(std::string(field) + ": must be a member VM's name, got " + (*body)[field].dump()));
    Reply(res, c.Switchover(req.matches[1], *body));
  });

  server.Post("/v1/whatif", [&c](const Request& req, Response& res) {
    auto body = ParseJsonObject(req.body);
    if (!body) return ReplyError(res, body.error());
    auto failed = FailedHosts(*body);
    if (!failed) return ReplyError(res, failed.error());
    Reply(res, c.WhatIf(*failed));
  });
  server.Get("/v1/reserve", [&c](const Request&, Response& res) { Reply(res, c.Reserve()); });

  server.Post("/v1/reconcile", [&c](const Request&, Response& res) { Reply(res, c.Reconcile()); });
  server.Get("/v1/events", [&c](const Request& req, Response& res) {
    auto after = QueryInt(req, "after", 0, 0, INT64_MAX);
    if (!after) return ReplyError(res, after.error());
    auto limit = QueryInt(req, "limit", 100, 1, 1000);
    if (!limit) return ReplyError(res, limit.error());
    Reply(res, c.Events(*after, static_cast<int>(*limit)));
  });
  server.Get("/v1/alarms", [&c](const Request&, Response& res) { Reply(res, c.Alarms()); });
  server.Post("/v1/alarms/clear", [&c](const Request& req, Response& res) {
    auto body = ParseJsonObject(req.body);
    if (!body) return ReplyError(res, body.error());
    auto alarm = AlarmToClear(*body);
    if (!alarm) return ReplyError(res, alarm.error());
    Reply(res, c.ClearAlarm(alarm->first, alarm->second));
  });
  server.Get(vms + "/" + kName + "/stats", [&c](const Request& req, Response& res) { Reply(res, c.VmStats(req.matches[1])); });
  server.Get("/metrics", [&c](const Request&, Response& res) {
    auto families = c.Metrics();
    if (!families) return ReplyError(res, families.error());
    res.set_content(RenderMetricsText(*families), kMetricsContentType);
  });
  RegisterLinkRoutes(server, c);
  server.Get("/v1/health", [](const Request&, Response& res) { ReplyJson(res, 200, json{{"status", "ok"}}); });
}

}  // namespace corepin
