#include "api/router.h"

#include <algorithm>

#include "api/guarded_server.h"

namespace corepin {

namespace {
// The connection counts as busy from here on: it is never closed to make room for another.
httplib::Server::Handler Handling(httplib::Server::Handler handler) {
  return [handler = std::move(handler)](const httplib::Request& req, httplib::Response& res) {
    MarkRequestHandling();
    handler(req, res);
  };
}
}  // namespace

void Router::Remember(const std::string& method, const std::string& pattern) { routes_.emplace_back(method, std::regex(pattern)); }

void Router::Get(const std::string& pattern, httplib::Server::Handler handler) {
  Remember("GET", pattern);
  server_.Get(pattern, Handling(std::move(handler)));
}

void Router::Post(const std::string& pattern, httplib::Server::Handler handler) {
  Remember("POST", pattern);
  server_.Post(pattern, Handling(std::move(handler)));
}

void Router::Delete(const std::string& pattern, httplib::Server::Handler handler) {
  Remember("DELETE", pattern);
  server_.Delete(pattern, Handling(std::move(handler)));
}

std::vector<std::string> Router::MethodsFor(const std::string& path) const {
  std::vector<std::string> out;
  for (const auto& [method, re] : routes_)
    if (std::regex_match(path, re) && std::find(out.begin(), out.end(), method) == out.end()) out.push_back(method);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace corepin
