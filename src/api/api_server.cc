#include "api/api_server.h"

#include <chrono>
#include <thread>

#include "api/http_mapping.h"
#include "api/routes.h"

namespace corepin {

using nlohmann::json;

ApiServer::ApiServer(Controller& controller, std::function<void(const std::string&)> log) : streams_(controller) {
  RegisterRoutes(server_, controller);
  streams_.Register(server_);
  // Every open event stream holds a worker thread: room for all of them and the usual requests.
  server_.new_task_queue = [] { return new httplib::ThreadPool(EventStreams::kMaxStreams + 8); };

  // Errors httplib produces itself (no route, bad request line) get the same JSON shape; a
  // reply a route already wrote is left alone.
  server_.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    std::string message = "malformed or unsupported HTTP request (status " + std::to_string(res.status) + ")";
    if (res.status == 404) message = "no route for " + req.method + " " + req.path + "; see docs/api.md";
    // httplib reads a POST body until the client closes when there is no Content-Length.
    if (res.status == 400 && !req.has_header("Content-Length") && !req.has_header("Transfer-Encoding"))
      message = req.method + " without a Content-Length header; send a body, e.g. curl -d '{}'";
    ReplyJson(res, res.status, json{{"error", message}});
    return httplib::Server::HandlerResponse::Handled;
  }));
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
  if (log) {
    server_.set_logger([log](const httplib::Request& req, const httplib::Response& res) {
      std::string line = req.method + " " + req.target + " -> " + std::to_string(res.status);
      if (res.status >= 400) {  // the reason, so that the log alone explains a refusal
        json body = json::parse(res.body, nullptr, false);
        if (body.is_object() && body.contains("error") && body["error"].is_string())
          line += ": " + body["error"].get<std::string>();
        // One line per request, even for a no-fit's one-line-per-reason message.
        for (size_t at; (at = line.find('\n')) != std::string::npos;) line.replace(at, 1, "; ");
      }
      log(line);
    });
  }
}

Result<int> ApiServer::Bind(const std::string& host, int port) {
  if (port == 0) {
    int p = server_.bind_to_any_port(host);
    if (p < 0) return Unavailable("cannot listen on " + host + ": no free port");
    return p;
  }
  if (!server_.bind_to_port(host, port))
    return Unavailable("cannot listen on " + host + ":" + std::to_string(port) +
                       " (address in use, or not an address of this machine)");
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
  server_.stop();
}

}  // namespace corepin
