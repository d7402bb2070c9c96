#include "api/api_server.h"

#include <chrono>
#include <thread>

#include "api/http_mapping.h"
#include "api/request_guard.h"
#include "api/routes.h"

namespace corepin {

using nlohmann::json;

namespace {

ConnectionLimits WithStreams(ConnectionLimits limits) {
  limits.extra_threads = EventStreams::kMaxStreams;  // every open event stream holds a thread
  return limits;
}

std::string AllowHeader(const std::vector<std::string>& methods) {
  std::string out;
  for (const auto& m : methods) out += (out.empty() ? "" : ", ") + m;
  return out;
}

}  // namespace

ApiServer::ApiServer(Controller& controller, std::function<void(const std::string&)> log, ApiOptions options)
    : options_(std::move(options)), server_(WithStreams(options_.connections)), router_(server_), streams_(controller) {
  for (auto& name : options_.host_names)
    for (char& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  RegisterRoutes(router_, controller, options_.host_uris);
  streams_.Register(router_);
  server_.set_payload_max_length(options_.max_body_bytes);
  InstallChecks();
  // httplib's default also sets SO_REUSEPORT, which would let a second corepind bind the same
  // port and silently share the requests; keep only SO_REUSEADDR (a quick restart still works).
  server_.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, reinterpret_cast<const void*>(&yes), sizeof yes);
  });
  // Headers and body go out in two writes; without TCP_NODELAY a kept-alive client's delayed
  // ACK holds the body back ~40 ms (seen with the switchover benchmark).
  server_.set_tcp_nodelay(true);
  server_.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown exception";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    ReplyError(res, Internal("internal error: " + what));
  });
  if (log) InstallLogger(std::move(log));
}

void ApiServer::InstallChecks() {
  server_.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    RequestRefusal refusal = CheckRequestHeaders(req, options_.host_names, options_.max_body_bytes);
    if (refusal.status == 0) return httplib::Server::HandlerResponse::Unhandled;
    if (RequestContext* r = CurrentRequest()) r->close_after = true;  // its body is left unread
    ReplyJson(res, refusal.status, json{{"error", refusal.message}});
    return httplib::Server::HandlerResponse::Handled;
  });
  // Errors httplib produces itself (no route, bad request line, body too large) get the same
  // JSON shape; a reply a route already wrote is left alone.
  server_.set_error_handler(httplib::Server::HandlerWithResponse([this](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    std::string message = "malformed or unsupported HTTP request (status " + std::to_string(res.status) + ")";
    if (res.status == 404) {
      const auto methods = router_.MethodsFor(req.path);
      if (methods.empty()) {
        message = "no route for " + req.method + " " + Printable(req.path, 200) + "; see docs/api.md";
      } else {
        res.status = 405;
        res.set_header("Allow", AllowHeader(methods));
        message = Printable(req.path, 200) + " takes " + AllowHeader(methods) + ", not " + Printable(req.method, 20);
      }
    }
    if (res.status == 413)
      message = "request body larger than " + std::to_string(options_.max_body_bytes) + " bytes; no corepin request needs that";
    // httplib reads a POST body until the client closes when there is no Content-Length.
    if (res.status == 400 && req.method == "POST" && !req.has_header("Content-Length") && !req.has_header("Transfer-Encoding"))
      message = Printable(req.method, 20) + " without a Content-Length header; send a body, e.g. curl -d '{}'";
    if (res.status >= 400 && res.status != 404 && res.status != 405)
      if (RequestContext* r = CurrentRequest()) r->close_after = true;
    ReplyJson(res, res.status, json{{"error", message}});
    return httplib::Server::HandlerResponse::Handled;
  }));
  // Every reply names its request, so that a client's report can be found in the log.
  server_.set_post_routing_handler([](const httplib::Request&, httplib::Response& res) {
    if (RequestContext* r = CurrentRequest()) res.set_header("X-Request-Id", std::to_string(r->id));
  });
}

void ApiServer::InstallLogger(std::function<void(const std::string&)> log) {
  server_.set_logger([log = std::move(log)](const httplib::Request& req, const httplib::Response& res) {
    const RequestContext* r = CurrentRequest();
    char took[32] = "";
    if (r) {
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - r->start).count();
      std::snprintf(took, sizeof took, " %.1fms", ms);
    }
    std::string line = "req=" + std::to_string(r ? r->id : 0) + " " + req.remote_addr + ":" + std::to_string(req.remote_port) +
                       " " + Printable(req.method, 20) + " " + Printable(req.target, 300) + " -> " + std::to_string(res.status) + took;
    if (res.status >= 400) {  // the reason, so that the log alone explains a refusal
      json body = json::parse(res.body, nullptr, false);
      if (body.is_object() && body.contains("error") && body["error"].is_string())
        line += ": " + Printable(body["error"].get<std::string>(), 1000);  // one line, even for a no-fit's reasons
    }
    log(line);
  });
}

Result<int> ApiServer::Bind(const std::string& host, int port) {
  if (port == 0) {
    int p = server_.bind_to_any_port(host);
    if (p < 0) return Unavailable("cannot listen on " + host + ": no free port");
    server_.ApplyBacklog();
    return p;
  }
  if (!server_.bind_to_port(host, port))
    return Unavailable("cannot listen on " + host + ":" + std::to_string(port) +
                       " (address in use, or not an address of this machine)");
  server_.ApplyBacklog();
  return port;
}

Status ApiServer::Serve() {
  serving_ = true;
  bool ok = stop_requested_ || server_.listen_after_bind();
  serving_ = false;
  if (!ok) return Unavailable("the HTTP server stopped with an error");
  return Status::Ok();
}

void ApiServer::Stop() {
  stop_requested_ = true;
  streams_.Stop();  // httplib waits for its workers, and a stream would not end by itself
  // httplib's stop() only acts on a running server: wait until a Serve that has begun is running.
  while (serving_ && !server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  server_.StopServing();
}

}  // namespace corepin
