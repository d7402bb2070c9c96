// ApiClient: the `corepin` command's side of the REST API (docs/api.md), over httplib.
//
// Every call returns the reply's JSON, or an Error whose message is ready to print: the
// server's own message (with no-fit rejections, see RenderApiError), or for a transport failure
// one that names the URL and says what to check.
#pragma once

#include <httplib.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "common/status.h"

namespace corepin {

class ApiClient {
 public:
  // `url`: "http://HOST:PORT".
  explicit ApiClient(std::string url);

  Result<nlohmann::json> Get(const std::string& path);
  Result<nlohmann::json> Post(const std::string& path, const nlohmann::json& body);
  Result<nlohmann::json> Delete(const std::string& path);

  // The JSON body of the last reply that was an error (4xx/5xx), as the server sent it (for
  // `--json`: a 422's rejections and explanation); null after a success or a transport failure.
  const nlohmann::json& error_body() const { return error_body_; }

 private:
  Result<nlohmann::json> Finish(const httplib::Result& r);
  std::string url_;
  std::unique_ptr<httplib::Client> http_;
  nlohmann::json error_body_;
};

// A name as one URL path segment (percent-encoded beyond [A-Za-z0-9_.~-]).
std::string PathSegment(const std::string& name);

}  // namespace corepin
