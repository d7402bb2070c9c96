// Text for `corepin vm links`, `corepin depends` and `corepin defrag`, from the API's JSON
// (docs/api.md). Pure functions, unit-tested without a server.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace corepin {

std::string RenderVmLinks(const nlohmann::json& links);  // GET /v1/vms/{name}/links
std::string RenderDepends(const nlohmann::json& reply);  // GET /v1/depends
std::string RenderDefrag(const nlohmann::json& plan);    // POST /v1/defrag

}  // namespace corepin
