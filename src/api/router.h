// Router: registers corepind's routes on the HTTP server and remembers them, so that a request
// whose path exists under another method gets 405 with an Allow header instead of 404.
#pragma once

#include <httplib.h>

#include <regex>
#include <string>
#include <vector>

namespace corepin {

class Router {
 public:
  explicit Router(httplib::Server& server) : server_(server) {}
  void Get(const std::string& pattern, httplib::Server::Handler handler);
  void Post(const std::string& pattern, httplib::Server::Handler handler);
  void Delete(const std::string& pattern, httplib::Server::Handler handler);

  // The methods that have a route for `path`, sorted, e.g. {"DELETE", "GET"}; empty when none has.
  std::vector<std::string> MethodsFor(const std::string& path) const;

 private:
  void Remember(const std::string& method, const std::string& pattern);

  httplib::Server& server_;
  std::vector<std::pair<std::string, std::regex>> routes_;  // method, pattern
};

}  // namespace corepin
